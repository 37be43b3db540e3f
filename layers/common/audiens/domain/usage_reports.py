"""Usage reporting rules that need no I/O (DOMAIN.md §7): report keys, API rows, upload keys and records.

The CSV format itself lives in ``usage_csv``; this module holds what the API and the S3 ingest add
around it: which (segment, destination) and (provider, feed, use case) keys a buyer may report, the
rows of ``PUT /v1/usage/{period}/…`` (validated like a file: every problem listed, nothing written),
the bucket layout ``<account_id>/<period>/<kind>/<name>.csv`` and the upload record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from audiens.domain.periods import Period
from audiens.domain.usage_schema import (
    DUPLICATE_RECORDS,
    FEEDS,
    INVALID_INPUT,
    MAX_USAGE,
    NOT_FOUND,
    SEGMENTS,
    VALUES_NOT_SUPPORTED,
    UsageKind,
    feed_key,
    parse_usage_cell,
    segment_key,
)
from audiens.errors import ValidationError

__all__ = [
    "CONTENT_OPTIMIZATION",
    "MAX_API_ROWS",
    "MAX_FILE_ROWS",
    "MAX_LISTED_PROBLEMS",
    "TERMINAL",
    "ChangeSource",
    "FeedUsageKey",
    "FeedUsageLine",
    "RowProblem",
    "SegmentUsageKey",
    "SegmentUsageLine",
    "StoredKey",
    "UploadLocation",
    "UploadRecord",
    "UploadStatus",
    "UsageChange",
    "UsageLine",
    "check_api_rows",
    "diff_usage",
    "parse_kind",
    "parse_upload_key",
    "upload_key",
]

StoredKey = tuple[str, str]
"""How usage is stored: (segment_id, destination_id) or (feed_id, use_case); ids, never names."""

UploadStatus = Literal["pending", "accepted", "rejected", "duplicate"]
TERMINAL: Final = frozenset({"accepted", "rejected", "duplicate"})

CONTENT_OPTIMIZATION: Final = "content_optimization"

MAX_FILE_ROWS: Final = 1_000_000
"""Data rows per file. The validator bounds bytes (usage_csv.DEFAULT_MAX_BYTES); this bounds the key map
and the write time of one ingest invocation (a million rows is ~20,000 transactions, minutes in Lambda)."""

MAX_API_ROWS: Final = 5_000
"""Rows per ``PUT``: about 100 transactions, well inside API Gateway's 29 s. Bigger reports go as files."""

MAX_LISTED_PROBLEMS: Final = 1_000
"""Problems kept on an upload record (plus one entry counting the rest): fits a DynamoDB item compressed."""

_UPLOAD_ID: Final = re.compile(r"upl_[0-9a-f]{20}", re.ASCII)
MAX_FILE_NAME: Final = 200
_NAME: Final = re.compile(r"[^/\x00-\x1f]+")


@dataclass(frozen=True, slots=True)
class SegmentUsageKey:
    """A (segment, destination) mapping of the buyer: its own segments and marketplace segments it mapped."""

    segment_id: str
    segment_name: str
    destination_id: str
    destination_name: str
    content_optimization: bool = False

    @property
    def csv_key(self) -> tuple[str, ...]:
        return segment_key(self.segment_id, self.destination_id)

    @property
    def stored_key(self) -> StoredKey:
        return (self.segment_id, self.destination_id)


@dataclass(frozen=True, slots=True)
class FeedUsageKey:
    """A subscribed (feed, use case) with a CPM plan; flat-fee plans report nothing, so they have no key."""

    provider_id: str
    provider_name: str
    feed_id: str
    feed_name: str
    use_case: str
    unit: str = "cpm"

    @property
    def csv_key(self) -> tuple[str, ...]:
        return feed_key(self.provider_name, self.feed_name, self.use_case)

    @property
    def stored_key(self) -> StoredKey:
        return (self.feed_id, self.use_case)

    @property
    def content_optimization(self) -> bool:
        return self.use_case == CONTENT_OPTIMIZATION


@dataclass(frozen=True, slots=True)
class SegmentUsageLine:
    """A row of the segment usage listing: a reportable key and its usage (None when not reported). A value
    reported for a mapping since removed is still billed: its line has empty names."""

    segment_id: str
    segment_name: str
    destination_id: str
    destination_name: str
    content_optimization: bool
    usage: int | None

    @property
    def cursor(self) -> str:
        return f"{self.segment_id}|{self.destination_id}"


@dataclass(frozen=True, slots=True)
class FeedUsageLine:
    """A row of the feed usage listing: a subscribed (feed, use case) and its usage (None when not reported)."""

    provider_id: str | None
    provider_name: str
    feed_id: str
    feed_name: str
    use_case: str
    unit: str
    usage: int | None

    @property
    def cursor(self) -> str:
        return f"{self.feed_id}|{self.use_case}"


