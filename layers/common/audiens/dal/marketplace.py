"""DynamoDB adapter for feeds, plans, access requests, discounts and subscriptions.

Every rule that two concurrent requests could break is a condition inside one transaction: a trait joins
a feed only if it has no feed yet; a subscription takes a lock per (buyer, feed, use case) and checks the
feed is still active (and its ``segments_and_overlap`` base subscription still running); a feed counts its
active subscriptions in the same transactions, so deleting it is a condition on that counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from audiens.dal.base import connection
from audiens.dal.idempotent import IdempotentTransactWrite, save_once, update_once, write_marker
from audiens.dal.marketplace_models import (
    AccessItem,
    DiscountChangeItem,
    DiscountItem,
    FeedItem,
    PlanItem,
    PriceChangeItem,
    SubscriptionItem,
    SubscriptionLockItem,
)
from audiens.dal.onboarding_models import TraitItem
from audiens.domain.marketplace import AccessRequest, Feed, Plan, Subscription
from audiens.domain.time import key_timestamp
from audiens.errors import ConflictError, NotFoundError

MARKET_FEEDS = "MARKET#FEEDS"
ALL_SUBS = "SUBS"


def _ts(value: datetime) -> str:
    return key_timestamp(value)


def _last_sk_before(prefix: str, end: datetime) -> str:
    """The greatest history sort key of a change effective strictly before ``end`` (timestamps are microseconds)."""
    return prefix + _ts(end - timedelta(microseconds=1))


def _reasons(error: TransactWriteError) -> list[str]:
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [r.code if r is not None else "None" for r in reasons]


def _conditional_failed(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


def _feed_pk(feed_id: str) -> str:
    return f"FEED#{feed_id}"


def _trait_key(trait_id: str) -> tuple[str, str]:
    return f"TRAIT#{trait_id}", "META"


def lock_key(buyer_id: str, feed_id: str, use_case: str) -> str:
    return f"SUBLOCK#{buyer_id}#{feed_id}#{use_case}"


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


def _to_access(item: AccessItem) -> AccessRequest:
    return AccessRequest(item.feed_id, item.buyer_id, item.status, item.requested_at, item.decided_at)


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


class DynamoMarketplaceRepository:
    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _connection(self) -> Connection:
        # One connection (one botocore client) per repository: creating a client costs more than a transaction.
        return connection(self._region)

    def _transaction(self, identity: str) -> TransactWrite:
        return IdempotentTransactWrite(identity, connection=self._connection)

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
            reasons = _reasons(error)
            offset = 1 + len(plans)
            for index, code in enumerate(reasons[offset:]):
                if code == "ConditionalCheckFailed":
                    return index
            raise
        return None

    def _feed_item(self, feed: Feed) -> FeedItem:
        item = FeedItem(
            _feed_pk(feed.feed_id),
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
            gsi1sk=f"{_ts(feed.created_at)}#{feed.feed_id}",
        )
        return item

    def get_feed(self, feed_id: str) -> Feed | None:
        try:
            item = FeedItem.get(_feed_pk(feed_id), "META", consistent_read=True)
        except FeedItem.DoesNotExist:
            return None
        return None if item.status == "deleted" else _to_feed(item)

    def get_feeds(self, feed_ids: Iterable[str]) -> dict[str, Feed]:
        keys = [(_feed_pk(f), "META") for f in dict.fromkeys(feed_ids)]
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
            FeedItem(_feed_pk(feed_id), "META"),
            [
                FeedItem.status.set("active"),
                FeedItem.activated_at.set(now),
                FeedItem.gsi2pk.set(MARKET_FEEDS),
                FeedItem.gsi2sk.set(f"{_ts(now)}#{feed_id}"),
            ],
            FeedItem.status == "inactive",
            lambda stored: stored.status == "active" and stored.gsi2sk == f"{_ts(now)}#{feed_id}",
        )

    def delete_feed(self, feed: Feed, now: datetime) -> bool:
        """Soft delete (invoices of past periods still name it) and release its traits; False if subscribed."""
        try:
            with self._transaction(f"feed-delete:{feed.feed_id}") as tx:
                tx.update(
                    FeedItem(_feed_pk(feed.feed_id), "META"),
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
            if "ConditionalCheckFailed" in _reasons(error):
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
                        f"PRICE#{_ts(now)}",
                        plan_id=plan.plan_id,
                        price=str(price),
                        effective_from=now,
                    )
                )
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in _reasons(error):
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
            PriceChangeItem.sk.between("PRICE#", _last_sk_before("PRICE#", end)),
            scan_index_forward=False,
            limit=1,
            consistent_read=True,
        ):
            return Decimal(change.price)
        return plan.original_price if plan.original_price is not None else plan.price

    # -------------------------------------------------------------------------------------------- access
    def request_access(self, request: AccessRequest) -> bool:
        """A new (or re-opened, after a denial) request; False if one is pending or approved."""
        item = AccessItem(
            _feed_pk(request.feed_id),
            f"ACCESS#{request.buyer_id}",
            feed_id=request.feed_id,
            buyer_id=request.buyer_id,
            status="pending",
            requested_at=request.requested_at,
            gsi1pk=f"ACCT#{request.buyer_id}#ACCESS",
            gsi1sk=request.feed_id,
            write_id=write_marker(),
        )
        return save_once(item, AccessItem.pk.does_not_exist() | (AccessItem.status == "denied"))

    def get_access(self, feed_id: str, buyer_id: str) -> AccessRequest | None:
        try:
            return _to_access(AccessItem.get(_feed_pk(feed_id), f"ACCESS#{buyer_id}", consistent_read=True))
        except AccessItem.DoesNotExist:
            return None

    def decide_access(self, feed_id: str, buyer_id: str, status: str, now: datetime) -> AccessRequest:
        try:
            item = AccessItem(_feed_pk(feed_id), f"ACCESS#{buyer_id}")
            item.update(
                actions=[AccessItem.status.set(status), AccessItem.decided_at.set(now)],
                condition=AccessItem.pk.exists(),
            )
        except UpdateError as error:
            if _conditional_failed(error):
                raise NotFoundError(f"No access request from buyer {buyer_id} for this feed.") from error
            raise
        return _to_access(item)

    def list_access(self, feed_id: str) -> list[AccessRequest]:
        return [_to_access(i) for i in AccessItem.query(_feed_pk(feed_id), AccessItem.sk.startswith("ACCESS#"))]

    def buyer_access(self, buyer_id: str) -> dict[str, AccessRequest]:
        return {i.feed_id: _to_access(i) for i in AccessItem.by_buyer.query(f"ACCT#{buyer_id}#ACCESS")}

    # ----------------------------------------------------------------------------------------- discounts
    def put_discount(self, feed_id: str, buyer_id: str, pct: Decimal, now: datetime) -> None:
        """The current discount and its history entry, in one transaction (the close reads the history)."""
        with self._transaction(f"discount:{feed_id}:{buyer_id}") as tx:
            tx.save(
                DiscountItem(
                    _feed_pk(feed_id),
                    f"DISC#{buyer_id}",
                    feed_id=feed_id,
                    buyer_id=buyer_id,
                    discount_pct=str(pct),
                    updated_at=now,
                    gsi1pk=f"ACCT#{buyer_id}#DISCOUNTS",
                    gsi1sk=feed_id,
                )
            )
            tx.save(
                DiscountChangeItem(
                    _feed_pk(feed_id),
                    f"DISCH#{buyer_id}#{_ts(now)}",
                    feed_id=feed_id,
                    buyer_id=buyer_id,
                    discount_pct=str(pct),
                    effective_from=now,
                )
            )

    def discount_before(self, feed_id: str, buyer_id: str, end: datetime) -> Decimal:
        """The buyer's discount on the feed in force at the last instant before ``end`` (0 if none was set then).

        One GetItem when the latest change came before ``end`` (the usual case at a close), one Query more
        otherwise. A discount stored before its history was kept counts from its ``updated_at``.
        """
        try:
            current = DiscountItem.get(_feed_pk(feed_id), f"DISC#{buyer_id}", consistent_read=True)
        except DiscountItem.DoesNotExist:
            return Decimal(0)
        if current.updated_at < end:
            return Decimal(current.discount_pct)
        prefix = f"DISCH#{buyer_id}#"
        for change in DiscountChangeItem.query(
            _feed_pk(feed_id),
            DiscountChangeItem.sk.between(prefix, _last_sk_before(prefix, end)),
            scan_index_forward=False,
            limit=1,
            consistent_read=True,
        ):
            return Decimal(change.discount_pct)
        return Decimal(0)

    def list_discounts(self, feed_id: str) -> dict[str, Decimal]:
        items = DiscountItem.query(_feed_pk(feed_id), DiscountItem.sk.startswith("DISC#"))
        return {i.buyer_id: Decimal(i.discount_pct) for i in items}

    def buyer_discounts(self, buyer_id: str) -> dict[str, Decimal]:
        return {i.feed_id: Decimal(i.discount_pct) for i in DiscountItem.by_buyer.query(f"ACCT#{buyer_id}#DISCOUNTS")}

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
                    FeedItem(_feed_pk(sub.feed_id), "META"),
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
                        _feed_pk(sub.feed_id),
                        f"ACCESS#{sub.buyer_id}",
                        condition=AccessItem.status == "approved",
                    )
        except TransactWriteError as error:
            reasons = _reasons(error)
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
                tx.update(FeedItem(_feed_pk(sub.feed_id), "META"), actions=[FeedItem.active_subs.add(-1)])
                for use_case in guard_use_cases:
                    tx.condition_check(
                        SubscriptionLockItem,
                        lock_key(sub.buyer_id, sub.feed_id, use_case),
                        "LOCK",
                        condition=SubscriptionLockItem.pk.does_not_exist(),
                    )
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in _reasons(error):
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


def _no_active_subs() -> Any:
    return FeedItem.active_subs.does_not_exist() | (FeedItem.active_subs <= 0)
