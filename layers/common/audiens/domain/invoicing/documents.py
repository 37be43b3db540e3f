"""The billing documents (DOMAIN.md §8-§10): the inputs of a buyer's invoice, the invoice, its provider slices,
the payout and the revenue groups, with their deterministic ids.

Plain frozen dataclasses: computed by :mod:`audiens.domain.invoicing.charging` (the invoice) and
:mod:`audiens.domain.invoicing.payouts` (slices, payouts, revenue); stored by the DAL's document codecs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Final, Literal

from audiens.domain.attribution import PopulationOf, TraitInfo
from audiens.domain.money import discounted_price
from audiens.domain.periods import Period
from audiens.domain.rules import Node

CPM: Final = "cpm"
FLAT_FEE: Final = "flat_fee"
Unit = Literal["cpm", "flat_fee"]

USE_CONTENT_OPTIMIZATION: Final = "content_optimization"
USE_CASES: Final = ("segments_and_overlap", "modeling", "activation", "content_optimization")
SEGMENT_USE_CASE: Final = "activation"
"""A provider segment bought at its own CPM is used on a destination: an activation."""

UNKNOWN_CHANNEL: Final = "unknown"
"""Channel of usage that came with no channel detail (feed-level usage, flat fees)."""

KIND_FEED: Final = "feed"
KIND_FLAT_FEE: Final = "flat_fee"
KIND_SEGMENT: Final = "segment"
LineKind = Literal["feed", "flat_fee", "segment"]
_KIND_ORDER: Final = {KIND_FEED: 0, KIND_FLAT_FEE: 1, KIND_SEGMENT: 2}

# Reasons impressions were reported but not charged (kept on the invoice so nothing vanishes silently).
REASON_CONTENT_OPTIMIZATION: Final = "content_optimization"
REASON_NO_CPM_SUBSCRIPTION: Final = "no_cpm_subscription"
REASON_FLAT_FEE: Final = "covered_by_flat_fee"
REASON_UNPRICED_SEGMENT: Final = "unpriced_segment"


class BillingInputError(ValueError):
    """The inputs contradict each other (usage on a segment nobody knows): the job must fail loudly, not guess."""


# ------------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class Subscription:
    """A buyer's subscription to one plan of one feed; ``end_date`` is the last day it was active (inclusive)."""

    subscription_id: str
    feed_id: str
    feed_name: str
    provider_id: str
    plan_id: str
    use_cases: tuple[str, ...]
    unit: Unit
    list_price: Decimal
    start_date: date
    discount_pct: Decimal = Decimal(0)
    end_date: date | None = None

    def active_in(self, period: Period) -> bool:
        """Active at any moment of the period (a subscription of the 17th counts for the whole month)."""
        return self.start_date <= period.last_day and (self.end_date is None or self.end_date >= period.first_day)

    @property
    def unit_price(self) -> Decimal:
        return discounted_price(self.list_price, self.discount_pct)


@dataclass(frozen=True, slots=True)
class SegmentUsage:
    """Impressions a buyer reported for one (segment, destination) in the period."""

    segment_id: str
    destination_id: str
    impressions: int
    channel_id: str = UNKNOWN_CHANNEL
    content_optimization: bool = False
    channel_name: str | None = None


@dataclass(frozen=True, slots=True)
class FeedUsage:
    """Impressions a buyer reported directly for (feed, use case): taken as given, no channel detail."""

    feed_id: str
    use_case: str
    impressions: int


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    segment_id: str
    name: str
    rule: str
    owner_id: str
    visibility: Literal["public", "private"] = "private"
    cpm: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Party:
    """An account as billing sees it: the name printed on documents and, for a provider, its revenue share."""

    account_id: str
    name: str
    revenue_share: Decimal = Decimal("0.80")


