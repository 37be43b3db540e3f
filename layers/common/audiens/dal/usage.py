"""DynamoDB and S3 adapters of usage reporting (``audiens.ports.usage``).

A buyer's usage of a period lives on ``SHARDS`` partition keys and is written by ``usage_writes``: a write
of at most ``CHANGES_PER_TRANSACTION`` values is one transaction guarded by the buyer's guard item (state
OPEN); a bigger one takes a lease on that guard, writes its shards in parallel, and fences its final
transaction (the upload's record) on the lease. The monthly close freezes each buyer's guard once no lease
is live (``freeze_buyer``), so nothing lands after that buyer's invoice reads its usage, and no file is cut
in half by the close (docs/scale.md). A guard is created once per buyer and period, in a transaction that
checks the period is still OPEN: the only write that touches the period's state item.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Collection, Iterable, Iterator
from datetime import UTC, datetime
from functools import cached_property
from itertools import chain, islice
from typing import Any, Final, cast

from botocore.exceptions import ClientError

from audiens.dal.aws import client
from audiens.dal.idempotent import save_once, write_marker
from audiens.dal.period_models import OPEN, PeriodStateItem
from audiens.dal.usage_guard import UsageGuards
from audiens.dal.usage_models import (
    FEED_PREFIX,
    SEGMENT_PREFIX,
    SHARDS,
    UNATTRIBUTED_UPLOADS,
    USAGE_PREFIX,
    PeriodBuyerItem,
    UploadItem,
    UploadShaItem,
    UsageItem,
    account_uploads_pk,
    audit_pk,
    buyer_shard_pks,
    sha_pk,
    shard_of,
    upload_pk,
    usage_pk,
)
from audiens.dal.usage_writes import (
    CHANGES_PER_TRANSACTION,
    ShardPacer,
    WriteTarget,
    commit,
    iso,
    shard_chunks,
    usage_sk,
    write_chunks,
)
from audiens.domain.periods import Period
from audiens.domain.usage_reports import ChangeSource, StoredKey, UploadRecord, UsageChange
from audiens.domain.usage_schema import FEEDS, SEGMENTS, UsageKind
from audiens.ports.usage import (
    DuplicateContentError,
    ObjectGoneError,
    PeriodClosedError,
    StoredUsage,
    UploadFinish,
)

__all__ = ["DynamoUsageRepository", "S3UsageObjects"]

LEASE_SECONDS: Final = 960
"""A multi-transaction write's lease: UsageIngest's 900 s timeout and a minute of clock skew."""
_BATCH_GET: Final = 100


def _kind_of(sk: str) -> str:
    return SEGMENTS if sk.startswith(SEGMENT_PREFIX) else FEEDS


def _record_from(item: UploadItem) -> UploadRecord:
    errors: list[dict[str, Any]] = json.loads(zlib.decompress(item.errors)) if item.errors else []
    return UploadRecord(
        upload_id=item.upload_id,
        account_id=item.account_id,
        period=item.period,
        kind=item.kind,
        status=item.status,  # type: ignore[arg-type]
        origin=item.origin,
        bucket=item.bucket,
        key=item.object_key,
        created_at=item.created_at,
        requested_by=item.requested_by or "",
        etag=item.etag,
        size=int(item.size) if item.size is not None else None,
        received_at=item.received_at,
        finished_at=item.finished_at,
        rows=int(item.rows or 0),
        accepted_rows=int(item.accepted_rows or 0),
        rejected_rows=int(item.rejected_rows or 0),
        changed=int(item.changed or 0),
        errors=errors,
        sha256=item.sha256,
        duplicate_of=item.duplicate_of,
    )


def _marked(record: UploadRecord) -> UploadItem:
    """The upload's item as this call writes it (its ``write_id``: a retry after a lost answer is recognised)."""
    item = _item_from(record)
    item.write_id = write_marker()
    return item


