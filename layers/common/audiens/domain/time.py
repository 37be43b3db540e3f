"""The one formatter and the one parser of timestamps: API fields, stored attributes and sort keys, events.

Two renderings of one instant, both RFC 3339 in UTC with a ``Z`` suffix:

* **API** (every timestamp field of every response, the activity stream, webhook bodies, messages):
  whole seconds, ``2026-11-06T00:00:00Z``. No field of this API gives a sub-second fraction any meaning
  (instants of creation, change, windows, schedules), so none is written; the fraction is truncated.
* **Keys** (stored attributes, DynamoDB sort and index keys): fixed-width microseconds,
  ``2026-11-06T00:00:00.000000Z``, so the text sorts exactly as the instants do.

:func:`parse_timestamp` reads both, and every RFC 3339 timestamp a client or an event gives (any offset,
``T``/``t``/space, up to nine fractional digits, kept to the microsecond); a timestamp without an offset is
refused rather than read in some local zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final, Literal

from audiens.errors import ValidationError

__all__ = [
    "API_TIMESTAMP_PATTERN",
    "ensure_utc",
    "key_timestamp",
    "optional_rfc3339",
    "parse_timestamp",
    "rfc3339",
]

API_TIMESTAMP_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
"""What every timestamp field of an API response matches (the contract test holds every response to it)."""

_RFC3339: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def ensure_utc(dt: datetime) -> datetime:
    """Return ``dt`` in UTC; refuses naive datetimes, which would be read in the machine's local zone."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"datetime {dt.isoformat()} has no time zone; pass an aware UTC datetime")
    return dt.astimezone(UTC)


def rfc3339(moment: datetime, *, digits: Literal[0, 6] = 0) -> str:
    """The instant in UTC: whole seconds for the API (``digits=0``), fixed microseconds for keys (``6``)."""
    utc = ensure_utc(moment)
    if digits == 6:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def optional_rfc3339(moment: datetime | None) -> str | None:
    """An optional API timestamp field: ``None`` stays ``None`` (JSON null)."""
    return None if moment is None else rfc3339(moment)


def key_timestamp(moment: datetime) -> str:
    """The stored and sort-key rendering: fixed width, so text order is time order."""
    return rfc3339(moment, digits=6)


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp with its offset, as an aware UTC datetime (``invalid_timestamp`` otherwise)."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    parsed: datetime | None = None
    if match is not None:
        day, clock, fraction, offset = match.groups()
        micro = f".{fraction[:6].ljust(6, '0')}" if fraction else ""
        zone = "+00:00" if offset in ("Z", "z") else offset
        try:
            parsed = datetime.fromisoformat(f"{day}T{clock}{micro}{zone}")
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValidationError(
            f"Timestamp {str(text)[:40]!r} is not an RFC 3339 date-time with a time zone, e.g. 2026-11-06T00:00:00Z.",
            code="invalid_timestamp",
        )
    return parsed.astimezone(UTC)
