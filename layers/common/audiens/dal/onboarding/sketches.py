"""The onboarding repository's data-point sketches and values: each population is stored per shard of its
source (``SOURCE#<id>`` or ``SOURCE#<id>#<k>``, docs/scale.md) and read back as the union of its shards."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from audiens.dal.onboarding.common import (
    MAX_MERGE_ATTEMPTS,
    OnboardingTables,
    _catalog_pk,
    _conditional_failed,
    _shard_pk,
    _source_of,
    _source_pk,
    _ts,
)
from audiens.dal.onboarding_models import KeyItem, SketchItem
from audiens.domain import sketches
from audiens.domain.events import MergeStats
from audiens.domain.sketches import Sketch


class SketchStore(OnboardingTables):
    # ----------------------------------------------------------------------------------------- sketches
    def _read_sketches(
        self, keys: list[tuple[str, str]], *, consistent: bool
    ) -> dict[tuple[str, str], tuple[int, Sketch, bytes]]:
        """Stored sketches by table key (pk, sk): version, sketch and its bytes."""
        found: dict[tuple[str, str], tuple[int, Sketch, bytes]] = {}
        if not keys:
            return found
        wanted = ["pk", "sk", "sketch", "version"]
        for item in SketchItem.batch_get(
            list(dict.fromkeys(keys)), consistent_read=consistent, attributes_to_get=wanted
        ):
            data = bytes(item.sketch)
            found[(item.pk, item.sk)] = (int(item.version), sketches.deserialize(data), data)
        return found

    def _sketch_put(
        self,
        pk: str,
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
            "pk": {"S": pk},
            "sk": {"S": sk},
            "sketch": {"B": data},
            "version": {"N": str(version + 1)},
            "users": {"N": str(users)},
            "updated_at": {"S": _ts(now)},
        }
        if label is not None:
            item["key"], item["value"] = {"S": label[0]}, {"S": label[1]}
            if account_id:
                catalog_sk = f"{_source_of(pk)}#{users:015d}"
                item["gsi2pk"], item["gsi2sk"] = {"S": _catalog_pk(account_id)}, {"S": catalog_sk}
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
        pk: str,
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
        put = self._sketch_put(pk, sk, label, data, version, merged, now, account_id)
        self._connection.client.put_item(**put)

    def _prime(self, pk: str, sks: list[str], stats: MergeStats) -> None:
        """Read, in one batch, the sketches this process has no version of yet."""
        missing = [(pk, sk) for sk in sks if self._cache.get((pk, sk)) is None]
        if missing:
            stats.reads += 1
            fetched = self._read_sketches(missing, consistent=True)
            for key in missing:
                self._cache.put(key, *fetched.get(key, (0, None, b"")))

    def merge_sketches(
        self,
        source_id: str,
        deltas: Mapping[str, Sketch],
        *,
        now: datetime,
        labels: Mapping[str, tuple[str, str]] | None = None,
        account_id: str | None = None,
        shard: int = 0,
    ) -> MergeStats:
        """Union each delta into its stored sketch (``sk`` -> delta) of one shard, one conditional write per change.

        With ``account_id``, labelled sketches (data points) are entered in the account's catalog index."""
        pk = _shard_pk(source_id, shard)
        stats = MergeStats(touched=len(deltas))
        self._prime(pk, list(deltas), stats)
        labels = labels or {}
        for sk, delta in deltas.items():
            key = (pk, sk)
            for _attempt in range(MAX_MERGE_ATTEMPTS):
                cached = self._cache.get(key)
                version, current, current_data = cached if cached is not None else (0, None, b"")
                merged = sketches.union([delta] if current is None else [current, delta])  # canonical form
                data = sketches.serialize(merged)
                if data == current_data:  # nothing new (a repeated delivery): no write at all
                    stats.unchanged += 1
                    break
                try:
                    self._put_sketch(pk, sk, labels.get(sk), data, version, merged, now, account_id)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                    stats.reads += 1
                    fresh = self._read_sketches([key], consistent=True).get(key, (0, None, b""))
                    self._cache.put(key, *fresh)
                    if fresh[0] == version + 1 and fresh[2] == data:  # this write, its answer lost: done
                        stats.writes += 1
                        break
                    stats.conflicts += 1
                    continue
                stats.writes += 1
                self._cache.put(key, version + 1, merged, data)
                break
            else:  # pragma: no cover - twenty lost races in a row means something else is wrong
                raise RuntimeError(f"could not merge sketch {pk}/{sk} after {MAX_MERGE_ATTEMPTS} attempts")
        return stats

    def load_sketches(self, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Sketch]:
        """Current sketches by (source_id, sk): the union of the population's shards; a population nobody
        realized yet is the empty sketch."""
        wanted = list(dict.fromkeys(refs))
        widths = self._widths(source_id for source_id, _ in wanted)
        keys = [(_shard_pk(s, shard), sk) for s, sk in wanted for shard in range(widths[s])]
        found = self._read_sketches(keys, consistent=False)
        out: dict[tuple[str, str], Sketch] = {}
        for source_id, sk in wanted:
            parts = [
                found[k][1] for k in ((_shard_pk(source_id, n), sk) for n in range(widths[source_id])) if k in found
            ]
            out[(source_id, sk)] = sketches.combine(parts) if parts else sketches.empty()
        return out

    def account_data_points(self, account_id: str, source_id: str | None = None) -> list[tuple[str, str, str, int]]:
        """(source_id, key, value, users) of every data point of the account (or of one of its sources), from
        the keys-only catalog index: one query, paged by DynamoDB only past 1 MB (~6,000 data points). A value
        written on several shards of its source is counted as the union of their sketches (read then)."""
        condition = SketchItem.gsi2sk.startswith(f"{source_id}#") if source_id else None
        entries: dict[tuple[str, str], list[int]] = {}
        for item in SketchItem.by_account.query(_catalog_pk(account_id), condition, attributes_to_get=["sk", "gsi2sk"]):
            source, _, count = str(item.gsi2sk).rpartition("#")
            entries.setdefault((source, item.sk), []).append(int(count))
        sharded = self.load_sketches(ref for ref, counts in entries.items() if len(counts) > 1)
        found: list[tuple[str, str, str, int]] = []
        for (source, sk), counts in entries.items():
            key, _, value = sk.removeprefix("DP#").partition("#")
            users = counts[0] if len(counts) == 1 else int(sketches.estimate(sharded[(source, sk)]).population)
            found.append((source, key, value, users))
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
