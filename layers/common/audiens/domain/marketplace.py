"""Data feeds, plans, access, discounts and subscriptions (DOMAIN.md §6): the rules that need no I/O.

Decisions where DOMAIN.md is silent (repeated in docs/marketplace.md):

* a plan's price is a decimal string parsed by :func:`audiens.domain.money.parse_price`; its currency
  defaults to USD and every plan of one feed uses the same currency (one invoice line never mixes two);
* a subscription starts on the request's UTC date and, once ended, its ``end_date`` is the UTC date of
  the ``DELETE``: that day is its last day (inclusive), so it counts as active at some moment of every
  period that overlaps ``[start_date, end_date]``; entitlement (using the feed's traits) stops at once;
* a buyer holds at most one active subscription per plan **and per (feed, use case)**, so one use case of
  one feed is never charged twice;
* plans other than ``segments_and_overlap`` ones need an active ``segments_and_overlap`` subscription to
  the same feed, and that subscription cannot be ended while the others are active (end them first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from audiens.domain.money import discounted_price, minor_units, parse_discount_pct, parse_price
from audiens.domain.periods import Period
from audiens.errors import ConflictError, NotFoundError, ValidationError

__all__ = [
    "BILLING_CYCLE",
    "DEFAULT_CURRENCY",
    "MAX_PLANS",
    "MAX_TRAITS_PER_FEED",
    "SEGMENTS_AND_OVERLAP",
    "UNITS",
    "USE_CASES",
    "AccessRequest",
    "Feed",
    "Plan",
    "PlanSpec",
    "Subscription",
    "check_can_end",
    "check_can_subscribe",
    "check_feed_deletable",
    "check_plans",
    "check_trait_ids",
    "content_optimization_cpm_message",
    "feed_name",
    "format_discount",
    "is_unbillable_plan",
    "parse_discount",
    "parse_plan_price",
    "price_for",
]

SEGMENTS_AND_OVERLAP: Final = "segments_and_overlap"
MODELING: Final = "modeling"
ACTIVATION: Final = "activation"
CONTENT_OPTIMIZATION: Final = "content_optimization"
USE_CASES: Final = (SEGMENTS_AND_OVERLAP, MODELING, ACTIVATION, CONTENT_OPTIMIZATION)
UNITS: Final = ("cpm", "flat_fee")
DEFAULT_CURRENCY: Final = "USD"
BILLING_CYCLE: Final = "monthly_in_arrears"
"""A plan's billing cycle, the only one (DOMAIN.md §6): each calendar month is billed after it ends."""

MAX_PLANS: Final = 10
MAX_TRAITS_PER_FEED: Final = 80
"""A feed and its plans are written in one DynamoDB transaction (at most 100 items), traits included."""

MAX_NAME_LENGTH: Final = 200
MAX_DESCRIPTION_LENGTH: Final = 2_000

Visibility = Literal["public", "private"]

_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class PlanSpec:
    """A plan as the provider asked for it, validated."""

    use_cases: tuple[str, ...]
    unit: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class Plan:
    plan_id: str
    feed_id: str
    use_cases: tuple[str, ...]
    unit: str
    price: Decimal
    currency: str
    price_changed_at: datetime | None = None
    """When the current price took effect, if it was changed after the plan was created."""
    original_price: Decimal | None = None

    @property
    def billing_cycle(self) -> str:
        return BILLING_CYCLE


@dataclass(frozen=True)
class Feed:
    feed_id: str
    provider_id: str
    name: str
    description: str
    visibility: str
    status: str
    trait_ids: tuple[str, ...]
    plan_ids: tuple[str, ...]
    created_at: datetime
    activated_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class AccessRequest:
    feed_id: str
    buyer_id: str
    status: str
    requested_at: datetime
    decided_at: datetime | None = None


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    buyer_id: str
    plan_id: str
    feed_id: str
    provider_id: str
    use_cases: tuple[str, ...]
    unit: str
    start_date: date
    created_at: datetime
    end_date: date | None = None
    ended_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.end_date is None

    def active_during(self, period: Period) -> bool:
        """Active at any moment of the period (the end date is the subscription's last day)."""
        return self.start_date <= period.last_day and (self.end_date is None or self.end_date >= period.first_day)

    @property
    def status(self) -> Literal["active", "ended"]:
        return "active" if self.is_active else "ended"


@dataclass
class _Problems:
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, field_name: str, code: str, message: str) -> None:
        self.items.append({"field": field_name, "code": code, "message": message})


def feed_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"A feed name is 1 to {MAX_NAME_LENGTH} characters.", code="invalid_feed", details=[{"field": "name"}]
        )
    return name


