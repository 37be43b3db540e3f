"""Sources and their events (DOMAIN.md §2): validation, batch limits and identity, what counting a batch
writes, and how a source's writes are spread over shards. The rules that need no I/O.

Limits are part of the public contract (docs/onboarding.md repeats them); each is named here once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from audiens.domain.time import parse_timestamp, rfc3339
from audiens.errors import PayloadTooLargeError, ValidationError

SourceType = Literal["api", "s3", "pixel"]
SOURCE_TYPES: Final = ("api", "s3", "pixel")

MAX_EVENTS_PER_BATCH: Final = 1_000
MAX_BATCH_BYTES: Final = 1_048_576  # 1 MB: the JSON body of one POST .../events
MAX_USER_ID_LENGTH: Final = 256
MAX_KEY_LENGTH: Final = 64
MAX_VALUE_LENGTH: Final = 256
MAX_DATA_POINTS_PER_EVENT: Final = 50
MAX_VALUES_PER_DATA_POINT: Final = 20
MAX_VALUES_PER_KEY: Final = 1_000
LATEST_EVENTS: Final = 50
ACTIVITY_BYTES: Final = 64_000  # JSON of the latest events kept per batch
MAX_VALUES_PER_BATCH: Final = 2_000  # distinct (key, value) pairs one API batch may touch
ACTIVITY_TTL: Final = timedelta(hours=48)
BATCH_MARKER_TTL: Final = timedelta(days=7)
MAX_PARTS_PER_COMMIT: Final = 96  # deliveries counted in one transaction (100 actions: + minute, activity, totals)
FUTURE_TOLERANCE: Final = timedelta(days=1)
EARLIEST_TIMESTAMP: Final = datetime(2000, 1, 1, tzinfo=UTC)

KEY_PATTERN: Final = re.compile(rf"[A-Za-z0-9_.\-]{{1,{MAX_KEY_LENGTH}}}")
_EVENT_FIELDS: Final = frozenset({"user_id", "timestamp", "data"})


# ------------------------------------------------------------------------------------------------ sources


@dataclass(frozen=True)
class Source:
    source_id: str
    account_id: str
    name: str
    type: str
    created_at: datetime
    credential_hash: str = ""  # sha256 of the api ingest key or of the pixel token
    credential_prefix: str = ""
    events_accepted: int = 0
    events_rejected: int = 0
    last_event_at: datetime | None = None


# ------------------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Event:
    user_id: str
    timestamp: datetime
    data: tuple[tuple[str, str], ...]  # (key, value) pairs, a key repeated for a multi-valued data point

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, value in self.data:
            if key in data:
                previous = data[key]
                data[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                data[key] = value
        return {"user_id": self.user_id, "timestamp": rfc3339(self.timestamp), "data": data}


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    code: str
    message: str


def normalize_value(value: Any) -> str | None:
    """One canonical text per data-point value, so ``25``, ``25.0`` and ``"25"`` are the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return None


