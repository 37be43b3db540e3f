"""The onboarding repository's data-point sketches, values, batches and activity: the ingestion hot path."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from audiens.dal.onboarding.common import (
    MAX_MERGE_ATTEMPTS,
    MAX_TRANSACTION_ITEMS,
    MAX_TRANSACTION_SKETCH_BYTES,
    OnboardingTables,
    _catalog_pk,
    _conditional_failed,
    _epoch,
    _source_pk,
    _ts,
)
from audiens.dal.onboarding_models import (
    ActivityItem,
    KeyItem,
    MinuteItem,
    SketchItem,
    SourceItem,
)
from audiens.domain import sketches
from audiens.domain.events import BatchCommit, MergeStats, minute_of
from audiens.domain.sketches import Sketch


class SketchStore(OnboardingTables):
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
