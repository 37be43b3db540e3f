"""Why local_runtime/moto_patches.py exists, and that moto keeps its transaction semantics with it.

moto 5.2.5 keeps every model object it ever built and deep-copies the whole table for each action of a
TransactWriteItems: left alone, the local runtime grew from 256 MB to 7 GB in 25 minutes of writes.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_runtime import moto_patches

TABLE_ITEMS = 200
TRANSACTIONS = 20


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(TABLE_ITEMS):
            client.put_item(TableName="t", Item={"pk": {"S": f"p{i % 7}"}, "sk": {"S": f"s{i}"}, "n": {"N": "0"}})
        yield client


@pytest.fixture
def patched() -> Iterator[None]:
    undo = moto_patches.apply()
    try:
        yield
    finally:
        undo()


def _transactions(client: Any, count: int) -> None:
    for i in range(count):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "tx"}, "sk": {"S": f"t{i}"}}}},
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "p0"}, "sk": {"S": "s0"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )


def _live(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def test_the_patches_are_written_for_the_pinned_moto() -> None:
    # A moto upgrade lands here first: check whether it still needs moto_patches.py, then list its version.
    assert moto_patches.moto_version() in moto_patches.PATCHED_MOTO_VERSIONS


def test_another_moto_version_fails_loudly_and_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models import DynamoDBBackend

    monkeypatch.setattr(moto_patches, "moto_version", lambda: "0.0.0")
    before = (BaseModel.__dict__["__new__"], DynamoDBBackend.transact_write_items)
    for patch in (moto_patches.apply, moto_patches.speed_up_moto, moto_patches.fast_moto().__enter__):
        with pytest.raises(moto_patches.UnknownMotoVersionError, match=r"moto 0\.0\.0"):
            patch()
    assert (BaseModel.__dict__["__new__"], DynamoDBBackend.transact_write_items) == before


def test_without_the_patches_moto_keeps_a_table_copy_per_transaction_action(table: Any) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    # Given moto as released, with a table of TABLE_ITEMS items
    Item.instances_tracked.clear()
    # When TRANSACTIONS two-action transactions run
    _transactions(table, TRANSACTIONS)
    # Then moto still holds two copies of the whole table per transaction: the growth the patch removes
    assert len(Item.instances_tracked) >= 2 * TRANSACTIONS * TABLE_ITEMS
    assert _live(Item) >= 2 * TRANSACTIONS * TABLE_ITEMS


def test_with_the_patches_memory_does_not_grow_with_transactions(table: Any, patched: None) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    # Given the patched moto and a warm-up transaction
    _transactions(table, 1)
    live_before = _live(Item)
    # When many more transactions run, and items are overwritten and deleted
    _transactions(table, TRANSACTIONS * 5)
    for i in range(TABLE_ITEMS):
        table.delete_item(TableName="t", Key={"pk": {"S": f"p{i % 7}"}, "sk": {"S": f"s{i}"}})
    # Then nothing is tracked and the live items are just those in the table
    assert Item.instances_tracked == []
    assert table.scan(TableName="t")["Count"] == TRANSACTIONS * 5  # the transactions' own items
    assert live_before >= TABLE_ITEMS
    assert _live(Item) <= TRANSACTIONS * 5 + 5


def _item(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = client.get_item(TableName="t", Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return found


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param(lambda: {"ConditionCheck": _check("p1", "s1", "n = :n", {":n": {"N": "5"}})}, id="condition"),
        pytest.param(lambda: {"Put": {"TableName": "t", "Item": {"pk": {"S": "x"}}}}, id="validation"),
        pytest.param(lambda: {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}}, id="twice"),
    ],
)
def test_with_the_patches_a_failed_transaction_leaves_every_item_as_it_was(
    table: Any, patched: None, failing: Callable[[], dict[str, Any]]
) -> None:
    # Given an item, and a transaction that creates one, updates it, deletes another, then fails
    before = (_item(table, "p0", "s0"), _item(table, "p2", "s2"))
    actions = [
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
        {
            "Update": {
                "TableName": "t",
                "Key": {"pk": {"S": "p0"}, "sk": {"S": "s0"}},
                "UpdateExpression": "SET n = :n",
                "ExpressionAttributeValues": {":n": {"N": "42"}},
            }
        },
        {"Delete": {"TableName": "t", "Key": {"pk": {"S": "p2"}, "sk": {"S": "s2"}}}},
        failing(),
    ]
    # When it runs
    with pytest.raises(ClientError):
        table.transact_write_items(TransactItems=actions)
    # Then nothing it did is left
    assert _item(table, "new", "1") is None
    assert (_item(table, "p0", "s0"), _item(table, "p2", "s2")) == before
    assert table.scan(TableName="t")["Count"] == TABLE_ITEMS


def _check(pk: str, sk: str, condition: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "TableName": "t",
        "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
        "ConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }


def test_with_the_patches_a_successful_transaction_and_its_conditions_behave_as_before(
    table: Any, patched: None
) -> None:
    table.transact_write_items(
        TransactItems=[
            {"ConditionCheck": _check("p1", "s1", "n = :n", {":n": {"N": "0"}})},
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "p2"}, "sk": {"S": "s2"}}}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
        ]
    )
    assert _item(table, "p2", "s2") is None and _item(table, "new", "1") is not None
    with pytest.raises(ClientError) as refused:
        table.transact_write_items(
            TransactItems=[
                {"ConditionCheck": _check("p1", "s1", "n = :n", {":n": {"N": "1"}})},
                {"Delete": {"TableName": "t", "Key": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
            ]
        )
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "ConditionalCheckFailed" in str(refused.value)
    assert _item(table, "new", "1") is not None


@pytest.fixture
def growing_registry() -> Iterator[None]:
    """A registry entry whose reset registers another model class, as a moto service imported meanwhile does."""
    from moto.core import model_instances

    class Grows:
        @property
        def instances_tracked(self) -> list[Any]:
            return []

        @instances_tracked.setter
        def instances_tracked(self, value: list[Any]) -> None:
            model_instances.model_data.setdefault("late-service", {})["Late"] = type("Late", (), {})()

    model_instances.model_data["growing-service"]["Grows"] = Grows()
    try:
        yield
    finally:
        model_instances.model_data.pop("growing-service", None)
        model_instances.model_data.pop("late-service", None)


def test_without_the_patches_a_reset_fails_when_a_service_is_imported_meanwhile(growing_registry: None) -> None:
    from moto.core.model_instances import reset_model_data

    with pytest.raises(RuntimeError, match="dictionary changed size during iteration"):
        reset_model_data()


def test_with_the_patches_a_reset_survives_a_service_imported_meanwhile(growing_registry: None, patched: None) -> None:
    from moto.core.model_instances import model_data
    from moto.moto_api._internal import models as api_models

    api_models.reset_model_data()  # what POST /moto-api/reset calls
    assert "late-service" in model_data
