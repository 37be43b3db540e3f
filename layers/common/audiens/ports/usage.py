"""Ports of usage reporting: what ``services.usage`` needs, and the errors and records its adapters share.

``UsageCatalog`` is the seam to the marketplace (feeds, subscriptions, destinations, mappings) and to
segments: usage reporting only needs the keys a buyer may report, so it is built against this Protocol
and tested with an in-memory fake; ``dal.usage_catalog`` implements it over the real repositories.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from audiens.domain.accounts import Account
from audiens.domain.periods import Period
from audiens.domain.usage_reports import (
    ChangeSource,
    FeedUsageKey,
    SegmentUsageKey,
    StoredKey,
    UploadRecord,
    UsageChange,
)
from audiens.domain.usage_schema import UsageKind
from audiens.errors import ConflictError

OPEN = "OPEN"


@dataclass(frozen=True, slots=True)
class SegmentUsageRow:
    """A buyer's frozen usage of one (segment, destination) in a closed period, as the close reads it."""

    segment_id: str
    destination_id: str
    usage: int
    content_optimization: bool


@dataclass(frozen=True, slots=True)
class FeedUsageRow:
    """A buyer's frozen usage of one (feed, use case) in a closed period, as the close reads it."""

    feed_id: str
    use_case: str
    usage: int
    provider_id: str | None
    content_optimization: bool


@dataclass(frozen=True, slots=True)
class BuyerUsage:
    """All of a buyer's frozen usage of a period."""

    buyer_id: str
    period: str
    segments: tuple[SegmentUsageRow, ...]
    feeds: tuple[FeedUsageRow, ...]


class UsageCatalog(Protocol):
    """What a buyer may report for a period; built over the marketplace (part A) and segments (issue 3)."""

    def segment_keys(self, buyer_id: str, period: Period) -> list[SegmentUsageKey]:
        """Every (segment, destination) mapping of the buyer that existed during ``period`` or exists now,
        including marketplace public segments it mapped."""
        ...

    def feed_keys(self, buyer_id: str, period: Period) -> list[FeedUsageKey]:
        """The buyer's (feed, use case) pairs under a ``cpm`` plan subscribed at some moment of ``period``."""
        ...

    def subscribed_buyers(self, period: Period) -> list[str]:
        """Buyers with a subscription (any unit) active at some moment of ``period``."""
        ...

    def mapped_buyers(self) -> list[str]:
        """Buyers that have mapped a segment to one of their destinations."""
        ...


class AccountDirectory(Protocol):
    def get(self, account_id: str) -> Account | None: ...


class UsageObjects(Protocol):
    """The usage bucket: objects streamed in chunks, presigned PUT URLs."""

    def iter_chunks(self, bucket: str, key: str, *, etag: str | None, chunk_size: int = ...) -> Iterator[bytes]:
        """Stream an object; ``ObjectGoneError`` when it no longer exists or no longer has ``etag``."""
        ...

    def upload_url(self, bucket: str, key: str, expires_in: int) -> str: ...

    def put(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None: ...

    def download_url(self, bucket: str, key: str, expires_in: int, *, filename: str) -> str: ...


class ObjectGoneError(Exception):
    """The object named by the event was deleted or replaced before it could be read."""


class PeriodClosedError(ConflictError):
    """The period's close began (state CLOSING/CLOSED) while usage was being written."""

    def __init__(self, message: str, *, written: int = 0) -> None:
        super().__init__(message, code="reporting_window_closed")
        self.written = written


class UsageLeaseHeldError(Exception):
    """A write still holds a lease on the buyer's usage: the freeze must wait until ``until`` (epoch seconds)."""

    def __init__(self, buyer_id: str, until: float) -> None:
        super().__init__(f"usage of {buyer_id} is being written until {until:.0f} at the latest")
        self.buyer_id = buyer_id
        self.until = until


class UploadFinishedError(Exception):
    """The upload record became terminal meanwhile (a concurrent delivery of the same event finished it)."""


class DuplicateContentError(Exception):
    """The same content was accepted meanwhile by another upload of the same (account, period, kind)."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(upload_id)
        self.upload_id = upload_id


@dataclass(frozen=True, slots=True)
class StoredUsage:
    kind: str
    key: StoredKey
    usage: int
    content_optimization: bool = False
    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class UploadFinish:
    """The upload's terminal record, written in the last transaction of an accepted file, with the claim
    of its content hash for (account, period, kind)."""

    record: UploadRecord
    sha256: str


class UsageRepository(Protocol):
    changes_per_transaction: int
    """How many changed values one write transaction carries."""

    def period_state(self, period: Period) -> str: ...

    def stored_usage(self, buyer_id: str, period: Period, kind: UsageKind) -> dict[StoredKey, int]: ...

    def stored_usage_of(
        self, buyer_id: str, period: Period, kind: UsageKind, keys: Collection[StoredKey]
    ) -> dict[StoredKey, int]: ...

    def usage_rows(self, buyer_id: str, period: Period, kind: UsageKind | None = None) -> Iterator[StoredUsage]:
        """The stored values of one buyer and period (one Query), of one kind or both."""
        ...

    def apply_changes(
        self,
        buyer_id: str,
        period: Period,
        kind: UsageKind,
        changes: Iterable[UsageChange],
        source: ChangeSource,
        *,
        finish: UploadFinish | None = None,
        lease_seconds: float = ...,
    ) -> int:
        """Write the changes and their audit records in transactions guarded by the buyer's guard (a lease on
        it for more than one transaction, held at most ``lease_seconds``); the ``finish`` record goes into the
        last one. Returns the number of values written. Raises ``PeriodClosedError`` (with ``written``),
        ``UploadFinishedError``, ``DuplicateContentError``."""
        ...

    def freeze_buyer(self, buyer_id: str, period: Period) -> None:
        """Freeze the buyer's usage of ``period`` once no write holds a lease (``UsageLeaseHeldError``)."""
        ...

    def buyers_with_usage(self, period: Period) -> list[str]: ...

    def create_upload(self, record: UploadRecord) -> None: ...

    def get_upload(self, upload_id: str) -> UploadRecord | None: ...

    def list_uploads(self, account_id: str, period: str | None) -> list[UploadRecord]: ...

    def save_upload(self, record: UploadRecord) -> bool:
        """Write the record unless a terminal one is stored already; False when it was."""
        ...

    def find_sha(self, account_id: str, period: str, kind: str, sha256: str) -> str | None: ...
