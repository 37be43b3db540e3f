"""DynamoDB and S3 adapters of usage reporting (``ports_usage``).

Every usage write is a ``TransactWriteItems`` whose first item is a ConditionCheck that the period is
still OPEN (``PeriodStateItem.open_condition``): that is the contract with the monthly close. A
transaction carries up to ``CHANGES_PER_TRANSACTION`` changed values and one audit item listing them
(DynamoDB's limit is 100 items: 1 check + 96 values + the audit + the buyer marker + the upload's
content claim and final record). Each usage put is conditioned on the value it replaces, so a
concurrent change is re-read and the audit keeps the true old value, never a stale one.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import cached_property
from itertools import islice
from typing import Any, Final, cast

from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from audiens.dal.aws import client
from audiens.dal.period_models import OPEN, PeriodStateItem
from audiens.dal.usage_models import (
    FEED_PREFIX,
    SEGMENT_PREFIX,
    UNATTRIBUTED_UPLOADS,
    USAGE_PREFIX,
    PeriodBuyerItem,
    UploadItem,
    UploadShaItem,
    UsageAuditItem,
    UsageItem,
    account_uploads_pk,
    audit_pk,
    period_pk,
    sha_pk,
    upload_pk,
    usage_pk,
)
from audiens.domain.periods import Period
from audiens.domain.usage_csv import FEEDS, SEGMENTS, UsageKind
from audiens.domain.usage_reports import ChangeSource, StoredKey, UploadRecord, UsageChange
from audiens.observability import logger
from audiens.ports.usage import (
    DuplicateContentError,
    ObjectGoneError,
    PeriodClosedError,
    StoredUsage,
    UploadFinish,
    UploadFinishedError,
)

CHANGES_PER_TRANSACTION: Final = 96
MAX_ATTEMPTS: Final = 6
_BATCH_GET: Final = 100
_CONDITION_FAILED: Final = "ConditionalCheckFailed"
_CONFLICT: Final = "TransactionConflict"


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _usage_sk(kind: str, key: StoredKey) -> str:
    return f"{SEGMENT_PREFIX if kind == SEGMENTS else FEED_PREFIX}{key[0]}#{key[1]}"


def _kind_of(sk: str) -> str:
    return SEGMENTS if sk.startswith(SEGMENT_PREFIX) else FEEDS


def _reasons(error: TransactWriteError) -> list[str]:
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [r.code if r is not None else "None" for r in reasons]


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
        gsi1sk=f"{record.period}#{_iso(record.created_at)}#{record.upload_id}",
    )


class DynamoUsageRepository:
    changes_per_transaction = CHANGES_PER_TRANSACTION

    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _connection(self) -> Connection:
        return Connection(region=self._region)

    # ------------------------------------------------------------------------------ the period
    def period_state(self, period: Period) -> str:
        try:
            item = PeriodStateItem.get(*PeriodStateItem.key(str(period)), consistent_read=True)
        except PeriodStateItem.DoesNotExist:
            return OPEN
        return str(item.state)

    # ------------------------------------------------------------------------------ usage reads
    def stored_usage(self, buyer_id: str, period: Period, kind: UsageKind) -> dict[StoredKey, int]:
        prefix = SEGMENT_PREFIX if kind == SEGMENTS else FEED_PREFIX
        return {
            (item.k1, item.k2): int(item.usage)
            for item in UsageItem.query(
                usage_pk(buyer_id, str(period)),
                UsageItem.sk.startswith(prefix),
                consistent_read=True,
                attributes_to_get=["k1", "k2", "usage"],
            )
        }

    def stored_usage_of(
        self, buyer_id: str, period: Period, kind: UsageKind, keys: Collection[StoredKey]
    ) -> dict[StoredKey, int]:
        pk = usage_pk(buyer_id, str(period))
        found: dict[StoredKey, int] = {}
        wanted = [(pk, _usage_sk(kind, key)) for key in keys]
        for start in range(0, len(wanted), _BATCH_GET):
            for item in UsageItem.batch_get(
                wanted[start : start + _BATCH_GET], consistent_read=True, attributes_to_get=["k1", "k2", "usage"]
            ):
                found[(item.k1, item.k2)] = int(item.usage)
        return found

    def usage_rows(self, buyer_id: str, period: Period, kind: UsageKind | None = None) -> Iterator[StoredUsage]:
        prefix = USAGE_PREFIX if kind is None else SEGMENT_PREFIX if kind == SEGMENTS else FEED_PREFIX
        for item in UsageItem.query(
            usage_pk(buyer_id, str(period)), UsageItem.sk.startswith(prefix), consistent_read=True
        ):
            yield StoredUsage(
                kind=_kind_of(item.sk),
                key=(item.k1, item.k2),
                usage=int(item.usage),
                content_optimization=bool(item.co),
                provider_id=item.provider_id,
            )

    def buyers_with_usage(self, period: Period) -> list[str]:
        return [
            item.buyer_id
            for item in PeriodBuyerItem.query(period_pk(str(period)), PeriodBuyerItem.sk.startswith("BUYER#"))
        ]

    def audit(self, buyer_id: str, period: Period) -> list[dict[str, Any]]:
        """Every change of the buyer's usage for ``period``, oldest first: who, when, through what, old, new."""
        records: list[dict[str, Any]] = []
        for item in UsageAuditItem.query(audit_pk(buyer_id, str(period)), consistent_read=True):
            for k1, k2, old, new in json.loads(item.changes):
                records.append(
                    {
                        "kind": item.kind,
                        "key": (k1, k2),
                        "old": old,
                        "new": new,
                        "at": item.at,
                        "account_id": item.account_id,
                        "key_id": item.key_id,
                        "source": item.source,
                    }
                )
        return records

    def audit_trail(self, buyer_id: str, period: Period, kind: UsageKind, key: StoredKey) -> list[dict[str, Any]]:
        """Every change of one value, oldest first (support and finance questions: who set this, when)."""
        return [r for r in self.audit(buyer_id, period) if r["kind"] == kind and r["key"] == key]

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
    ) -> int:
        it = iter(changes)
        chunk = list(islice(it, CHANGES_PER_TRANSACTION))
        if not chunk and finish is None:
            return 0
        written = 0
        first = True
        while True:
            following = list(islice(it, CHANGES_PER_TRANSACTION)) if chunk else []
            last = not following
            try:
                written += self._commit(
                    buyer_id,
                    str(period),
                    kind,
                    chunk,
                    source,
                    marker=first and bool(chunk),
                    finish=finish if last else None,
                )
            except PeriodClosedError as error:
                raise PeriodClosedError(error.message, written=written) from None
            first = False
            if last:
                return written
            chunk = following

    def _commit(
        self,
        buyer_id: str,
        period: str,
        kind: UsageKind,
        chunk: list[UsageChange],
        source: ChangeSource,
        *,
        marker: bool,
        finish: UploadFinish | None,
    ) -> int:
        pending = chunk
        for attempt in range(MAX_ATTEMPTS):
            if not pending and not marker and finish is None:
                return 0
            labels: list[str] = ["period"]
            tx = TransactWrite(connection=self._connection)
            tx.condition_check(
                PeriodStateItem, *PeriodStateItem.key(period), condition=PeriodStateItem.open_condition()
            )
            pk = usage_pk(buyer_id, period)
            at = _iso(source.at)
            for change in pending:
                k1, k2 = change.key
                tx.save(
                    UsageItem(
                        pk,
                        _usage_sk(kind, change.key),
                        k1=k1,
                        k2=k2,
                        usage=change.new,
                        co=change.content_optimization or None,
                        provider_id=change.provider_id,
                        updated_at=source.at,
                        source=source.source,
                    ),
                    condition=UsageItem.pk.does_not_exist() if change.old is None else UsageItem.usage == change.old,
                )
                labels.append("usage")
            if pending:
                first = pending[0].key
                tx.save(
                    UsageAuditItem(
                        audit_pk(buyer_id, period),
                        f"{at}#{source.ref}#{'S' if kind == SEGMENTS else 'F'}#{first[0]}#{first[1]}",
                        kind=kind,
                        at=source.at,
                        account_id=source.account_id,
                        key_id=source.key_id or None,
                        source=source.source,
                        ref=source.ref,
                        changes=json.dumps([[*c.key, c.old, c.new] for c in pending], separators=(",", ":")),
                    )
                )
                labels.append("audit")
            if marker:
                tx.save(PeriodBuyerItem(period_pk(period), f"BUYER#{buyer_id}", buyer_id=buyer_id))
                labels.append("marker")
            if finish is not None:
                record = finish.record
                tx.save(
                    UploadShaItem(
                        sha_pk(record.account_id, record.period, record.kind), finish.sha256, upload_id=record.upload_id
                    ),
                    condition=UploadShaItem.pk.does_not_exist() | (UploadShaItem.upload_id == record.upload_id),
                )
                tx.save(_item_from(record), condition=UploadItem.pk.does_not_exist() | (UploadItem.status == "pending"))
                labels += ["sha", "upload"]
            try:
                with tx:
                    pass
            except TransactWriteError as error:
                reasons = _reasons(error)
                failed = {labels[i] for i, code in enumerate(reasons) if code == _CONDITION_FAILED and i < len(labels)}
                if "period" in failed:
                    raise PeriodClosedError("The period's close has begun.") from None
                if "upload" in failed:
                    raise UploadFinishedError() from None
                if "sha" in failed and finish is not None:
                    raise DuplicateContentError(self._sha_owner(finish)) from None
                if "usage" in failed:
                    # Someone changed these values meanwhile: re-read them so the audit keeps the true old value.
                    current = self.stored_usage_of(buyer_id, Period.parse(period), kind, [c.key for c in pending])
                    pending = [replace(c, old=current.get(c.key)) for c in pending if current.get(c.key) != c.new]
                    continue
                if _CONFLICT in reasons or not reasons:
                    logger.info("usage transaction retried", extra={"attempt": attempt + 1, "reasons": reasons})
                    time.sleep(min(0.05 * 2**attempt, 1.0))
                    continue
                raise
            return len(pending)
        raise RuntimeError(f"usage of {buyer_id} for {period} could not be written after {MAX_ATTEMPTS} attempts")

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
        _item_from(record).save(condition=UploadItem.pk.does_not_exist())

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
        try:
            _item_from(record).save(condition=UploadItem.pk.does_not_exist() | (UploadItem.status == "pending"))
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

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
