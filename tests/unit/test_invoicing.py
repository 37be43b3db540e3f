"""The invoice builder, payouts and revenue (DOMAIN.md §8-§10): published examples, rules, and properties."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiens.dal.billing_documents import INVOICES, PAYOUTS, SLICES
from audiens.domain.attribution import TraitInfo, allocate_nodes, attribute
from audiens.domain.invoicing import (
    BillingInputError,
    FeedUsage,
    Invoice,
    InvoiceInputs,
    Party,
    SegmentInfo,
    SegmentUsage,
    Subscription,
    build_invoice,
    build_payout,
    invoice_id_for,
    provider_slices,
    revenue_groups,
    split_by_weight,
)
from audiens.domain.money import format_money, format_price
from audiens.domain.periods import Period
from audiens.domain.rules import And, Node, Not, Or, Trait, parse_rule, to_text

PERIOD = Period(2026, 10)


def shared_testdata() -> Path:
    default = Path(__file__).resolve().parents[3] / "shared" / "testdata"
    if default.is_dir():
        return default
    override = os.environ.get("AUDIENS_SHARED_DIR")
    if override:
        return Path(override) / "testdata"
    raise AssertionError(f"published examples not found at {default}; set AUDIENS_SHARED_DIR to the shared dir")


EXAMPLES: dict[str, Any] = json.loads((shared_testdata() / "attribution_examples.json").read_text(encoding="utf-8"))


def subscriptions_for(feeds: dict[str, Any]) -> list[Subscription]:
    """One subscription per published (feed, use case) plan, provider named as published."""
    return [
        Subscription(
            subscription_id=f"sub_{feed}_{use}",
            feed_id=feed,
            feed_name=f"Feed {feed}",
            provider_id=spec["provider"],
            plan_id=f"pln_{feed}_{use}",
            use_cases=(use,),
            unit=plan["unit"],
            list_price=Decimal(plan["price"]),
            start_date=date(2026, 1, 1),
        )
        for feed, spec in feeds.items()
        for use, plan in spec["plans"].items()
    ]


def published_invoice(rule: str, impressions: int, traits: dict[str, Any], feeds: dict[str, Any]) -> Invoice:
    return build_invoice(
        InvoiceInputs(
            buyer_id="buyer",
            buyer_name="Agency",
            period=PERIOD,
            currency="USD",
            subscriptions=subscriptions_for(feeds),
            segment_usage=[SegmentUsage("seg", "dst", impressions, "chan")],
            segments={"seg": SegmentInfo("seg", "Segment", rule, "buyer")},
            traits={
                t: TraitInfo(kind=s["kind"], feed_id=s.get("feed"), modeled_on_feed_ids=tuple(s.get("modeled_on", ())))
                for t, s in traits.items()
            },
            population_of=lambda node: int(traits[node.id]["population"]) if isinstance(node, Trait) else 0,
        )
    )


def by_feed_use(invoice: Invoice) -> tuple[dict[str, int], dict[str, str]]:
    impressions = {f"{line.feed_id}/{line.use_case}": line.impressions or 0 for line in invoice.lines}
    amounts = {f"{line.feed_id}/{line.use_case}": format_money(line.amount, "USD") for line in invoice.lines}
    return impressions, amounts


# ------------------------------------------------------------------------------------ published examples


@pytest.mark.parametrize("case", EXAMPLES["cases"], ids=[case["name"] for case in EXAMPLES["cases"]])
def test_given_a_published_case_when_invoiced_then_lines_and_total_match_to_the_cent(case: dict[str, Any]) -> None:
    # Given the published traits, feeds, plans and one segment usage row; When the invoice is built
    invoice = published_invoice(case["rule"], case["impressions"], EXAMPLES["traits"], EXAMPLES["feeds"])
    # Then each (feed, use case) line carries the published impressions and amount, and the total
    impressions, amounts = by_feed_use(invoice)
    assert impressions == case["expected"]["impressions"]
    assert amounts == case["expected"]["amounts"]
    assert format_money(invoice.total, "USD") == case["expected"]["invoice_total"]


def test_given_the_published_modeling_example_when_invoiced_and_paid_then_provider_totals_match() -> None:
    # Given case 3: T1 from feed D (provider A), T2 algorithmic, modeled on D and E
    example = EXAMPLES["modeling_example"]
    # When invoiced
    invoice = published_invoice(example["rule"], example["impressions"], example["traits"], example["feeds"])
    # Then lines, the provider totals (their invoice lines) and the invoice total are as published
    impressions, amounts = by_feed_use(invoice)
    assert impressions == example["expected"]["impressions"]
    assert amounts == example["expected"]["amounts"]
    provider_totals = {
        provider: format_money(sum((line.amount for line in piece.lines), Decimal(0)), "USD")
        for provider, piece in provider_slices(invoice).items()
    }
    assert provider_totals == example["expected"]["provider_totals"]
    assert format_money(invoice.total, "USD") == example["expected"]["invoice_total"]
    # And each provider's payout has the published total as its gross
    for provider, piece in provider_slices(invoice).items():
        payout = build_payout(Party(provider, provider), PERIOD, "USD", [piece])
        assert format_money(payout.gross, "USD") == example["expected"]["provider_totals"][provider]


@pytest.mark.parametrize(
    "example", EXAMPLES["money_examples"], ids=lambda e: f"{e['impressions']}@{e['cpm']}{e['currency']}"
)
def test_given_a_published_money_example_when_invoiced_then_the_line_is_rounded_once_half_up(
    example: dict[str, Any],
) -> None:
    # Given feed-level usage on a CPM plan in the example's currency
    sub = Subscription("s", "F", "Feed", "p", "pln", ("activation",), "cpm", Decimal(example["cpm"]), date(2026, 1, 1))
    inputs = InvoiceInputs(
        "b",
        "Agency",
        PERIOD,
        example["currency"],
        subscriptions=[sub],
        feed_usage=[FeedUsage("F", "activation", example["impressions"])],
    )
    # When invoiced
    invoice = build_invoice(inputs)
    # Then the line and the total are the published amount, in the currency's minor unit
    assert [format_money(line.amount, example["currency"]) for line in invoice.lines] == [example["amount"]]
    assert format_money(invoice.total, example["currency"]) == example["amount"]


def test_given_the_published_flat_fee_example_when_subscribed_on_the_17th_then_the_full_month_is_billed() -> None:
    # Given a flat-fee plan subscribed on the 17th of the period
    example = EXAMPLES["flat_fee_example"]
    sub = Subscription(
        "s",
        "F",
        "Feed",
        "p",
        "pln",
        ("segments_and_overlap",),
        "flat_fee",
        Decimal(example["monthly_fee"]),
        date(PERIOD.year, PERIOD.month, example["subscribed_on_day"]),
    )
    # When invoiced
    invoice = build_invoice(InvoiceInputs("b", "Agency", PERIOD, "USD", subscriptions=[sub]))
    # Then the full fee, never prorated
    assert [(line.kind, format_money(line.amount, "USD")) for line in invoice.lines] == [
        ("flat_fee", example["amount"])
    ]


def test_given_the_published_discount_example_when_invoiced_then_every_plan_price_is_discounted() -> None:
    # Given a 10 % discount on a feed with three plans (two flat fees and a CPM)
    example = EXAMPLES["discount_example"]
    pct = Decimal(example["discount_pct"])
    prices = [Decimal(p) for p in example["list_prices"]]
    subs = [
        Subscription(
            "s1", "F", "Feed", "p", "pln_1", ("segments_and_overlap",), "flat_fee", prices[0], date(2026, 1, 1), pct
        ),
        Subscription("s2", "F", "Feed", "p", "pln_2", ("modeling",), "flat_fee", prices[1], date(2026, 1, 1), pct),
        Subscription("s3", "F", "Feed", "p", "pln_3", ("activation",), "cpm", prices[2], date(2026, 1, 1), pct),
    ]
    # When invoiced with 1,000 impressions on the CPM plan
    invoice = build_invoice(
        InvoiceInputs("b", "Agency", PERIOD, "USD", subscriptions=subs, feed_usage=[FeedUsage("F", "activation", 1000)])
    )
    # Then every line's unit price is the published discounted price
    unit_prices = {line.plan_id: format_price(line.unit_price, "USD") for line in invoice.lines}
    assert [unit_prices["pln_1"], unit_prices["pln_2"], unit_prices["pln_3"]] == example["prices"]
    assert format_money(invoice.total, "USD") == "27001.80"


# ----------------------------------------------------------------------------------------------- rules


def world(**overrides: Any) -> InvoiceInputs:
    traits = {"A1": TraitInfo("rule", "A"), "B1": TraitInfo("rule", "B"), "own": TraitInfo("first_party")}
    pops = {"A1": 100, "B1": 300, "own": 50}
    base: dict[str, Any] = {
        "buyer_id": "buyer",
        "buyer_name": "Agency",
        "period": PERIOD,
        "currency": "USD",
        "subscriptions": [
            Subscription("sa", "A", "Feed A", "pa", "pln_a", ("activation",), "cpm", Decimal("2.00"), date(2026, 1, 1)),
            Subscription("sb", "B", "Feed B", "pb", "pln_b", ("activation",), "cpm", Decimal("4.00"), date(2026, 1, 1)),
        ],
        "segments": {"seg": SegmentInfo("seg", "Seg", "A1 OR B1", "buyer")},
        "traits": traits,
        "population_of": lambda n: pops[n.id] if isinstance(n, Trait) else 0,
        "provider_names": {"pa": "Provider A", "pb": "Provider B"},
    }
    base.update(overrides)
    return InvoiceInputs(**base)


def test_given_usage_on_a_content_optimization_destination_when_invoiced_then_it_is_not_charged() -> None:
    # Given one row on a normal destination and one on a content-optimization destination
    rows = [SegmentUsage("seg", "d1", 4000, "c1"), SegmentUsage("seg", "d2", 9999, "c2", content_optimization=True)]
    # When invoiced
    invoice = build_invoice(world(segment_usage=rows))
    # Then only the first is attributed and charged, and the second is accounted for as uncharged
    assert sum(line.impressions or 0 for line in invoice.lines) == 4000
    assert [(u.reason, u.impressions) for u in invoice.uncharged] == [("content_optimization", 9999)]


def test_given_a_use_case_without_a_cpm_plan_when_invoiced_then_its_impressions_are_uncharged_not_lost() -> None:
    # Given feed B's subscription is only for modeling, while the segment attributes activation to B
    subs = [
        Subscription("sa", "A", "Feed A", "pa", "pln_a", ("activation",), "cpm", Decimal("2.00"), date(2026, 1, 1)),
        Subscription("sb", "B", "Feed B", "pb", "pln_b", ("modeling",), "cpm", Decimal("4.00"), date(2026, 1, 1)),
    ]
    invoice = build_invoice(world(subscriptions=subs, segment_usage=[SegmentUsage("seg", "d", 1000, "c")]))
    # Then A is charged its 250, B's 750 activation impressions are uncharged with the reason
    assert [(line.feed_id, line.impressions) for line in invoice.lines] == [("A", 250)]
    assert [(u.reason, u.feed_id, u.use_case, u.impressions) for u in invoice.uncharged] == [
        ("no_cpm_subscription", "B", "activation", 750)
    ]


def test_given_a_flat_fee_plan_covering_the_use_case_when_invoiced_then_the_fee_alone_is_charged() -> None:
    # Given B's activation covered by a flat fee (and a CPM plan too)
    subs = [
        *world().subscriptions,
        Subscription("sf", "B", "Feed B", "pb", "pln_f", ("activation",), "flat_fee", Decimal("100"), date(2026, 1, 1)),
    ]
    invoice = build_invoice(world(subscriptions=subs, segment_usage=[SegmentUsage("seg", "d", 1000, "c")]))
    # Then B is billed by the fee, never by CPM on top
    assert [(line.kind, line.feed_id, format_money(line.amount, "USD")) for line in invoice.lines] == [
        ("feed", "A", "0.50"),
        ("flat_fee", "B", "100.00"),
    ]
    assert [u.reason for u in invoice.uncharged] == ["covered_by_flat_fee"]


def test_given_two_cpm_plans_for_one_use_case_when_invoiced_then_the_cheaper_charges_once() -> None:
    subs = [
        *world().subscriptions,
        Subscription(
            "sc", "B", "Feed B", "pb", "pln_cheap", ("activation", "modeling"), "cpm", Decimal("3.00"), date(2026, 1, 1)
        ),
    ]
    invoice = build_invoice(world(subscriptions=subs, feed_usage=[FeedUsage("B", "activation", 1000)]))
    assert [(line.plan_id, format_money(line.amount, "USD")) for line in invoice.lines] == [("pln_cheap", "3.00")]


def test_given_subscriptions_outside_the_period_when_invoiced_then_they_are_ignored() -> None:
    # Given a flat fee that ended in September and one starting in November; one flat plan subscribed twice
    subs = [
        Subscription(
            "s1",
            "A",
            "Feed A",
            "pa",
            "pln_1",
            ("modeling",),
            "flat_fee",
            Decimal("10"),
            date(2026, 1, 1),
            end_date=date(2026, 9, 30),
        ),
        Subscription("s2", "A", "Feed A", "pa", "pln_2", ("modeling",), "flat_fee", Decimal("20"), date(2026, 11, 1)),
        Subscription(
            "s3",
            "A",
            "Feed A",
            "pa",
            "pln_3",
            ("modeling",),
            "flat_fee",
            Decimal("30"),
            date(2026, 10, 1),
            end_date=date(2026, 10, 1),
        ),
        Subscription("s4", "A", "Feed A", "pa", "pln_3", ("modeling",), "flat_fee", Decimal("30"), date(2026, 10, 20)),
    ]
    invoice = build_invoice(world(subscriptions=subs))
    # Then only plan 3 is billed, once, even though it was subscribed twice in the month
    assert [(line.plan_id, format_money(line.amount, "USD")) for line in invoice.lines] == [("pln_3", "30.00")]
    rows = [(r.plan_id, r.units, r.subscription_start, r.subscription_end) for r in invoice.report_rows]
    assert rows == [("pln_3", 1, date(2026, 10, 1), None)]


def test_given_a_public_provider_segment_when_invoiced_then_it_is_charged_at_its_own_cpm_not_attributed() -> None:
    segments = {
        "seg": SegmentInfo("seg", "Seg", "A1 OR B1", "buyer"),
        "pub": SegmentInfo("pub", "Sports fans", "A1 AND B1", "pc", "public", Decimal("0.35")),
        "priv": SegmentInfo("priv", "Hidden", "A1", "pc", "private", None),
    }
    rows = [
        SegmentUsage("pub", "d", 1000, "c1"),
        SegmentUsage("pub", "d2", 500, "c2"),
        SegmentUsage("priv", "d", 7, "c"),
    ]
    invoice = build_invoice(world(segments=segments, segment_usage=rows))
    assert [
        (line.kind, line.segment_id, line.provider_id, line.impressions, str(line.amount)) for line in invoice.lines
    ] == [("segment", "pub", "pc", 1500, "0.53")]
    assert [(c.channel_id, c.impressions) for c in invoice.lines[0].channels] == [("c1", 1000), ("c2", 500)]
    assert [(u.reason, u.segment_id) for u in invoice.uncharged] == [("unpriced_segment", "priv")]


def test_given_usage_on_a_segment_billing_cannot_find_when_invoiced_then_it_fails_loudly() -> None:
    with pytest.raises(BillingInputError):
        build_invoice(world(segment_usage=[SegmentUsage("gone", "d", 10, "c")]))


def test_given_a_cpm_subscriber_who_reported_nothing_when_reported_then_units_are_empty_and_flagged() -> None:
    # Given A was reported (0 impressions at feed level) and B not at all
    invoice = build_invoice(world(feed_usage=[FeedUsage("A", "activation", 0)]))
    rows = {r.feed_id: r for r in invoice.report_rows}
    # Then A shows 0 units (reported), B empty with the flag, both billed for October's last day
    assert (rows["A"].units, rows["A"].no_usage) == (0, False)
    assert (rows["B"].units, rows["B"].no_usage, format_money(rows["B"].total_cost, "USD")) == (None, True, "0.00")
    assert {r.billing_period for r in invoice.report_rows} == {date(2026, 10, 31)}
    assert invoice.lines == ()


def test_given_feed_level_and_segment_usage_when_invoiced_then_channels_keep_the_detail_and_unknown_the_rest() -> None:
    rows = [SegmentUsage("seg", "d1", 1000, "dsp", channel_name="DSP"), SegmentUsage("seg", "d2", 2000, "net")]
    invoice = build_invoice(world(segment_usage=rows, feed_usage=[FeedUsage("A", "activation", 500)]))
    line_a = next(line for line in invoice.lines if line.feed_id == "A")
    assert [(c.channel_id, c.impressions, c.name) for c in line_a.channels] == [
        ("dsp", 250, "DSP"),
        ("net", 500, None),
        ("unknown", 500, None),
    ]
    assert line_a.impressions == 1250


def test_given_an_invoice_when_serialized_and_read_back_then_it_is_identical() -> None:
    rows = [SegmentUsage("seg", "d1", 1000, "dsp", channel_name="DSP")]
    invoice = build_invoice(world(segment_usage=rows, feed_usage=[FeedUsage("B", "activation", 7)]))
    assert INVOICES.unpack(INVOICES.pack(invoice)) == invoice
    assert all(SLICES.unpack(SLICES.pack(piece)) == piece for piece in provider_slices(invoice).values())
    assert invoice.invoice_id == invoice_id_for("buyer", PERIOD) != invoice_id_for("buyer", Period(2026, 11))
    payout = build_payout(Party("pb", "Provider B", Decimal("0.75")), PERIOD, "USD", [provider_slices(invoice)["pb"]])
    assert PAYOUTS.unpack(PAYOUTS.pack(payout)) == payout


def test_given_a_payout_when_revenue_is_grouped_then_every_grouping_adds_up_to_the_payout() -> None:
    rows = [SegmentUsage("seg", "d1", 1001, "dsp"), SegmentUsage("seg", "d2", 2002, "net")]
    invoice = build_invoice(world(segment_usage=rows, feed_usage=[FeedUsage("B", "activation", 3333)]))
    payout = build_payout(Party("pb", "B", Decimal("0.8")), PERIOD, "USD", [provider_slices(invoice)["pb"]])
    for group_by in ("total", "buyer", "channel"):
        groups = revenue_groups(payout, group_by)  # type: ignore[arg-type]
        assert sum((g.amount for g in groups), Decimal(0)) == payout.amount
        assert sum((g.gross for g in groups), Decimal(0)) == payout.gross
    assert {g.key for g in revenue_groups(payout, "channel")} == {"dsp", "net", "unknown"}


# -------------------------------------------------------------------------------------------- properties

TRAIT_IDS = [f"T{i}" for i in range(8)]


def trees(max_leaves: int = 12) -> st.SearchStrategy[Node]:
    leaves = st.sampled_from(TRAIT_IDS).map(Trait)

    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        several = st.lists(children, min_size=2, max_size=4).map(tuple)
        return st.one_of(several.map(And), several.map(Or), children.map(Not))

    return st.recursive(leaves, extend, max_leaves=max_leaves)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule=trees(),
    populations=st.dictionaries(st.sampled_from(TRAIT_IDS), st.integers(0, 10**7), min_size=len(TRAIT_IDS)),
    kinds=st.lists(st.sampled_from(["rule", "algorithmic", "first_party"]), min_size=8, max_size=8),
    rows=st.lists(st.integers(0, 10**9), min_size=1, max_size=5),
    subscribed=st.sets(st.sampled_from([f"F{i}" for i in range(4)])),
)
def test_property_attribution_is_conserved_through_the_invoice_builder(
    rule: Node,
    populations: dict[str, int],
    kinds: list[str],
    rows: list[int],
    subscribed: set[str],
) -> None:
    # Given random traits (feed, algorithmic on two feeds, or first-party), populations and a random rule
    traits = {}
    for index, (trait_id, kind) in enumerate(zip(TRAIT_IDS, kinds, strict=True)):
        if kind == "rule":
            traits[trait_id] = TraitInfo("rule", f"F{index % 4}")
        elif kind == "algorithmic":
            traits[trait_id] = TraitInfo("algorithmic", modeled_on_feed_ids=(f"F{index % 4}", f"F{(index + 1) % 4}"))
        else:
            traits[trait_id] = TraitInfo("first_party")

    def population_of(node: Node) -> int:
        if isinstance(node, Trait):
            return populations[node.id]
        return sum(
            populations[t] for t in set(to_text(node).replace("(", " ").replace(")", " ").split()) & set(populations)
        )

    subs = [
        Subscription(
            f"s{f}",
            f,
            f"Feed {f}",
            f"p{f}",
            f"pln_{f}",
            ("activation", "modeling"),
            "cpm",
            Decimal("1.25"),
            date(2026, 1, 1),
        )
        for f in sorted(subscribed)
    ]
    usage = [SegmentUsage("seg", f"d{i}", n, f"c{i % 2}") for i, n in enumerate(rows)]
    # When the invoice is built
    invoice = build_invoice(
        InvoiceInputs(
            "buyer",
            "Agency",
            PERIOD,
            "USD",
            subscriptions=subs,
            segment_usage=usage,
            segments={"seg": SegmentInfo("seg", "Seg", to_text(rule), "buyer")},
            traits=traits,
            population_of=population_of,
        )
    )
    # Then per (feed, use case), charged + uncharged impressions equal the reference attribution of every row
    reference: dict[tuple[str, str], int] = defaultdict(int)
    for n in rows:
        for key, count in attribute(parse_rule(to_text(rule)), n, traits, population_of).items():
            reference[key] += count
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for line in invoice.lines:
        assert line.feed_id is not None and line.impressions is not None
        seen[(line.feed_id, line.use_case)] += line.impressions
        assert sum(c.impressions for c in line.channels) == line.impressions
    for u in invoice.uncharged:
        assert u.feed_id is not None and u.use_case is not None
        seen[(u.feed_id, u.use_case)] += u.impressions
    assert dict(seen) == {k: v for k, v in reference.items() if v}
    # And at every OR node of every row's walk no impression is lost or invented
    for n in rows:
        amounts = allocate_nodes(parse_rule(to_text(rule)), n, population_of)
        for path, amount in amounts.items():
            children = [amounts[p] for p in amounts if len(p) == len(path) + 1 and p[: len(path)] == path]
            node = parse_rule(to_text(rule))
            for step in path:
                node = node.child if isinstance(node, Not) else node.children[step]  # type: ignore[union-attr]
            if isinstance(node, Or):
                assert sum(children) == amount


@settings(max_examples=200, deadline=None)
@given(
    currency=st.sampled_from(["USD", "JPY", "KWD", "EUR"]),
    buyers=st.lists(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 10**9), st.decimals("0", "99.999999", places=6)),
            min_size=0,
            max_size=6,
        ),
        min_size=1,
        max_size=5,
    ),
    shares=st.lists(st.decimals("0", "1", places=4), min_size=4, max_size=4),
    discount=st.decimals("0", "100", places=2),
    channels=st.integers(1, 4),
)
def test_property_invoices_equal_payouts_plus_platform_fees_to_the_minor_unit(
    currency: str,
    buyers: list[list[tuple[int, int, Decimal]]],
    shares: list[Decimal],
    discount: Decimal,
    channels: int,
) -> None:
    # Given random feed-level and segment usage of several buyers, prices, a discount and revenue shares
    invoices: list[Invoice] = []
    for b, usage in enumerate(buyers):
        subs, feed_rows, seg_rows, segments = [], [], [], {}
        for i, (provider, impressions, price) in enumerate(usage):
            feed = f"F{b}_{i}"
            subs.append(
                Subscription(
                    f"s{feed}",
                    feed,
                    f"Feed {feed}",
                    f"p{provider}",
                    f"pln_{feed}",
                    ("activation",),
                    "cpm",
                    price,
                    date(2026, 1, 1),
                    discount,
                )
            )
            feed_rows.append(FeedUsage(feed, "activation", impressions))
            segments[f"pub{i}"] = SegmentInfo(f"pub{i}", "S", "X", f"p{provider}", "public", price)
            seg_rows.append(SegmentUsage(f"pub{i}", "d", impressions // 3, f"c{impressions % channels}"))
        if b % 2 == 0:
            subs.append(
                Subscription(
                    "flat",
                    "FLAT",
                    "Flat",
                    "p0",
                    "pln_flat",
                    ("modeling",),
                    "flat_fee",
                    Decimal("1234.56"),
                    date(2026, 10, 31),
                    discount,
                )
            )
        invoices.append(
            build_invoice(
                InvoiceInputs(
                    f"b{b}",
                    f"Buyer {b}",
                    PERIOD,
                    currency,
                    subscriptions=subs,
                    feed_usage=feed_rows,
                    segment_usage=seg_rows,
                    segments=segments,
                )
            )
        )
    # When every provider is paid from its slices of every invoice
    slices: dict[str, list[Any]] = defaultdict(list)
    for invoice in invoices:
        for provider, piece in provider_slices(invoice).items():
            slices[provider].append(piece)
    payouts = [build_payout(Party(p, p, shares[int(p[1:])]), PERIOD, currency, pieces) for p, pieces in slices.items()]
    # Then Σ invoice totals = Σ payouts + Σ platform fees, exactly, and every line and channel split adds up
    invoiced = sum((i.total for i in invoices), Decimal(0))
    assert invoiced == sum((p.amount for p in payouts), Decimal(0)) + sum((p.platform_fee for p in payouts), Decimal(0))
    assert invoiced == sum((p.gross for p in payouts), Decimal(0))
    for payout in payouts:
        for line in payout.lines:
            assert line.provider_share + line.platform_fee == line.gross
            assert sum((c.gross for c in line.channels), Decimal(0)) == line.gross
            assert sum((c.provider_share for c in line.channels), Decimal(0)) == line.provider_share
        format_money(payout.amount, currency)  # whole minor units, or this raises
    for invoice in invoices:
        assert invoice.total == sum((line.amount for line in invoice.lines), Decimal(0))


def test_given_an_amount_when_split_over_weights_then_the_parts_are_whole_minor_units_adding_up_exactly() -> None:
    parts = split_by_weight(Decimal("100.00"), ["a", "b", "c"], [1, 1, 1], "USD")
    assert parts == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert split_by_weight(Decimal("7"), ["x", "y"], [0, 0], "JPY") == [Decimal("4"), Decimal("3")]


# ------------------------------------------------------------- DOMAIN.md §8-§9 clarifications, each with its test


def test_given_a_cpm_subscription_ended_mid_period_when_invoiced_then_that_period_usage_is_still_charged() -> None:
    ended = Subscription(
        "sa",
        "A",
        "Feed A",
        "pa",
        "pln_a",
        ("activation",),
        "cpm",
        Decimal("2.00"),
        date(2026, 10, 1),
        end_date=date(2026, 10, 9),
    )
    invoice = build_invoice(world(subscriptions=[ended], feed_usage=[FeedUsage("A", "activation", 5000)]))
    assert [(line.plan_id, line.impressions, format_money(line.amount, "USD")) for line in invoice.lines] == [
        ("pln_a", 5000, "10.00")
    ]
    assert invoice.report_rows[0].subscription_end == date(2026, 10, 9)


def test_given_a_trait_reached_by_two_paths_when_invoiced_then_it_is_attributed_once_per_path() -> None:
    # Given A1 AND (A1 OR B1): A1 gets the AND's full 1,000 and, under the OR, 100/400 of 1,000 = 250
    segments = {"seg": SegmentInfo("seg", "Seg", "A1 AND (A1 OR B1)", "buyer")}
    invoice = build_invoice(world(segments=segments, segment_usage=[SegmentUsage("seg", "d", 1000, "c")]))
    assert [(line.feed_id, line.impressions) for line in invoice.lines] == [("A", 1250), ("B", 750)]


def test_given_a_cpm_plan_held_with_nothing_reported_for_its_use_case_then_the_report_flags_it_and_nothing_else() -> (
    None
):
    # Given a cpm plan for content optimization stored before the rule, 10,000 reported on it at feed level
    legacy = Subscription(
        "sco", "A", "Feed A", "pa", "pln_co", ("content_optimization",), "cpm", Decimal("1.00"), date(2026, 1, 1)
    )
    subs = [*world().subscriptions, legacy]
    invoice = build_invoice(world(subscriptions=subs, feed_usage=[FeedUsage("A", "content_optimization", 10_000)]))
    # Then nothing is charged for it, nothing crashes, and its row is not flagged "no usage"
    assert invoice.lines == ()
    assert [(u.reason, u.impressions) for u in invoice.uncharged] == [("content_optimization", 10_000)]
    rows = {r.plan_id: (r.units, r.no_usage) for r in invoice.report_rows}
    assert rows == {"pln_co": (0, False), "pln_a": (None, True), "pln_b": (None, True)}
