"""Validation of bulk usage CSV files and rendering of the downloadable template (DOMAIN.md §7).

A file is accepted whole or rejected whole, and a rejection must list every problem with its line,
so the buyer can fix the file in one pass. Files can hold a million rows and arrive from S3 as a
stream of byte chunks: they are decoded and parsed incrementally, and the only memory that grows
with the file is the map of distinct keys (needed to detect conflicting duplicates).

Line numbers are 1-based physical lines of the file (the header is line 1); a record whose quoted
cell spans several lines is reported at its first line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, Literal

from audiens.errors import ValidationError

if TYPE_CHECKING:
    from _csv import Reader

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DUPLICATE_RECORDS",
    "FEEDS",
    "INVALID_INPUT",
    "MANDATORY_HEADERS_MISSING",
    "MAX_USAGE",
    "NOT_FOUND",
    "SCHEMAS",
    "SEGMENTS",
    "VALUES_NOT_SUPPORTED",
    "CsvProblem",
    "CsvSchema",
    "UsageCsvReport",
    "UsageKind",
    "csv_safe_cell",
    "feed_key",
    "parse_usage_cell",
    "render_usage_csv",
    "segment_key",
    "validate_usage_csv",
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

DEFAULT_MAX_BYTES: Final = 100 * 1024 * 1024
"""Room for a million-row template with names (about 75 MiB), validated in a few seconds in one Lambda."""

# No legitimate row of five short columns comes near this; it bounds the line buffer when a file has
# no line breaks at all (a binary file, or lone-CR line endings).
_MAX_LINE_CHARS: Final = 1 << 20
_MAX_USAGE_DIGITS: Final = len(str(MAX_USAGE))
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


def _show(text: str) -> str:
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
        if len(text.lstrip("0")) <= _MAX_USAGE_DIGITS and int(text) <= MAX_USAGE:
            return int(text)
        raise ValidationError(
            f"Usage {_show(text)} is larger than the maximum of {MAX_USAGE:,} impressions.",
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
    raise ValidationError(f"Usage {_show(text)} {reason}.", code=VALUES_NOT_SUPPORTED)


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


class _InputStopped(Exception):
    """Raised from the line source when the bytes cannot be read further (encoding, size)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _LineSource:
    """Turns byte chunks into lines for ``csv.reader`` without holding more than one chunk of text.

    Lines are yielded in per-chunk lists so ``itertools.chain`` hands them to the C parser without a
    Python-level step per line. ``lines_out`` counts the lines handed over, which is the line number
    of the last line the parser has seen whenever the generator is resumed.
    """

    __slots__ = ("chunks", "lines_out", "max_bytes", "size")

    def __init__(self, chunks: Iterable[bytes], max_bytes: int) -> None:
        self.chunks = chunks
        self.max_bytes = max_bytes
        self.size = 0
        self.lines_out = 0

    def lines(self) -> Iterator[str]:
        return chain.from_iterable(self._batches())

    def _batches(self) -> Iterator[list[str]]:
        # utf-8-sig drops one leading BOM, which Excel writes when saving "CSV UTF-8".
        decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        pending = ""
        for chunk in self.chunks:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise _InputStopped(
                    self.lines_out + 1,
                    f"The file is larger than the limit of {self.max_bytes:,} bytes; split it into smaller files.",
                )
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # Hand over the complete lines before the bad byte first, so their problems are reported too.
                valid = exc.object[: exc.start].decode("utf-8", errors="replace")
                batch, _ = self._split(pending + valid)
                if batch:
                    yield batch
                raise _InputStopped(
                    self.lines_out + 1,
                    'The file is not UTF-8 text (unreadable bytes on this line); save it as "CSV UTF-8".',
                ) from None
            if not text:
                continue
            batch, pending = self._split(pending + text)
            if batch:
                yield batch
            if len(pending) > _MAX_LINE_CHARS:
                raise _InputStopped(self.lines_out + 1, "The line is too long; this does not look like a CSV file.")
        try:
            pending += decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _InputStopped(
                self.lines_out + 1, 'The file ends in the middle of a UTF-8 character; save it as "CSV UTF-8".'
            ) from None
        if pending:
            self.lines_out += 1
            yield [pending]

    def _split(self, text: str) -> tuple[list[str], str]:
        parts = text.split("\n")
        rest = parts.pop()
        self.lines_out += len(parts)
        # Keep the newline: csv needs it to preserve line breaks inside quoted cells.
        return [part + "\n" for part in parts], rest


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
            found = ", ".join(_show(n) for _, n in unknown)
            hint = f" Found unknown column(s) {found}: was it renamed? Header names must be exactly as in the template."
        problems.add(line, MANDATORY_HEADERS_MISSING, f"Mandatory column '{name}' is missing.{hint}")
    if not missing:
        for index, name in unknown:
            what = f"Unknown column {_show(name)} (column {index + 1})" if name else f"Column {index + 1} has no name"
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
            f"Segment {_show(cells[0].strip())} with destination {_show(cells[1].strip())} "
            "is not known in this account."
        )
    return (
        f"Data feed {_show(cells[1].strip())} of provider {_show(cells[0].strip())} with use case "
        f"{_show(cells[2].strip())} is not known in this account."
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
    source = _LineSource(chunks, max_bytes)
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
    except _InputStopped as stop:
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
        except _InputStopped as stop:
            problems.add(stop.line, INVALID_INPUT, stop.message)
            return rows


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
    max_digits = _MAX_USAGE_DIGITS - 1  # a 15-digit number is always below MAX_USAGE (16 digits)

    while True:
        try:
            for row in reader:
                line = previous + 1
                previous = reader.line_num
                if len(row) != ncols:
                    if not row or _is_blank(row):
                        continue
                    rows += 1
                    add(
                        line,
                        INVALID_INPUT,
                        f"The row has {len(row)} column{'s' if len(row) != 1 else ''} but the header has {ncols}.",
                    )
                    continue
                cell = row[usage_at]
                value: int | None
                if cell.isdigit() and len(cell) <= max_digits and cell.isascii():
                    value = int(cell)
                else:
                    if not cell.strip() and _is_blank(row):
                        continue
                    try:
                        value = parse_usage_cell(cell)
                    except ValidationError as exc:
                        add(line, VALUES_NOT_SUPPORTED, exc.message)
                        value = None
                rows += 1
                key = get_key_cells(row)
                if is_feeds:
                    key = normalize(*key)
                    if key not in known:
                        add(line, NOT_FOUND, _not_found_message(schema, get_key_cells(row)))
                        continue
                elif key not in known:
                    # Segment ids are matched raw first; trimming is only needed when that misses.
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
        except _InputStopped as stop:
            # Rows read before the stop keep their problems and count; nothing after it can be read.
            add(stop.line, INVALID_INPUT, stop.message)
            return rows


def render_usage_csv(
    kind: str,
    rows: Iterable[Sequence[str | int | None]],
    *,
    line_terminator: str = "\r\n",
    bom: bool = False,
) -> str:
    """The downloadable template: the documented header, then one row per (key, current usage).

    Rows are in the documented column order; usage is empty when not reported, which the validator
    reads as "leave unchanged". Every text cell is escaped against formula injection, because these
    names come from other tenants (provider and feed names) and are opened in spreadsheets.
    """
    schema = schema_for(kind)
    if line_terminator not in ("\r\n", "\n"):
        raise ValueError("line_terminator must be '\\r\\n' or '\\n'")
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator=line_terminator)
    writer.writerow(schema.columns)
    width = len(schema.columns)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a {schema.kind} template row needs {width} cells, got {len(row)}")
        *texts, usage = row
        cells = ["" if text is None else csv_safe_cell(str(text)) for text in texts]
        if usage is None:
            cells.append("")
        elif isinstance(usage, int) and not isinstance(usage, bool) and usage >= 0:
            cells.append(str(usage))
        else:
            raise ValueError(f"usage must be a non-negative int or None, got {usage!r}")
        writer.writerow(cells)
    return out.getvalue()