def _plan_currency(raw: Mapping[str, Any], where: str, problems: _Problems) -> Any:
    """The plan's currency (the default when absent); an unsupported one is listed with the other problems."""
    currency = raw.get("currency") or DEFAULT_CURRENCY
    try:
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise ValidationError(f"Currency {currency!r} is not supported.", code="unsupported_currency")
        minor_units(currency)
    except ValidationError as error:
        problems.add(f"{where}.currency", error.code, error.message)
    return currency


def check_plans(raw_plans: Sequence[Mapping[str, Any]]) -> list[PlanSpec]:
    """Validate every plan, listing every problem; the feed must offer a ``segments_and_overlap`` plan."""
    if not raw_plans:
        raise ValidationError(
            "A feed needs at least one plan, and one of them must include the segments_and_overlap use case.",
            code="segments_and_overlap_plan_required",
            details=[{"field": "plans"}],
        )
    if len(raw_plans) > MAX_PLANS:
        raise ValidationError(
            f"A feed has at most {MAX_PLANS} plans.", code="too_many_plans", details=[{"field": "plans"}]
        )
    problems = _Problems()
    specs: list[PlanSpec] = []
    for index, raw in enumerate(raw_plans):
        where = f"plans.{index}"
        use_cases = tuple(raw.get("use_cases") or ())
        if not use_cases:
            problems.add(f"{where}.use_cases", "invalid_plan", "A plan lists at least one use case.")
        unknown = [u for u in use_cases if u not in USE_CASES]
        if unknown:
            problems.add(
                f"{where}.use_cases",
                "invalid_plan",
                f"Unknown use case(s) {', '.join(map(str, unknown))}; use {', '.join(USE_CASES)}.",
            )
        if len(set(use_cases)) != len(use_cases):
            problems.add(f"{where}.use_cases", "invalid_plan", "A use case is listed twice in the same plan.")
        unit = raw.get("unit")
        if unit not in UNITS:
            problems.add(f"{where}.unit", "invalid_plan", f"unit must be one of {', '.join(UNITS)}, got {unit!r}.")
        elif unit == "cpm" and CONTENT_OPTIMIZATION in use_cases:
            problems.add(f"{where}.unit", "cpm_content_optimization", content_optimization_cpm_message(index))
        price: Decimal | None = None
        try:
            price = parse_price(raw.get("price"))
        except ValidationError as error:
            problems.add(f"{where}.price", error.code, error.message)
        currency = _plan_currency(raw, where, problems)
        if price is not None and isinstance(unit, str) and unit in UNITS and not unknown and use_cases:
            specs.append(PlanSpec(tuple(use_cases), unit, price, str(currency)))
    if problems.items:
        first = problems.items[0]
        raise ValidationError(
            f"Invalid plan: {first['field']}: {first['message']}"
            + (f" ({len(problems.items) - 1} more problem(s) in details)" if len(problems.items) > 1 else ""),
            code="invalid_plan",
            details=problems.items,
        )
    if not any(SEGMENTS_AND_OVERLAP in spec.use_cases for spec in specs):
        raise ValidationError(
            "Every feed must offer a plan with the segments_and_overlap use case: without it buyers cannot "
            "subscribe to its other plans.",
            code="segments_and_overlap_plan_required",
            details=[{"field": "plans"}],
        )
    currencies = {spec.currency for spec in specs}
    if len(currencies) > 1:
        raise ValidationError(
            f"All plans of a feed use the same currency; got {', '.join(sorted(currencies))}.",
            code="mixed_currencies",
            details=[{"field": "plans"}],
        )
    return specs


def parse_plan_price(raw: object) -> Decimal:
    """A plan's new list price: the same rules as at creation (a plain decimal string, never a float)."""
    try:
        return parse_price(raw)
    except ValidationError as error:
        raise ValidationError(error.message, code=error.code, details=[{"field": "price"}]) from error


def content_optimization_cpm_message(index: int | None = None) -> str:
    which = f"Plan {index + 1} (plans.{index})" if index is not None else "This plan"
    return (
        f"{which} is a cpm plan for content_optimization: content optimization is offered as a flat fee only, "
        "because its usage never counts toward CPM totals (a cpm plan for it could never be billed)."
    )


def is_unbillable_plan(unit: str, use_cases: Iterable[str]) -> bool:
    """A ``cpm`` plan naming ``content_optimization``: refused at creation, never subscribable (DOMAIN.md §6)."""
    return unit == "cpm" and CONTENT_OPTIMIZATION in use_cases


