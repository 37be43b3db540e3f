"""Feeds and their plans: a trait joins one feed only, a feed is deleted only with no active subscription,
and a price change keeps its history (the price effective before a period's end is what it charges)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import TransactWriteError

from audiens.dal.base import cancellation_reasons
from audiens.dal.idempotent import update_once
from audiens.dal.marketplace.common import MarketplaceTables, feed_pk, last_sk_before
from audiens.dal.marketplace_models import FeedItem, PlanItem, PriceChangeItem
from audiens.dal.onboarding_models import TraitItem
from audiens.domain.marketplace import Feed, Plan
from audiens.domain.time import key_timestamp

MARKET_FEEDS = "MARKET#FEEDS"


def _trait_key(trait_id: str) -> tuple[str, str]:
    return f"TRAIT#{trait_id}", "META"


def _to_feed(item: FeedItem) -> Feed:
    return Feed(
        feed_id=item.feed_id,
        provider_id=item.provider_id,
        name=item.name,
        description=item.description or "",
        visibility=item.visibility,
        status=item.status,
        trait_ids=tuple(item.trait_ids or ()),
        plan_ids=tuple(item.plan_ids or ()),
        created_at=item.created_at,
        activated_at=item.activated_at,
        deleted_at=item.deleted_at,
    )


def _to_plan(item: PlanItem) -> Plan:
    return Plan(
        plan_id=item.plan_id,
        feed_id=item.feed_id,
        use_cases=tuple(item.use_cases or ()),
        unit=item.unit,
        price=Decimal(item.price),
        currency=item.currency,
        price_changed_at=item.price_changed_at,
        original_price=Decimal(item.original_price) if item.original_price is not None else None,
    )


def _no_active_subs() -> Any:
    return FeedItem.active_subs.does_not_exist() | (FeedItem.active_subs <= 0)


class FeedStore(MarketplaceTables):
    # --------------------------------------------------------------------------------------------- feeds
    def create_feed(self, feed: Feed, plans: list[Plan]) -> int | None:
        """Write the feed, its plans and each trait's ``feed_id`` at once.

        Returns ``None`` on success, or the index in ``feed.trait_ids`` of a trait whose condition failed
        (gone, another account's, or already in a feed): nothing is written then.
        """
        try:
            with self._transaction(f"feed-create:{feed.feed_id}") as tx:
                tx.save(self._feed_item(feed), condition=FeedItem.pk.does_not_exist())
                for plan in plans:
                    tx.save(
                        PlanItem(
                            f"PLAN#{plan.plan_id}",
                            "META",
                            plan_id=plan.plan_id,
                            feed_id=plan.feed_id,
                            use_cases=list(plan.use_cases),
                            unit=plan.unit,
                            price=str(plan.price),
                            currency=plan.currency,
                        ),
                        condition=PlanItem.pk.does_not_exist(),
                    )
                for trait_id in feed.trait_ids:
                    tx.update(
                        TraitItem(*_trait_key(trait_id)),
                        actions=[TraitItem.feed_id.set(feed.feed_id)],
                        condition=(
                            TraitItem.pk.exists()
                            & (TraitItem.account_id == feed.provider_id)
                            & TraitItem.feed_id.does_not_exist()
                        ),
                    )
        except TransactWriteError as error:
            reasons = cancellation_reasons(error)
            offset = 1 + len(plans)
            for index, code in enumerate(reasons[offset:]):
                if code == "ConditionalCheckFailed":
                    return index
            raise
        return None

    def _feed_item(self, feed: Feed) -> FeedItem:
        item = FeedItem(
            feed_pk(feed.feed_id),
            "META",
            feed_id=feed.feed_id,
            provider_id=feed.provider_id,
            name=feed.name,
            description=feed.description or None,
            visibility=feed.visibility,
            status=feed.status,
            trait_ids=list(feed.trait_ids),
            plan_ids=list(feed.plan_ids),
            created_at=feed.created_at,
            activated_at=feed.activated_at,
            gsi1pk=f"ACCT#{feed.provider_id}#FEEDS",
            gsi1sk=f"{key_timestamp(feed.created_at)}#{feed.feed_id}",
        )
        return item

    def get_feed(self, feed_id: str) -> Feed | None:
        try:
            item = FeedItem.get(feed_pk(feed_id), "META", consistent_read=True)
        except FeedItem.DoesNotExist:
            return None
        return None if item.status == "deleted" else _to_feed(item)

    def get_feeds(self, feed_ids: Iterable[str]) -> dict[str, Feed]:
        keys = [(feed_pk(f), "META") for f in dict.fromkeys(feed_ids)]
        if not keys:
            return {}
        return {i.feed_id: _to_feed(i) for i in FeedItem.batch_get(keys)}

    def list_feeds(self, provider_id: str) -> list[Feed]:
        items = FeedItem.by_owner.query(f"ACCT#{provider_id}#FEEDS")
        return [_to_feed(i) for i in items if isinstance(i, FeedItem) and i.status != "deleted"]

    def market_feeds(self) -> list[Feed]:
        return [_to_feed(i) for i in FeedItem.by_market.query(MARKET_FEEDS) if i.status == "active"]

    def activate_feed(self, feed_id: str, now: datetime) -> bool:
        """Inactive → active (listed); False if it was already active."""
        return update_once(
            FeedItem(feed_pk(feed_id), "META"),
            [
                FeedItem.status.set("active"),
                FeedItem.activated_at.set(now),
                FeedItem.gsi2pk.set(MARKET_FEEDS),
                FeedItem.gsi2sk.set(f"{key_timestamp(now)}#{feed_id}"),
            ],
            FeedItem.status == "inactive",
            lambda stored: stored.status == "active" and stored.gsi2sk == f"{key_timestamp(now)}#{feed_id}",
        )

    def delete_feed(self, feed: Feed, now: datetime) -> bool:
        """Soft delete (invoices of past periods still name it) and release its traits; False if subscribed."""
        try:
            with self._transaction(f"feed-delete:{feed.feed_id}") as tx:
                tx.update(
                    FeedItem(feed_pk(feed.feed_id), "META"),
                    actions=[
                        FeedItem.status.set("deleted"),
                        FeedItem.deleted_at.set(now),
                        FeedItem.gsi2pk.remove(),
                        FeedItem.gsi2sk.remove(),
                        FeedItem.gsi1pk.set(f"ACCT#{feed.provider_id}#FEEDS#DELETED"),
                    ],
                    condition=(FeedItem.status == feed.status) & _no_active_subs(),
                )
                for trait_id in feed.trait_ids:
                    tx.update(
                        TraitItem(*_trait_key(trait_id)),
                        actions=[TraitItem.feed_id.remove()],
                        condition=TraitItem.feed_id == feed.feed_id,
                    )
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in cancellation_reasons(error):
                return False
            raise
        return True

    # --------------------------------------------------------------------------------------------- plans
    def get_plan(self, plan_id: str) -> Plan | None:
        try:
            return _to_plan(PlanItem.get(f"PLAN#{plan_id}", "META"))
        except PlanItem.DoesNotExist:
            return None

    def get_plans(self, plan_ids: Iterable[str]) -> dict[str, Plan]:
        keys = [(f"PLAN#{p}", "META") for p in dict.fromkeys(plan_ids)]
        return {i.plan_id: _to_plan(i) for i in PlanItem.batch_get(keys)} if keys else {}

    def change_plan_price(self, plan: Plan, price: Decimal, now: datetime) -> bool:
        """Set a new price from ``now`` on, keeping the history; False if the plan changed meanwhile."""
        try:
            with self._transaction(f"plan-price:{plan.plan_id}") as tx:
                tx.update(
                    PlanItem(f"PLAN#{plan.plan_id}", "META"),
                    actions=[
                        PlanItem.price.set(str(price)),
                        PlanItem.price_changed_at.set(now),
                        PlanItem.original_price.set(PlanItem.original_price | str(plan.price)),
                    ],
                    condition=PlanItem.pk.exists() & (PlanItem.price == str(plan.price)),
                )
                tx.save(
                    PriceChangeItem(
                        f"PLAN#{plan.plan_id}",
                        f"PRICE#{key_timestamp(now)}",
                        plan_id=plan.plan_id,
                        price=str(price),
                        effective_from=now,
                    )
                )
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in cancellation_reasons(error):
                return False
            raise
        return True

    def plan_price_before(self, plan: Plan, end: datetime) -> Decimal:
        """The plan's list price in force at the last instant before ``end``.

        No I/O when the price never changed, or last changed before ``end``; one Query otherwise.
        """
        if plan.price_changed_at is None or plan.price_changed_at < end:
            return plan.price
        for change in PriceChangeItem.query(
            f"PLAN#{plan.plan_id}",
            PriceChangeItem.sk.between("PRICE#", last_sk_before("PRICE#", end)),
            scan_index_forward=False,
            limit=1,
            consistent_read=True,
        ):
            return Decimal(change.price)
        return plan.original_price if plan.original_price is not None else plan.price
