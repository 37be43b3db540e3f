"""DynamoDB and S3 adapters for data onboarding and the audience builder.

The sketch writes are the hot path of ingestion. Each touched population is merged with a
read-union-conditional-write loop on an optimistic ``version``: a writer that lost the race re-reads,
unions again and retries (optionally a whole batch goes in one transaction: ``apply_batch``). Union is
commutative and idempotent, so no update is lost and a repeated delivery changes nothing (and then is
not even written: a merge that leaves the sketch as it was is skipped). The versions and sketches this
process wrote last are kept in a small LRU, so a warm worker writes without reading first; a stale entry
only costs one failed condition and a re-read.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from audiens.dal.aws import client
from audiens.dal.onboarding_models import (
    ActivityItem,
    FileItem,
    KeyItem,
    MinuteItem,
    SegmentItem,
    SketchItem,
    SnapshotItem,
    SourceItem,
    TraitItem,
)
from audiens.domain import sketches
from audiens.domain.onboarding import (
    BatchCommit,
    Condition,
    FileRecord,
    MergeStats,
    Segment,
    Snapshot,
    Source,
    TraitDef,
    minute_of,
)
from audiens.domain.sketches import Sketch
from audiens.domain.time import key_timestamp, parse_timestamp

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


def _to_source(item: SourceItem) -> Source:
    return Source(
        source_id=item.source_id,
        account_id=item.account_id,
        name=item.name,
        type=item.type,
        created_at=item.created_at,
        credential_hash=item.credential_hash or "",
        credential_prefix=item.credential_prefix or "",
        events_accepted=int(item.events_accepted or 0),
        events_rejected=int(item.events_rejected or 0),
        last_event_at=parse_timestamp(item.last_event_at) if item.last_event_at else None,
    )


def _to_trait(item: TraitItem) -> TraitDef:
    condition = None
    if item.condition:
        raw = json.loads(item.condition)
        condition = Condition(raw["key"], tuple(raw["values"]), raw["operator"])
    return TraitDef(
        trait_id=item.trait_id,
        account_id=item.account_id,
        name=item.name,
        kind=item.kind,
        created_at=item.created_at,
        source_id=item.source_id,
        condition=condition,
        feed_id=item.feed_id,
        seed_trait_id=item.seed_trait_id,
        modeled_on_feed_ids=tuple(sorted(item.modeled_on_feed_ids or ())),
        modeled_trait_ids=tuple(sorted(item.modeled_trait_ids or ())),
    )


def _to_segment(item: SegmentItem) -> Segment:
    return Segment(
        segment_id=item.segment_id,
        account_id=item.account_id,
        name=item.name,
        category=item.category,
        rule=item.rule,
        expiration_days=int(item.expiration_days),
        visibility=item.visibility,
        cpm=Decimal(item.cpm) if item.cpm is not None else None,
        currency=item.currency,
        status=item.status,
        created_at=item.created_at,
        changed_at=item.changed_at,
        expired_at=item.expired_at,
    )


def _to_file(item: FileItem, source_id: str) -> FileRecord:
    return FileRecord(
        file_id=item.file_id,
        source_id=source_id,
        bucket=item.bucket,
        key=item.object_key,
        etag=item.etag,
        size=int(item.size) if item.size is not None else None,
        status=item.status,
        received_at=item.received_at,
        finished_at=item.finished_at,
        rows=int(item.rows or 0),
        accepted=int(item.accepted or 0),
        rejected=int(item.rejected or 0),
        errors=json.loads(item.errors) if item.errors else [],
        errors_truncated=int(item.errors_truncated or 0),
        attempts=int(item.attempts or 1),
    )


class DynamoOnboardingRepository:
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

    # ------------------------------------------------------------------------------------------ sources
    def put_source(self, source: Source) -> None:
        SourceItem(
            _source_pk(source.source_id),
            "META",
            source_id=source.source_id,
            account_id=source.account_id,
            name=source.name,
            type=source.type,
            created_at=source.created_at,
            credential_hash=source.credential_hash or None,
            credential_prefix=source.credential_prefix or None,
            events_accepted=0,
            events_rejected=0,
            gsi1pk=f"ACCT#{source.account_id}#SOURCES",
            gsi1sk=f"{_ts(source.created_at)}#{source.source_id}",
        ).save(condition=SourceItem.pk.does_not_exist())

    def get_source(self, source_id: str) -> Source | None:
        try:
            return _to_source(SourceItem.get(_source_pk(source_id), "META"))
        except SourceItem.DoesNotExist:
            return None

    def list_sources(self, account_id: str) -> list[Source]:
        return [_to_source(i) for i in SourceItem.by_account.query(f"ACCT#{account_id}#SOURCES")]

    # ----------------------------------------------------------------------------------------- sketches
    def _read_sketches(
        self, refs: list[tuple[str, str]], *, consistent: bool
    ) -> dict[tuple[str, str], tuple[int, Sketch, bytes]]:
        found: dict[tuple[str, str], tuple[int, Sketch, bytes]] = {}
        if not refs:
            return found
        keys = [(_source_pk(source_id), sk) for source_id, sk in dict.fromkeys(refs)]
        wanted = ["pk", "sk", "sketch", "version"]
        for item in SketchItem.batch_get(keys, consistent_read=consistent, attributes_to_get=wanted):
            ref = (item.pk.removeprefix("SOURCE#"), item.sk)
            data = bytes(item.sketch)
            found[ref] = (int(item.version), sketches.deserialize(data), data)
        return found

    def _sketch_put(
        self,
        source_id: str,
        sk: str,
        label: tuple[str, str] | None,
        data: bytes,
        version: int,
        merged: Sketch,
        now: datetime,
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """The conditional Put of one sketch, as ``SketchItem`` stores it, for PutItem or a transaction."""
        users = sketches.estimate(merged).population
        item: dict[str, Any] = {
            "pk": {"S": _source_pk(source_id)},
            "sk": {"S": sk},
            "sketch": {"B": data},
            "version": {"N": str(version + 1)},
            "users": {"N": str(users)},
            "updated_at": {"S": _ts(now)},
        }
        if label is not None:
            item["key"], item["value"] = {"S": label[0]}, {"S": label[1]}
            if account_id:
                item["gsi2pk"], item["gsi2sk"] = {"S": _catalog_pk(account_id)}, {"S": f"{source_id}#{users:015d}"}
        put: dict[str, Any] = {"TableName": SketchItem.Meta.table_name, "Item": item}
        if version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#v = :v"
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
        return put

    def _put_sketch(
        self,
        source_id: str,
        sk: str,
        label: tuple[str, str] | None,
        data: bytes,
        version: int,
        merged: Sketch,
        now: datetime,
        account_id: str | None = None,
    ) -> None:
        """One conditional PutItem on the connection's botocore client: the hot path of ingestion, where
        the model layer's per-call overhead is a sizeable share of the CPU (same item as ``SketchItem``)."""
        put = self._sketch_put(source_id, sk, label, data, version, merged, now, account_id)
        self._connection.client.put_item(**put)

    def _prime(self, source_id: str, sks: list[str], stats: MergeStats) -> None:
        """Read, in one batch, the sketches this process has no version of yet."""
        missing = [(source_id, sk) for sk in sks if self._cache.get((source_id, sk)) is None]
        if missing:
            stats.reads += 1
            fetched = self._read_sketches(missing, consistent=True)
            for ref in missing:
                self._cache.put(ref, *fetched.get(ref, (0, None, b"")))

    def merge_sketches(
        self,
        source_id: str,
        deltas: Mapping[str, Sketch],
        *,
        now: datetime,
        labels: Mapping[str, tuple[str, str]] | None = None,
        account_id: str | None = None,
    ) -> MergeStats:
        """Union each delta into its stored sketch (``sk`` -> delta), one conditional write per change.

        With ``account_id``, labelled sketches (data points) are entered in the account's catalog index."""
        stats = MergeStats(touched=len(deltas))
        self._prime(source_id, list(deltas), stats)
        labels = labels or {}
        for sk, delta in deltas.items():
            ref = (source_id, sk)
            for _attempt in range(MAX_MERGE_ATTEMPTS):
                cached = self._cache.get(ref)
                version, current, current_data = cached if cached is not None else (0, None, b"")
                merged = sketches.union([delta] if current is None else [current, delta])  # canonical form
                data = sketches.serialize(merged)
                if data == current_data:  # nothing new (a repeated delivery): no write at all
                    stats.unchanged += 1
                    break
                try:
                    self._put_sketch(source_id, sk, labels.get(sk), data, version, merged, now, account_id)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                    stats.conflicts += 1
                    stats.reads += 1
                    fresh = self._read_sketches([ref], consistent=True).get(ref, (0, None, b""))
                    self._cache.put(ref, *fresh)
                    continue
                stats.writes += 1
                self._cache.put(ref, version + 1, merged, data)
                break
            else:  # pragma: no cover - twenty lost races in a row means something else is wrong
                raise RuntimeError(f"could not merge sketch {source_id}/{sk} after {MAX_MERGE_ATTEMPTS} attempts")
        return stats

    def load_sketches(self, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Sketch]:
        """Current sketches by (source_id, sk); a population nobody realized yet is the empty sketch."""
        wanted = list(dict.fromkeys(refs))
        found = self._read_sketches(wanted, consistent=False)
        empty = sketches.empty()
        return {ref: found[ref][1] if ref in found else empty for ref in wanted}

    def account_data_points(self, account_id: str, source_id: str | None = None) -> list[tuple[str, str, str, int]]:
        """(source_id, key, value, users) of every data point of the account (or of one of its sources), from
        the keys-only catalog index: one query, paged by DynamoDB only past 1 MB (~6,000 data points)."""
        condition = SketchItem.gsi2sk.startswith(f"{source_id}#") if source_id else None
        found: list[tuple[str, str, str, int]] = []
        for item in SketchItem.by_account.query(_catalog_pk(account_id), condition, attributes_to_get=["sk", "gsi2sk"]):
            source, _, users = str(item.gsi2sk).rpartition("#")
            key, _, value = item.sk.removeprefix("DP#").partition("#")
            found.append((source, key, value, int(users)))
        return found

    # --------------------------------------------------------------------------------- data point values
    def known_values(self, source_id: str, key: str) -> set[str]:
        try:
            item = KeyItem.get(_source_pk(source_id), f"KEY#{key}", consistent_read=True)
        except KeyItem.DoesNotExist:
            return set()
        return set(item.vals or ())

    def add_values(self, source_id: str, key: str, values: set[str], cap: int) -> bool:
        """Record new distinct values of a key unless that would take it past ``cap`` (False then)."""
        item = KeyItem(_source_pk(source_id), f"KEY#{key}", key=key)
        room = cap - len(values)
        if room < 0:
            return False
        condition = KeyItem.vals.does_not_exist() | (size(KeyItem.vals) <= room)
        try:
            item.update(actions=[KeyItem.key.set(key), KeyItem.vals.add(values)], condition=condition)
        except UpdateError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    # ------------------------------------------------------------------------------- batches, activity
    def _commit_items(self, source_id: str, commit: BatchCommit) -> list[dict[str, Any]]:
        table = SourceItem.Meta.table_name
        pk = {"S": _source_pk(source_id)}
        received = commit.received_at
        activity_expires = str(_epoch(received + commit.activity_ttl))
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "pk": pk,
                        "sk": {"S": f"BATCH#{commit.batch_id}"},
                        "accepted": {"N": str(commit.accepted)},
                        "rejected": {"N": str(commit.rejected)},
                        "received_at": {"S": _ts(received)},
                        "ttl": {"N": str(_epoch(received + commit.marker_ttl))},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if commit.accepted:
            items.append(
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": pk, "sk": {"S": f"MIN#{minute_of(received)}"}},
                        "UpdateExpression": "ADD #total :n SET #ttl = :ttl",
                        "ExpressionAttributeNames": {"#total": "total", "#ttl": "ttl"},
                        "ExpressionAttributeValues": {
                            ":n": {"N": str(commit.accepted)},
                            ":ttl": {"N": activity_expires},
                        },
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
                            "total": {"N": str(commit.accepted)},
                            "received_at": {"S": _ts(received)},
                            "ttl": {"N": activity_expires},
                        },
                    }
                }
            )
        update = "ADD events_accepted :a, events_rejected :r"
        values: dict[str, Any] = {":a": {"N": str(commit.accepted)}, ":r": {"N": str(commit.rejected)}}
        if commit.accepted:
            update += " SET last_event_at = :l"
            values[":l"] = {"S": _ts(received).replace(".000000Z", "Z")}
        items.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": pk, "sk": {"S": "META"}},
                    "UpdateExpression": update,
                    "ExpressionAttributeValues": values,
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
        )
        return items

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction: ``None`` when it committed, else each item's cancellation reason code."""
        try:
            self._connection.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            return [str(r.get("Code", "None")) for r in reasons] or ["Unknown"] * len(items)
        return None

    def commit_batch(self, source_id: str, commit: BatchCommit) -> bool:
        """Count a batch exactly once: marker, minute counter, activity and source totals in one transaction.

        Returns False when the batch was already committed (a repeated delivery): nothing changes then.
        """
        reasons = self._transact(self._commit_items(source_id, commit))
        if reasons is None:
            return True
        if reasons[0] == "ConditionalCheckFailed":
            return False
        raise RuntimeError(f"committing batch {commit.batch_id} was cancelled: {reasons}")

    def apply_batch(
        self,
        source_id: str,
        deltas: Mapping[str, Sketch],
        *,
        labels: Mapping[str, tuple[str, str]],
        commit: BatchCommit,
        now: datetime,
        account_id: str | None = None,
    ) -> tuple[MergeStats, bool]:
        """Merge a batch's sketches and count it once; (stats, False) when it had been counted before.

        Items mode (the default): one conditional PutItem per changed sketch, re-read-and-union on a
        conflict, then the counting transaction (marker, minute, activity, totals). Transactional mode:
        every changed sketch (each conditional on its version) and the counting items in a single
        TransactWriteItems - one round trip, all-or-nothing, at twice the write units; if a version moved,
        the items conflict or the batch does not fit one transaction, it falls back to items mode. A
        batch whose marker exists was applied before, sketches included, so nothing is written then.
        """
        stats = MergeStats(touched=len(deltas))
        self._prime(source_id, list(deltas), stats)
        planned: list[tuple[str, int, Sketch, bytes]] = []
        for sk, delta in deltas.items():
            cached = self._cache.get((source_id, sk))
            version, current, current_data = cached if cached is not None else (0, None, b"")
            merged = sketches.union([delta] if current is None else [current, delta])
            data = sketches.serialize(merged)
            if data == current_data:
                stats.unchanged += 1
            else:
                planned.append((sk, version, merged, data))
        commit_items = self._commit_items(source_id, commit)
        fits = (
            self._transactional
            and len(planned) + len(commit_items) <= MAX_TRANSACTION_ITEMS
            and (sum(len(p[3]) for p in planned) <= MAX_TRANSACTION_SKETCH_BYTES)
        )
        if fits:
            puts = [
                {"Put": self._sketch_put(source_id, sk, labels.get(sk), data, version, merged, now, account_id)}
                for sk, version, merged, data in planned
            ]
            reasons = self._transact(puts + commit_items)
            if reasons is None:
                for sk, version, merged, data in planned:
                    self._cache.put((source_id, sk), version + 1, merged, data)
                stats.writes += len(planned)
                return stats, True
            if len(reasons) > len(puts) and reasons[len(puts)] == "ConditionalCheckFailed":
                return stats, False  # already committed, with its sketches
            stale = [(source_id, planned[i][0]) for i, code in enumerate(reasons[: len(puts)]) if code != "None"]
            stats.conflicts += len(stale)
            if stale:
                stats.reads += 1
                fresh = self._read_sketches(stale, consistent=True)
                for ref in stale:
                    self._cache.put(ref, *fresh.get(ref, (0, None, b"")))
        fallback = self.merge_sketches(
            source_id, {sk: deltas[sk] for sk, *_ in planned}, now=now, labels=labels, account_id=account_id
        )
        stats.writes += fallback.writes
        stats.conflicts += fallback.conflicts
        stats.reads += fallback.reads
        return stats, self.commit_batch(source_id, commit)

    def activity(
        self, source_id: str, *, since: datetime, max_events: int
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        pk = _source_pk(source_id)
        events: list[dict[str, Any]] = []
        for item in ActivityItem.query(
            pk, ActivityItem.sk.between(f"ACT#{_ts(since)}", "ACT#~"), scan_index_forward=False, page_size=20
        ):
            events.extend(json.loads(item.events))
            if len(events) >= max_events:
                break
        minutes = {
            item.sk.removeprefix("MIN#"): int(item.total or 0)
            for item in MinuteItem.query(pk, MinuteItem.sk.between(f"MIN#{minute_of(since)}", "MIN#~"))
        }
        return events[:max_events], minutes

    # ------------------------------------------------------------------------------------------- files
    def claim_file(self, record: FileRecord) -> FileRecord:
        """Register a file delivery; an existing record is returned as it is (the caller decides)."""
        item = FileItem(
            _source_pk(record.source_id),
            f"FILE#{record.file_id}",
            file_id=record.file_id,
            bucket=record.bucket,
            object_key=record.key,
            etag=record.etag,
            size=record.size,
            status="processing",
            received_at=record.received_at,
            attempts=1,
        )
        try:
            item.save(condition=FileItem.pk.does_not_exist())
            return record
        except PutError as error:
            if not _conditional_failed(error):
                raise
        existing = FileItem.get(_source_pk(record.source_id), f"FILE#{record.file_id}", consistent_read=True)
        if existing.status == "processing":
            existing.update(actions=[FileItem.attempts.add(1)])
        return _to_file(existing, record.source_id)

    def finish_file(self, record: FileRecord, *, errors_limit: int) -> None:
        errors = record.errors[:errors_limit]
        FileItem(_source_pk(record.source_id), f"FILE#{record.file_id}").update(
            actions=[
                FileItem.status.set(record.status),
                FileItem.finished_at.set(record.finished_at or record.received_at),
                FileItem.rows.set(record.rows),
                FileItem.accepted.set(record.accepted),
                FileItem.rejected.set(record.rejected),
                FileItem.errors.set(json.dumps(errors, separators=(",", ":"))),
                FileItem.errors_truncated.set(record.errors_truncated + max(0, len(record.errors) - len(errors))),
            ]
        )

    def list_files(self, source_id: str) -> list[FileRecord]:
        items = FileItem.query(_source_pk(source_id), FileItem.sk.startswith("FILE#"))
        return sorted((_to_file(i, source_id) for i in items), key=lambda f: (f.received_at, f.file_id), reverse=True)

    # ------------------------------------------------------------------------------------------ traits
    def put_trait(self, trait: TraitDef) -> None:
        condition = None
        if trait.condition is not None:
            c = trait.condition
            condition = json.dumps({"key": c.key, "values": list(c.values), "operator": c.operator})
        TraitItem(
            f"TRAIT#{trait.trait_id}",
            "META",
            trait_id=trait.trait_id,
            account_id=trait.account_id,
            name=trait.name,
            kind=trait.kind,
            created_at=trait.created_at,
            source_id=trait.source_id,
            condition=condition,
            feed_id=trait.feed_id,
            seed_trait_id=trait.seed_trait_id,
            modeled_on_feed_ids=set(trait.modeled_on_feed_ids) or None,
            modeled_trait_ids=set(trait.modeled_trait_ids) or None,
            gsi1pk=f"ACCT#{trait.account_id}#TRAITS",
            gsi1sk=f"{_ts(trait.created_at)}#{trait.trait_id}",
        ).save(condition=TraitItem.pk.does_not_exist())

    def get_traits(self, trait_ids: Iterable[str]) -> dict[str, TraitDef]:
        keys = [(f"TRAIT#{t}", "META") for t in dict.fromkeys(trait_ids)]
        return {i.trait_id: _to_trait(i) for i in TraitItem.batch_get(keys, consistent_read=True)} if keys else {}

    def list_traits(self, account_id: str) -> list[TraitDef]:
        return [_to_trait(i) for i in TraitItem.by_account.query(f"ACCT#{account_id}#TRAITS")]

    # ---------------------------------------------------------------------------------------- segments
    def _segment_item(self, segment: Segment) -> SegmentItem:
        return SegmentItem(
            f"SEGMENT#{segment.segment_id}",
            "META",
            segment_id=segment.segment_id,
            account_id=segment.account_id,
            name=segment.name,
            category=segment.category,
            rule=segment.rule,
            expiration_days=segment.expiration_days,
            visibility=segment.visibility,
            cpm=str(segment.cpm) if segment.cpm is not None else None,
            currency=segment.currency,
            status=segment.status,
            created_at=segment.created_at,
            changed_at=segment.changed_at,
            expired_at=segment.expired_at,
            gsi1pk=f"ACCT#{segment.account_id}#SEGMENTS",
            gsi1sk=f"{_ts(segment.created_at)}#{segment.segment_id}",
            gsi2pk="SEGMENTS",
            gsi2sk=segment.segment_id,
        )

    def put_segment(self, segment: Segment) -> None:
        self._segment_item(segment).save(condition=SegmentItem.pk.does_not_exist())

    def replace_segment(self, segment: Segment, *, expected: Segment) -> bool:
        """Write ``segment`` if the stored one is still ``expected`` (False if it changed meanwhile)."""
        item = self._segment_item(segment)
        condition = (SegmentItem.changed_at == expected.changed_at) & (SegmentItem.status == expected.status)
        try:
            item.save(condition=condition & SegmentItem.pk.exists())
        except PutError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def get_segment(self, segment_id: str) -> Segment | None:
        try:
            return _to_segment(SegmentItem.get(f"SEGMENT#{segment_id}", "META", consistent_read=True))
        except SegmentItem.DoesNotExist:
            return None

    def list_segments(self, account_id: str) -> list[Segment]:
        return [_to_segment(i) for i in SegmentItem.by_account.query(f"ACCT#{account_id}#SEGMENTS")]

    def delete_segment(self, segment_id: str) -> None:
        """Soft delete: the segment leaves every listing and the daily job, but its rule stays readable,
        because usage already reported on it must still be attributed and invoiced at the close."""
        item = SegmentItem.get(f"SEGMENT#{segment_id}", "META", consistent_read=True)
        item.update(
            actions=[
                SegmentItem.status.set("deleted"),
                SegmentItem.gsi1pk.set(f"{item.gsi1pk}#DELETED"),
                SegmentItem.gsi2pk.set("DELETED_SEGMENTS"),
            ]
        )

    def all_segment_ids(self) -> Iterator[str]:
        for item in SegmentItem.all_segments.query("SEGMENTS"):
            yield str(item.gsi2sk)

    def put_snapshot(self, segment_id: str, day: date, estimate: sketches.Estimate, now: datetime) -> bool:
        try:
            SnapshotItem(
                f"SEGMENT#{segment_id}",
                f"DAY#{day.isoformat()}",
                population=estimate.population,
                lower_bound=estimate.lower_bound,
                upper_bound=estimate.upper_bound,
                recorded_at=now,
            ).save(condition=SnapshotItem.pk.does_not_exist())
        except PutError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def snapshots(self, segment_id: str) -> list[Snapshot]:
        items = SnapshotItem.query(f"SEGMENT#{segment_id}", SnapshotItem.sk.startswith("DAY#"))
        return [
            Snapshot(
                date.fromisoformat(i.sk.removeprefix("DAY#")),
                int(i.population),
                int(i.lower_bound),
                int(i.upper_bound),
            )
            for i in items
        ]


class S3SourceObjects:
    """Streams source files line by line (constant memory) and signs upload URLs for providers."""

    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _client(self) -> Any:
        return client("s3", self._region)

    def iter_chunks(self, bucket: str, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def upload_url(self, bucket: str, key: str, expires_in: int) -> str:
        return str(
            self._client.generate_presigned_url(
                "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
            )
        )
