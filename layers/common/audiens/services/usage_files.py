"""Usage files dropped into the usage bucket (DOMAIN.md §7): one S3 "Object Created" event → one upload record.

Files are validated whole before anything is written, and only values that differ from the stored ones are
written. Writes are idempotent upserts and the upload's final status is written last (in the last, fenced
transaction), so a crash half-way and a redelivered event converge to the same values. A file that began
before the monthly close holds a lease on the buyer's usage and is written whole; the close waits for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from audiens.domain.usage_csv import validate_usage_csv
from audiens.domain.usage_reports import (
    MAX_LISTED_PROBLEMS,
    ChangeSource,
    StoredKey,
    UploadLocation,
    UploadRecord,
    UsageChange,
    diff_usage,
    parse_upload_key,
)
from audiens.domain.usage_schema import INVALID_INPUT, SEGMENTS
from audiens.errors import ConflictError, ValidationError
from audiens.observability import logger
from audiens.ports.events import ObjectCreated
from audiens.ports.usage import (
    DuplicateContentError,
    ObjectGoneError,
    PeriodClosedError,
    UploadFinish,
    UploadFinishedError,
)
from audiens.services.usage_reporting import DOWNLOADS_PREFIX, UsageCore, closed_message


def derived_upload_id(bucket: str, key: str, etag: str, version: str | None) -> str:
    """Id of a file dropped into the bucket: stable per object version, so a redelivered event finds it."""
    digest = hashlib.sha256(f"{bucket}/{key}/{etag}/{version or ''}".encode()).hexdigest()
    return f"upl_{digest[:20]}"


class _HashingChunks:
    """Passes the object's chunks through while hashing them: one read gives the validation and the sha256."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self._hash = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        update = self._hash.update
        for chunk in self._chunks:
            update(chunk)
            yield chunk

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class UsageFiles(UsageCore):
    # ------------------------------------------------------------------------------ the S3 ingest
    def ingest(self, obj: ObjectCreated) -> UploadRecord | None:
        """Process one file of the usage bucket; ``None`` for an object that is not a usage file."""
        if self._bucket and obj.bucket != self._bucket:
            logger.warning("event for another bucket ignored", extra={"bucket": obj.bucket, "key": obj.key})
            return None
        if obj.key.startswith(DOWNLOADS_PREFIX):
            return None  # a template copy made for a download, not a report
        now = obj.time
        try:
            location = parse_upload_key(obj.key)
        except ValidationError as error:
            return self._reject_layout(obj, error)
        owner = self._accounts.get(location.account_id) if self._accounts is not None else None
        if self._accounts is not None and (owner is None or owner.status != "active" or "buyer" not in owner.roles):
            return self._reject_unattributed(
                obj,
                f"The folder {location.account_id!r} is not a buyer account; usage files go under the buyer's "
                "own account id.",
                period=str(location.period),
                kind=location.kind,
            )
        record = self._upload_for(location, obj)
        if record.terminal:
            logger.info("usage file already processed", extra={"upload_id": record.upload_id, "status": record.status})
            return record
        record.etag, record.size, record.received_at = obj.etag, obj.size, now
        if obj.size is not None and obj.size > self._max_bytes:
            return self._finish_rejected(
                record,
                [
                    _file_error(
                        INVALID_INPUT,
                        f"The file is {obj.size:,} bytes, more than the limit of {self._max_bytes:,} bytes; "
                        "split it into smaller files.",
                    )
                ],
                now,
            )
        try:
            self._ensure_open(location.period, now)
        except ConflictError as error:
            return self._finish_rejected(record, [_file_error(error.code, error.message)], now)
        return self._process(location, record, obj, now)

    def _upload_for(self, location: UploadLocation, obj: ObjectCreated) -> UploadRecord:
        """The record of this object: the API-created upload named by the file, else one derived from the key
        and version (so a redelivered event finds the same record)."""
        named = location.upload_id
        origin, requested_by = "drop", f"s3:{obj.requester}" if obj.requester else "s3"
        if named is not None:
            record = self._repo.get_upload(named)
            if record is not None and record.account_id == location.account_id and record.key == obj.key:
                if not (record.terminal and record.etag != obj.etag):
                    return record
                # The presigned URL was used again after its first file finished: a new upload.
                origin, requested_by = record.origin, record.requested_by
        upload_id = derived_upload_id(obj.bucket, obj.key, obj.etag, obj.version_id or obj.sequencer)
        found = self._repo.get_upload(upload_id)
        if found is not None:
            return found
        return UploadRecord(
            upload_id=upload_id,
            account_id=location.account_id,
            period=str(location.period),
            kind=location.kind,
            status="pending",
            origin=origin,
            bucket=obj.bucket,
            key=obj.key,
            created_at=obj.time,
            requested_by=requested_by,
        )

    def _process(
        self, location: UploadLocation, record: UploadRecord, obj: ObjectCreated, now: datetime
    ) -> UploadRecord:
        if self._objects is None:
            raise RuntimeError("file ingestion needs the usage bucket")
        buyer, period, kind = location.account_id, location.period, location.kind
        known: dict[tuple[str, ...], Any]
        known = self._segment_keys(buyer, period) if kind == SEGMENTS else self._feed_keys(buyer, period)
        chunks = _HashingChunks(self._objects.iter_chunks(obj.bucket, obj.key, etag=obj.etag or None))
        try:
            report = validate_usage_csv(
                chunks, kind, known, max_bytes=self._max_bytes, max_problems=MAX_LISTED_PROBLEMS
            )
        except ObjectGoneError:
            return self._finish_rejected(
                record,
                [_file_error(INVALID_INPUT, "The file was replaced or deleted before it could be read.")],
                now,
            )
        record.rows = report.rows
        if not report.accepted:
            return self._finish_rejected(record, report.errors(), now)
        if report.rows > self._max_rows:
            message = f"The file has {report.rows:,} rows, more than the limit of {self._max_rows:,}; split it."
            return self._finish_rejected(record, [_file_error(INVALID_INPUT, message)], now)
        sha = chunks.hexdigest()
        record.sha256 = sha
        earlier = self._repo.find_sha(buyer, str(period), kind, sha)
        if earlier is not None and earlier != record.upload_id:
            return self._finish_duplicate(record, earlier, now)

        # The values, keyed like the store: segment keys already are (segment_id, destination_id).
        values: Mapping[StoredKey, int]
        entries: Mapping[StoredKey, Any]
        if kind == SEGMENTS:
            values = report.values  # type: ignore[assignment]
            entries = {}
            flagged = {k.stored_key for k in known.values() if k.content_optimization}
        else:
            values = {known[key].stored_key: usage for key, usage in report.values.items()}
            entries = {entry.stored_key: entry for entry in known.values()}
            flagged = set()
        del known, report
        stored = self._repo.stored_usage(buyer, period, kind)
        changed = sum(1 for _ in diff_usage(values, stored))
        if changed > self._repo.changes_per_transaction and self._repo.get_upload(record.upload_id) is None:
            # Several transactions: make the file visible as pending first, so a crash leaves a trace.
            self._repo.save_upload(record)
        final = replace(
            record,
            status="accepted",
            accepted_rows=record.rows,
            rejected_rows=0,
            changed=changed,
            errors=[],
            finished_at=now,
        )
        source = ChangeSource(
            account_id=buyer,
            key_id=record.requested_by,
            source=record.upload_id,
            ref=record.upload_id,
            at=now,
        )
        changes = (
            UsageChange(
                key=key,
                old=old,
                new=new,
                content_optimization=key in flagged,
                provider_id=entries[key].provider_id if entries else None,
            )
            for key, old, new in diff_usage(values, stored)
        )
        try:
            self._repo.apply_changes(buyer, period, kind, changes, source, finish=UploadFinish(final, sha))
        except PeriodClosedError as error:
            message = closed_message(period, now, self._due_day)
            if error.written:
                message += (
                    f" {error.written:,} of the file's {changed:,} changed values were saved before it began; "
                    "the audit records show which."
                )
            record.changed = error.written
            return self._finish_rejected(record, [_file_error("reporting_window_closed", message)], now)
        except DuplicateContentError as error:
            return self._finish_duplicate(record, error.upload_id, now)
        except UploadFinishedError:
            stored_record = self._repo.get_upload(record.upload_id)
            return stored_record if stored_record is not None else final
        logger.info(
            "usage file accepted",
            extra={"upload_id": record.upload_id, "rows": final.rows, "changed": changed, "kind": kind},
        )
        return final

    def _finish_rejected(self, record: UploadRecord, errors: list[dict[str, Any]], now: datetime) -> UploadRecord:
        record.status = "rejected"
        record.errors = errors
        record.accepted_rows = 0
        record.rejected_rows = record.rows
        record.finished_at = now
        saved = self._save_terminal(record)
        if self._on_rejected is not None and saved.status == "rejected" and saved.origin != "unattributed":
            self._on_rejected(saved, now)  # idempotent per upload: a redelivered event sends nothing twice
        return saved

    def _finish_duplicate(self, record: UploadRecord, earlier: str, now: datetime) -> UploadRecord:
        # Nothing of a duplicate is applied: its rows count as rejected, and duplicate_of says why.
        record.status = "duplicate"
        record.duplicate_of = earlier
        record.errors = []
        record.accepted_rows = 0
        record.rejected_rows = record.rows
        record.finished_at = now
        return self._save_terminal(record)

    def _save_terminal(self, record: UploadRecord) -> UploadRecord:
        if not self._repo.save_upload(record):
            stored = self._repo.get_upload(record.upload_id)
            return stored if stored is not None else record
        logger.info(
            "usage file finished",
            extra={"upload_id": record.upload_id, "status": record.status, "rows": record.rows, "key": record.key},
        )
        return record

    def _reject_layout(self, obj: ObjectCreated, error: ValidationError) -> UploadRecord:
        account_id = obj.key.split("/", 1)[0]
        owner = self._accounts.get(account_id) if self._accounts is not None and account_id else None
        if owner is None or owner.status != "active" or "buyer" not in owner.roles:
            return self._reject_unattributed(obj, error.message)
        parts = obj.key.split("/")
        record = UploadRecord(
            upload_id=derived_upload_id(obj.bucket, obj.key, obj.etag, obj.version_id or obj.sequencer),
            account_id=account_id,
            period=parts[1] if len(parts) > 1 else "",
            kind=parts[2] if len(parts) > 2 else "",
            status="pending",
            origin="drop",
            bucket=obj.bucket,
            key=obj.key,
            created_at=obj.time,
            etag=obj.etag,
            size=obj.size,
            received_at=obj.time,
        )
        existing = self._repo.get_upload(record.upload_id)
        if existing is not None and existing.terminal:
            return existing
        return self._finish_rejected(record, [_file_error(INVALID_INPUT, error.message)], obj.time)

    def _reject_unattributed(
        self, obj: ObjectCreated, message: str, *, period: str = "", kind: str = ""
    ) -> UploadRecord:
        """A key naming no buyer: logged for the operator and recorded outside any account."""
        logger.warning("usage file outside any buyer's prefix", extra={"key": obj.key, "reason": message})
        record = UploadRecord(
            upload_id=derived_upload_id(obj.bucket, obj.key, obj.etag, obj.version_id or obj.sequencer),
            account_id="",
            period=period,
            kind=kind,
            status="pending",
            origin="unattributed",
            bucket=obj.bucket,
            key=obj.key,
            created_at=obj.time,
            etag=obj.etag,
            size=obj.size,
            received_at=obj.time,
        )
        existing = self._repo.get_upload(record.upload_id)
        if existing is not None and existing.terminal:
            return existing
        return self._finish_rejected(record, [_file_error(INVALID_INPUT, message)], obj.time)


def _file_error(code: str, message: str) -> dict[str, Any]:
    """A problem of the file as a whole (not of one line): line 0."""
    return {"line": 0, "code": code, "message": message}
