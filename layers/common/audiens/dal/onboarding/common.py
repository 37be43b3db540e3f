"""What the onboarding repository's parts share: keys, timestamps, the sketch cache, the connection."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from functools import cached_property

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from audiens.domain.sketches import Sketch
from audiens.domain.time import key_timestamp

MAX_MERGE_ATTEMPTS = 20
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_SKETCH_BYTES = 3_000_000  # TransactWriteItems takes 4 MB in all
SKETCH_CACHE_ENTRIES = 1_000


def _source_pk(source_id: str) -> str:
    return f"SOURCE#{source_id}"


def _catalog_pk(account_id: str) -> str:
    return f"ACCT#{account_id}#DP"


def _ts(value: datetime) -> str:
    return key_timestamp(value)


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _conditional_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


class _SketchCache:
    """LRU of (version, sketch, serialized bytes) per population this process read or wrote last."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[str, str], tuple[int, Sketch, bytes]] = OrderedDict()

    def get(self, ref: tuple[str, str]) -> tuple[int, Sketch, bytes] | None:
        found = self._items.get(ref)
        if found is not None:
            self._items.move_to_end(ref)
        return found

    def put(self, ref: tuple[str, str], version: int, sketch: Sketch, data: bytes) -> None:
        self._items[ref] = (version, sketch, data)
        self._items.move_to_end(ref)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


class OnboardingTables:
    """The connection, the transaction and the sketch cache every part of the repository shares."""

    def __init__(self, region: str, *, cache_entries: int = SKETCH_CACHE_ENTRIES, transactional: bool = False) -> None:
        self._region = region
        self._transactional = transactional
        self._cache = _SketchCache(cache_entries)

    @cached_property
    def _connection(self) -> Connection:
        # One connection (one botocore client) per process: a new one per transaction reloads the
        # service model, which costs more than the transaction itself.
        return Connection(region=self._region)

    def _transaction(self) -> TransactWrite:
        return TransactWrite(connection=self._connection)