def _item_from(record: UploadRecord) -> UploadItem:
    return UploadItem(
        upload_pk(record.upload_id),
        "META",
        upload_id=record.upload_id,
        account_id=record.account_id,
        period=record.period,
        kind=record.kind,
        status=record.status,
        origin=record.origin,
        bucket=record.bucket,
        object_key=record.key,
        created_at=record.created_at,
        requested_by=record.requested_by or None,
        etag=record.etag,
        size=record.size,
        received_at=record.received_at,
        finished_at=record.finished_at,
        rows=record.rows,
        accepted_rows=record.accepted_rows,
        rejected_rows=record.rejected_rows,
        changed=record.changed,
        errors=zlib.compress(json.dumps(record.errors, separators=(",", ":")).encode(), 6) if record.errors else None,
        sha256=record.sha256,
        duplicate_of=record.duplicate_of,
        gsi1pk=account_uploads_pk(record.account_id) if record.account_id else UNATTRIBUTED_UPLOADS,
        gsi1sk=f"{record.period}#{iso(record.created_at)}#{record.upload_id}",
    )


class DynamoUsageRepository:
    changes_per_transaction = CHANGES_PER_TRANSACTION

    def __init__(self, region: str, *, parallelism: int = 4, pacer: ShardPacer | None = None) -> None:
        self._region = region
        self._parallelism = parallelism
        self._pacer = pacer or ShardPacer()

    @cached_property
    def _client(self) -> Any:
        return client("dynamodb", self._region)

    @property
    def _table(self) -> str:
        return str(UsageItem.Meta.table_name)

    # ------------------------------------------------------------------------------ the period
    def period_state(self, period: Period) -> str:
        try:
            item = PeriodStateItem.get(*PeriodStateItem.key(str(period)), consistent_read=True)
        except PeriodStateItem.DoesNotExist:
            return OPEN
        return str(item.state)

    # ------------------------------------------------------------------------------ usage reads
    def _query(self, pk: str, prefix: str, projection: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of one partition key under ``prefix``, strongly consistent, page by page (raw items:
        a million rows are parsed several times faster than through model instances)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)" if prefix else "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}, **({":prefix": {"S": prefix}} if prefix else {})},
            "ConsistentRead": True,
        }
        if projection:
            params["ProjectionExpression"] = ", ".join(f"#{i}" for i in range(len(projection)))
            params["ExpressionAttributeNames"] = {f"#{i}": name for i, name in enumerate(projection)}
        while True:
            page = self._client.query(**params)
            last = page.get("LastEvaluatedKey")
            items: list[dict[str, Any]] = page.get("Items", [])
            del page
            items.reverse()
            while items:  # each item let go once handed out: the next page never meets the last one in memory
                yield items.pop()
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def stored_usage(self, buyer_id: str, period: Period, kind: UsageKind) -> dict[StoredKey, int]:
        prefix = SEGMENT_PREFIX if kind == SEGMENTS else FEED_PREFIX
        found: dict[StoredKey, int] = {}
        for shard in range(SHARDS):
            for item in self._query(usage_pk(buyer_id, str(period), shard), prefix, ["k1", "k2", "usage"]):
                found[(item["k1"]["S"], item["k2"]["S"])] = int(item["usage"]["N"])
        return found

    def stored_usage_of(
        self, buyer_id: str, period: Period, kind: UsageKind, keys: Collection[StoredKey]
    ) -> dict[StoredKey, int]:
        found: dict[StoredKey, int] = {}
        wanted = [
            {"pk": {"S": usage_pk(buyer_id, str(period), shard_of(*key))}, "sk": {"S": usage_sk(kind, key)}}
            for key in keys
        ]
        for start in range(0, len(wanted), _BATCH_GET):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": wanted[start : start + _BATCH_GET],
                    "ConsistentRead": True,
                    "ProjectionExpression": "k1, k2, #u",
                    "ExpressionAttributeNames": {"#u": "usage"},
                }
            }
            for attempt in range(10):
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found[(item["k1"]["S"], item["k2"]["S"])] = int(item["usage"]["N"])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise RuntimeError(f"usage of {buyer_id} for {period} could not be read")
        return found

    def usage_rows(self, buyer_id: str, period: Period, kind: UsageKind | None = None) -> Iterator[StoredUsage]:
        """Every stored value, shard after shard (not sorted), one page in memory at a time."""
        prefix = USAGE_PREFIX if kind is None else SEGMENT_PREFIX if kind == SEGMENTS else FEED_PREFIX
        for shard in range(SHARDS):
            for item in self._query(usage_pk(buyer_id, str(period), shard), prefix):
                yield StoredUsage(
                    kind=_kind_of(item["sk"]["S"]),
                    key=(item["k1"]["S"], item["k2"]["S"]),
                    usage=int(item["usage"]["N"]),
                    content_optimization=bool(item.get("co", {}).get("BOOL", False)),
                    provider_id=item["provider_id"]["S"] if "provider_id" in item else None,
                )

    def buyers_with_usage(self, period: Period) -> list[str]:
        return [
            item.buyer_id
            for pk in buyer_shard_pks(str(period))
            for item in PeriodBuyerItem.query(pk, PeriodBuyerItem.sk.startswith("BUYER#"))
        ]

    def audit(self, buyer_id: str, period: Period) -> list[dict[str, Any]]:
        """Every change of the buyer's usage for ``period``, oldest first: who, when, through what, old, new."""
        items = [item for shard in range(SHARDS) for item in self._query(audit_pk(buyer_id, str(period), shard), "")]
        items.sort(key=lambda item: str(item["sk"]["S"]))
        records: list[dict[str, Any]] = []
        for item in items:
            for k1, k2, old, new in json.loads(item["changes"]["S"]):
                records.append(
                    {
                        "kind": item["kind"]["S"],
                        "key": (k1, k2),
                        "old": old,
                        "new": new,
                        "at": datetime.strptime(item["at"]["S"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
                        "account_id": item["account_id"]["S"],
                        "key_id": item["key_id"]["S"] if "key_id" in item else None,
                        "source": item["source"]["S"],
                    }
                )
        return records

    def audit_trail(self, buyer_id: str, period: Period, kind: UsageKind, key: StoredKey) -> list[dict[str, Any]]:
        """Every change of one value, oldest first (support and finance questions: who set this, when)."""
        return [r for r in self.audit(buyer_id, period) if r["kind"] == kind and r["key"] == key]

    # ------------------------------------------------------------------------------ the guard
    @cached_property
    def _guards(self) -> UsageGuards:
        return UsageGuards(self._client, self._table)

    def freeze_buyer(self, buyer_id: str, period: Period) -> None:
        """Freeze the buyer's usage of ``period`` once no write holds a lease (``UsageLeaseHeldError``)."""
        self._guards.freeze(buyer_id, str(period))

    # ------------------------------------------------------------------------------ usage writes
    def apply_changes(
        self,
        buyer_id: str,
        period: Period,
        kind: UsageKind,
        changes: Iterable[UsageChange],
        source: ChangeSource,
        *,
        finish: UploadFinish | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> int:
        target = WriteTarget(self._table, buyer_id, str(period), kind, source)
        it = iter(changes)
        head = list(islice(it, CHANGES_PER_TRANSACTION + 1))
        if not head and finish is None:
            return 0
        try:
            if len(head) <= CHANGES_PER_TRANSACTION:
                return self._write_once(target, head, finish)
            return self._write_leased(target, chain(head, it), finish, lease_seconds)
        except DuplicateContentError:
            raise DuplicateContentError(self._sha_owner(finish) if finish else "") from None

    def _reread(self, target: WriteTarget) -> Any:
        period = Period.parse(target.period)
        return lambda chunk: self.stored_usage_of(target.buyer_id, period, target.kind, [c.key for c in chunk])

    def _finish_items(self, finish: UploadFinish | None) -> list[tuple[str, dict[str, Any]]]:
        if finish is None:
            return []
        record = finish.record
        sha = UploadShaItem(
            sha_pk(record.account_id, record.period, record.kind), finish.sha256, upload_id=record.upload_id
        )
        return [
            (
                "sha",
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": sha.serialize(),
                        "ConditionExpression": "attribute_not_exists(pk) OR upload_id = :id",
                        "ExpressionAttributeValues": {":id": {"S": record.upload_id}},
                    }
                },
            ),
            (
                "upload",
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _item_from(record).serialize(),
                        "ConditionExpression": "attribute_not_exists(pk) OR #st = :pending",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":pending": {"S": "pending"}},
                    }
                },
            ),
        ]

    def _write_once(self, target: WriteTarget, chunk: list[UsageChange], finish: UploadFinish | None) -> int:
        """Up to one transaction of values: guarded by the buyer's guard (by the period when nothing changes)."""
        if chunk:
            self._guards.ensure(target.buyer_id, target.period)
            check = ("guard", self._guards.check(target.buyer_id, target.period))
        else:
            check = ("period", self._guards.period_check(target.period))
        return commit(
            self._client, target, chunk, self._reread(target), checks=[check], extra=self._finish_items(finish)
        )

    def _write_leased(
        self, target: WriteTarget, changes: Iterable[UsageChange], finish: UploadFinish | None, seconds: float
    ) -> int:
        """Many transactions: under a lease on the buyer's guard, shards in parallel, the final one fenced."""
        buyer, period, owner = target.buyer_id, target.period, target.source.ref
        self._guards.ensure(buyer, period)
        self._guards.lease(buyer, period, owner, seconds)
        try:
            written = write_chunks(
                self._client,
                target,
                shard_chunks(changes),
                self._reread(target),
                parallelism=self._parallelism,
                pacer=self._pacer,
            )
            if finish is not None:
                fence = ("guard", self._guards.check(buyer, period, owner))
                try:
                    commit(
                        self._client, target, [], self._reread(target), checks=[fence], extra=self._finish_items(finish)
                    )
                except PeriodClosedError:
                    raise PeriodClosedError("The lease ran out and the close has begun.", written=written) from None
            return written
        finally:
            self._guards.release(buyer, period, owner)

    def _sha_owner(self, finish: UploadFinish) -> str:
        record = finish.record
        try:
            item = UploadShaItem.get(
                sha_pk(record.account_id, record.period, record.kind), finish.sha256, consistent_read=True
            )
        except UploadShaItem.DoesNotExist:
            return ""
        return str(item.upload_id)

    # ------------------------------------------------------------------------------ uploads
    def create_upload(self, record: UploadRecord) -> None:
        if not save_once(_marked(record), UploadItem.pk.does_not_exist()):
            raise RuntimeError(f"upload {record.upload_id} exists already")

    def get_upload(self, upload_id: str) -> UploadRecord | None:
        try:
            return _record_from(UploadItem.get(upload_pk(upload_id), "META", consistent_read=True))
        except UploadItem.DoesNotExist:
            return None

    def list_uploads(self, account_id: str, period: str | None) -> list[UploadRecord]:
        condition = UploadItem.gsi1sk.startswith(f"{period}#") if period else None
        items = UploadItem.by_account.query(account_uploads_pk(account_id), condition, scan_index_forward=False)
        return [_record_from(cast(UploadItem, item)) for item in items]

    def save_upload(self, record: UploadRecord) -> bool:
        return save_once(_marked(record), UploadItem.pk.does_not_exist() | (UploadItem.status == "pending"))

    def find_sha(self, account_id: str, period: str, kind: str, sha256: str) -> str | None:
        try:
            return str(UploadShaItem.get(sha_pk(account_id, period, kind), sha256, consistent_read=True).upload_id)
        except UploadShaItem.DoesNotExist:
            return None


class S3UsageObjects:
    """The usage bucket: streamed reads pinned to the event's ETag, presigned PUT URLs."""

    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _client(self) -> Any:
        return client("s3", self._region)  # SigV4, as every S3 client of dal.aws

    def iter_chunks(self, bucket: str, key: str, *, etag: str | None, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            params["IfMatch"] = f'"{etag}"'
        try:
            body = self._client.get_object(**params)["Body"]
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "PreconditionFailed", "412"):
                raise ObjectGoneError(f"{bucket}/{key}: {code}") from None
            raise
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def put(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None:
        self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def download_url(self, bucket: str, key: str, expires_in: int, *, filename: str) -> str:
        params = {"Bucket": bucket, "Key": key, "ResponseContentDisposition": f'attachment; filename="{filename}"'}
        return str(self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))

    def upload_url(self, bucket: str, key: str, expires_in: int) -> str:
        return str(
            self._client.generate_presigned_url(
                "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
            )
        )
