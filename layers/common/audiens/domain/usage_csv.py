"""Validation of bulk usage CSV files (DOMAIN.md §7).

A file is accepted whole or rejected whole, and a rejection must list every problem with its line,
so the buyer can fix the file in one pass. Files can hold a million rows and arrive from S3 as a
stream of byte chunks (read by :mod:`audiens.domain.csv_lines`): the only memory that grows with
the file is the map of distinct keys (needed to detect conflicting duplicates). The columns, keys
and cell rules are those of :mod:`audiens.domain.usage_schema`.

Line numbers are 1-based physical lines of the file (the header is line 1); a record whose quoted
cell spans several lines is reported at its first line.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

from audiens.domain.csv_lines import InputStopped, LineSource
from audiens.domain.usage_schema import (
    DUPLICATE_RECORDS,
    FEEDS,
    INVALID_INPUT,
    MANDATORY_HEADERS_MISSING,
    MAX_USAGE_DIGITS,
    NOT_FOUND,
    SEGMENTS,
    VALUES_NOT_SUPPORTED,
    CsvSchema,
    UsageKey,
    UsageKind,
    feed_key,
    parse_usage_cell,
    schema_for,
    segment_key,
    show_cell,
)
from audiens.errors import ValidationError

if TYPE_CHECKING:
    from _csv import Reader

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CsvProblem",
    "UsageCsvReport",
    "validate_usage_csv",
]

DEFAULT_MAX_BYTES: Final = 100 * 1024 * 1024
"""Room for a million-row template with names (about 75 MiB), validated in a few seconds in one Lambda."""


@dataclass(frozen=True, slots=True)
class CsvProblem:
    line: int
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The ``errors[]`` item of ``GET /v1/usage/uploads/{upload_id}``."""
        return {"line": self.line, "code": self.code, "message": self.message}


@dataclass(slots=True)
class UsageCsvReport:
    """Outcome of one file. ``values`` holds the usage of every row that reported one, keyed like
    ``known_keys``; it is complete only when the file is accepted, and rows with an empty usage cell
    are absent from it because they leave the stored usage unchanged."""

    kind: UsageKind
    rows: int = 0
    problems: list[CsvProblem] = field(default_factory=list)
    values: dict[UsageKey, int] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return not self.problems

    def errors(self) -> list[dict[str, Any]]:
        return [problem.to_dict() for problem in self.problems]


