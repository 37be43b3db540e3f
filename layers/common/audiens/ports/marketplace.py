"""Ports of the marketplace: feeds, plans, subscriptions and access requests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from audiens.domain.marketplace import AccessRequest, Feed, Plan, Subscription


class MarketplaceRepository(Protocol):
    def create_feed(self, feed: Feed, plans: list[Plan]) -> int | None: ...

    def get_feed(self, feed_id: str) -> Feed | None: ...

    def get_feeds(self, feed_ids: Iterable[str]) -> dict[str, Feed]: ...

    def list_feeds(self, provider_id: str) -> list[Feed]: ...

    def market_feeds(self) -> list[Feed]: ...

    def activate_feed(self, feed_id: str, now: datetime) -> bool: ...

    def delete_feed(self, feed: Feed, now: datetime) -> bool: ...

    def get_plan(self, plan_id: str) -> Plan | None: ...

    def get_plans(self, plan_ids: Iterable[str]) -> dict[str, Plan]: ...

    def request_access(self, request: AccessRequest) -> bool: ...

    def get_access(self, feed_id: str, buyer_id: str) -> AccessRequest | None: ...

    def decide_access(self, feed_id: str, buyer_id: str, status: str, now: datetime) -> AccessRequest: ...

    def list_access(self, feed_id: str) -> list[AccessRequest]: ...

    def buyer_access(self, buyer_id: str) -> dict[str, AccessRequest]: ...

    def put_discount(self, feed_id: str, buyer_id: str, pct: Decimal, now: datetime) -> None: ...

    def discount_before(self, feed_id: str, buyer_id: str, end: datetime) -> Decimal: ...

    def change_plan_price(self, plan: Plan, price: Decimal, now: datetime) -> bool: ...

    def plan_price_before(self, plan: Plan, end: datetime) -> Decimal: ...

    def list_discounts(self, feed_id: str) -> dict[str, Decimal]: ...

    def buyer_discounts(self, buyer_id: str) -> dict[str, Decimal]: ...

    def subscribe(self, sub: Subscription, *, base_subscription_id: str | None, private_feed: bool) -> None: ...

    def get_subscription(self, subscription_id: str) -> Subscription | None: ...

    def end_subscription(
        self, sub: Subscription, *, end_date: date, now: datetime, guard_use_cases: list[str]
    ) -> bool: ...

    def buyer_subscriptions(self, buyer_id: str) -> list[Subscription]: ...

    def feed_subscriptions(self, feed_id: str) -> list[Subscription]: ...

    def subscriptions_started_by(self, last_day: date) -> Iterator[Subscription]: ...


@dataclass(frozen=True)
class BillableSubscription:
    """A subscription as billing reads it (the read model the marketplace gives the close)."""

    subscription_id: str
    buyer_id: str
    plan_id: str
    feed_id: str
    feed_name: str
    provider_id: str
    provider_name: str
    use_cases: tuple[str, ...]
    unit: str  # cpm | flat_fee
    list_price: Decimal
    currency: str
    discount_pct: Decimal
    start_date: date
    end_date: date | None  # last day (inclusive); None while active