class _Reject(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _value(key: str, raw: Any) -> str:
    value = normalize_value(raw)
    if value is None:
        kind = "null" if raw is None else type(raw).__name__
        raise _Reject(
            "invalid_value", f"data.{key} must be a string, number or boolean (or a list of them), not {kind}."
        )
    if not value.strip():
        raise _Reject("invalid_value", f"data.{key} is empty.")
    if len(value) > MAX_VALUE_LENGTH:
        raise _Reject("value_too_long", f"data.{key} is {len(value)} characters long; the limit is {MAX_VALUE_LENGTH}.")
    return value


def _data(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise _Reject("invalid_data", f"data must be an object of key: value pairs, not {type(raw).__name__}.")
    if len(raw) > MAX_DATA_POINTS_PER_EVENT:
        raise _Reject(
            "too_many_data_points", f"data has {len(raw)} keys; the limit is {MAX_DATA_POINTS_PER_EVENT} per event."
        )
    pairs: list[tuple[str, str]] = []
    for key, raw_value in raw.items():
        if not KEY_PATTERN.fullmatch(key):
            raise _Reject(
                "invalid_key",
                f"data key {key[:80]!r} must be 1-{MAX_KEY_LENGTH} characters of letters, digits, '_', '-' or '.'.",
            )
        if isinstance(raw_value, list):
            if not raw_value or len(raw_value) > MAX_VALUES_PER_DATA_POINT:
                raise _Reject("invalid_value", f"data.{key} must list 1 to {MAX_VALUES_PER_DATA_POINT} values.")
            pairs.extend((key, v) for v in dict.fromkeys(_value(key, item) for item in raw_value))
        else:
            pairs.append((key, _value(key, raw_value)))
    return tuple(pairs)


def _timestamp(raw: Any, now: datetime) -> datetime:
    if raw is None:
        return now
    if not isinstance(raw, str):
        raise _Reject("invalid_timestamp", "timestamp must be an RFC 3339 string such as 2026-11-03T10:00:00Z.")
    try:
        parsed = parse_timestamp(raw)
    except ValidationError:
        raise _Reject(
            "invalid_timestamp",
            f"timestamp {raw[:40]!r} is not RFC 3339 with a time zone (e.g. 2026-11-03T10:00:00Z).",
        ) from None
    if parsed > now + FUTURE_TOLERANCE:
        raise _Reject("invalid_timestamp", f"timestamp {raw} is more than a day in the future.")
    if parsed < EARLIEST_TIMESTAMP:
        raise _Reject("invalid_timestamp", f"timestamp {raw} is before 2000-01-01.")
    return parsed


def is_text(value: str) -> bool:
    """Valid Unicode: no lone surrogate (JSON's ``"\\ud800"`` decodes to one), so it can be stored and hashed."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _invalid_text(raw: Any) -> bool:
    """Whether any string of an event (keys included) is not valid Unicode; events are shallow, so this is cheap."""
    stack = [raw]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not is_text(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def validate_event(raw: Any, index: int, now: datetime) -> Event | Rejection:
    """Check one event; a bad one becomes a ``Rejection`` and never stops the rest of its batch."""
    try:
        if not isinstance(raw, dict):
            raise _Reject("invalid_event", f"an event must be an object, not {type(raw).__name__}.")
        if _invalid_text(raw):
            raise _Reject("invalid_unicode", "a string of the event is not valid Unicode text (a lone surrogate).")
        unknown = set(raw) - _EVENT_FIELDS
        if unknown:
            raise _Reject(
                "invalid_event",
                f"unknown field(s) {', '.join(sorted(map(str, unknown)))[:200]}; "
                "an event has user_id, timestamp and data.",
            )
        user_id = raw.get("user_id")
        if user_id is None or user_id == "":
            raise _Reject("missing_user_id", "user_id is required.")
        if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > MAX_USER_ID_LENGTH:
            raise _Reject(
                "invalid_user_id", f"user_id must be a non-blank string of at most {MAX_USER_ID_LENGTH} characters."
            )
        return Event(user_id, _timestamp(raw.get("timestamp"), now), _data(raw.get("data")))
    except _Reject as rejection:
        return Rejection(index, rejection.code, rejection.message)


def validate_events(
    raws: Iterable[Any], now: datetime, *, start: int = 0
) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    """Good events with their index in the batch, and the rejections, in batch order."""
    good: list[tuple[int, Event]] = []
    bad: list[Rejection] = []
    for index, raw in enumerate(raws, start):
        checked = validate_event(raw, index, now)
        if isinstance(checked, Event):
            good.append((index, checked))
        else:
            bad.append(checked)
    return good, bad


def check_batch_size(count: int, size_bytes: int) -> None:
    if count > MAX_EVENTS_PER_BATCH:
        raise PayloadTooLargeError(
            f"A batch holds at most {MAX_EVENTS_PER_BATCH:,} events; this one has {count:,}. Split it into smaller "
            "batches.",
            code="batch_too_large",
            details=[{"limit": MAX_EVENTS_PER_BATCH, "events": count}],
        )
    if size_bytes > MAX_BATCH_BYTES:
        raise PayloadTooLargeError(
            f"A batch body is at most 1 MB ({MAX_BATCH_BYTES:,} bytes); this one is {size_bytes:,} bytes. Split it "
            "into smaller batches.",
            code="batch_too_large",
            details=[{"limit_bytes": MAX_BATCH_BYTES, "bytes": size_bytes}],
        )


def check_batch_values(raws: list[Any]) -> None:
    """A batch may touch at most MAX_VALUES_PER_BATCH distinct data-point values (one sketch write each)."""
    seen: set[tuple[str, str]] = set()
    for raw in raws:
        data = raw.get("data") if isinstance(raw, dict) else None
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            for item in value if isinstance(value, list) else [value]:
                seen.add((str(key), str(item)[:MAX_VALUE_LENGTH]))
        if len(seen) > MAX_VALUES_PER_BATCH:
            raise PayloadTooLargeError(
                f"A batch may touch at most {MAX_VALUES_PER_BATCH:,} distinct data-point values; this one touches "
                "more. Split it into smaller batches.",
                code="batch_too_large",
                details=[{"limit_values": MAX_VALUES_PER_BATCH}],
            )


def batch_fingerprint(source_id: str, raws: list[Any]) -> str:
    """Identity of a delivery: the canonical JSON of its events, so a retried batch is recognised."""
    canonical = json.dumps(raws, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    # surrogatepass: a batch holding a lone surrogate (rejected event by event) still has an identity.
    return hashlib.sha256(f"{source_id}\n{canonical}".encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class BatchUsers:
    """A batch reduced to what the sketches need: user ids per data-point value and overall."""

    by_value: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    all_users: set[str] = field(default_factory=set)


def group_users(events: Iterable[Event]) -> BatchUsers:
    out = BatchUsers()
    by_value = out.by_value
    for event in events:
        out.all_users.add(event.user_id)
        for pair in event.data:
            users = by_value.get(pair)
            if users is None:
                by_value[pair] = {event.user_id}
            else:
                users.add(event.user_id)
    return out


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


@dataclass
class MergeStats:
    """What one merge cost, for metrics and the ingestion benchmark."""

    touched: int = 0
    writes: int = 0
    unchanged: int = 0
    conflicts: int = 0
    reads: int = 0


@dataclass(frozen=True)
class CommitPart:
    """One delivery counted once: an API batch, a file chunk, or one pixel hit of a buffered group."""

    batch_id: str
    accepted: int
    rejected: int
    latest: tuple[dict[str, Any], ...] = ()  # its newest accepted events as the activity stream shows them


def newest_events(shown: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The activity item's events (given newest first): at most LATEST_EVENTS, within ACTIVITY_BYTES of JSON
    (a DynamoDB item is 400 KB), at least one."""
    latest: list[dict[str, Any]] = []
    size = 0
    for event in shown:
        size += len(json.dumps(event))
        if len(latest) >= LATEST_EVENTS or (size > ACTIVITY_BYTES and latest):
            break
        latest.append(event)
    return latest


@dataclass(frozen=True)
class BatchCommit:
    """What counting deliveries once writes: a marker per part, the minute counter, the latest events, the
    source's totals (all in one transaction, so a part whose marker exists is never counted again)."""

    parts: tuple[CommitPart, ...]
    received_at: datetime
    marker_ttl: timedelta = BATCH_MARKER_TTL
    activity_ttl: timedelta = ACTIVITY_TTL

    @classmethod
    def single(
        cls, batch_id: str, accepted: int, rejected: int, received_at: datetime, latest: Iterable[dict[str, Any]] = ()
    ) -> BatchCommit:
        return cls((CommitPart(batch_id, accepted, rejected, tuple(latest)),), received_at)

    @property
    def batch_id(self) -> str:
        """The first part's id: names the activity item."""
        return self.parts[0].batch_id

    @property
    def accepted(self) -> int:
        return sum(p.accepted for p in self.parts)

    @property
    def rejected(self) -> int:
        return sum(p.rejected for p in self.parts)

    @property
    def latest(self) -> list[dict[str, Any]]:
        return newest_events(event for part in reversed(self.parts) for event in part.latest)

    def without(self, batch_ids: Iterable[str]) -> BatchCommit | None:
        """The commit less the parts already counted; ``None`` when nothing is left."""
        gone = set(batch_ids)
        parts = tuple(p for p in self.parts if p.batch_id not in gone)
        return replace(self, parts=parts) if parts else None


PIXEL_RESERVED: Final = frozenset({"t", "uid", "cb", "ts"})


def pixel_event(params: Mapping[str, str]) -> dict[str, Any]:
    """The raw event of one pixel hit: ``uid`` the user, ``ts`` the time, every other parameter but the token
    ``t`` and the cache buster ``cb`` a data point (validated like any event)."""
    event: dict[str, Any] = {"user_id": params.get("uid") or None}
    if params.get("ts"):
        event["timestamp"] = params["ts"]
    event["data"] = {k: v for k, v in params.items() if k not in PIXEL_RESERVED}
    return event
