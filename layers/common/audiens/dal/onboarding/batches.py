"""The onboarding repository's batches: the shard a batch writes on, counting it once, the activity stream.

A batch takes a **lease** on one of its source's ``SOURCE_SHARDS`` shards (``LEASE`` item of the shard's
partition: the shard the process wrote last if it is free, else the lowest free one, for ``LEASE_SECONDS``
of wall-clock time: leases are about processes, not business time), merges its sketches into that shard's
and counts itself there (minute counter, activity item, the shard's totals), so concurrent batches of one
source touch disjoint items and none waits for another. The lease item also names the shard's last
writer: a process whose cached sketches of the shard another process has written since reads them again
instead of meeting a moved version. The source's ``SHARDS`` item records how many
shards it has used, which readers merge; it is written before the first write on a new shard, with plain
conditional updates (never in a transaction, so it cannot cancel a batch's).
When every shard is leased, a batch writes on one at random without a lease (naming itself its writer):
still correct (versions, markers and conditions decide), only no longer free of contention. Markers are
keyed by the batch id, not the shard, so a redelivery counted on another shard still finds its marker.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from audiens.dal.onboarding.common import (
    MAX_TRANSACTION_ITEMS,
    MAX_TRANSACTION_SKETCH_BYTES,
    SOURCE_SHARDS,
    _epoch,
    _marker_pk,
    _shard_pk,
    _source_pk,
    _ts,
)
from audiens.dal.onboarding.sketches import SketchStore
from audiens.dal.onboarding_models import ActivityItem, MinuteItem, SourceItem
from audiens.domain import sketches
from audiens.domain.events import BatchCommit, MergeStats, minute_of
from audiens.domain.sketches import Sketch
from audiens.observability import logger

LEASE_SECONDS = 60.0
COMMIT_ATTEMPTS = 12
_RETRY_REASONS = frozenset({"None", "TransactionConflict", "ThrottlingError"})


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))


class BatchStore(SketchStore):
    # --------------------------------------------------------------------------------------------- shards
    def _take_shard(self, source_id: str) -> tuple[int, str | None]:
        """The shard this process wrote last if it is free (its sketches are in this process's cache), else the
        lowest shard no live lease holds, leased to a new owner; a random unleased one if all are held.

        The lease names the process that writes the shard (``writer``, kept when the lease is released); when
        the previous writer was another process, or cannot be known, this process's cached sketches of the
        shard are dropped and read again: a lease keeps writers apart in time, not out of each other's items."""
        owner = secrets.token_hex(8)
        now = time.time()
        last = self._last_shards.get(source_id, 0)
        for shard in dict.fromkeys([last, *range(SOURCE_SHARDS)]):
            pk = _shard_pk(source_id, shard)
            try:
                answer = self._connection.client.update_item(
                    TableName=SourceItem.Meta.table_name,
                    Key={"pk": {"S": pk}, "sk": {"S": "LEASE"}},
                    UpdateExpression="SET holder = :o, lease_until = :u, writer = :w",
                    # holder = :o: a retry of this very take, whose answer was lost after it committed
                    ConditionExpression="attribute_not_exists(holder) OR lease_until < :now OR holder = :o",
                    ExpressionAttributeValues={
                        ":o": {"S": owner},
                        ":u": {"N": f"{now + LEASE_SECONDS:.3f}"},
                        ":now": {"N": f"{now:.3f}"},
                        ":w": {"S": self._writer},
                    },
                    ReturnValues="ALL_OLD",
                )
            except ClientError as error:
                if _code(error) in ("ConditionalCheckFailedException", "TransactionConflictException"):
                    continue
                raise
            before = answer.get("Attributes", {})
            if before.get("holder", {}).get("S") == owner or before.get("writer", {}).get("S") != self._writer:
                self._cache.forget(pk)
            self._last_shards[source_id] = shard
            return shard, owner
        shard = random.randrange(SOURCE_SHARDS)
        self._mark_writer(source_id, shard)
        return shard, None

    def _mark_writer(self, source_id: str, shard: int) -> None:
        """Name this process as the shard's last writer without leasing it (every shard is leased), so the
        holder reads the shard again at its next lease instead of trusting its cache."""
        self._connection.client.update_item(
            TableName=SourceItem.Meta.table_name,
            Key={"pk": {"S": _shard_pk(source_id, shard)}, "sk": {"S": "LEASE"}},
            UpdateExpression="SET writer = :w",
            ExpressionAttributeValues={":w": {"S": self._writer}},
        )
        self._cache.forget(_shard_pk(source_id, shard))

    def _release_shard(self, source_id: str, shard: int, owner: str) -> None:
        """Free the shard, still naming this process as its writer (a retry whose first answer was lost after
        it committed finds it free)."""
        try:
            self._connection.client.update_item(
                TableName=SourceItem.Meta.table_name,
                Key={"pk": {"S": _shard_pk(source_id, shard)}, "sk": {"S": "LEASE"}},
                UpdateExpression="REMOVE holder, lease_until",
                ConditionExpression="holder = :o OR attribute_not_exists(holder)",
                ExpressionAttributeValues={":o": {"S": owner}},
            )
        except ClientError as error:  # the lease then simply runs out
            logger.warning("shard lease not released", extra={"source_id": source_id, "error": _code(error)})

    def _widen(self, source_id: str, width: int) -> None:
        """Record on the source that ``width`` shards hold its data, before the first write on the last one."""
        if self._known_widths.get(source_id, 1) >= width:
            return
        try:
            self._connection.client.update_item(
                TableName=SourceItem.Meta.table_name,
                Key={"pk": {"S": _source_pk(source_id)}, "sk": {"S": "SHARDS"}},
                UpdateExpression="SET shards = :w",
                ConditionExpression="attribute_not_exists(shards) OR shards < :w",
                ExpressionAttributeValues={":w": {"N": str(width)}},
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":  # already as wide: nothing to do
                raise
        self._known_widths[source_id] = width

    # ---------------------------------------------------------------------------------- counting once
    def _commit_items(self, source_id: str, commit: BatchCommit, shard: int) -> list[dict[str, Any]]:
        """A marker per part (first, in part order), then the shard's minute, activity and totals."""
        table = SourceItem.Meta.table_name
        pk = {"S": _shard_pk(source_id, shard)}
        received = commit.received_at
        activity_expires = str(_epoch(received + commit.activity_ttl))
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": {"S": _marker_pk(source_id, part.batch_id)},
                        "sk": {"S": f"BATCH#{part.batch_id}"},
                        "accepted": {"N": str(part.accepted)},
                        "rejected": {"N": str(part.rejected)},
                        "received_at": {"S": _ts(received)},
                        "ttl": {"N": str(_epoch(received + commit.marker_ttl))},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for part in commit.parts
        ]
        accepted = commit.accepted
        if accepted:
            items.append(
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": pk, "sk": {"S": f"MIN#{minute_of(received)}"}},
                        "UpdateExpression": "ADD #total :n SET #ttl = :ttl",
                        "ExpressionAttributeNames": {"#total": "total", "#ttl": "ttl"},
                        "ExpressionAttributeValues": {":n": {"N": str(accepted)}, ":ttl": {"N": activity_expires}},
                    }
                }
            )
            items.append(
                {
                    "Put": {
                        "TableName": table,
                        "Item": {
                            "pk": pk,
                            "sk": {"S": f"ACT#{_ts(received)}#{commit.batch_id[:16]}"},
                            "events": {"S": json.dumps(commit.latest, separators=(",", ":"))},
                            "total": {"N": str(accepted)},
                            "received_at": {"S": _ts(received)},
                            "ttl": {"N": activity_expires},
                        },
                    }
                }
            )
        update = "ADD events_accepted :a, events_rejected :r"
        values: dict[str, Any] = {":a": {"N": str(accepted)}, ":r": {"N": str(commit.rejected)}}
        if accepted:
            update += " SET last_event_at = :l"
            values[":l"] = {"S": _ts(received).replace(".000000Z", "Z")}
        totals: dict[str, Any] = {
            "TableName": table,
            "Key": {"pk": pk, "sk": {"S": "META" if shard == 0 else "TOTALS"}},
            "UpdateExpression": update,
            "ExpressionAttributeValues": values,
        }
        if shard == 0:
            totals["ConditionExpression"] = "attribute_exists(pk)"
        items.append({"Update": totals})
        return items

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction: ``None`` when it committed, else each item's cancellation reason code."""
        try:
            self._connection.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            return [str(r.get("Code", "None")) for r in reasons] or ["Unknown"] * len(items)
        return None

    def commit_batch(self, source_id: str, commit: BatchCommit, shard: int = 0) -> BatchCommit | None:
        """Count deliveries exactly once: a marker per part, the minute counter, activity and the shard's
        totals in one transaction. Returns what was counted: the parts whose marker did not exist yet
        (``None`` when every part had been counted before: a repeated delivery changes nothing).

        A part found counted is dropped and the rest retried; a conflict or throttling is retried with
        jittered backoff (a batch without a lease may meet another writer of its shard)."""
        pending: BatchCommit | None = commit
        for attempt in range(COMMIT_ATTEMPTS):
            if pending is None:
                return None
            reasons = self._transact(self._commit_items(source_id, pending, shard))
            if reasons is None:
                return pending
            parts = len(pending.parts)
            counted = [
                p.batch_id for p, code in zip(pending.parts, reasons, strict=False) if code == "ConditionalCheckFailed"
            ]
            if counted:
                pending = pending.without(counted)
                continue
            if set(reasons[parts:]) | set(reasons[:parts]) <= _RETRY_REASONS:
                _backoff(attempt)
                continue
            raise RuntimeError(f"committing batch {pending.batch_id} was cancelled: {reasons}")
        raise RuntimeError(f"committing batch {commit.batch_id} kept conflicting ({COMMIT_ATTEMPTS} attempts)")

    def apply_batch(
        self,
        source_id: str,
        deltas: Mapping[str, Sketch],
        *,
        labels: Mapping[str, tuple[str, str]],
        commit: BatchCommit,
        now: datetime,
        account_id: str | None = None,
    ) -> tuple[MergeStats, BatchCommit | None]:
        """Merge a batch's sketches into the shard it leased and count it once there; the commit is what was
        counted (``None`` when it had been before).

        Items mode (the default): one conditional PutItem per changed sketch, re-read-and-union on a
        conflict, then the counting transaction. Transactional mode: every changed sketch (each conditional
        on its version) and the counting items in a single TransactWriteItems - one round trip, all-or-nothing,
        at twice the write units; if it is cancelled (a moved version, a part counted before) or the batch
        does not fit one transaction, it falls back to items mode."""
        shard, owner = self._take_shard(source_id)
        try:
            if shard:
                self._widen(source_id, shard + 1)
            return self._apply_on(shard, source_id, deltas, labels, commit, now, account_id)
        finally:
            if owner is not None:
                self._release_shard(source_id, shard, owner)

    def _apply_on(
        self,
        shard: int,
        source_id: str,
        deltas: Mapping[str, Sketch],
        labels: Mapping[str, tuple[str, str]],
        commit: BatchCommit,
        now: datetime,
        account_id: str | None,
    ) -> tuple[MergeStats, BatchCommit | None]:
        pk = _shard_pk(source_id, shard)
        stats = MergeStats(touched=len(deltas))
        self._prime(pk, list(deltas), stats)
        planned: list[tuple[str, int, Sketch, bytes]] = []
        for sk, delta in deltas.items():
            cached = self._cache.get((pk, sk))
            version, current, current_data = cached if cached is not None else (0, None, b"")
            merged = sketches.union([delta] if current is None else [current, delta])
            data = sketches.serialize(merged)
            if data == current_data:
                stats.unchanged += 1
            else:
                planned.append((sk, version, merged, data))
        commit_items = self._commit_items(source_id, commit, shard)
        fits = (
            self._transactional
            and len(planned) + len(commit_items) <= MAX_TRANSACTION_ITEMS
            and (sum(len(p[3]) for p in planned) <= MAX_TRANSACTION_SKETCH_BYTES)
        )
        if fits:
            puts = [
                {"Put": self._sketch_put(pk, sk, labels.get(sk), data, version, merged, now, account_id)}
                for sk, version, merged, data in planned
            ]
            reasons = self._transact(puts + commit_items)
            if reasons is None:
                for sk, version, merged, data in planned:
                    self._cache.put((pk, sk), version + 1, merged, data)
                stats.writes += len(planned)
                return stats, commit
            stale = [(pk, planned[i][0]) for i, code in enumerate(reasons[: len(puts)]) if code != "None"]
            stats.conflicts += len(stale)
            if stale:
                stats.reads += 1
                fresh = self._read_sketches(stale, consistent=True)
                for key in stale:
                    self._cache.put(key, *fresh.get(key, (0, None, b"")))
        fallback = self.merge_sketches(
            source_id,
            {sk: deltas[sk] for sk, *_ in planned},
            now=now,
            labels=labels,
            account_id=account_id,
            shard=shard,
        )
        stats.writes += fallback.writes
        stats.conflicts += fallback.conflicts
        stats.reads += fallback.reads
        return stats, self.commit_batch(source_id, commit, shard)

    # ---------------------------------------------------------------------------------------- activity
    def activity(
        self, source_id: str, *, since: datetime, max_events: int
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The newest events and the per-minute counts of every shard the source has written."""
        items: list[tuple[str, list[dict[str, Any]]]] = []
        minutes: dict[str, int] = {}
        for shard in range(self._widths([source_id])[source_id]):
            pk = _shard_pk(source_id, shard)
            shown = 0
            for item in ActivityItem.query(
                pk, ActivityItem.sk.between(f"ACT#{_ts(since)}", "ACT#~"), scan_index_forward=False, page_size=20
            ):
                events = json.loads(item.events)
                items.append((item.sk, events))
                shown += len(events)
                if shown >= max_events:
                    break
            for minute in MinuteItem.query(pk, MinuteItem.sk.between(f"MIN#{minute_of(since)}", "MIN#~")):
                label = minute.sk.removeprefix("MIN#")
                minutes[label] = minutes.get(label, 0) + int(minute.total or 0)
        newest = [event for _, events in sorted(items, key=lambda i: i[0], reverse=True) for event in events]
        return newest[:max_events], minutes
