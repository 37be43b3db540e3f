"""PynamoDB plumbing shared by every table.

Models name their table by the template's *logical id* (``Meta.table_name = "AccountsTable"``);
``bind_tables`` swaps in the physical names from Settings at the composition root, so the model ↔
template check can match models to tables without any environment, and nothing connects at import.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cached_property
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.connection import Connection
from pynamodb.constants import STRING
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.models import Model

from audiens.domain.time import key_timestamp, parse_timestamp

# Retries of a DynamoDB call that failed transiently (InternalServerError, ServiceUnavailable, throttling):
# 9 after the first attempt, as the AWS SDKs' DynamoDB default, with botocore's standard backoff (25 ms
# base, 1 s for throttling, jittered, capped at 20 s). PynamoDB's own default (3) lets one call in
# ~160,000 fail at a 5 % fault rate; 9 makes it one in ~10^13. A TransactWriteItems retried by botocore
# keeps its ClientRequestToken, so a retry after a commit whose answer was lost writes nothing twice.
MAX_RETRY_ATTEMPTS = 9


def cancellation_reasons(error: TransactWriteError) -> list[str]:
    """The code of each item's cancellation reason of a failed transaction, in the items' order ("None": no reason)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [r.code if r is not None else "None" for r in reasons]


def conditional_failed(error: Exception) -> bool:
    """Whether a single-item write failed on its condition (not on a fault, which is retried and re-raised)."""
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


# A single-item write on an item a transaction holds is refused (TransactionConflictException), and neither
# botocore nor PynamoDB retries that: an item every transaction of an area checks (a period's close state)
# is written through ``retry_conflicts``.
CONFLICT_RETRIES = 8


def retry_conflicts[T](write: Callable[[], T]) -> T:
    """``write`` (one PutItem, UpdateItem or DeleteItem), retried with jittered backoff while a transaction
    holds its item; its condition failing or any other error propagates."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            return write()
        except (PutError, UpdateError, DeleteError) as error:
            code = getattr(error, "cause_response_code", None)
            if code != "TransactionConflictException" or attempt == CONFLICT_RETRIES - 1:
                raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
    raise AssertionError("unreachable")


def connection(region: str) -> Connection:
    """A PynamoDB connection (one botocore client) with the retries above; for transactions."""
    return Connection(region=region, max_retry_attempts=MAX_RETRY_ATTEMPTS)


class ConnectedStore:
    """A store's region and its one connection: creating a botocore client costs more than a transaction."""

    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _connection(self) -> Connection:
        return connection(self._region)


class IsoDateTimeAttribute(Attribute[datetime]):
    """RFC 3339 UTC timestamps stored as fixed-width strings (``domain.time``): sortable, readable, never a float."""

    attr_type = STRING

    def serialize(self, value: Any) -> Any:
        return key_timestamp(value)

    def deserialize(self, value: Any) -> Any:
        return parse_timestamp(value)


def all_models() -> list[type[Model]]:
    """Every PynamoDB model of the application: each ``audiens.dal`` model module (``models.py`` or
    ``*_models.py``, kept free of heavy imports) lists its own in ``MODELS``."""
    import importlib
    import pkgutil

    import audiens.dal as package

    found: list[type[Model]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not (info.name == "models" or info.name.endswith("_models")):
            continue
        module = importlib.import_module(f"audiens.dal.{info.name}")
        found.extend(m for m in getattr(module, "MODELS", []) if m not in found)
    return found


def bind_tables(physical_names: dict[str, str], region: str, models: Iterable[type[Model]] | None = None) -> None:
    """Point each model at its physical table; models whose logical table is not given are left unbound."""
    for model in models if models is not None else all_models():
        logical = getattr(model.Meta, "logical_table", None) or model.Meta.table_name
        model.Meta.logical_table = logical  # type: ignore[attr-defined]
        model.Meta.max_retry_attempts = MAX_RETRY_ATTEMPTS
        if logical in physical_names:
            model.Meta.table_name = physical_names[logical]
            model.Meta.region = region
