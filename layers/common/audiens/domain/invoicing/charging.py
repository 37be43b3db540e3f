"""The buyer's invoice (DOMAIN.md §9) and the providers' billing report rows, as pure functions.

:func:`build_invoice` works in steps, each a function of its own: choose the plan that charges each
(feed, use case), gather the usage rows into impressions per (feed, use case) and channel (attributing a
segment's impressions to the feeds of its rule), then write the CPM, flat-fee and segment lines, number
them and derive the billing report rows. The decisions where DOMAIN.md is silent are listed in
:mod:`audiens.domain.invoicing`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any

from audiens.domain.attribution import AttributionPlan, FeedUse, compile_attribution
from audiens.domain.invoicing.documents import (
    _KIND_ORDER,
    CPM,
    FLAT_FEE,
    KIND_FEED,
    KIND_FLAT_FEE,
    KIND_SEGMENT,
    REASON_CONTENT_OPTIMIZATION,
    REASON_FLAT_FEE,
    REASON_NO_CPM_SUBSCRIPTION,
    REASON_UNPRICED_SEGMENT,
    SEGMENT_USE_CASE,
    UNKNOWN_CHANNEL,
    USE_CASES,
    USE_CONTENT_OPTIMIZATION,
    BillingInputError,
    ChannelUsage,
    Invoice,
    InvoiceInputs,
    InvoiceLine,
    ReportRow,
    SegmentInfo,
    SegmentUsage,
    Subscription,
    Uncharged,
    invoice_id_for,
)
from audiens.domain.money import cpm_amount, flat_fee_amount, from_minor_units, minor_units
from audiens.domain.rules import Node, parse_rule

__all__ = ["build_invoice", "rule_tree"]

UnchargedKey = tuple[str, str | None, str | None, str | None]
"""(reason, feed id, segment id, use case) of impressions charged to nobody."""


@lru_cache(maxsize=8192)
def rule_tree(text: str) -> Node:
    """The parsed rule of a segment; cached because a close parses the same rules for every usage row."""
    return parse_rule(text)


def _check_impressions(value: int, what: str) -> None:
    if type(value) is not int or value < 0:
        raise BillingInputError(f"{what}: impressions must be a whole number >= 0, got {value!r}")


def _price_key(sub: Subscription) -> tuple[Decimal, str, str]:
    return (sub.unit_price, sub.plan_id, sub.subscription_id)


@dataclass(frozen=True)
class _Plans:
    """The subscriptions active in the period and which plan charges each (feed, use case)."""

    subscriptions: Sequence[Subscription]
    flat_covered: set[FeedUse]
    cpm: dict[FeedUse, Subscription]


def _choose_plans(inputs: InvoiceInputs) -> _Plans:
    """A flat fee covering a use case takes precedence; else the lowest discounted CPM (then plan id)."""
    period = inputs.period
    subscriptions = sorted(
        (s for s in inputs.subscriptions if s.active_in(period)), key=lambda s: (s.feed_id, s.plan_id, s.start_date)
    )
    flat_covered: set[FeedUse] = set()
    for sub in subscriptions:
        if sub.unit == FLAT_FEE:
            flat_covered.update((sub.feed_id, use) for use in sub.use_cases)
    cpm_plans: dict[FeedUse, Subscription] = {}
    for sub in subscriptions:
        if sub.unit != CPM:
            continue
        for key in ((sub.feed_id, use) for use in sub.use_cases):
            current = cpm_plans.get(key)
            if key not in flat_covered and (current is None or _price_key(sub) < _price_key(current)):
                cpm_plans[key] = sub
    return _Plans(subscriptions, flat_covered, cpm_plans)


@dataclass
class _Usage:
    """The usage rows gathered: impressions per (feed, use case) and channel, segment sales, uncharged."""

    by_channel: dict[FeedUse, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    touched: set[FeedUse] = field(default_factory=set)
    channel_names: dict[str, str] = field(default_factory=dict)
    segment_sales: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    uncharged: dict[UnchargedKey, int] = field(default_factory=lambda: defaultdict(int))
    plans: dict[str, AttributionPlan] = field(default_factory=dict)

    def add(self, feed_use: FeedUse, channel_id: str, impressions: int) -> None:
        self.by_channel[feed_use][channel_id] += impressions

    def channel_detail(self, per_channel: Mapping[str, int]) -> tuple[ChannelUsage, ...]:
        return tuple(
            ChannelUsage(channel_id, count, self.channel_names.get(channel_id))
            for channel_id, count in sorted(per_channel.items())
            if count
        )


def _attribution_plan(inputs: InvoiceInputs, usage: _Usage, segment: SegmentInfo) -> AttributionPlan:
    plan = usage.plans.get(segment.segment_id)
    if plan is None:
        tree = rule_tree(segment.rule)
        population = inputs.population_in(tree) if inputs.population_in is not None else inputs.population_of
        plan = compile_attribution(tree, inputs.traits, population)
        usage.plans[segment.segment_id] = plan
    return plan


def _add_segment_row(inputs: InvoiceInputs, usage: _Usage, row: SegmentUsage) -> None:
    _check_impressions(row.impressions, f"segment {row.segment_id} on destination {row.destination_id}")
    if row.channel_name:
        usage.channel_names.setdefault(row.channel_id, row.channel_name)
    if row.content_optimization:
        usage.uncharged[(REASON_CONTENT_OPTIMIZATION, None, row.segment_id, None)] += row.impressions
        return
    segment = inputs.segments.get(row.segment_id)
    if segment is None:
        raise BillingInputError(f"usage reported on segment {row.segment_id!r}, which billing cannot find")
    if segment.owner_id != inputs.buyer_id:
        if segment.visibility == "public" and segment.cpm is not None:
            usage.segment_sales[segment.segment_id][row.channel_id] += row.impressions
        else:
            usage.uncharged[(REASON_UNPRICED_SEGMENT, None, row.segment_id, None)] += row.impressions
        return
    plan = _attribution_plan(inputs, usage, segment)
    usage.touched.update(plan.feed_uses)
    for feed_use, impressions in plan.attribute(row.impressions).items():
        usage.add(feed_use, row.channel_id, impressions)


def _gather_usage(inputs: InvoiceInputs) -> _Usage:
    usage = _Usage()
    for row in inputs.segment_usage:
        _add_segment_row(inputs, usage, row)
    for feed_row in inputs.feed_usage:
        _check_impressions(feed_row.impressions, f"feed {feed_row.feed_id} / {feed_row.use_case}")
        key = (feed_row.feed_id, feed_row.use_case)
        usage.touched.add(key)  # reported, even if never charged: the billing report's no-usage flag reads this
        if feed_row.use_case == USE_CONTENT_OPTIMIZATION:
            usage.uncharged[(REASON_CONTENT_OPTIMIZATION, feed_row.feed_id, None, feed_row.use_case)] += (
                feed_row.impressions
            )
            continue
        usage.add(key, UNKNOWN_CHANNEL, feed_row.impressions)
    return usage


def _provider_name(inputs: InvoiceInputs, provider_id: str) -> str:
    return inputs.provider_names.get(provider_id, provider_id)


def _cpm_lines(inputs: InvoiceInputs, plans: _Plans, usage: _Usage) -> tuple[list[InvoiceLine], dict[FeedUse, int]]:
    """One CPM line per charged (feed, use case); also what each charged, for the billing report."""
    lines: list[InvoiceLine] = []
    charged: dict[FeedUse, int] = {}
    for feed_use in sorted(usage.by_channel):
        per_channel = usage.by_channel[feed_use]
        impressions = sum(per_channel.values())
        feed_id, use = feed_use
        if feed_use in plans.flat_covered:
            usage.uncharged[(REASON_FLAT_FEE, feed_id, None, use)] += impressions
            continue
        chosen = plans.cpm.get(feed_use)
        if chosen is None:
            usage.uncharged[(REASON_NO_CPM_SUBSCRIPTION, feed_id, None, use)] += impressions
            continue
        charged[feed_use] = impressions
        if impressions == 0:
            continue  # reported zero: no line, but the billing report shows 0 units
        lines.append(
            InvoiceLine(
                line_no=0,
                kind=KIND_FEED,
                provider_id=chosen.provider_id,
                provider_name=_provider_name(inputs, chosen.provider_id),
                use_case=use,
                unit=CPM,
                list_price=chosen.list_price,
                discount_pct=chosen.discount_pct,
                unit_price=chosen.unit_price,
                amount=cpm_amount(impressions, chosen.unit_price, inputs.currency),
                impressions=impressions,
                feed_id=feed_id,
                feed_name=chosen.feed_name,
                plan_id=chosen.plan_id,
                subscription_id=chosen.subscription_id,
                channels=usage.channel_detail(per_channel),
            )
        )
    return lines, charged


def _flat_fee_lines(inputs: InvoiceInputs, plans: _Plans) -> list[InvoiceLine]:
    """One fee per flat-fee plan, however many subscriptions to it were active in the period."""
    flat_by_plan: dict[tuple[str, str], list[Subscription]] = defaultdict(list)
    for sub in plans.subscriptions:
        if sub.unit == FLAT_FEE:
            flat_by_plan[(sub.feed_id, sub.plan_id)].append(sub)
    lines: list[InvoiceLine] = []
    for (feed_id, plan_id), subs in sorted(flat_by_plan.items()):
        first = subs[0]
        lines.append(
            InvoiceLine(
                line_no=0,
                kind=KIND_FLAT_FEE,
                provider_id=first.provider_id,
                provider_name=_provider_name(inputs, first.provider_id),
                use_case=_plan_use_label(first.use_cases),
                unit=FLAT_FEE,
                list_price=first.list_price,
                discount_pct=first.discount_pct,
                unit_price=first.unit_price,
                amount=flat_fee_amount(first.list_price, first.discount_pct, inputs.currency),
                feed_id=feed_id,
                feed_name=first.feed_name,
                plan_id=plan_id,
                subscription_id=first.subscription_id,
            )
        )
    return lines


def _segment_lines(inputs: InvoiceInputs, usage: _Usage) -> list[InvoiceLine]:
    """Another account's public, priced segments, charged at their own CPM."""
    lines: list[InvoiceLine] = []
    for segment_id, per_channel in sorted(usage.segment_sales.items()):
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
                provider_name=_provider_name(inputs, segment.owner_id),
                use_case=SEGMENT_USE_CASE,
                unit=CPM,
                list_price=segment.cpm,
                discount_pct=Decimal(0),
                unit_price=segment.cpm,
                amount=cpm_amount(impressions, segment.cpm, inputs.currency),
                impressions=impressions,
                segment_id=segment_id,
                segment_name=segment.name,
                channels=usage.channel_detail(per_channel),
            )
        )
    return lines


