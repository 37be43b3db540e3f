"""Usage reporting (DOMAIN.md §7): the API, the CSV template, uploads, the S3 ingest and the billing reads.

Every write of usage goes through ``UsageRepository.apply_changes``, which puts each chunk of changes in a
transaction with a ConditionCheck that the period is still OPEN (``PeriodStateItem.open_condition``): the
monthly close flips that item to CLOSING before it reads usage, so nothing lands after the close began.
The reporting window is checked first by the business time (request time or the S3 event's time).

Files are validated whole before anything is written, and only values that differ from the stored
ones are written. Writes are idempotent upserts and the upload's final status is written last (in the
last transaction), so a crash half-way and a redelivered event converge to the same values.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from audiens.domain.accounts import Principal
from audiens.domain.periods import (
    DEFAULT_DUE_DAY,
    Period,
    ensure_window_open,
    reportable_period,
    window,
)
from audiens.domain.usage_csv import (
    DEFAULT_MAX_BYTES,
    INVALID_INPUT,
    SEGMENTS,
    UsageKind,
    render_usage_csv,
    validate_usage_csv,
)
from audiens.domain.usage_reports import (
    MAX_API_ROWS,
    MAX_FILE_ROWS,
    MAX_LISTED_PROBLEMS,
    ChangeSource,
    FeedUsageKey,
    SegmentUsageKey,
    StoredKey,
    UploadLocation,
    UploadRecord,
    UsageChange,
    check_api_rows,
    diff_usage,
    parse_kind,
    parse_upload_key,
    upload_key,
)
from audiens.errors import ConflictError, NotFoundError, ValidationError
from audiens.observability import logger
from audiens.ports.events import ObjectCreated
from audiens.ports.usage import (
    OPEN,
    AccountDirectory,
    DuplicateContentError,
    ObjectGoneError,
    PeriodClosedError,
    StoredUsage,
    UploadFinish,
    UploadFinishedError,
    UsageCatalog,
    UsageObjects,
    UsageRepository,
)

UPLOAD_URL_SECONDS: Final = 3600
DOWNLOAD_URL_SECONDS: Final = 900
DOWNLOADS_PREFIX: Final = "downloads/"
INLINE_CSV_CHARS: Final = 5_000_000
"""Lambda responses are limited to 6 MB: a bigger template (~60,000 segment rows) is handed out through S3."""
DEFAULT_PAGE_ROWS: Final = 10_000
PAGE_JSON_CHARS: Final = 4_000_000
"""A page also stops at this much JSON (ASCII-escaped), so long names cannot reach Lambda's 6 MB response limit."""


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class PutResult:
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class UploadTicket:
    record: UploadRecord
    upload_url: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class Template:
    filename: str
    body: str | None = None
    download_url: str | None = None
    expires_in: int | None = None


@dataclass(frozen=True, slots=True)
class SegmentUsageRow:
    segment_id: str
    destination_id: str
    usage: int
    content_optimization: bool


@dataclass(frozen=True, slots=True)
class FeedUsageRow:
    feed_id: str
    use_case: str
    usage: int
    provider_id: str | None
    content_optimization: bool


@dataclass(frozen=True, slots=True)
class BuyerUsage:
    buyer_id: str
    period: str
    segments: tuple[SegmentUsageRow, ...]
    feeds: tuple[FeedUsageRow, ...]


def new_upload_id() -> str:
    return f"upl_{secrets.token_hex(10)}"


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


def _closed_message(period: Period, now: datetime, due_day: int) -> str:
    target = reportable_period(period, now, due_day)
    return (
        f"The monthly close of {period} has begun, so its usage can no longer change. "
        f"Add these impressions to your report for {target}."
    )


