"""What the onboarding repository's parts share: keys, shards, timestamps, the sketch cache, the connection."""

from __future__ import annotations

import secrets
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from typing import Any

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from audiens.dal.base import connection
from audiens.dal.onboarding_models import SourceItem
from audiens.domain.sketches import Sketch
from audiens.domain.time import key_timestamp

MAX_MERGE_ATTEMPTS = 20
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_SKETCH_BYTES = 3_000_000  # TransactWriteItems takes 4 MB in all
SKETCH_CACHE_ENTRIES = 1_000
SOURCE_SHARDS = 16
"""A source's write shards: concurrent batches of one source write disjoint items (docs/scale.md)."""
MARKER_KEYS = 32
"""Partition keys the batch markers of one source are spread over (by the batch id)."""


def _source_pk(source_id: str) -> str:
    return f"SOURCE#{source_id}"


def _shard_pk(source_id: str, shard: int) -> str:
    """Shard 0 is the source's own partition; shard k > 0 is ``SOURCE#<id>#<k>``."""
    return _source_pk(source_id) if shard == 0 else f"SOURCE#{source_id}#{shard}"


def _source_of(pk: str) -> str:
    """The source id of a shard's partition key."""
    return pk.removeprefix("SOURCE#").partition("#")[0]


def _marker_pk(source_id: str, batch_id: str) -> str:
    """Where a batch's marker lives: chosen by the batch id, never by the shard that counts it, so a
    redelivery counted on another shard finds it."""
    return f"SOURCE#{source_id}#M{zlib.crc32(batch_id.encode()) % MARKER_KEYS:02d}"


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

    def forget(self, pk: str) -> None:
        """Drop every population of one partition (a shard another writer has written since)."""
        for ref in [ref for ref in self._items if ref[0] == pk]:
            del self._items[ref]


class OnboardingTables:
    """The connection, the transaction and the sketch cache every part of the repository shares."""

    def __init__(self, region: str, *, cache_entries: int = SKETCH_CACHE_ENTRIES, transactional: bool = False) -> None:
        self._region = region
        self._transactional = transactional
        self._cache = _SketchCache(cache_entries)
        self._known_widths: dict[str, int] = {}  # shards this process knows a source has (they only grow)
        self._last_shards: dict[str, int] = {}  # the shard this process last leased, per source
        self._writer = secrets.token_hex(8)  # this process, as the last writer a shard's LEASE item names

    @cached_property
    def _connection(self) -> Connection:
        # One connection (one botocore client) per process: a new one per transaction reloads the
        # service model, which costs more than the transaction itself.
        return connection(self._region)

    def _transaction(self) -> TransactWrite:
        return TransactWrite(connection=self._connection)

    def _widths(self, source_ids: Iterable[str]) -> dict[str, int]:
        """How many shards each source has written (its ``SHARDS`` item; 1 when it has none)."""
        wanted = list(dict.fromkeys(source_ids))
        widths = dict.fromkeys(wanted, 1)
        table = SourceItem.Meta.table_name
        for start in range(0, len(wanted), 100):
            keys = [{"pk": {"S": _source_pk(s)}, "sk": {"S": "SHARDS"}} for s in wanted[start : start + 100]]
            request: dict[str, Any] = {
                table: {"Keys": keys, "ProjectionExpression": "pk, shards", "ConsistentRead": True}
            }
            while request:
                answer = self._connection.client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(table, []):
                    if "shards" in item:
                        widths[_source_of(item["pk"]["S"])] = int(item["shards"]["N"])
                request = answer.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(0.05)
        return widths