UsageLine = SegmentUsageLine | FeedUsageLine


@dataclass(frozen=True, slots=True)
class UsageChange:
    """One stored value to replace: ``old`` is None when nothing was reported before."""

    key: StoredKey
    old: int | None
    new: int
    content_optimization: bool = False
    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeSource:
    """Who changed usage, when, and through what: the audit record's context.

    ``source`` is ``"api"`` or the upload id; ``ref`` makes audit records of one request unique (the API
    request id, or the upload id for files, so a redelivered file rewrites the same audit records).
    """

    account_id: str
    key_id: str
    source: str
    ref: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "code": self.code, "message": self.message}


def parse_kind(text: str) -> UsageKind:
    if text == SEGMENTS:
        return "segments"
    if text == FEEDS:
        return "feeds"
    raise ValidationError(f"Usage kind must be 'segments' or 'feeds', got {text!r}.", code="invalid_kind")


def diff_usage(
    values: Mapping[StoredKey, int], stored: Mapping[StoredKey, int]
) -> Iterator[tuple[StoredKey, int | None, int]]:
    """(key, old, new) for every value that differs from what is stored: only those are written."""
    get = stored.get
    for key, new in values.items():
        old = get(key)
        if old != new:
            yield key, old, new


# ------------------------------------------------------------------------------------------ API rows

UsageKeyEntry = SegmentUsageKey | FeedUsageKey

_SEGMENT_FIELDS: Final = ("segment_id", "destination_id", "usage")
_SEGMENT_OPTIONAL: Final = frozenset({"segment_name", "destination_name", "content_optimization"})
_FEED_FIELDS: Final = ("provider_name", "feed_name", "use_case", "usage")
_FEED_OPTIONAL: Final = frozenset({"provider_id", "feed_id", "unit"})