class UsageService:
    def __init__(
        self,
        repo: UsageRepository,
        catalog: UsageCatalog,
        *,
        accounts: AccountDirectory | None = None,
        objects: UsageObjects | None = None,
        bucket: str | None = None,
        due_day: int = DEFAULT_DUE_DAY,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_rows: int = MAX_FILE_ROWS,
        upload_url_seconds: int = UPLOAD_URL_SECONDS,
        inline_csv_chars: int = INLINE_CSV_CHARS,
        page_json_chars: int = PAGE_JSON_CHARS,
    ) -> None:
        self._repo = repo
        self._catalog = catalog
        self._accounts = accounts
        self._objects = objects
        self._bucket = bucket
        self._due_day = due_day
        self._max_bytes = max_bytes
        self._max_rows = max_rows
        self._upload_url_seconds = upload_url_seconds
        self._inline_csv_chars = inline_csv_chars
        self._page_json_chars = page_json_chars

    # ------------------------------------------------------------------------------ the window
    def window_view(self, period: Period, now: datetime) -> dict[str, Any]:
        """The ``window`` object; a period whose close has begun reads ``closed`` even inside its dates."""
        view: dict[str, Any] = dict(window(period, self._due_day).to_dict(now))
        state = self._repo.period_state(period)
        if state != OPEN:
            view["state"] = "closed"
        view["period_state"] = state
        view["due_day"] = self._due_day
        return view

    def _ensure_open(self, period: Period, now: datetime) -> None:
        ensure_window_open(period, now, self._due_day)
        if self._repo.period_state(period) != OPEN:
            raise PeriodClosedError(_closed_message(period, now, self._due_day))

    # ------------------------------------------------------------------------------ known keys
    def _segment_keys(self, buyer_id: str, period: Period) -> dict[tuple[str, ...], SegmentUsageKey]:
        return {key.csv_key: key for key in self._catalog.segment_keys(buyer_id, period)}

    def _feed_keys(self, buyer_id: str, period: Period) -> dict[tuple[str, ...], FeedUsageKey]:
        """Feed keys by (provider name, feed name, use case); a name pair two feeds share is ambiguous and
        left out (its rows are refused as ``not_found``), rather than guessing which feed was meant."""
        keys: dict[tuple[str, ...], FeedUsageKey] = {}
        ambiguous: set[tuple[str, ...]] = set()
        for key in self._catalog.feed_keys(buyer_id, period):
            if key.unit != "cpm":
                continue
            csv_key = key.csv_key
            if csv_key in keys and keys[csv_key].stored_key != key.stored_key:
                ambiguous.add(csv_key)
            keys[csv_key] = key
        for csv_key in ambiguous:
            logger.warning("ambiguous feed names left out of the usage keys", extra={"key": list(csv_key)})
            del keys[csv_key]
        return keys

    # ------------------------------------------------------------------------------ reading
    def usage_view(
        self,
        principal: Principal,
        period_text: str,
        kind_text: str,
        *,
        now: datetime,
        limit: int = DEFAULT_PAGE_ROWS,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        period = Period.parse(period_text)
        kind = parse_kind(kind_text)
        rows = self._current_rows(principal.account_id, period, kind)
        start = 0
        if cursor:
            start = next((i + 1 for i, row in enumerate(rows) if _row_cursor(row) == cursor), -1)
            if start < 0:
                raise ValidationError("The cursor is not valid for this listing.", code="invalid_cursor")
        page: list[dict[str, Any]] = []
        size = 0
        for row in rows[start : start + limit]:
            size += len(json.dumps(row, default=str)) + 2
            if page and size > self._page_json_chars:
                break
            page.append(row)
        more = start + len(page) < len(rows)
        return {
            "period": str(period),
            "kind": kind,
            "window": self.window_view(period, now),
            "rows": page,
            "next_cursor": _row_cursor(page[-1]) if more and page else None,
        }

    def _current_rows(self, buyer_id: str, period: Period, kind: UsageKind) -> list[dict[str, Any]]:
        stored = {row.key: row for row in self._stored_rows(buyer_id, period, kind)}
        rows: list[dict[str, Any]] = []
        if kind == SEGMENTS:
            for seg in self._segment_keys(buyer_id, period).values():
                found = stored.pop(seg.stored_key, None)
                rows.append(
                    {
                        "segment_id": seg.segment_id,
                        "segment_name": seg.segment_name,
                        "destination_id": seg.destination_id,
                        "destination_name": seg.destination_name,
                        "content_optimization": seg.content_optimization,
                        "usage": found.usage if found else None,
                    }
                )
            for left in stored.values():  # reported, but no longer mapped: still billed, shown without names
                rows.append(
                    {
                        "segment_id": left.key[0],
                        "segment_name": "",
                        "destination_id": left.key[1],
                        "destination_name": "",
                        "content_optimization": left.content_optimization,
                        "usage": left.usage,
                    }
                )
            rows.sort(key=lambda r: (r["segment_id"], r["destination_id"]))
            return rows
        for feed in self._feed_keys(buyer_id, period).values():
            found = stored.pop(feed.stored_key, None)
            rows.append(
                {
                    "provider_id": feed.provider_id,
                    "provider_name": feed.provider_name,
                    "feed_id": feed.feed_id,
                    "feed_name": feed.feed_name,
                    "use_case": feed.use_case,
                    "unit": feed.unit,
                    "usage": found.usage if found else None,
                }
            )
        for left in stored.values():
            rows.append(
                {
                    "provider_id": left.provider_id,
                    "provider_name": "",
                    "feed_id": left.key[0],
                    "feed_name": "",
                    "use_case": left.key[1],
                    "unit": "cpm",
                    "usage": left.usage,
                }
            )
        rows.sort(key=lambda r: (r["provider_name"].casefold(), r["feed_name"].casefold(), r["use_case"], r["feed_id"]))
        return rows

    def _stored_rows(self, buyer_id: str, period: Period, kind: UsageKind) -> Iterator[StoredUsage]:
        return self._repo.usage_rows(buyer_id, period, kind)

    def template(self, principal: Principal, period_text: str, kind_text: str, *, now: datetime) -> Template:
        """The template inline, or - past what one API response can carry - a short-lived download link to a
        copy in the usage bucket (under ``downloads/``, which the ingest ignores and a lifecycle rule expires)."""
        period = Period.parse(period_text)
        kind = parse_kind(kind_text)
        body = self.template_csv(principal, str(period), kind)
        filename = f"usage-{period}-{kind}.csv"
        if len(body) <= self._inline_csv_chars or self._objects is None or not self._bucket:
            return Template(filename=filename, body=body)
        key = f"{DOWNLOADS_PREFIX}{principal.account_id}/{period}/{kind}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.csv"
        self._objects.put(self._bucket, key, body.encode(), content_type="text/csv; charset=utf-8")
        url = self._objects.download_url(self._bucket, key, DOWNLOAD_URL_SECONDS, filename=filename)
        return Template(filename=filename, download_url=url, expires_in=DOWNLOAD_URL_SECONDS)

    def template_csv(self, principal: Principal, period_text: str, kind_text: str) -> str:
        """The current usage as the CSV to fill in: every reportable key, usage empty where not reported."""
        period = Period.parse(period_text)
        kind = parse_kind(kind_text)
        buyer = principal.account_id
        stored = self._repo.stored_usage(buyer, period, kind)
        if kind == SEGMENTS:
            segs = sorted(self._segment_keys(buyer, period).values(), key=lambda k: (k.segment_id, k.destination_id))
            return render_usage_csv(
                kind,
                (
                    (k.segment_id, k.segment_name, k.destination_id, k.destination_name, stored.get(k.stored_key))
                    for k in segs
                ),
            )
        feeds = sorted(
            self._feed_keys(buyer, period).values(),
            key=lambda k: (k.provider_name.casefold(), k.feed_name.casefold(), k.use_case),
        )
        return render_usage_csv(
            kind,
            ((k.provider_name, k.feed_name, k.use_case, k.unit.upper(), stored.get(k.stored_key)) for k in feeds),
        )

    # ------------------------------------------------------------------------------ the API
    def put_usage(
        self,
        principal: Principal,
        period_text: str,
        kind_text: str,
        rows: Sequence[Any],
        *,
        now: datetime,
        request_id: str,
    ) -> PutResult:
        period = Period.parse(period_text)
        kind = parse_kind(kind_text)
        if len(rows) > MAX_API_ROWS:
            raise ValidationError(
                f"A request may carry at most {MAX_API_ROWS:,} rows; upload bigger reports as a CSV file.",
                code="too_many_rows",
            )
        self._ensure_open(period, now)
        buyer = principal.account_id
        known: Mapping[tuple[str, ...], SegmentUsageKey | FeedUsageKey]
        known = self._segment_keys(buyer, period) if kind == SEGMENTS else self._feed_keys(buyer, period)
        values, problems = check_api_rows(kind, rows, known)
        if problems:
            raise ValidationError(
                f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the rows; nothing was saved.",
                code="usage_rejected",
                details=[problem.to_dict() for problem in problems],
            )
        stored = self._repo.stored_usage_of(buyer, period, kind, list(values))
        changes = [
            _change(entry, key, stored.get(key), usage)
            for key, (entry, usage) in values.items()
            if stored.get(key) != usage
        ]
        source = ChangeSource(account_id=buyer, key_id=principal.key_id, source="api", ref=f"api-{request_id}", at=now)
        try:
            written = self._repo.apply_changes(buyer, period, kind, changes, source)
        except PeriodClosedError as error:
            note = (
                f" {error.written} of the {len(changes)} changed values were saved before it began."
                if error.written
                else " Nothing was saved."
            )
            raise PeriodClosedError(_closed_message(period, now, self._due_day) + note, written=error.written) from None
        return PutResult(updated=written, unchanged=len(values) - len(changes))

    # ------------------------------------------------------------------------------ uploads
    def create_upload(self, principal: Principal, period_text: str, kind_text: str, *, now: datetime) -> UploadTicket:
        if self._objects is None or not self._bucket:
            raise RuntimeError("uploads need the usage bucket")
        period = Period.parse(period_text)
        kind = parse_kind(kind_text)
        self._ensure_open(period, now)
        upload_id = new_upload_id()
        record = UploadRecord(
            upload_id=upload_id,
            account_id=principal.account_id,
            period=str(period),
            kind=kind,
            status="pending",
            origin="api",
            bucket=self._bucket,
            key=upload_key(principal.account_id, period, kind, upload_id),
            created_at=now,
            requested_by=principal.key_id,
        )
        self._repo.create_upload(record)
        url = self._objects.upload_url(self._bucket, record.key, self._upload_url_seconds)
        return UploadTicket(record=record, upload_url=url, expires_in=self._upload_url_seconds)

    def list_uploads(self, principal: Principal, period_text: str | None) -> list[UploadRecord]:
        period = str(Period.parse(period_text)) if period_text else None
        return self._repo.list_uploads(principal.account_id, period)

    def get_upload(self, principal: Principal, upload_id: str) -> UploadRecord:
        record = self._repo.get_upload(upload_id)
        if record is None or record.account_id != principal.account_id:
            raise NotFoundError(f"Upload {upload_id} not found.")
        return record

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
            message = _closed_message(period, now, self._due_day)
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
        return self._save_terminal(record)

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


def _change(entry: SegmentUsageKey | FeedUsageKey, key: StoredKey, old: int | None, new: int) -> UsageChange:
    if isinstance(entry, FeedUsageKey):
        return UsageChange(
            key=key, old=old, new=new, content_optimization=entry.content_optimization, provider_id=entry.provider_id
        )
    return UsageChange(key=key, old=old, new=new, content_optimization=entry.content_optimization)


def _row_cursor(row: Mapping[str, Any]) -> str:
    if "segment_id" in row:
        return f"{row['segment_id']}|{row['destination_id']}"
    return f"{row['feed_id']}|{row['use_case']}"


# ------------------------------------------------------------------------------------------ billing reads


class UsageLedger:
    """What the monthly close reads (the billing engineer's entry point): frozen usage per buyer and period.

    Call it after the period's state is CLOSING: from then on nothing can change what it returns.
    """

    def __init__(self, repo: UsageRepository, catalog: UsageCatalog) -> None:
        self._repo = repo
        self._catalog = catalog

    def buyer_usage(self, buyer_id: str, period: Period) -> BuyerUsage:
        """Every reported value of the buyer for ``period`` (one Query), sorted by key.

        Segment rows carry ``content_optimization`` (usage on such destinations is not charged at CPM);
        feed rows carry it for the ``content_optimization`` use case. Flat-fee plans have no rows.
        """
        segments: list[SegmentUsageRow] = []
        feeds: list[FeedUsageRow] = []
        for row in self._repo.usage_rows(buyer_id, period):
            if row.kind == SEGMENTS:
                segments.append(SegmentUsageRow(row.key[0], row.key[1], row.usage, row.content_optimization))
            else:
                feeds.append(FeedUsageRow(row.key[0], row.key[1], row.usage, row.provider_id, row.content_optimization))
        segments.sort(key=lambda r: (r.segment_id, r.destination_id))
        feeds.sort(key=lambda r: (r.feed_id, r.use_case))
        return BuyerUsage(buyer_id=buyer_id, period=str(period), segments=tuple(segments), feeds=tuple(feeds))

    def buyers_to_invoice(self, period: Period) -> list[str]:
        """Buyers who reported usage for ``period`` or had a subscription during it, sorted: one invoice each."""
        return sorted(set(self._repo.buyers_with_usage(period)) | set(self._catalog.subscribed_buyers(period)))
