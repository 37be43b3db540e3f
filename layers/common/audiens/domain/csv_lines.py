"""Byte chunks of a CSV file turned into lines for ``csv.reader``, incrementally (DOMAIN.md §7).

Files can hold a million rows and arrive from S3 as a stream of byte chunks: they are decoded as
UTF-8 (one leading BOM dropped) without holding more than one chunk of text, and reading stops with
:class:`InputStopped` at the first line the bytes cannot be read past (encoding, size, a line with
no end).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Final

__all__ = ["InputStopped", "LineSource"]

# No legitimate row of five short columns comes near this; it bounds the line buffer when a file has
# no line breaks at all (a binary file, or lone-CR line endings).
_MAX_LINE_CHARS: Final = 1 << 20


class InputStopped(Exception):
    """Raised from the line source when the bytes cannot be read further (encoding, size)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class LineSource:
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
                raise InputStopped(
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
                raise InputStopped(
                    self.lines_out + 1,
                    'The file is not UTF-8 text (unreadable bytes on this line); save it as "CSV UTF-8".',
                ) from None
            if not text:
                continue
            batch, pending = self._split(pending + text)
            if batch:
                yield batch
            if len(pending) > _MAX_LINE_CHARS:
                raise InputStopped(self.lines_out + 1, "The line is too long; this does not look like a CSV file.")
        try:
            pending += decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InputStopped(
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
