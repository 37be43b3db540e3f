"""Subscriptions: one lock per (buyer, feed, use case), the feed still active (and the base
``segments_and_overlap`` subscription still running), and the feed's active-subscription counter, all in
the transaction that starts or ends one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from pynamodb.exceptions import TransactWriteError

from audiens.dal.base import cancellation_reasons
from audiens.dal.marketplace.common import MarketplaceTables, feed_pk
from audiens.dal.marketplace_models import AccessItem, FeedItem, SubscriptionItem, SubscriptionLockItem
from audiens.domain.marketplace import Subscription
from audiens.errors import ConflictError, NotFoundError

ALL_SUBS = "SUBS"


def lock_key(buyer_id: str, feed_id: str, use_case: str) -> str:
    return f"SUBLOCK#{buyer_id}#{feed_id}#{use_case}"


def _to_sub(item: SubscriptionItem) -> Subscription:
    return Subscription(
        subscription_id=item.subscription_id,
        buyer_id=item.buyer_id,
        plan_id=item.plan_id,
        feed_id=item.feed_id,
        provider_id=item.provider_id,
        use_cases=tuple(item.use_cases or ()),
        unit=item.unit,
        start_date=date.fromisoformat(item.start_date),
        created_at=item.created_at,
        end_date=date.fromisoformat(item.end_date) if item.end_date else None,
        ended_at=item.ended_at,
    )


class SubscriptionStore(MarketplaceTables):
    # ------------------------------------------------------------------------------------- subscriptions
    def subscribe(
        self,
        sub: Subscription,
        *,
        base_subscription_id: str | None,
        private_feed: bool,
    ) -> None:
        """Write the subscription, its locks and the feed's counter, or nothing (409 / 404 / 422)."""
        try:
            with self._transaction(f"subscribe:{sub.subscription_id}") as tx:
                tx.save(self._sub_item(sub), condition=SubscriptionItem.pk.does_not_exist())
                for use_case in sub.use_cases:
                    tx.save(
                        SubscriptionLockItem(
                            lock_key(sub.buyer_id, sub.feed_id, use_case), "LOCK", subscription_id=sub.subscription_id
                        ),
                        condition=SubscriptionLockItem.pk.does_not_exist(),
                    )
                tx.update(
                    FeedItem(feed_pk(sub.feed_id), "META"),
                    actions=[FeedItem.active_subs.add(1)],
                    condition=FeedItem.status == "active",
                )
                if base_subscription_id is not None:
                    tx.condition_check(
                        SubscriptionItem,
                        f"SUB#{base_subscription_id}",
                        "META",
                        condition=SubscriptionItem.pk.exists() & SubscriptionItem.end_date.does_not_exist(),
                    )
                if private_feed:
                    tx.condition_check(
                        AccessItem,
                        feed_pk(sub.feed_id),
                        f"ACCESS#{sub.buyer_id}",
                        condition=AccessItem.status == "approved",
                    )
        except TransactWriteError as error:
            reasons = cancellation_reasons(error)
            if "ConditionalCheckFailed" not in reasons:
                raise
            locks = reasons[1 : 1 + len(sub.use_cases)]
            if "ConditionalCheckFailed" in locks:
                raise ConflictError(
                    "You already have an active subscription covering this plan's use case(s) on this feed.",
                    code="use_case_already_subscribed",
                ) from error
            feed_check = reasons[1 + len(sub.use_cases)]
            if feed_check == "ConditionalCheckFailed":
                raise NotFoundError(f"Plan {sub.plan_id} not found.") from error
            raise ConflictError(
                "The subscription this one depends on (segments_and_overlap), or your access to this private feed, "
                "changed meanwhile; retry.",
                code="subscription_conflict",
            ) from error

    def _sub_item(self, sub: Subscription) -> SubscriptionItem:
        start = sub.start_date.isoformat()
        return SubscriptionItem(
            f"SUB#{sub.subscription_id}",
            "META",
            subscription_id=sub.subscription_id,
            buyer_id=sub.buyer_id,
            plan_id=sub.plan_id,
            feed_id=sub.feed_id,
            provider_id=sub.provider_id,
            use_cases=list(sub.use_cases),
            unit=sub.unit,
            start_date=start,
            end_date=sub.end_date.isoformat() if sub.end_date else None,
            created_at=sub.created_at,
            ended_at=sub.ended_at,
            gsi1pk=f"ACCT#{sub.buyer_id}#SUBS",
            gsi1sk=f"{start}#{sub.subscription_id}",
            gsi2pk=f"FEED#{sub.feed_id}#SUBS",
            gsi2sk=f"{start}#{sub.subscription_id}",
            gsi3pk=ALL_SUBS,
            gsi3sk=f"{start}#{sub.subscription_id}",
        )

    def get_subscription(self, subscription_id: str) -> Subscription | None:
        try:
            return _to_sub(SubscriptionItem.get(f"SUB#{subscription_id}", "META", consistent_read=True))
        except SubscriptionItem.DoesNotExist:
            return None

    def end_subscription(self, sub: Subscription, *, end_date: date, now: datetime, guard_use_cases: list[str]) -> bool:
        """End it, free its locks and the feed's counter; ``guard_use_cases`` must have no active lock.

        False if it had already ended, or a dependent subscription appeared meanwhile.
        """
        try:
            with self._transaction(f"subscription-end:{sub.subscription_id}") as tx:
                tx.update(
                    SubscriptionItem(f"SUB#{sub.subscription_id}", "META"),
                    actions=[
                        SubscriptionItem.end_date.set(end_date.isoformat()),
                        SubscriptionItem.ended_at.set(now),
                    ],
                    condition=SubscriptionItem.end_date.does_not_exist(),
                )
                for use_case in sub.use_cases:
                    tx.delete(
                        SubscriptionLockItem(lock_key(sub.buyer_id, sub.feed_id, use_case), "LOCK"),
                        condition=SubscriptionLockItem.subscription_id == sub.subscription_id,
                    )
                tx.update(FeedItem(feed_pk(sub.feed_id), "META"), actions=[FeedItem.active_subs.add(-1)])
                for use_case in guard_use_cases:
                    tx.condition_check(
                        SubscriptionLockItem,
                        lock_key(sub.buyer_id, sub.feed_id, use_case),
                        "LOCK",
                        condition=SubscriptionLockItem.pk.does_not_exist(),
                    )
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in cancellation_reasons(error):
                return False
            raise
        return True

    def buyer_subscriptions(self, buyer_id: str) -> list[Subscription]:
        return [_to_sub(i) for i in SubscriptionItem.by_buyer.query(f"ACCT#{buyer_id}#SUBS")]

    def feed_subscriptions(self, feed_id: str) -> list[Subscription]:
        return [_to_sub(i) for i in SubscriptionItem.by_feed.query(f"FEED#{feed_id}#SUBS")]

    def subscriptions_started_by(self, last_day: date) -> Iterator[Subscription]:
        """Every subscription that started on or before ``last_day`` (the billing run filters the ended ones)."""
        bound = f"{last_day.isoformat()}#~"
        for item in SubscriptionItem.by_all.query(ALL_SUBS, SubscriptionItem.gsi3sk <= bound):
            yield _to_sub(item)
