"""Codecs of the stored billing documents (invoice, provider slice, payout).

Each document is stored as compressed JSON written and read by a pydantic ``TypeAdapter`` of the domain's own
dataclass, so its fields are declared once, in the domain: decimals as exact strings, dates as ISO text,
periods as ``{"year", "month"}``, fields at their default left out. Storage round-trips exactly (a test reads
back every document the published examples produce).
"""

from __future__ import annotations

import zlib
from typing import Final

from pydantic import TypeAdapter

from audiens.domain.invoicing import Invoice, Payout, ProviderSlice

__all__ = ["INVOICES", "PAYOUTS", "SLICES", "DocumentCodec"]

_COMPRESSION: Final = 6


class DocumentCodec[T]:
    """One document type to and from its stored bytes (the adapter is built on first use: cold starts)."""

    def __init__(self, kind: type[T]) -> None:
        self._kind = kind
        self._built: TypeAdapter[T] | None = None

    def _adapter(self) -> TypeAdapter[T]:
        if self._built is None:
            self._built = TypeAdapter(self._kind)
        return self._built

    def to_json(self, document: T) -> bytes:
        return self._adapter().dump_json(document, exclude_defaults=True)

    def from_json(self, data: bytes | str) -> T:
        return self._adapter().validate_json(data)

    def pack(self, document: T) -> bytes:
        return zlib.compress(self.to_json(document), _COMPRESSION)

    def unpack(self, blob: bytes) -> T:
        return self.from_json(zlib.decompress(blob))


INVOICES: Final = DocumentCodec(Invoice)
SLICES: Final = DocumentCodec(ProviderSlice)
PAYOUTS: Final = DocumentCodec(Payout)