@dataclass(frozen=True)
class InvoiceInputs:
    """Everything one buyer's invoice is computed from; gathered by the service through ``BillingInputs``."""

    buyer_id: str
    buyer_name: str
    period: Period
    currency: str
    subscriptions: Sequence[Subscription] = ()
    segment_usage: Sequence[SegmentUsage] = ()
    feed_usage: Sequence[FeedUsage] = ()
    segments: Mapping[str, SegmentInfo] = field(default_factory=dict)
    traits: Mapping[str, TraitInfo] = field(default_factory=dict)
    population_of: PopulationOf = field(default=lambda _node: 0)
    population_in: Callable[[Node], PopulationOf] | None = None
    """Populations of a rule's parts in the context of that rule (NOT against the rule's sources); when absent,
    ``population_of`` serves every rule."""
    provider_names: Mapping[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class ChannelUsage:
    channel_id: str
    impressions: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line_no: int
    kind: LineKind
    provider_id: str
    provider_name: str
    use_case: str
    unit: Unit
    list_price: Decimal
    discount_pct: Decimal
    unit_price: Decimal
    amount: Decimal
    impressions: int | None = None
    feed_id: str | None = None
    feed_name: str | None = None
    segment_id: str | None = None
    segment_name: str | None = None
    plan_id: str | None = None
    subscription_id: str | None = None
    channels: tuple[ChannelUsage, ...] = ()

    def channel_weights(self) -> tuple[list[str], list[int], dict[str, str | None]]:
        """Channels and their impression weights; no detail at all means one ``unknown`` channel."""
        if not self.channels:
            return [UNKNOWN_CHANNEL], [1], {UNKNOWN_CHANNEL: None}
        ids = [c.channel_id for c in self.channels]
        return ids, [c.impressions for c in self.channels], {c.channel_id: c.name for c in self.channels}


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One row of a provider's billing report: (buyer, feed, plan), or (buyer, segment) for segment sales."""

    provider_id: str
    buyer_id: str
    buyer_name: str
    unit: Unit
    use_cases: tuple[str, ...]
    list_price: Decimal
    discount_pct: Decimal
    discounted_price: Decimal
    units: int | None
    no_usage: bool
    total_cost: Decimal
    billing_period: date
    feed_id: str | None = None
    feed_name: str | None = None
    plan_id: str | None = None
    segment_id: str | None = None
    segment_name: str | None = None
    subscription_start: date | None = None
    subscription_end: date | None = None


@dataclass(frozen=True, slots=True)
class Uncharged:
    """Impressions reported but charged to nobody, and why (conservation stays auditable)."""

    reason: str
    impressions: int
    feed_id: str | None = None
    segment_id: str | None = None
    use_case: str | None = None


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    period: Period
    buyer_id: str
    buyer_name: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    total: Decimal
    report_rows: tuple[ReportRow, ...] = ()
    uncharged: tuple[Uncharged, ...] = ()

    @property
    def provider_ids(self) -> tuple[str, ...]:
        """Every provider paid from this invoice (lines), or reported on (billing report rows)."""
        found = {line.provider_id for line in self.lines} | {row.provider_id for row in self.report_rows}
        return tuple(sorted(found))


@dataclass(frozen=True)
class ProviderSlice:
    """The part of one invoice that concerns one provider: what its payout and billing report are built from."""

    invoice_id: str
    period: Period
    buyer_id: str
    buyer_name: str
    provider_id: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    report_rows: tuple[ReportRow, ...]


@dataclass(frozen=True, slots=True)
class ChannelShare:
    channel_id: str
    gross: Decimal
    provider_share: Decimal
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PayoutLine:
    invoice_id: str
    invoice_line_no: int
    buyer_id: str
    buyer_name: str
    kind: LineKind
    use_case: str
    unit: Unit
    gross: Decimal
    provider_share: Decimal
    platform_fee: Decimal
    impressions: int | None = None
    feed_id: str | None = None
    feed_name: str | None = None
    segment_id: str | None = None
    segment_name: str | None = None
    plan_id: str | None = None
    channels: tuple[ChannelShare, ...] = ()


@dataclass(frozen=True)
class Payout:
    payout_id: str
    period: Period
    provider_id: str
    provider_name: str
    currency: str
    revenue_share: Decimal
    lines: tuple[PayoutLine, ...]
    gross: Decimal
    amount: Decimal
    platform_fee: Decimal


@dataclass(frozen=True, slots=True)
class RevenueGroup:
    key: str
    name: str
    amount: Decimal
    gross: Decimal


# ----------------------------------------------------------------------------------------------- ids


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def run_id_for(period: Period) -> str:
    """One billing run per period, ever: the id is the period itself, so two closes cannot create two runs."""
    return f"run_{period.year:04d}{period.month:02d}"


def invoice_id_for(buyer_id: str, period: Period) -> str:
    """Deterministic per (buyer, period): a redelivered job finds the invoice it is about to create."""
    return f"inv_{period.year:04d}{period.month:02d}_{_digest('invoice', buyer_id, str(period))}"


def payout_id_for(provider_id: str, period: Period) -> str:
    return f"pay_{period.year:04d}{period.month:02d}_{_digest('payout', provider_id, str(period))}"
