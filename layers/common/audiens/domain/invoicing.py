"""Invoices, payouts, revenue and the providers' billing report (DOMAIN.md §8-§10), as pure functions.

The monthly close gathers one buyer's inputs (subscriptions active in the period, segment and feed-level
usage, the segments' rules, the traits' feeds and populations) and :func:`build_invoice` turns them into
the invoice; :func:`provider_slices` cuts the invoice into the part each provider is paid for, and
:func:`build_payout` turns every slice of one provider into its payout. Nothing here does I/O or reads a
clock, so the same inputs always give the same documents to the cent — that is what lets a redelivered
job or a re-run close prove it changed nothing.

Money follows ``domain.money``: prices are exact ``Decimal``; each invoice line is rounded once, half-up to
the currency's minor unit; totals are sums of rounded lines; a provider's share is rounded per line and the
platform fee is the exact complement, so Σ invoices = Σ payouts + Σ platform fees by construction.

Decisions where DOMAIN.md is silent (written down in docs/billing.md):

* several ``cpm`` plans of one feed covering the same use case: the lowest discounted price charges (then the
  lowest plan id); a ``flat_fee`` plan covering the use case takes precedence (its fee covers the usage);
* several subscriptions to the same flat-fee plan during the period: one fee (never prorated, never doubled);
* ``content_optimization`` usage (destinations flagged so, or feed-level rows of that use case) is never
  charged by CPM;
* another account's segment is never attributed: it is charged at its own CPM when it is public and priced,
  otherwise nothing is charged (recorded as uncharged);
* impressions that reach no chargeable (feed, use case) are kept on the invoice as ``uncharged`` with a
  reason, so every reported impression is accounted for;
* channel detail: impressions per channel on each CPM line; feed-level usage and flat fees carry no channel
  detail and count as channel ``unknown``; money per channel is split by largest remainder in minor units.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final, Literal

from audiens.domain.attribution import (
    AttributionPlan,
    FeedUse,
    PopulationOf,
    TraitInfo,
    compile_attribution,
    largest_remainder,
)
from audiens.domain.money import (
    cpm_amount,
    discounted_price,
    flat_fee_amount,
    from_minor_units,
    minor_units,
    split_revenue,
    to_minor_units,
)
from audiens.domain.periods import Period
from audiens.domain.rules import Node, parse_rule

__all__ = [
    "CPM",
    "FLAT_FEE",
    "KIND_FEED",
    "KIND_FLAT_FEE",
    "KIND_SEGMENT",
    "UNKNOWN_CHANNEL",
    "USE_CASES",
    "USE_CONTENT_OPTIMIZATION",
    "BillingInputError",
    "ChannelShare",
    "ChannelUsage",
    "FeedUsage",
    "GroupBy",
    "Invoice",
    "InvoiceInputs",
    "InvoiceLine",
    "LineKind",
    "Party",
    "Payout",
    "PayoutLine",
    "ProviderSlice",
    "ReportRow",
    "RevenueGroup",
    "SegmentInfo",
    "SegmentUsage",
    "Subscription",
    "Uncharged",
    "Unit",
    "build_invoice",
    "build_payout",
    "invoice_from_dict",
    "invoice_id_for",
    "invoice_to_dict",
    "payout_from_dict",
    "payout_id_for",
    "payout_to_dict",
    "provider_slices",
    "revenue_groups",
    "rule_tree",
    "run_id_for",
    "slice_from_dict",
    "slice_to_dict",
    "split_by_weight",
]

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
    credit_note_id: str | None = None
    """Set on a negative adjustment line: the credit note (issued in the payout's period) it pays back."""


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


# ------------------------------------------------------------------------------------------ the invoice


@lru_cache(maxsize=8192)
def rule_tree(text: str) -> Node:
    """The parsed rule of a segment; cached because a close parses the same rules for every usage row."""
    return parse_rule(text)


def _check_impressions(value: int, what: str) -> None:
    if type(value) is not int or value < 0:
        raise BillingInputError(f"{what}: impressions must be a whole number >= 0, got {value!r}")


def _price_key(sub: Subscription) -> tuple[Decimal, str, str]:
    return (sub.unit_price, sub.plan_id, sub.subscription_id)


class _Charges:
    """Impressions per (feed, use case) and per channel, accumulated over the usage rows."""

    def __init__(self) -> None:
        self.by_channel: dict[FeedUse, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.touched: set[FeedUse] = set()

    def add(self, feed_use: FeedUse, channel_id: str, impressions: int) -> None:
        self.by_channel[feed_use][channel_id] += impressions


def build_invoice(inputs: InvoiceInputs) -> Invoice:
    """The buyer's invoice for the period (DOMAIN.md §9), deterministic to the cent for the same inputs."""
    period, currency = inputs.period, inputs.currency
    minor_units(currency)  # refuse an unsupported currency before computing anything
    subscriptions = sorted(
        (s for s in inputs.subscriptions if s.active_in(period)), key=lambda s: (s.feed_id, s.plan_id, s.start_date)
    )
    flat_covered: set[FeedUse] = set()
    cpm_plans: dict[FeedUse, Subscription] = {}
    for sub in subscriptions:
        if sub.unit == FLAT_FEE:
            flat_covered.update((sub.feed_id, use) for use in sub.use_cases)
    for sub in subscriptions:
        if sub.unit != CPM:
            continue
        for use in sub.use_cases:
            key = (sub.feed_id, use)
            if key in flat_covered:
                continue
            current = cpm_plans.get(key)
            if current is None or _price_key(sub) < _price_key(current):
                cpm_plans[key] = sub

    charges = _Charges()
    channel_names: dict[str, str] = {}
    segment_sales: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    uncharged: dict[tuple[str, str | None, str | None, str | None], int] = defaultdict(int)
    plans: dict[str, AttributionPlan] = {}

    for row in inputs.segment_usage:
        _check_impressions(row.impressions, f"segment {row.segment_id} on destination {row.destination_id}")
        if row.channel_name:
            channel_names.setdefault(row.channel_id, row.channel_name)
        if row.content_optimization:
            uncharged[(REASON_CONTENT_OPTIMIZATION, None, row.segment_id, None)] += row.impressions
            continue
        segment = inputs.segments.get(row.segment_id)
        if segment is None:
            raise BillingInputError(f"usage reported on segment {row.segment_id!r}, which billing cannot find")
        if segment.owner_id != inputs.buyer_id:
            if segment.visibility == "public" and segment.cpm is not None:
                segment_sales[segment.segment_id][row.channel_id] += row.impressions
            else:
                uncharged[(REASON_UNPRICED_SEGMENT, None, row.segment_id, None)] += row.impressions
            continue
        plan = plans.get(segment.segment_id)
        if plan is None:
            tree = rule_tree(segment.rule)
            population = inputs.population_in(tree) if inputs.population_in is not None else inputs.population_of
            plan = compile_attribution(tree, inputs.traits, population)
            plans[segment.segment_id] = plan
        charges.touched.update(plan.feed_uses)
        for feed_use, impressions in plan.attribute(row.impressions).items():
            charges.add(feed_use, row.channel_id, impressions)

    for feed_row in inputs.feed_usage:
        _check_impressions(feed_row.impressions, f"feed {feed_row.feed_id} / {feed_row.use_case}")
        key = (feed_row.feed_id, feed_row.use_case)
        charges.touched.add(key)  # reported, even if never charged: the billing report's no-usage flag reads this
        if feed_row.use_case == USE_CONTENT_OPTIMIZATION:
            uncharged[(REASON_CONTENT_OPTIMIZATION, feed_row.feed_id, None, feed_row.use_case)] += feed_row.impressions
            continue
        charges.add(key, UNKNOWN_CHANNEL, feed_row.impressions)

    def provider_name(provider_id: str) -> str:
        return inputs.provider_names.get(provider_id, provider_id)

    def channel_detail(per_channel: Mapping[str, int]) -> tuple[ChannelUsage, ...]:
        return tuple(
            ChannelUsage(channel_id, count, channel_names.get(channel_id))
            for channel_id, count in sorted(per_channel.items())
            if count
        )

    lines: list[InvoiceLine] = []
    charged: dict[FeedUse, int] = {}
    for feed_use in sorted(charges.by_channel):
        per_channel = charges.by_channel[feed_use]
        impressions = sum(per_channel.values())
        feed_id, use = feed_use
        if feed_use in flat_covered:
            uncharged[(REASON_FLAT_FEE, feed_id, None, use)] += impressions
            continue
        chosen = cpm_plans.get(feed_use)
        if chosen is None:
            uncharged[(REASON_NO_CPM_SUBSCRIPTION, feed_id, None, use)] += impressions
            continue
        charged[feed_use] = impressions
        if impressions == 0:
            continue  # reported zero: no line, but the billing report shows 0 units
        lines.append(
            InvoiceLine(
                line_no=0,
                kind=KIND_FEED,
                provider_id=chosen.provider_id,
                provider_name=provider_name(chosen.provider_id),
                use_case=use,
                unit=CPM,
                list_price=chosen.list_price,
                discount_pct=chosen.discount_pct,
                unit_price=chosen.unit_price,
                amount=cpm_amount(impressions, chosen.unit_price, currency),
                impressions=impressions,
                feed_id=feed_id,
                feed_name=chosen.feed_name,
                plan_id=chosen.plan_id,
                subscription_id=chosen.subscription_id,
                channels=channel_detail(per_channel),
            )
        )

    flat_by_plan: dict[tuple[str, str], list[Subscription]] = defaultdict(list)
    for sub in subscriptions:
        if sub.unit == FLAT_FEE:
            flat_by_plan[(sub.feed_id, sub.plan_id)].append(sub)
    for (feed_id, plan_id), subs in sorted(flat_by_plan.items()):
        first = subs[0]
        lines.append(
            InvoiceLine(
                line_no=0,
                kind=KIND_FLAT_FEE,
                provider_id=first.provider_id,
                provider_name=provider_name(first.provider_id),
                use_case=_plan_use_label(first.use_cases),
                unit=FLAT_FEE,
                list_price=first.list_price,
                discount_pct=first.discount_pct,
                unit_price=first.unit_price,
                amount=flat_fee_amount(first.list_price, first.discount_pct, currency),
                feed_id=feed_id,
                feed_name=first.feed_name,
                plan_id=plan_id,
                subscription_id=first.subscription_id,
            )
        )

    for segment_id, per_channel in sorted(segment_sales.items()):
        segment = inputs.segments[segment_id]
        assert segment.cpm is not None
        impressions = sum(per_channel.values())
        if impressions == 0:
            continue
        lines.append(
            InvoiceLine(
                line_no=0,
                kind=KIND_SEGMENT,
                provider_id=segment.owner_id,
                provider_name=provider_name(segment.owner_id),
                use_case=SEGMENT_USE_CASE,
                unit=CPM,
                list_price=segment.cpm,
                discount_pct=Decimal(0),
                unit_price=segment.cpm,
                amount=cpm_amount(impressions, segment.cpm, currency),
                impressions=impressions,
                segment_id=segment_id,
                segment_name=segment.name,
                channels=channel_detail(per_channel),
            )
        )

    lines.sort(key=_line_order)
    numbered = tuple(_renumber(line, number) for number, line in enumerate(lines, start=1))
    total = sum((line.amount for line in numbered), from_minor_units(0, currency))
    rows = _report_rows(inputs, subscriptions, cpm_plans, charged, charges.touched, numbered)
    return Invoice(
        invoice_id=invoice_id_for(inputs.buyer_id, period),
        period=period,
        buyer_id=inputs.buyer_id,
        buyer_name=inputs.buyer_name,
        currency=currency,
        lines=numbered,
        total=total,
        report_rows=rows,
        uncharged=tuple(
            Uncharged(reason, count, feed_id, segment_id, use)
            for (reason, feed_id, segment_id, use), count in sorted(uncharged.items(), key=lambda kv: _none_last(kv[0]))
            if count
        ),
    )


def _none_last(key: tuple[str | None, ...]) -> tuple[str, ...]:
    return tuple("" if part is None else part for part in key)


def _plan_use_label(use_cases: Sequence[str]) -> str:
    """A flat-fee line covers the plan's use cases; shown as one label, in the canonical use-case order."""
    ordered = [use for use in USE_CASES if use in use_cases] + sorted(set(use_cases) - set(USE_CASES))
    return "+".join(ordered)


def _line_order(line: InvoiceLine) -> tuple[Any, ...]:
    return (
        _KIND_ORDER[line.kind],
        line.provider_id,
        line.feed_id or "",
        line.segment_id or "",
        line.use_case,
        line.plan_id or "",
    )


def _renumber(line: InvoiceLine, number: int) -> InvoiceLine:
    return replace(line, line_no=number)


def _report_rows(
    inputs: InvoiceInputs,
    subscriptions: Sequence[Subscription],
    cpm_plans: Mapping[FeedUse, Subscription],
    charged: Mapping[FeedUse, int],
    touched: set[FeedUse],
    lines: Sequence[InvoiceLine],
) -> tuple[ReportRow, ...]:
    billing_period = inputs.period.last_day
    by_plan: dict[tuple[str, str], list[Subscription]] = defaultdict(list)
    for sub in subscriptions:
        by_plan[(sub.feed_id, sub.plan_id)].append(sub)
    amounts: dict[tuple[str, str], Decimal] = defaultdict(lambda: from_minor_units(0, inputs.currency))
    for line in lines:
        if line.kind != KIND_SEGMENT and line.feed_id is not None and line.plan_id is not None:
            amounts[(line.feed_id, line.plan_id)] += line.amount
    rows: list[ReportRow] = []
    for (feed_id, plan_id), subs in sorted(by_plan.items()):
        first = subs[0]
        start = min(s.start_date for s in subs)
        ends = [s.end_date for s in subs]
        end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
        if first.unit == FLAT_FEE:
            units: int | None = 1
            no_usage = False
        else:
            # The flag means exactly "nothing was reported for this feed and any of the plan's use cases",
            # whichever plan ended up charging it (a flat fee covering it, or another CPM plan of the period).
            uses = [(feed_id, use) for use in first.use_cases]
            no_usage = not any(key in touched for key in uses)
            # Units are what this plan charged: the use cases it was the chosen CPM plan for.
            mine = [key for key in uses if cpm_plans.get(key) in subs]
            units = None if no_usage else sum(charged.get(key, 0) for key in mine)
        rows.append(
            ReportRow(
                provider_id=first.provider_id,
                buyer_id=inputs.buyer_id,
                buyer_name=inputs.buyer_name,
                unit=first.unit,
                use_cases=tuple(first.use_cases),
                list_price=first.list_price,
                discount_pct=first.discount_pct,
                discounted_price=first.unit_price,
                units=units,
                no_usage=no_usage,
                total_cost=amounts.get((feed_id, plan_id), from_minor_units(0, inputs.currency)),
                billing_period=billing_period,
                feed_id=feed_id,
                feed_name=first.feed_name,
                plan_id=plan_id,
                subscription_start=start,
                subscription_end=end,
            )
        )
    for line in lines:
        if line.kind == KIND_SEGMENT:
            rows.append(
                ReportRow(
                    provider_id=line.provider_id,
                    buyer_id=inputs.buyer_id,
                    buyer_name=inputs.buyer_name,
                    unit=CPM,
                    use_cases=(line.use_case,),
                    list_price=line.list_price,
                    discount_pct=line.discount_pct,
                    discounted_price=line.unit_price,
                    units=line.impressions,
                    no_usage=False,
                    total_cost=line.amount,
                    billing_period=billing_period,
                    segment_id=line.segment_id,
                    segment_name=line.segment_name,
                )
            )
    return tuple(rows)


# ------------------------------------------------------------------------------------ slices and payouts


def provider_slices(invoice: Invoice) -> dict[str, ProviderSlice]:
    """The invoice cut per provider: stored under the provider's key so its payout is one query."""
    lines: dict[str, list[InvoiceLine]] = defaultdict(list)
    rows: dict[str, list[ReportRow]] = defaultdict(list)
    for line in invoice.lines:
        lines[line.provider_id].append(line)
    for row in invoice.report_rows:
        rows[row.provider_id].append(row)
    return {
        provider_id: ProviderSlice(
            invoice_id=invoice.invoice_id,
            period=invoice.period,
            buyer_id=invoice.buyer_id,
            buyer_name=invoice.buyer_name,
            provider_id=provider_id,
            currency=invoice.currency,
            lines=tuple(lines.get(provider_id, ())),
            report_rows=tuple(rows.get(provider_id, ())),
        )
        for provider_id in invoice.provider_ids
    }


def split_by_weight(amount: Decimal, keys: Sequence[str], weights: Sequence[int], currency: str) -> list[Decimal]:
    """Split a rounded amount over keys in proportion to weights, exactly, by largest remainder in minor units.

    Used for revenue by channel: the parts are whole minor units and add back to ``amount`` to the unit.
    """
    units = to_minor_units(amount, currency)
    if units < 0:
        raise ValueError("only non-negative amounts are split")
    shares = largest_remainder(units, list(weights), list(keys))
    return [from_minor_units(share, currency) for share in shares]


def build_payout(
    provider: Party,
    period: Period,
    currency: str,
    slices: Iterable[ProviderSlice],
    adjustments: Iterable[PayoutLine] = (),
) -> Payout:
    """The provider's payout: per invoice line, share = round(amount * revenue share), fee = the rest.

    ``adjustments`` are the negative lines of the credit notes issued in ``period`` on the provider's earlier
    sales (``credit_notes.build_adjustments``), already split into share and fee: they are added as they are.
    """
    lines: list[PayoutLine] = []
    ordered = sorted(slices, key=lambda s: (s.buyer_id, s.invoice_id))
    for piece in ordered:
        if piece.provider_id != provider.account_id:
            raise BillingInputError(f"slice of provider {piece.provider_id!r} given to {provider.account_id!r}")
        if piece.currency != currency:
            raise BillingInputError(f"invoice {piece.invoice_id} is in {piece.currency}, the payout in {currency}")
        for line in piece.lines:
            share, fee = split_revenue(line.amount, provider.revenue_share, currency)
            keys, weights, names = line.channel_weights()
            gross_parts = split_by_weight(line.amount, keys, weights, currency)
            share_parts = split_by_weight(share, keys, weights, currency)
            lines.append(
                PayoutLine(
                    invoice_id=piece.invoice_id,
                    invoice_line_no=line.line_no,
                    buyer_id=piece.buyer_id,
                    buyer_name=piece.buyer_name,
                    kind=line.kind,
                    use_case=line.use_case,
                    unit=line.unit,
                    gross=line.amount,
                    provider_share=share,
                    platform_fee=fee,
                    impressions=line.impressions,
                    feed_id=line.feed_id,
                    feed_name=line.feed_name,
                    segment_id=line.segment_id,
                    segment_name=line.segment_name,
                    plan_id=line.plan_id,
                    channels=tuple(
                        ChannelShare(key, gross, part, names.get(key))
                        for key, gross, part in zip(keys, gross_parts, share_parts, strict=True)
                    ),
                )
            )
    lines.extend(sorted(adjustments, key=lambda a: (a.credit_note_id or "", a.invoice_id, a.invoice_line_no)))
    zero = from_minor_units(0, currency)
    return Payout(
        payout_id=payout_id_for(provider.account_id, period),
        period=period,
        provider_id=provider.account_id,
        provider_name=provider.name,
        currency=currency,
        revenue_share=provider.revenue_share,
        lines=tuple(lines),
        gross=sum((line.gross for line in lines), zero),
        amount=sum((line.provider_share for line in lines), zero),
        platform_fee=sum((line.platform_fee for line in lines), zero),
    )


GroupBy = Literal["total", "buyer", "channel"]


def revenue_groups(payout: Payout, group_by: GroupBy) -> list[RevenueGroup]:
    """The provider's revenue (its share) and gross sales, grouped; the groups add up to the payout exactly."""
    zero = from_minor_units(0, payout.currency)
    amounts: dict[str, list[Decimal]] = defaultdict(lambda: [zero, zero])
    names: dict[str, str] = {}
    for line in payout.lines:
        if group_by == "total":
            parts: Iterable[tuple[str, str | None, Decimal, Decimal]] = [
                ("total", "Total", line.provider_share, line.gross)
            ]
        elif group_by == "buyer":
            parts = [(line.buyer_id, line.buyer_name, line.provider_share, line.gross)]
        else:
            parts = [(c.channel_id, c.name, c.provider_share, c.gross) for c in line.channels]
        for key, name, share, gross in parts:
            amounts[key][0] += share
            amounts[key][1] += gross
            if name:
                names.setdefault(key, name)
    if group_by == "total" and not amounts:
        amounts["total"] = [zero, zero]
    return [
        RevenueGroup(key=key, name=names.get(key, "Unknown" if key == UNKNOWN_CHANNEL else key), amount=a, gross=g)
        for key, (a, g) in sorted(amounts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]


# ----------------------------------------------------------------------------------------- serialization
# Documents are stored as JSON: decimals as exact strings, dates as ISO text. Storage round-trips exactly.


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _opt_date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != [] and v != ()}


def line_to_dict(line: InvoiceLine) -> dict[str, Any]:
    return _compact(
        {
            "line_no": line.line_no,
            "kind": line.kind,
            "provider_id": line.provider_id,
            "provider_name": line.provider_name,
            "use_case": line.use_case,
            "unit": line.unit,
            "list_price": str(line.list_price),
            "discount_pct": str(line.discount_pct),
            "unit_price": str(line.unit_price),
            "amount": str(line.amount),
            "impressions": line.impressions,
            "feed_id": line.feed_id,
            "feed_name": line.feed_name,
            "segment_id": line.segment_id,
            "segment_name": line.segment_name,
            "plan_id": line.plan_id,
            "subscription_id": line.subscription_id,
            "channels": [_compact({"id": c.channel_id, "n": c.impressions, "name": c.name}) for c in line.channels],
        }
    )


def line_from_dict(data: Mapping[str, Any]) -> InvoiceLine:
    return InvoiceLine(
        line_no=int(data["line_no"]),
        kind=data["kind"],
        provider_id=data["provider_id"],
        provider_name=data["provider_name"],
        use_case=data["use_case"],
        unit=data["unit"],
        list_price=_dec(data["list_price"]),
        discount_pct=_dec(data["discount_pct"]),
        unit_price=_dec(data["unit_price"]),
        amount=_dec(data["amount"]),
        impressions=data.get("impressions"),
        feed_id=data.get("feed_id"),
        feed_name=data.get("feed_name"),
        segment_id=data.get("segment_id"),
        segment_name=data.get("segment_name"),
        plan_id=data.get("plan_id"),
        subscription_id=data.get("subscription_id"),
        channels=tuple(ChannelUsage(c["id"], int(c["n"]), c.get("name")) for c in data.get("channels", ())),
    )


def row_to_dict(row: ReportRow) -> dict[str, Any]:
    return _compact(
        {
            "provider_id": row.provider_id,
            "buyer_id": row.buyer_id,
            "buyer_name": row.buyer_name,
            "unit": row.unit,
            "use_cases": list(row.use_cases),
            "list_price": str(row.list_price),
            "discount_pct": str(row.discount_pct),
            "discounted_price": str(row.discounted_price),
            "units": row.units,
            "no_usage": row.no_usage,
            "total_cost": str(row.total_cost),
            "billing_period": row.billing_period.isoformat(),
            "feed_id": row.feed_id,
            "feed_name": row.feed_name,
            "plan_id": row.plan_id,
            "segment_id": row.segment_id,
            "segment_name": row.segment_name,
            "subscription_start": row.subscription_start.isoformat() if row.subscription_start else None,
            "subscription_end": row.subscription_end.isoformat() if row.subscription_end else None,
        }
    )


def row_from_dict(data: Mapping[str, Any]) -> ReportRow:
    return ReportRow(
        provider_id=data["provider_id"],
        buyer_id=data["buyer_id"],
        buyer_name=data["buyer_name"],
        unit=data["unit"],
        use_cases=tuple(data.get("use_cases", ())),
        list_price=_dec(data["list_price"]),
        discount_pct=_dec(data["discount_pct"]),
        discounted_price=_dec(data["discounted_price"]),
        units=data.get("units"),
        no_usage=bool(data.get("no_usage", False)),
        total_cost=_dec(data["total_cost"]),
        billing_period=date.fromisoformat(data["billing_period"]),
        feed_id=data.get("feed_id"),
        feed_name=data.get("feed_name"),
        plan_id=data.get("plan_id"),
        segment_id=data.get("segment_id"),
        segment_name=data.get("segment_name"),
        subscription_start=_opt_date(data.get("subscription_start")),
        subscription_end=_opt_date(data.get("subscription_end")),
    )


def invoice_to_dict(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.invoice_id,
        "period": str(invoice.period),
        "buyer_id": invoice.buyer_id,
        "buyer_name": invoice.buyer_name,
        "currency": invoice.currency,
        "total": str(invoice.total),
        "lines": [line_to_dict(line) for line in invoice.lines],
        "report_rows": [row_to_dict(row) for row in invoice.report_rows],
        "uncharged": [
            _compact(
                {
                    "reason": u.reason,
                    "impressions": u.impressions,
                    "feed_id": u.feed_id,
                    "segment_id": u.segment_id,
                    "use_case": u.use_case,
                }
            )
            for u in invoice.uncharged
        ],
    }


def invoice_from_dict(data: Mapping[str, Any]) -> Invoice:
    return Invoice(
        invoice_id=data["invoice_id"],
        period=Period.parse(data["period"]),
        buyer_id=data["buyer_id"],
        buyer_name=data["buyer_name"],
        currency=data["currency"],
        total=_dec(data["total"]),
        lines=tuple(line_from_dict(line) for line in data.get("lines", ())),
        report_rows=tuple(row_from_dict(row) for row in data.get("report_rows", ())),
        uncharged=tuple(
            Uncharged(u["reason"], int(u["impressions"]), u.get("feed_id"), u.get("segment_id"), u.get("use_case"))
            for u in data.get("uncharged", ())
        ),
    )


def slice_to_dict(piece: ProviderSlice) -> dict[str, Any]:
    return {
        "invoice_id": piece.invoice_id,
        "period": str(piece.period),
        "buyer_id": piece.buyer_id,
        "buyer_name": piece.buyer_name,
        "provider_id": piece.provider_id,
        "currency": piece.currency,
        "lines": [line_to_dict(line) for line in piece.lines],
        "report_rows": [row_to_dict(row) for row in piece.report_rows],
    }


def slice_from_dict(data: Mapping[str, Any]) -> ProviderSlice:
    return ProviderSlice(
        invoice_id=data["invoice_id"],
        period=Period.parse(data["period"]),
        buyer_id=data["buyer_id"],
        buyer_name=data["buyer_name"],
        provider_id=data["provider_id"],
        currency=data["currency"],
        lines=tuple(line_from_dict(line) for line in data.get("lines", ())),
        report_rows=tuple(row_from_dict(row) for row in data.get("report_rows", ())),
    )


def payout_to_dict(payout: Payout) -> dict[str, Any]:
    return {
        "payout_id": payout.payout_id,
        "period": str(payout.period),
        "provider_id": payout.provider_id,
        "provider_name": payout.provider_name,
        "currency": payout.currency,
        "revenue_share": str(payout.revenue_share),
        "gross": str(payout.gross),
        "amount": str(payout.amount),
        "platform_fee": str(payout.platform_fee),
        "lines": [
            _compact(
                {
                    "invoice_id": line.invoice_id,
                    "invoice_line_no": line.invoice_line_no,
                    "buyer_id": line.buyer_id,
                    "buyer_name": line.buyer_name,
                    "kind": line.kind,
                    "use_case": line.use_case,
                    "unit": line.unit,
                    "gross": str(line.gross),
                    "provider_share": str(line.provider_share),
                    "platform_fee": str(line.platform_fee),
                    "impressions": line.impressions,
                    "feed_id": line.feed_id,
                    "feed_name": line.feed_name,
                    "segment_id": line.segment_id,
                    "segment_name": line.segment_name,
                    "plan_id": line.plan_id,
                    "credit_note_id": line.credit_note_id,
                    "channels": [
                        _compact(
                            {"id": c.channel_id, "gross": str(c.gross), "share": str(c.provider_share), "name": c.name}
                        )
                        for c in line.channels
                    ],
                }
            )
            for line in payout.lines
        ],
    }


def payout_from_dict(data: Mapping[str, Any]) -> Payout:
    return Payout(
        payout_id=data["payout_id"],
        period=Period.parse(data["period"]),
        provider_id=data["provider_id"],
        provider_name=data["provider_name"],
        currency=data["currency"],
        revenue_share=_dec(data["revenue_share"]),
        gross=_dec(data["gross"]),
        amount=_dec(data["amount"]),
        platform_fee=_dec(data["platform_fee"]),
        lines=tuple(
            PayoutLine(
                invoice_id=line["invoice_id"],
                invoice_line_no=int(line["invoice_line_no"]),
                buyer_id=line["buyer_id"],
                buyer_name=line["buyer_name"],
                kind=line["kind"],
                use_case=line["use_case"],
                unit=line["unit"],
                gross=_dec(line["gross"]),
                provider_share=_dec(line["provider_share"]),
                platform_fee=_dec(line["platform_fee"]),
                impressions=line.get("impressions"),
                feed_id=line.get("feed_id"),
                feed_name=line.get("feed_name"),
                segment_id=line.get("segment_id"),
                segment_name=line.get("segment_name"),
                plan_id=line.get("plan_id"),
                channels=tuple(
                    ChannelShare(c["id"], _dec(c["gross"]), _dec(c["share"]), c.get("name"))
                    for c in line.get("channels", ())
                ),
                credit_note_id=line.get("credit_note_id"),
            )
            for line in data.get("lines", ())
        ),
    )
