"""Source files in the source bucket (DOMAIN.md §2): their record, formats and lines, no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from audiens.domain.events import KEY_PATTERN, MAX_KEY_LENGTH, Rejection

MAX_LINE_BYTES: Final = 64 * 1024
FILE_CHUNK_EVENTS: Final = 5_000
MAX_FILE_ERRORS_LISTED: Final = 2_000


@dataclass
class FileRecord:
    file_id: str
    source_id: str
    bucket: str
    key: str
    etag: str
    size: int | None
    status: str
    received_at: datetime
    finished_at: datetime | None = None
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: int = 0
    attempts: int = 1


def split_lines(chunks: Iterable[bytes], max_line: int = MAX_LINE_BYTES) -> Iterator[bytes | None]:
    """Lines of a byte stream (``\\n`` or ``\\r\\n``) in constant memory; ``None`` stands for a line longer
    than ``max_line``, whose bytes are skipped rather than buffered (one bad line never exhausts memory)."""
    pending = bytearray()
    overflow = False
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if not overflow:
                    pending += chunk[start:]
                    if len(pending) > max_line:
                        overflow = True
                        pending.clear()
                break
            if overflow:
                yield None
            else:
                pending += chunk[start:end]
                yield bytes(pending[:-1] if pending.endswith(b"\r") else pending) if len(pending) <= max_line else None
            pending.clear()
            overflow = False
            start = end + 1
    if overflow:
        yield None
    elif pending:
        yield bytes(pending[:-1] if pending.endswith(b"\r") else pending)


NDJSON_SUFFIXES: Final = (".ndjson", ".jsonl", ".json")
CSV_SUFFIXES: Final = (".csv",)


class FileFormatError(Exception):
    """The file as a whole cannot be read (unknown format, bad CSV header): no line can be kept."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def file_format(key: str) -> str:
    lowered = key.lower()
    if lowered.endswith(NDJSON_SUFFIXES):
        return "ndjson"
    if lowered.endswith(CSV_SUFFIXES):
        return "csv"
    raise FileFormatError(
        "unsupported_format",
        "Source files must be newline-delimited JSON (.ndjson, .jsonl, .json) or CSV (.csv) with a header "
        "user_id,timestamp,<keys...>.",
    )


def _decode(line: bytes, line_no: int) -> str | Rejection:
    try:
        return line.decode("utf-8-sig" if line_no == 1 else "utf-8")
    except UnicodeDecodeError:
        return Rejection(line_no, "invalid_encoding", "the line is not valid UTF-8.")


def parse_ndjson_line(line: bytes, line_no: int) -> Any:
    """The raw event on one NDJSON line, or a ``Rejection`` (validation comes after, as for API batches)."""
    text = _decode(line, line_no)
    if isinstance(text, Rejection):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        return Rejection(line_no, "invalid_json", f"the line is not valid JSON ({error.msg} at column {error.colno}).")


class CsvLayout:
    """A CSV source file: header ``user_id[,timestamp][,<key>...]``; one record per line, empty cell = no value."""

    def __init__(self, header: bytes) -> None:
        import csv

        self._csv = csv
        text = _decode(header, 1)
        if isinstance(text, Rejection):
            raise FileFormatError("invalid_header", "the CSV header is not valid UTF-8.")
        columns = [c.strip() for c in next(csv.reader([text]), [])]
        if "user_id" not in columns:
            raise FileFormatError(
                "invalid_header", "the CSV header must name a user_id column (user_id,timestamp,<keys...>)."
            )
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise FileFormatError("invalid_header", f"the CSV header repeats column(s) {', '.join(duplicates)}.")
        bad = [c for c in columns if c not in ("user_id", "timestamp") and not KEY_PATTERN.fullmatch(c)]
        if bad:
            raise FileFormatError(
                "invalid_header",
                f"CSV column(s) {', '.join(repr(b[:40]) for b in bad[:5])} are not valid data point keys "
                f"(1-{MAX_KEY_LENGTH} letters, digits, '_', '-' or '.').",
            )
        self.columns = columns

    def parse(self, line: bytes, line_no: int) -> Any:
        text = _decode(line, line_no)
        if isinstance(text, Rejection):
            return text
        try:
            cells = next(self._csv.reader([text]), [])
        except self._csv.Error as error:
            return Rejection(line_no, "invalid_csv", f"the line is not valid CSV ({error}).")
        if len(cells) != len(self.columns):
            return Rejection(
                line_no, "invalid_csv", f"the line has {len(cells)} cells; the header has {len(self.columns)}."
            )
        event: dict[str, Any] = {"data": {}}
        for column, cell in zip(self.columns, cells, strict=True):
            if column == "user_id":
                event["user_id"] = cell
            elif column == "timestamp":
                if cell:
                    event["timestamp"] = cell
            elif cell != "":
                event["data"][column] = cell
        return event
