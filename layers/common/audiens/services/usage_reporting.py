"""Usage reporting through the API (DOMAIN.md §7): the window, the listing, the CSV template, PUT, uploads.

Every write of usage goes through ``UsageRepository.apply_changes``: one transaction guarded by the buyer's
usage guard, or - past one transaction - a lease on that guard for the whole write, so the monthly close
(which freezes each buyer's guard once no lease is live) never cuts a write in half. The reporting window
is checked first by the business time (the request time).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

from audiens.domain.accounts import Principal
from audiens.domain.periods import (
    DEFAULT_DUE_DAY,
    Period,
    WindowState,
    ensure_window_open,
    reportable_period,
    window,
)
from audiens.domain.usage_csv import DEFAULT_MAX_BYTES
from audiens.domain.usage_reports import (
    MAX_API_ROWS,
    MAX_FILE_ROWS,
    ChangeSource,
    FeedUsageKey,
    FeedUsageLine,
    SegmentUsageKey,
    SegmentUsageLine,
    StoredKey,
    UploadRecord,
    UsageChange,
    UsageLine,
    check_api_rows,
    parse_kind,
    upload_key,
)
from audiens.domain.usage_schema import SEGMENTS, UsageKind
from audiens.domain.usage_template import render_usage_csv
from audiens.errors import NotFoundError, ValidationError
from audiens.observability import logger
from audiens.ports.usage import (
    OPEN,
    AccountDirectory,
    PeriodClosedError,
    StoredUsage,
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
"""A page also stops at this much JSON (ASCII-escaped), so long names cannot reach Lambda's 6 MB response limit:
see ``json_chars``."""
API_LEASE_SECONDS: Final = 90
"""A PUT's lease on the buyer's usage (when it needs more than one transaction): the API function's 28 s
timeout and a minute of clock skew."""


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class PutResult:
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class ReportingWindow:
    """When a period's usage may be reported; ``state`` reads ``closed`` once the period's close has begun,
    even inside its dates (``period_state`` says how far the close is)."""

    opens_at: datetime
    closes_at: datetime
    state: WindowState
    period_state: str
    due_day: int


@dataclass(frozen=True, slots=True)
class UsagePage:
    """One page of a period's usage, in the listing's stable order; ``next_cursor`` names its last line when
    more follow."""

    period: Period
    kind: UsageKind
    window: ReportingWindow
    rows: tuple[UsageLine, ...]
    next_cursor: str | None


def json_chars(line: UsageLine) -> int:
    """What a line adds to the page's JSON body (ASCII-escaped, with the separator before the next row): its
    fields are the response row's, in the same order, with JSON values (str, bool, int or null); a unit test
    holds it to the response model's dump."""
    return len(json.dumps(asdict(line))) + 2


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


def new_upload_id() -> str:
    return f"upl_{secrets.token_hex(10)}"


def closed_message(period: Period, now: datetime, due_day: int) -> str:
    target = reportable_period(period, now, due_day)
    return (
        f"The monthly close of {period} has begun, so its usage can no longer change. "
        f"Add these impressions to your report for {target}."
    )


class UsageCore:
    """What every part of usage reporting shares: the repository, the catalog, the window, the known keys."""

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
        on_rejected: Callable[[UploadRecord, datetime], object] | None = None,
    ) -> None:
        self._on_rejected = on_rejected  # tells the buyer (an email listing the first errors)
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
    def reporting_window(self, period: Period, now: datetime) -> ReportingWindow:
        """The period's window; a period whose close has begun reads ``closed`` even inside its dates."""
        dates = window(period, self._due_day)
        period_state = self._repo.period_state(period)
        return ReportingWindow(
            opens_at=dates.opens_at,
            closes_at=dates.closes_at,
            state=dates.state(now) if period_state == OPEN else "closed",
            period_state=period_state,
            due_day=self._due_day,
        )

    def _ensure_open(self, period: Period, now: datetime) -> None:
        ensure_window_open(period, now, self._due_day)
        if self._repo.period_state(period) != OPEN:
            raise PeriodClosedError(closed_message(period, now, self._due_day))

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


class UsageReporting(UsageCore):
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
    ) -> UsagePage:
        """A page of at most ``limit`` lines after ``cursor``, ending before its JSON passes the page budget
        (a first line always fits)."""
        period = Period.parse(period_text)
        kind = parse_kind(kind_text)
        rows = self._current_rows(principal.account_id, period, kind)
        start = 0
        if cursor:
            start = next((i + 1 for i, row in enumerate(rows) if row.cursor == cursor), -1)
            if start < 0:
                raise ValidationError("The cursor is not valid for this listing.", code="invalid_cursor")
        page: list[UsageLine] = []
        size = 0
        for row in rows[start : start + limit]:
            size += json_chars(row)
            if page and size > self._page_json_chars:
                break
            page.append(row)
        more = start + len(page) < len(rows)
        return UsagePage(
            period=period,
            kind=kind,
            window=self.reporting_window(period, now),
            rows=tuple(page),
            next_cursor=page[-1].cursor if more and page else None,
        )

    def _current_rows(self, buyer_id: str, period: Period, kind: UsageKind) -> Sequence[UsageLine]:
        """Every reportable key with its usage, and the values reported for keys no longer reportable (still
        billed, shown without names)."""
        stored = {row.key: row for row in self._stored_rows(buyer_id, period, kind)}

        def usage_of(key: StoredKey) -> int | None:
            found = stored.pop(key, None)
            return found.usage if found else None

        if kind == SEGMENTS:
            segments = [
                SegmentUsageLine(
                    seg.segment_id,
                    seg.segment_name,
                    seg.destination_id,
                    seg.destination_name,
                    seg.content_optimization,
                    usage_of(seg.stored_key),
                )
                for seg in self._segment_keys(buyer_id, period).values()
            ]
            segments += (
                SegmentUsageLine(left.key[0], "", left.key[1], "", left.content_optimization, left.usage)
                for left in stored.values()
            )
            segments.sort(key=lambda r: (r.segment_id, r.destination_id))
            return segments
        feeds = [
            FeedUsageLine(
                feed.provider_id,
                feed.provider_name,
                feed.feed_id,
                feed.feed_name,
                feed.use_case,
                feed.unit,
                usage_of(feed.stored_key),
            )
            for feed in self._feed_keys(buyer_id, period).values()
        ]
        feeds += (
            FeedUsageLine(left.provider_id, "", left.key[0], "", left.key[1], "cpm", left.usage)
            for left in stored.values()
        )
        feeds.sort(key=lambda r: (r.provider_name.casefold(), r.feed_name.casefold(), r.use_case, r.feed_id))
        return feeds

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
            written = self._repo.apply_changes(buyer, period, kind, changes, source, lease_seconds=API_LEASE_SECONDS)
        except PeriodClosedError as error:
            note = (
                f" {error.written} of the {len(changes)} changed values were saved before it began."
                if error.written
                else " Nothing was saved."
            )
            raise PeriodClosedError(closed_message(period, now, self._due_day) + note, written=error.written) from None
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


def _change(entry: SegmentUsageKey | FeedUsageKey, key: StoredKey, old: int | None, new: int) -> UsageChange:
    if isinstance(entry, FeedUsageKey):
        return UsageChange(
            key=key, old=old, new=new, content_optimization=entry.content_optimization, provider_id=entry.provider_id
        )
    return UsageChange(key=key, old=old, new=new, content_optimization=entry.content_optimization)
