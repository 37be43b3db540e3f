"""What the monthly close reads of usage (the billing entry point): frozen usage per buyer and period.

``freeze`` first (the buyer's usage guard → CLOSING once no write holds a lease: nothing can change what
the reads return from then on), then ``segment_rows`` and ``feed_rows`` stream the stored values shard by
shard, one page in memory at a time, in no particular order: the invoice aggregates them in one pass.
``buyer_usage`` (every row, sorted) is kept for reports and tests of small buyers.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from audiens.domain.periods import Period
from audiens.domain.usage_schema import FEEDS, SEGMENTS
from audiens.ports.usage import (
    BuyerUsage,
    FeedUsageRow,
    SegmentUsageRow,
    UsageCatalog,
    UsageLeaseHeldError,
    UsageRepository,
)

FREEZE_THREADS: Final = 16


class UsageLedger:
    """Frozen usage per buyer and period. Call ``freeze`` after the period's state is CLOSING."""

    def __init__(self, repo: UsageRepository, catalog: UsageCatalog) -> None:
        self._repo = repo
        self._catalog = catalog

    def freeze(self, buyer_id: str, period: Period) -> None:
        """Freeze the buyer's usage; ``UsageLeaseHeldError`` while a write that began earlier still runs."""
        self._repo.freeze_buyer(buyer_id, period)

    def freeze_period(self, period: Period) -> list[str]:
        """Freeze every buyer who reported for ``period`` (``FREEZE_THREADS`` at a time: 10,000 buyers take
        seconds); the buyers whose usage a write still holds are returned, for their invoice job to freeze."""
        held: list[str] = []

        def freeze_one(buyer_id: str) -> None:
            try:
                self._repo.freeze_buyer(buyer_id, period)
            except UsageLeaseHeldError:
                held.append(buyer_id)

        buyers = self._repo.buyers_with_usage(period)
        with ThreadPoolExecutor(max_workers=FREEZE_THREADS, thread_name_prefix="usage-freeze") as pool:
            list(pool.map(freeze_one, buyers))
        return sorted(held)

    def segment_rows(self, buyer_id: str, period: Period) -> Iterator[SegmentUsageRow]:
        """Every segment-level value, streamed (not sorted). Rows carry ``content_optimization`` (usage on
        such destinations is not charged at CPM)."""
        for row in self._repo.usage_rows(buyer_id, period, SEGMENTS):
            yield SegmentUsageRow(row.key[0], row.key[1], row.usage, row.content_optimization)

    def feed_rows(self, buyer_id: str, period: Period) -> Iterator[FeedUsageRow]:
        """Every feed-level value, streamed (not sorted). Flat-fee plans have no rows."""
        for row in self._repo.usage_rows(buyer_id, period, FEEDS):
            yield FeedUsageRow(row.key[0], row.key[1], row.usage, row.provider_id, row.content_optimization)

    def buyer_usage(self, buyer_id: str, period: Period) -> BuyerUsage:
        """Every reported value of the buyer for ``period``, sorted by key (held in memory: small buyers)."""
        segments = sorted(self.segment_rows(buyer_id, period), key=lambda r: (r.segment_id, r.destination_id))
        feeds = sorted(self.feed_rows(buyer_id, period), key=lambda r: (r.feed_id, r.use_case))
        return BuyerUsage(buyer_id=buyer_id, period=str(period), segments=tuple(segments), feeds=tuple(feeds))

    def buyers_to_invoice(self, period: Period) -> list[str]:
        """Buyers who reported usage for ``period`` or had a subscription during it, sorted: one invoice each."""
        return sorted(set(self._repo.buyers_with_usage(period)) | set(self._catalog.subscribed_buyers(period)))