class _Problems:
    """Collects problems up to a cap; beyond it only counts, so a garbage file cannot exhaust memory."""

    __slots__ = ("first_omitted", "items", "limit", "omitted")

    def __init__(self, limit: int) -> None:
        self.items: list[CsvProblem] = []
        self.limit = limit
        self.omitted = 0
        self.first_omitted: CsvProblem | None = None

    def add(self, line: int, code: str, message: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(CsvProblem(line, code, message))
            return
        self.omitted += 1
        if self.first_omitted is None:
            self.first_omitted = CsvProblem(line, code, message)

    def finish(self) -> list[CsvProblem]:
        first = self.first_omitted
        if first is not None:
            more = self.omitted - 1
            tail = f" {more} more problem{'s were' if more != 1 else ' was'} not listed after this one." if more else ""
            self.items.append(
                CsvProblem(
                    first.line,
                    first.code,
                    f"{first.message} (Only the first {self.limit} problems are listed in full.{tail})",
                )
            )
            self.first_omitted = None
        return self.items


def _is_blank(row: Sequence[str]) -> bool:
    return all(not cell.strip() for cell in row)


def _columns_text(schema: CsvSchema) -> str:
    return ", ".join(schema.columns)


def _check_header(cells: list[str], line: int, schema: CsvSchema, problems: _Problems) -> dict[str, int] | None:
    """Map column name → position, or report every header problem and return ``None``.

    A missing mandatory header is reported once per header. When one is missing, unknown columns are
    presumed to be renames of it ("Destination" for "Destination ID") and only named in its message,
    so a renamed column yields one problem, not two.
    """
    names = [cell.strip() for cell in cells]
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        separator = "';'" if ";" in names[0] else "a tab"
        problems.add(
            line,
            INVALID_INPUT,
            f"The file is separated by {separator}, not by commas; save it as CSV with ',' as the separator.",
        )
        return None
    positions: dict[str, int] = {}
    unknown: list[tuple[int, str]] = []
    repeated: list[tuple[int, str]] = []
    for index, name in enumerate(names):
        if name not in schema.columns:
            unknown.append((index, name))
        elif name in positions:
            repeated.append((index, name))
        else:
            positions[name] = index
    missing = [name for name in schema.mandatory if name not in positions]
    for name in missing:
        hint = ""
        if unknown:
            found = ", ".join(show_cell(n) for _, n in unknown)
            hint = f" Found unknown column(s) {found}: was it renamed? Header names must be exactly as in the template."
        problems.add(line, MANDATORY_HEADERS_MISSING, f"Mandatory column '{name}' is missing.{hint}")
    if not missing:
        for index, name in unknown:
            what = (
                f"Unknown column {show_cell(name)} (column {index + 1})" if name else f"Column {index + 1} has no name"
            )
            expected = f"The columns of a {schema.kind} file are: {_columns_text(schema)}."
            problems.add(line, INVALID_INPUT, f"{what}. {expected}")
    for index, name in repeated:
        problems.add(
            line,
            INVALID_INPUT,
            f"Column '{name}' appears more than once (columns {positions[name] + 1} and {index + 1}).",
        )
    return None if missing or unknown or repeated else positions


def _not_found_message(schema: CsvSchema, cells: Sequence[str]) -> str:
    empty = [name for name, cell in zip(schema.key_columns, cells, strict=True) if not cell.strip()]
    if empty:
        return f"{' and '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty."
    if schema.kind == SEGMENTS:
        return (
            f"Segment {show_cell(cells[0].strip())} with destination {show_cell(cells[1].strip())} "
            "is not known in this account."
        )
    return (
        f"Data feed {show_cell(cells[1].strip())} of provider {show_cell(cells[0].strip())} with use case "
        f"{show_cell(cells[2].strip())} is not known in this account."
    )


def validate_usage_csv(
    chunks: Iterable[bytes] | bytes,
    kind: str,
    known_keys: Container[UsageKey],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_problems: int = 10_000,
) -> UsageCsvReport:
    """Validate a usage file streamed as byte chunks against the keys known to the account.

    ``known_keys`` must be built with :func:`segment_key` / :func:`feed_key`. Header problems stop the
    validation (rows cannot be interpreted without the header) but rows are still counted; otherwise
    every row problem is reported, capped at ``max_problems`` plus one entry saying how many more
    there were.
    """
    schema = schema_for(kind)
    if isinstance(chunks, bytes | bytearray | memoryview):
        chunks = [bytes(chunks)]  # a whole file passed as one object, not an iterable of chunks
    if max_problems < 1:
        raise ValueError("max_problems must be at least 1")
    report = UsageCsvReport(kind=schema.kind)
    problems = _Problems(max_problems)
    source = LineSource(chunks, max_bytes)
    reader = csv.reader(source.lines(), strict=True)

    try:
        positions, header_line = _read_header(reader, schema, problems)
        if positions is None:
            if header_line:  # a header was there but is unusable: count rows so the upload can say how many
                report.rows = _count_rows(reader, problems)
        else:
            report.rows = _validate_rows(reader, header_line, positions, schema, known_keys, problems, report.values)
            if report.rows == 0 and not problems.items:
                problems.add(header_line, INVALID_INPUT, "The file has a header but no data rows.")
    except InputStopped as stop:
        problems.add(stop.line, INVALID_INPUT, stop.message)
    report.problems = problems.finish()
    return report


def _read_header(reader: Reader, schema: CsvSchema, problems: _Problems) -> tuple[dict[str, int] | None, int]:
    """Return (positions, header line); line 0 when the file holds no record at all."""
    previous = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            problems.add(1, INVALID_INPUT, "The file is empty.")
            return None, 0
        except csv.Error as exc:
            problems.add(previous + 1, INVALID_INPUT, f"The header is not valid CSV ({exc}).")
            return None, previous + 1
        line = previous + 1
        previous = reader.line_num
        if cells and not _is_blank(cells):
            return _check_header(cells, line, schema, problems), line


def _count_rows(reader: Reader, problems: _Problems) -> int:
    rows = 0
    while True:
        try:
            for row in reader:
                if row and not _is_blank(row):
                    rows += 1
            return rows
        except csv.Error:
            rows += 1
        except InputStopped as stop:
            problems.add(stop.line, INVALID_INPUT, stop.message)
            return rows


def _count_misshapen_row(row: Sequence[str], ncols: int, line: int, problems: _Problems) -> int:
    """A row whose width is not the header's: 0 when it is blank (skipped), else 1 with its problem."""
    if not row or _is_blank(row):
        return 0
    problems.add(
        line,
        INVALID_INPUT,
        f"The row has {len(row)} column{'s' if len(row) != 1 else ''} but the header has {ncols}.",
    )
    return 1


def _parse_usage_or_report(cell: str, line: int, problems: _Problems) -> int | None:
    """The usage of a cell off the fast path; ``None`` when empty or, with its problem, when unsupported."""
    try:
        return parse_usage_cell(cell)
    except ValidationError as exc:
        problems.add(line, VALUES_NOT_SUPPORTED, exc.message)
        return None


def _validate_rows(
    reader: Reader,
    header_line: int,
    positions: dict[str, int],
    schema: CsvSchema,
    known: Container[UsageKey],
    problems: _Problems,
    values: dict[UsageKey, int],
) -> int:
    """The hot loop: one pass, a handful of C-level operations per well-formed row."""
    ncols = len(positions)
    usage_at = positions[schema.usage_column]
    key_at = [positions[name] for name in schema.key_columns]
    get_key_cells = itemgetter(*key_at)
    normalize: Callable[..., UsageKey] = segment_key if schema.kind == SEGMENTS else feed_key
    is_feeds = schema.kind == FEEDS
    first_line: dict[UsageKey, int] = {}
    remember = values.setdefault
    remember_line = first_line.setdefault
    add = problems.add
    rows = 0
    previous = header_line
    line = header_line
    max_digits = MAX_USAGE_DIGITS - 1  # a 15-digit number is always below MAX_USAGE (16 digits)

    while True:
        try:
            for row in reader:
                line = previous + 1
                previous = reader.line_num
                if len(row) != ncols:
                    rows += _count_misshapen_row(row, ncols, line, problems)
                    continue
                cell = row[usage_at]
                value: int | None
                if cell.isdigit() and len(cell) <= max_digits and cell.isascii():
                    value = int(cell)
                else:
                    if not cell.strip() and _is_blank(row):
                        continue
                    value = _parse_usage_or_report(cell, line, problems)
                rows += 1
                key = get_key_cells(row)
                # Feed names are always normalised; segment ids are matched raw first, and trimmed only
                # when that misses.
                if is_feeds or key not in known:
                    key = normalize(*key)
                    if key not in known:
                        add(line, NOT_FOUND, _not_found_message(schema, get_key_cells(row)))
                        continue
                if value is None:  # not reported (empty cell) or already reported as unsupported
                    continue
                seen = remember(key, value)
                if seen == value:
                    remember_line(key, line)
                else:
                    add(
                        line,
                        DUPLICATE_RECORDS,
                        f"This row repeats the row on line {first_line[key]} with a different usage "
                        f"({value} here, {seen} there); keep one of them.",
                    )
            return rows
        except csv.Error as exc:
            # The reader resumes on the next line after a syntax error, so later rows are still checked.
            rows += 1
            line = previous + 1
            previous = reader.line_num
            add(line, INVALID_INPUT, f"The row is not valid CSV ({exc}).")
        except InputStopped as stop:
            # Rows read before the stop keep their problems and count; nothing after it can be read.
            add(stop.line, INVALID_INPUT, stop.message)
            return rows