def _usage_value(value: Any) -> int | None:
    """A JSON usage: an integer from 0 to 10^15, or null (not reported: the stored value is kept)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(
            f"Usage {str(value).lower()} is not a number; send the count of impressions as an integer.",
            code=VALUES_NOT_SUPPORTED,
        )
    if isinstance(value, int):
        if value < 0:
            raise ValidationError(
                f"Usage {value} is negative; impressions are whole numbers of 0 or more.", code=VALUES_NOT_SUPPORTED
            )
        if value > MAX_USAGE:
            raise ValidationError(
                f"Usage {value} is larger than the maximum of {MAX_USAGE:,} impressions.", code=VALUES_NOT_SUPPORTED
            )
        return value
    if isinstance(value, float):
        reason = "is negative" if value < 0 else "is not a whole number"
        raise ValidationError(
            f"Usage {value!r} {reason}; impressions are counted in units, as a JSON integer such as 1234567.",
            code=VALUES_NOT_SUPPORTED,
        )
    if isinstance(value, str):
        parsed = parse_usage_cell(value)  # explains "1,234", "12.5", "=SUM(…)", "-4" like the CSV does
        raise ValidationError(
            f"Usage {value!r} is a string; send it as a JSON integer ({parsed} without quotes).",
            code=VALUES_NOT_SUPPORTED,
        )
    raise ValidationError(f"Usage must be a JSON integer, got {type(value).__name__}.", code=VALUES_NOT_SUPPORTED)


def check_api_rows(
    kind: UsageKind, rows: Sequence[Any], known: Mapping[tuple[str, ...], UsageKeyEntry]
) -> tuple[dict[StoredKey, tuple[UsageKeyEntry, int]], list[RowProblem]]:
    """Validate the rows of a ``PUT`` like a file: every problem, by row index (from 0), and the values.

    Rows whose usage is null are valid and leave the stored value unchanged (a ``GET`` response can be
    edited and sent back as is). Returns ``(values by stored key, problems)``; values are only
    meaningful when there is no problem.
    """
    required: tuple[str, ...] = _SEGMENT_FIELDS if kind == SEGMENTS else _FEED_FIELDS
    optional: frozenset[str] = _SEGMENT_OPTIONAL if kind == SEGMENTS else _FEED_OPTIONAL
    allowed = frozenset(required) | optional
    problems: list[RowProblem] = []
    values: dict[StoredKey, tuple[UsageKeyEntry, int]] = {}
    first_row: dict[StoredKey, int] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append(RowProblem(index, INVALID_INPUT, f"Row must be an object with {', '.join(required)}."))
            continue
        unknown = sorted(str(name) for name in row if name not in allowed)
        missing = [name for name in required if name not in row]
        if unknown:
            problems.append(
                RowProblem(
                    index, INVALID_INPUT, f"Unknown field(s) {', '.join(unknown)}; rows have {', '.join(required)}."
                )
            )
        if missing:
            problems.append(RowProblem(index, INVALID_INPUT, f"Missing field(s) {', '.join(missing)}."))
            continue
        key_cells = [row[name] for name in required[:-1]]
        if not all(isinstance(cell, str) and cell.strip() for cell in key_cells):
            names = ", ".join(required[:-1])
            problems.append(RowProblem(index, INVALID_INPUT, f"{names} must be non-empty strings."))
            continue
        try:
            usage = _usage_value(row["usage"])
        except ValidationError as error:
            problems.append(RowProblem(index, error.code, error.message))
            usage = None
        csv_key = segment_key(*key_cells) if kind == SEGMENTS else feed_key(*key_cells)
        entry = known.get(csv_key)
        if entry is None:
            if kind == SEGMENTS:
                what = f"Segment {key_cells[0]!r} with destination {key_cells[1]!r}"
            else:
                what = f"Data feed {key_cells[1]!r} of provider {key_cells[0]!r} with use case {key_cells[2]!r}"
            problems.append(RowProblem(index, NOT_FOUND, f"{what} is not known in this account."))
            continue
        if usage is None:
            continue
        stored = entry.stored_key
        seen = values.get(stored)
        if seen is None:
            values[stored] = (entry, usage)
            first_row[stored] = index
        elif seen[1] != usage:
            problems.append(
                RowProblem(
                    index,
                    DUPLICATE_RECORDS,
                    f"This row repeats row {first_row[stored]} with a different usage ({usage} here, {seen[1]} there); "
                    "keep one of them.",
                )
            )
    return values, problems


# ------------------------------------------------------------------------------------------ uploads


@dataclass(frozen=True, slots=True)
class UploadLocation:
    account_id: str
    period: Period
    kind: UsageKind
    name: str

    @property
    def upload_id(self) -> str | None:
        """The id of an upload created through the API, when the file name is one."""
        return self.name if _UPLOAD_ID.fullmatch(self.name) else None


def upload_key(account_id: str, period: Period, kind: str, name: str) -> str:
    return f"{account_id}/{period}/{kind}/{name}.csv"


def parse_upload_key(key: str) -> UploadLocation:
    """``<account_id>/<YYYY-MM>/<segments|feeds>/<name>.csv``, or ``ValidationError`` saying what is wrong."""
    expected = "Usage files go to <account_id>/<YYYY-MM>/<segments|feeds>/<name>.csv"
    parts = key.split("/")
    if len(parts) != 4 or not all(parts):
        raise ValidationError(f"{expected}; got {key!r}.", code=INVALID_INPUT)
    account_id, period_text, kind_text, file_name = parts
    if not file_name.lower().endswith(".csv"):
        raise ValidationError(
            f"{expected}: the file name must end in .csv; got {file_name[:100]!r}.", code=INVALID_INPUT
        )
    if len(file_name) - 4 > MAX_FILE_NAME:
        raise ValidationError(
            f"{expected}: the file name is {len(file_name) - 4:,} characters before .csv; "
            f"at most {MAX_FILE_NAME} are accepted.",
            code=INVALID_INPUT,
        )
    if not _NAME.fullmatch(file_name[:-4] or "/"):
        raise ValidationError(
            f"{expected}: the file name holds a control character or is empty; got {file_name[:100]!r}.",
            code=INVALID_INPUT,
        )
    try:
        period = Period.parse(period_text)
    except ValidationError:
        raise ValidationError(
            f"{expected}: {period_text!r} is not a period written YYYY-MM.", code=INVALID_INPUT
        ) from None
    try:
        kind = parse_kind(kind_text)
    except ValidationError:
        raise ValidationError(f"{expected}: {kind_text!r} is not segments or feeds.", code=INVALID_INPUT) from None
    return UploadLocation(account_id=account_id, period=period, kind=kind, name=file_name[:-4])


@dataclass(slots=True)
class UploadRecord:
    """One usage file and its outcome: ``accepted_rows + rejected_rows == rows`` once it is terminal.

    ``origin`` is ``api`` (created by ``POST …/uploads``, file put through the presigned URL), ``drop``
    (file put straight into the bucket) or ``unattributed`` (a key naming no buyer account).
    """

    upload_id: str
    account_id: str
    period: str
    kind: str
    status: UploadStatus
    origin: str
    bucket: str
    key: str
    created_at: datetime
    requested_by: str = ""
    etag: str | None = None
    size: int | None = None
    received_at: datetime | None = None
    finished_at: datetime | None = None
    rows: int = 0
    accepted_rows: int = 0
    rejected_rows: int = 0
    changed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    sha256: str | None = None
    duplicate_of: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL
