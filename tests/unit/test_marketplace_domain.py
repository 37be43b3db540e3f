"""Plans, subscription rules and the look-alike model (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from audiens.domain import lookalike, marketplace, sketches
from audiens.domain.marketplace import Feed, Plan, Subscription
from audiens.domain.periods import Period
from audiens.errors import ConflictError, NotFoundError, ValidationError

NOW = datetime(2026, 11, 3, tzinfo=UTC)
FEED = Feed("feed_1", "prov", "Sports", "", "public", "active", ("t1",), ("p_so", "p_mod", "p_act"), NOW, NOW)
P_SO = Plan("p_so", "feed_1", ("segments_and_overlap",), "flat_fee", Decimal("100"), "USD")
P_MOD = Plan("p_mod", "feed_1", ("modeling",), "cpm", Decimal("1.5"), "USD")
P_BOTH = Plan("p_both", "feed_1", ("modeling", "activation"), "cpm", Decimal("2"), "USD")


def _sub(plan: Plan, sub_id: str, start: date = date(2026, 10, 15), end: date | None = None) -> Subscription:
    return Subscription(sub_id, "buyer", plan.plan_id, plan.feed_id, "prov", plan.use_cases, plan.unit, start, NOW, end)


def test_plans_are_validated_and_every_problem_is_listed() -> None:
    with pytest.raises(ValidationError) as caught:
        marketplace.check_plans(
            [
                {"use_cases": ["segments_and_overlap"], "unit": "cpm", "price": 2},
                {"use_cases": ["x"], "unit": "weekly", "price": "1", "currency": "usd"},
            ]
        )
    fields = [d["field"] for d in caught.value.details]
    assert fields == ["plans.0.price", "plans.1.use_cases", "plans.1.unit", "plans.1.currency"]
    assert "3 more problem(s)" in caught.value.message


def test_a_feed_needs_a_segments_and_overlap_plan_and_one_currency() -> None:
    with pytest.raises(ValidationError) as caught:
        marketplace.check_plans([{"use_cases": ["activation"], "unit": "cpm", "price": "1"}])
    assert caught.value.code == "segments_and_overlap_plan_required"
    with pytest.raises(ValidationError) as mixed:
        marketplace.check_plans(
            [
                {"use_cases": ["segments_and_overlap"], "unit": "flat_fee", "price": "1", "currency": "EUR"},
                {"use_cases": ["activation"], "unit": "cpm", "price": "1"},
            ]
        )
    assert mixed.value.code == "mixed_currencies"
    specs = marketplace.check_plans(
        [{"use_cases": ["segments_and_overlap", "activation"], "unit": "cpm", "price": "0.0035", "currency": "JPY"}]
    )
    assert specs == [marketplace.PlanSpec(("segments_and_overlap", "activation"), "cpm", Decimal("0.0035"), "JPY")]


def test_other_plans_need_an_active_segments_and_overlap_subscription() -> None:
    with pytest.raises(ValidationError) as caught:
        marketplace.check_can_subscribe(plan=P_MOD, feed=FEED, buyer_id="buyer", may_see=True, active=[])
    assert caught.value.code == "segments_and_overlap_subscription_required"
    base = _sub(P_SO, "s1")
    assert marketplace.check_can_subscribe(plan=P_MOD, feed=FEED, buyer_id="buyer", may_see=True, active=[base]) == base
    assert marketplace.check_can_subscribe(plan=P_SO, feed=FEED, buyer_id="buyer", may_see=True, active=[]) is None


def test_one_use_case_of_a_feed_is_never_subscribed_twice() -> None:
    active = [_sub(P_SO, "s1"), _sub(P_MOD, "s2")]
    with pytest.raises(ConflictError) as same_plan:
        marketplace.check_can_subscribe(plan=P_MOD, feed=FEED, buyer_id="buyer", may_see=True, active=active)
    assert same_plan.value.code == "already_subscribed"
    with pytest.raises(ConflictError) as overlap:
        marketplace.check_can_subscribe(plan=P_BOTH, feed=FEED, buyer_id="buyer", may_see=True, active=active)
    assert overlap.value.code == "use_case_already_subscribed"


def test_invisible_or_inactive_feeds_and_own_feeds_cannot_be_subscribed() -> None:
    with pytest.raises(NotFoundError):
        marketplace.check_can_subscribe(plan=P_SO, feed=FEED, buyer_id="buyer", may_see=False, active=[])
    inactive = Feed(**{**FEED.__dict__, "status": "inactive"})
    with pytest.raises(NotFoundError):
        marketplace.check_can_subscribe(plan=P_SO, feed=inactive, buyer_id="buyer", may_see=True, active=[])
    with pytest.raises(ValidationError) as own:
        marketplace.check_can_subscribe(plan=P_SO, feed=FEED, buyer_id="prov", may_see=True, active=[])
    assert own.value.code == "own_feed"


def test_the_base_subscription_ends_last() -> None:
    base, model = _sub(P_SO, "s1"), _sub(P_MOD, "s2")
    with pytest.raises(ConflictError) as caught:
        marketplace.check_can_end(base, [base, model])
    assert caught.value.code == "dependent_subscriptions" and "s2" in caught.value.message
    marketplace.check_can_end(model, [base, model])
    marketplace.check_can_end(base, [base])
    with pytest.raises(ConflictError):
        marketplace.check_can_end(_sub(P_SO, "s3", end=date(2026, 11, 1)), [])


@pytest.mark.parametrize(
    ("start", "end", "period", "active"),
    [
        (date(2026, 10, 31), None, Period(2026, 10), True),
        (date(2026, 11, 1), None, Period(2026, 10), False),
        (date(2026, 9, 1), date(2026, 10, 1), Period(2026, 10), True),  # the end date is the last day
        (date(2026, 9, 1), date(2026, 9, 30), Period(2026, 10), False),
        (date(2026, 10, 5), date(2026, 10, 5), Period(2026, 10), True),
        (date(2026, 1, 1), None, Period(2027, 2), True),
    ],
)
def test_a_subscription_is_active_during_a_period_if_it_overlaps_any_day(
    start: date, end: date | None, period: Period, active: bool
) -> None:
    assert _sub(P_SO, "s", start, end).active_during(period) is active


def test_discounts_are_percent_strings_applied_exactly() -> None:
    pct = marketplace.parse_discount("12.5")
    assert marketplace.format_discount(pct) == "12.5"
    assert marketplace.format_discount(Decimal("10.00")) == "10"
    assert marketplace.price_for(P_MOD, pct) == Decimal("1.3125")
    for bad in ("100.5", "-1", 5, "x"):
        with pytest.raises(ValidationError):
            marketplace.parse_discount(bad)


def test_a_feed_with_subscribers_cannot_be_deleted_while_active() -> None:
    with pytest.raises(ConflictError):
        marketplace.check_feed_deletable(FEED, 1)
    marketplace.check_feed_deletable(FEED, 0)
    marketplace.check_feed_deletable(Feed(**{**FEED.__dict__, "status": "inactive"}), 0)


# ------------------------------------------------------------------------------------------ look-alikes


def _users(start: int, stop: int) -> sketches.Sketch:
    return sketches.from_users(f"u{i}" for i in range(start, stop))


def test_candidates_over_the_threshold_are_kept_and_their_union_sized() -> None:
    seed = _users(0, 100)
    candidates = {
        "golf": _users(0, 50),  # 100 % of its users are in the seed
        "tennis": _users(95, 195),  # 5 of 100: exactly the 5 % threshold
        "chess": _users(99, 199),  # 1 %
        "empty": sketches.empty(),
    }
    model = lookalike.build(seed, candidates)
    assert model.kept_trait_ids == ("golf", "tennis")
    assert not model.fallback
    assert model.estimate.population == 50 + 100
    scores = {c.trait_id: (c.population, c.overlap, c.affinity) for c in model.candidates}
    assert scores["chess"] == (100, 1, 0.01)
    assert scores["empty"] == (0, 0, 0.0)


def test_when_none_passes_the_top_three_overlapping_candidates_are_kept() -> None:
    seed = _users(0, 10)
    candidates = {f"t{i}": _users(9 - i, 9 - i + 1000) for i in range(5)}  # i+1 users of 1,000 in the seed
    candidates["far"] = _users(5000, 5100)
    model = lookalike.build(seed, candidates)
    assert model.fallback
    assert model.kept_trait_ids == ("t2", "t3", "t4")
    assert lookalike.build(seed, {"far": candidates["far"]}).kept == ()