def build_invoice(inputs: InvoiceInputs) -> Invoice:
    """The buyer's invoice for the period (DOMAIN.md §9), deterministic to the cent for the same inputs."""
    period, currency = inputs.period, inputs.currency
    minor_units(currency)  # refuse an unsupported currency before computing anything
    plans = _choose_plans(inputs)
    usage = _gather_usage(inputs)
    lines, charged = _cpm_lines(inputs, plans, usage)
    lines += _flat_fee_lines(inputs, plans)
    lines += _segment_lines(inputs, usage)
    lines.sort(key=_line_order)
    numbered = tuple(_renumber(line, number) for number, line in enumerate(lines, start=1))
    total = sum((line.amount for line in numbered), from_minor_units(0, currency))
    rows = _report_rows(inputs, plans.subscriptions, plans.cpm, charged, usage.touched, numbered)
    return Invoice(
        invoice_id=invoice_id_for(inputs.buyer_id, period),
        period=period,
        buyer_id=inputs.buyer_id,
        buyer_name=inputs.buyer_name,
        currency=currency,
        lines=numbered,
        total=total,
        report_rows=rows,
        uncharged=_uncharged(usage.uncharged),
    )


def _uncharged(counts: Mapping[UnchargedKey, int]) -> tuple[Uncharged, ...]:
    return tuple(
        Uncharged(reason, count, feed_id, segment_id, use)
        for (reason, feed_id, segment_id, use), count in sorted(counts.items(), key=lambda kv: _none_last(kv[0]))
        if count
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
