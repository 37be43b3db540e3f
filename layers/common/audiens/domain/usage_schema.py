"""The column contract of bulk usage files (DOMAIN.md §7): the two kinds, their columns and keys, the
problem codes a rejection uses, and how one usage cell and one key cell are read.

Shared by the streaming validator (:mod:`audiens.domain.usage_csv`), the downloadable template
(:mod:`audiens.domain.usage_template`) and the JSON usage reports (:mod:`audiens.domain.usage_reports`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from audiens.errors import ValidationError

__all__ = [
    "DUPLICATE_RECORDS",
    "FEEDS",
    "INVALID_INPUT",
    "MANDATORY_HEADERS_MISSING",
    "MAX_USAGE",
    "MAX_USAGE_DIGITS",
    "NOT_FOUND",
    "SCHEMAS",
    "SEGMENTS",
    "VALUES_NOT_SUPPORTED",
    "CsvSchema",
    "UsageKey",
    "UsageKind",
    "csv_safe_cell",
    "feed_key",
    "parse_usage_cell",
    "schema_for",
    "segment_key",
    "show_cell",
]

UsageKind = Literal["segments", "feeds"]
UsageKey = tuple[str, ...]

SEGMENTS: Final = "segments"
FEEDS: Final = "feeds"

MANDATORY_HEADERS_MISSING: Final = "mandatory_headers_missing"
INVALID_INPUT: Final = "invalid_input"
NOT_FOUND: Final = "not_found"
DUPLICATE_RECORDS: Final = "duplicate_records"
VALUES_NOT_SUPPORTED: Final = "values_not_supported"

MAX_USAGE: Final = 10**15
"""More impressions than any month of any channel has served; larger numbers are typing accidents."""


MAX_USAGE_DIGITS: Final = len(str(MAX_USAGE))
_SHOWN_CHARS: Final = 40
# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_USAGE_FORMULA_START: Final = ("=", "+", "-", "@")
_NEGATIVE = re.compile(r"-\s*\d+(?:[.,]\d+)*", re.ASCII)
_THOUSANDS = re.compile(r"\d{1,3}(?:([,.' \u00a0\u202f])\d{3})(?:\1\d{3})*")
_DECIMAL = re.compile(r"\d*[.,]\d+|\d+[.,]", re.ASCII)
_EXPONENT = re.compile(r"\d+(?:\.\d*)?[eE][+-]?\d+", re.ASCII)


@dataclass(frozen=True, slots=True)
class CsvSchema:
    """Column contract of one kind of usage file; ``columns`` is the documented (template) order."""

    kind: UsageKind
    columns: tuple[str, ...]
    mandatory: tuple[str, ...]
    key_columns: tuple[str, ...]
    usage_column: str = "Usage"


SCHEMAS: Final[dict[str, CsvSchema]] = {
    SEGMENTS: CsvSchema(
        kind="segments",
        columns=("Segment ID", "Segment Name", "Destination ID", "Destination Name", "Usage"),
        mandatory=("Segment ID", "Destination ID", "Usage"),
        key_columns=("Segment ID", "Destination ID"),
    ),
    FEEDS: CsvSchema(
        kind="feeds",
        columns=("Data Provider Name", "Data Feed Name", "Use Case", "Unit of Measure", "Usage"),
        mandatory=("Data Provider Name", "Data Feed Name", "Use Case", "Usage"),
        key_columns=("Data Provider Name", "Data Feed Name", "Use Case"),
    ),
}


def schema_for(kind: str) -> CsvSchema:
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise ValidationError(
            f"Usage file kind must be one of {', '.join(sorted(SCHEMAS))}, got {kind!r}.", code="invalid_kind"
        )
    return schema


def csv_safe_cell(text: str) -> str:
    """Neutralise a text cell a spreadsheet would execute as a formula, by prefixing an apostrophe.

    Apply it to text cells only (names, ids): numbers written by the system are never escaped, so a
    negative amount stays a number.
    """
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _clean_key_cell(cell: str) -> str:
    # Undo csv_safe_cell so a template downloaded with an escaped name ("'@Data Inc") matches on upload.
    text = cell.strip()
    if text.startswith("'") and text[1:2] in _FORMULA_START:
        return text[1:]
    return text


def segment_key(segment_id: str, destination_id: str) -> UsageKey:
    """Key of a segment-level row, as ``known_keys`` and ``UsageCsvReport.values`` expect it."""
    return (_clean_key_cell(segment_id), _clean_key_cell(destination_id))


def feed_key(provider_name: str, feed_name: str, use_case: str) -> UsageKey:
    """Key of a feed-level row: names are matched ignoring surrounding spaces and case, as people type them."""
    return (
        _clean_key_cell(provider_name).casefold(),
        _clean_key_cell(feed_name).casefold(),
        _clean_key_cell(use_case).casefold(),
    )


def show_cell(text: str) -> str:
    """A cell quoted for a problem message, cut to a readable length."""
    shown = text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
    return repr(shown)


def parse_usage_cell(cell: str) -> int | None:
    """Usage of one cell: ``None`` when empty (not reported), else a whole number from 0 to ``MAX_USAGE``.

    Raises ``ValidationError`` (``values_not_supported``) with a message that says what is wrong with
    the value, because "1,234" and "1234.5" need different fixes.
    """
    text = cell.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        if len(text.lstrip("0")) <= MAX_USAGE_DIGITS and int(text) <= MAX_USAGE:
            return int(text)
        raise ValidationError(
            f"Usage {show_cell(text)} is larger than the maximum of {MAX_USAGE:,} impressions.",
            code=VALUES_NOT_SUPPORTED,
        )
    if _NEGATIVE.fullmatch(text):
        reason = "is negative; impressions are whole numbers of 0 or more"
    elif text.startswith(_USAGE_FORMULA_START):
        reason = "looks like a formula; enter the number of impressions itself"
    elif _THOUSANDS.fullmatch(text):
        reason = "contains a thousands separator or decimals; write the total count without separators, e.g. 1234567"
    elif _DECIMAL.fullmatch(text) or _EXPONENT.fullmatch(text):
        reason = "is not a whole number; impressions are counted in units, without decimals"
    else:
        reason = "is not a number; enter the count of impressions as digits only, e.g. 1234567"
    raise ValidationError(f"Usage {show_cell(text)} {reason}.", code=VALUES_NOT_SUPPORTED)