def check_trait_ids(trait_ids: Iterable[str]) -> tuple[str, ...]:
    unique = tuple(dict.fromkeys(trait_ids))
    if not unique:
        raise ValidationError(
            "A feed bundles at least one trait.", code="invalid_feed", details=[{"field": "trait_ids"}]
        )
    if len(unique) > MAX_TRAITS_PER_FEED:
        raise ValidationError(
            f"A feed bundles at most {MAX_TRAITS_PER_FEED} traits.",
            code="invalid_feed",
            details=[{"field": "trait_ids"}],
        )
    return unique


def parse_discount(text: object) -> Decimal:
    """A discount in percent, 0 to 100, as a decimal string; kept as given (``"12.5"``), never a float."""
    return parse_discount_pct(text)


def format_discount(pct: Decimal) -> str:
    return f"{pct.normalize():f}" if pct != pct.to_integral_value() else str(int(pct))


def price_for(plan: Plan, discount_pct: Decimal) -> Decimal:
    """The plan's unit price for a buyer with this discount, exact (rounding happens once, on the line)."""
    return discounted_price(plan.price, discount_pct)


def check_can_subscribe(
    *,
    plan: Plan,
    feed: Feed,
    buyer_id: str,
    may_see: bool,
    active: Sequence[Subscription],
) -> Subscription | None:
    """Whether ``buyer_id`` may subscribe to ``plan`` now, given its active subscriptions to the same feed.

    Returns the active ``segments_and_overlap`` subscription the new one depends on (``None`` when the
    plan itself includes that use case), so the write can check it is still active in the same transaction.
    """
    if feed.provider_id == buyer_id:
        raise ValidationError("A provider cannot subscribe to its own feed.", code="own_feed")
    if is_unbillable_plan(plan.unit, plan.use_cases) and feed.is_active and may_see:
        # Only plans stored before the rule existed can be like this; a subscription to one could never be billed.
        raise ValidationError(
            content_optimization_cpm_message(), code="cpm_content_optimization", details=[{"field": "plan_id"}]
        )
    if not feed.is_active or not may_see:
        # A buyer who may not see the feed learns nothing about it (API.md: never reveal it exists).
        raise NotFoundError(f"Plan {plan.plan_id} not found.")
    mine = [s for s in active if s.feed_id == feed.feed_id and s.is_active]
    same = next((s for s in mine if s.plan_id == plan.plan_id), None)
    if same is not None:
        raise ConflictError(
            f"You already have an active subscription to this plan ({same.subscription_id}).",
            code="already_subscribed",
            details=[{"subscription_id": same.subscription_id}],
        )
    overlap = sorted({u for s in mine for u in s.use_cases} & set(plan.use_cases))
    if overlap:
        raise ConflictError(
            f"You already subscribe to the use case(s) {', '.join(overlap)} of this feed through another plan; "
            "end that subscription first.",
            code="use_case_already_subscribed",
            details=[{"use_case": u} for u in overlap],
        )
    if SEGMENTS_AND_OVERLAP in plan.use_cases:
        return None
    base = next((s for s in mine if SEGMENTS_AND_OVERLAP in s.use_cases), None)
    if base is None:
        raise ValidationError(
            f"To subscribe to a {'/'.join(plan.use_cases)} plan of the feed {feed.name!r}, first subscribe to one of "
            "its segments_and_overlap plans.",
            code="segments_and_overlap_subscription_required",
            details=[{"field": "plan_id", "feed_id": feed.feed_id}],
        )
    return base


def check_can_end(subscription: Subscription, active: Sequence[Subscription]) -> None:
    """A ``segments_and_overlap`` subscription cannot end while other plans of the feed depend on it."""
    if not subscription.is_active:
        raise ConflictError("This subscription has already ended.", code="subscription_ended")
    if SEGMENTS_AND_OVERLAP not in subscription.use_cases:
        return
    others = [
        s
        for s in active
        if s.feed_id == subscription.feed_id and s.is_active and s.subscription_id != subscription.subscription_id
    ]
    if any(SEGMENTS_AND_OVERLAP in s.use_cases for s in others):
        return
    dependents = [s for s in others if SEGMENTS_AND_OVERLAP not in s.use_cases]
    if dependents:
        raise ConflictError(
            "Other subscriptions to this feed depend on its segments_and_overlap subscription; end them first: "
            + ", ".join(s.subscription_id for s in dependents)
            + ".",
            code="dependent_subscriptions",
            details=[{"subscription_id": s.subscription_id} for s in dependents],
        )


def check_feed_deletable(feed: Feed, active_subscriptions: int) -> None:
    if feed.is_active and active_subscriptions > 0:
        raise ConflictError(
            f"This feed is active and has {active_subscriptions} active subscription(s); it cannot be deleted "
            "until they end.",
            code="feed_has_subscribers",
            details=[{"active_subscriptions": active_subscriptions}],
        )
