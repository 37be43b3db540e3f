"""The ports of the monthly close: what billing reads (``BillingInputs``), where it writes, how it fans out.

``BillingInputs`` is the one seam between billing and the rest of the product (accounts, the marketplace,
segments and traits, usage). The close is built and tested against it with an in-memory fake
(``tests/support/billing.py``); the production adapter (``audiens.dal.billing_inputs``) reads the other
modules' repositories. Every method is a read: billing never changes another module's data.

Contract of the inputs, per (buyer, period), once the period is CLOSING (usage frozen):

* ``buyers_for_period``: every account with something billable in the period — a subscription active at any
  moment of it, or usage reported for it. Stable while the period is CLOSING (the close snapshots it).
* ``subscriptions``: the buyer's subscriptions active at any moment of the period (ended ones included),
  with the feed's name and provider, the plan's use cases, unit, list price and the buyer's discount on
  that feed *as of the close*.
* ``segment_usage``: the period's segment-level rows with the destination's channel and whether that
  destination is a content-optimization one; ``feed_usage``: the period's feed-level rows, by feed id.
* ``segments``: every segment named by a usage row (deleted ones too), with rule text, owner, visibility
  and CPM; ``traits``: kind, feed and modeled-on feeds of every trait of those rules (by id);
  ``population_of``: the population of a trait, or the estimated population of a sub-expression, as int.
* ``parties``: names and revenue shares (default 0.80) of the accounts named.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from audiens.domain.attribution import TraitInfo
from audiens.domain.invoicing import (
    FeedUsage,
    Invoice,
    Party,
    Payout,
    ProviderSlice,
    SegmentInfo,
    SegmentUsage,
    Subscription,
)
from audiens.domain.periods import Period
from audiens.domain.rules import Node

RunStatus = Literal["running", "completed"]
JobKind = Literal["invoice", "payout"]


class BillingInputs(Protocol):
    def buyers_for_period(self, period: Period) -> list[str]: ...

    def subscriptions(self, buyer_id: str, period: Period) -> list[Subscription]: ...

    def segment_usage(self, buyer_id: str, period: Period) -> list[SegmentUsage]: ...

    def feed_usage(self, buyer_id: str, period: Period) -> list[FeedUsage]: ...

    def segments(self, segment_ids: Collection[str]) -> dict[str, SegmentInfo]: ...

    def traits(self, trait_ids: Collection[str]) -> dict[str, TraitInfo]: ...

    def population_of(self, node: Node) -> int: ...

    def population_in(self, rule: Node) -> Callable[[Node], int]: ...

    def parties(self, account_ids: Collection[str]) -> dict[str, Party]: ...


@dataclass(frozen=True)
class BillingRun:
    run_id: str
    period: Period
    status: RunStatus
    currency: str
    trigger: str
    created_at: datetime
    expected_invoices: int
    expected_payouts: int | None = None
    payout_providers: tuple[str, ...] = ()
    payouts_enqueued: bool = False
    completed_at: datetime | None = None

    @property
    def payouts_planned(self) -> bool:
        return self.expected_payouts is not None


@dataclass(frozen=True)
class RunCounts:
    """Documents the run has stored so far (from the counter shards, read consistently)."""

    invoices: int = 0  # buyers whose invoice was computed and stored (with or without lines)
    payouts: int = 0
    providers: frozenset[str] = field(default_factory=frozenset)
    empty: int = 0  # of ``invoices``, those with no line: stored for exactly-once, never a document

    @property
    def documents(self) -> int:
        return self.invoices - self.empty


@dataclass(frozen=True)
class FailedJob:
    kind: JobKind
    entity_id: str
    error: str
    attempts: int
    failed_at: datetime


@dataclass(frozen=True)
class StoredInvoice:
    invoice: Invoice
    run_id: str
    created_at: datetime
    indexed: bool = True
    voided_at: datetime | None = None
    void_reason: str | None = None


@dataclass(frozen=True)
class StoredPayout:
    payout: Payout
    run_id: str
    created_at: datetime


class BillingStore(Protocol):
    """The billing table (runs, invoices, provider slices, payouts, counters) and the period state item."""

    def begin_closing(self, period: Period, run_id: str, now: datetime) -> str: ...

    def period_state(self, period: Period) -> str: ...

    def get_run(self, period: Period) -> BillingRun | None: ...

    def create_run(self, run: BillingRun, buyers: Sequence[str]) -> tuple[BillingRun, bool]: ...

    def run_buyers(self, period: Period) -> list[str]: ...

    def invoiced_buyers(self, period: Period) -> set[str]: ...

    def get_invoice(self, invoice_id: str) -> StoredInvoice | None: ...

    def store_invoice(self, run: BillingRun, invoice: Invoice, slices: Sequence[ProviderSlice], now: datetime) -> bool:
        """Create the invoice, its provider slices and count it, all or nothing; False if it already existed."""
        ...

    def finish_invoice(self, stored: StoredInvoice, slices: Sequence[ProviderSlice]) -> None:
        """Complete an invoice stored in phases (too many providers for one transaction): slices, then count."""
        ...

    def counts(self, period: Period, *, providers: bool = False) -> RunCounts: ...

    def plan_payouts(self, period: Period, providers: Sequence[str]) -> BillingRun: ...

    def mark_payouts_enqueued(self, period: Period) -> None: ...

    def paid_providers(self, period: Period) -> set[str]: ...

    def provider_slices(self, period: Period, provider_id: str) -> list[ProviderSlice]: ...

    def get_payout(self, payout_id: str) -> StoredPayout | None: ...

    def store_payout(self, run: BillingRun, payout: Payout, now: datetime) -> bool: ...

    def complete_run(self, period: Period, now: datetime) -> bool: ...

    def record_failure(self, period: Period, failure: FailedJob) -> None: ...

    def failures(self, period: Period) -> list[FailedJob]: ...

    def list_invoices(
        self, *, period: Period | None, buyer_id: str | None, limit: int, token: str | None
    ) -> tuple[list[StoredInvoice], str | None]: ...

    def void_invoice(self, invoice_id: str, reason: str, now: datetime) -> StoredInvoice: ...

    def list_payouts(
        self, *, period: Period | None, provider_id: str | None, limit: int, token: str | None
    ) -> tuple[list[StoredPayout], str | None]: ...

    def period_totals(self, period: Period) -> tuple[Decimal, Decimal, Decimal]: ...


class BillingJobs(Protocol):
    """The two job queues; messages carry ids only. Returns the number of send calls made (for the bench)."""

    def send_invoice_jobs(self, run_id: str, period: Period, buyer_ids: Sequence[str]) -> int: ...

    def send_payout_jobs(self, run_id: str, period: Period, provider_ids: Sequence[str]) -> int: ...
