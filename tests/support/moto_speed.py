"""Two of moto's DynamoDB costs that real DynamoDB does not have, removed for benchmarks (same semantics).

* TransactWriteItems: moto backs a transaction up by deep-copying the whole table once per item of the
  transaction, so a transaction costs O(items x table size); at the scale of the close benchmark (a
  thousand transactions of ~15 items into a table of ~15,000 items) that is hours of ``copy.deepcopy``.
  This version keeps moto's checks, error reporting and writes and backs up per item: every condition is
  evaluated first against the current state (the items of one transaction are distinct, so that is
  equivalent), nothing is written unless all pass, and the touched items are restored if a write fails.
* Query on the base table: moto sorts every item of the table to find one partition (O(table log table)
  per query); this version hands moto only the partition's items, which is what DynamoDB reads.
* SQS: every SendMessage reads the queue's attributes, which counts visible and delayed messages by
  asking each message for the time through a chain of datetime conversions (~10 us each): sending the
  1,000th message costs 2,000 of them. The clock moto's SQS reads is replaced by ``time.time()``, the same
  epoch milliseconds without the conversions.

Both are checked against the billing and usage functional tests (``PYTHONPATH=... -p``), which pass
unchanged with them enabled.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.sqs import models as sqs_models


def _key(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    errors: list[tuple[Any, Any, Any]] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        key = _key(self, op_type, op)
        marker = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        failed = None
        if condition is not None:
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                failed = ("ConditionalCheckFailed", "The conditional request failed", old)
        errors.append(failed or (None, None, None))
        planned.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    backup = [(op["TableName"], key, copy.deepcopy(self.get_item(op["TableName"], key))) for _, op, key in planned]
    try:
        for op_type, op, key in planned:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(
                    op["TableName"], op["Item"], expression_attribute_names=names, expression_attribute_values=values
                )
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key)
            elif op_type == "Update":
                self.update_item(
                    op["TableName"],
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except (ConditionalCheckFailed, MockValidationException, Exception):
        for table_name, key, old in backup:
            table = self.get_table(table_name)
            if old is None:
                self.delete_item(table_name, key)
            else:
                table.put_item(old.to_json()["Attributes"])
        raise


_moto_query = Table.query


def partition_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name or hash_key is None or not self.range_key_attr:
        return _moto_query(self, hash_key, *args, **kwargs)
    partition = list(self.items.get(hash_key, {}).values())
    items = sorted(partition, key=lambda item: item.range_key)
    self.all_items = lambda: items  # type: ignore[method-assign]  # what moto filters: just this partition
    try:
        return _moto_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


def _unix_time(dt: Any = None) -> float:
    return time.time() if dt is None else float(_moto_unix_time(dt))


def _unix_time_millis(dt: Any = None) -> float:
    return _unix_time(dt) * 1000.0


_moto_unix_time = sqs_models.unix_time


@contextmanager
def fast_moto() -> Iterator[None]:
    saved = (DynamoDBBackend.transact_write_items, Table.query, sqs_models.unix_time, sqs_models.unix_time_millis)
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.query = partition_query  # type: ignore[method-assign]
    sqs_models.unix_time, sqs_models.unix_time_millis = _unix_time, _unix_time_millis
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items, Table.query = saved[0], saved[1]  # type: ignore[method-assign]
        sqs_models.unix_time, sqs_models.unix_time_millis = saved[2], saved[3]
