"""The marketplace use cases: feeds, plans, access requests, discounts, subscriptions, listings (DOMAIN.md §6).

Also the **read API for usage reporting and billing** (documented in docs/marketplace.md):

* :meth:`MarketplaceService.billable_subscriptions` ``(buyer_id, period) -> list[BillableSubscription]`` -
  every subscription of the buyer active at any moment of the period, with plan unit, list price,
  currency, use cases, the buyer's discount on the feed, feed id/name and provider id/name;
* :meth:`MarketplaceService.buyers_with_subscriptions` ``(period) -> list[str]`` - buyers holding a
  subscription active at some moment of the period;
* :meth:`MarketplaceService.feed_usage_keys` ``(buyer_id, period) -> list[FeedUsageKey]`` - the
  (provider, feed, use case) a buyer may report feed-level usage for: its ``cpm`` subscriptions;
* :meth:`MarketplaceService.entitled_feed_ids` ``(account_id) -> set[str]`` - feeds whose traits the
  account may use in its segments, estimates and look-alikes right now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from audiens.domain import marketplace as rules
from audiens.domain.accounts import Principal
from audiens.domain.marketplace import AccessRequest, Feed, Plan, Subscription
from audiens.domain.periods import Period
from audiens.domain.quotas import check_quota
from audiens.domain.segments import Segment, TraitDef
from audiens.errors import ConflictError, NotFoundError, ValidationError
from audiens.ports.accounts import AccountRepository
from audiens.ports.marketplace import BillableSubscription, MarketplaceRepository
from audiens.ports.onboarding import OnboardingRepository
from audiens.services.ingest import new_id


@dataclass(frozen=True)
class FeedUsageKey:
    provider_id: str
    provider_name: str
    feed_id: str
    feed_name: str
    use_case: str
    unit: str
    subscription_id: str


@dataclass(frozen=True)
class FeedListing:
    """A feed as a buyer sees it in the marketplace."""

    feed: Feed
    provider_name: str
    plans: list[Plan]
    traits: list[TraitDef]
    discount_pct: Decimal
    access: str  # public | approved
    subscriptions: list[Subscription]


@dataclass(frozen=True)
class FeedDetail:
    """A feed as its provider sees it."""

    feed: Feed
    plans: list[Plan]
    active_subscriptions: int


class MarketplaceService:
    def __init__(
        self,
        repo: MarketplaceRepository,
        *,
        onboarding: OnboardingRepository,
        accounts: AccountRepository,
    ) -> None:
        self._repo = repo
        self._onboarding = onboarding
        self._accounts = accounts

    # --------------------------------------------------------------------------------------------- feeds
    def create_feed(
        self,
        principal: Principal,
        *,
        name: str,
        description: str,
        trait_ids: Sequence[str],
        visibility: str,
        plans: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> FeedDetail:
        feed_name = rules.feed_name(name)
        specs = rules.check_plans(plans)
        wanted = rules.check_trait_ids(trait_ids)
        found = self._onboarding.get_traits(wanted)
        self._check_feed_traits(principal.account_id, wanted, found)
        check_quota("feeds", len(self._repo.list_feeds(principal.account_id)))
        feed_id = new_id("feed")
        plan_objs = [
            Plan(new_id("pln"), feed_id, spec.use_cases, spec.unit, spec.price, spec.currency) for spec in specs
        ]
        feed = Feed(
            feed_id=feed_id,
            provider_id=principal.account_id,
            name=feed_name,
            description=description.strip(),
            visibility=visibility,
            status="inactive",
            trait_ids=wanted,
            plan_ids=tuple(p.plan_id for p in plan_objs),
            created_at=now,
        )
        failed = self._repo.create_feed(feed, plan_objs)
        if failed is not None:
            # A trait changed between the check and the write (joined another feed meanwhile): say which.
            trait_id = wanted[failed]
            self._check_feed_traits(principal.account_id, [trait_id], self._onboarding.get_traits([trait_id]))
            raise ConflictError(
                f"Trait {trait_id} was changed by another request; retry.", code="trait_in_another_feed"
            )
        return FeedDetail(feed, plan_objs, 0)

    @staticmethod
    def _check_feed_traits(provider_id: str, wanted: Sequence[str], found: Mapping[str, TraitDef]) -> None:
        unknown = [t for t in wanted if t not in found or found[t].account_id != provider_id]
        if unknown:
            raise ValidationError(
                f"A feed bundles the provider's own traits; unknown trait(s): {', '.join(unknown)}.",
                code="unknown_trait",
                details=[{"field": "trait_ids", "trait_id": t} for t in unknown],
            )
        not_rule = [t for t in wanted if found[t].kind != "rule"]
        if not_rule:
            raise ValidationError(
                f"Only first-party (rule) traits can be offered in a feed: {', '.join(not_rule)}.",
                code="invalid_feed_trait",
                details=[{"field": "trait_ids", "trait_id": t} for t in not_rule],
            )
        taken = [t for t in wanted if found[t].feed_id]
        if taken:
            raise ConflictError(
                "A trait belongs to at most one feed; already in a feed: "
                + ", ".join(f"{t} (feed {found[t].feed_id})" for t in taken)
                + ".",
                code="trait_in_another_feed",
                details=[{"trait_id": t, "feed_id": found[t].feed_id} for t in taken],
            )

    def _own_feed(self, principal: Principal, feed_id: str) -> Feed:
        feed = self._repo.get_feed(feed_id)
        if feed is None or feed.provider_id != principal.account_id:
            raise NotFoundError(f"Feed {feed_id} not found.")
        return feed

    def _plans(self, feed: Feed) -> list[Plan]:
        found = self._repo.get_plans(feed.plan_ids)
        return [found[p] for p in feed.plan_ids if p in found]

    def list_feeds(self, principal: Principal) -> list[FeedDetail]:
        feeds = sorted(self._repo.list_feeds(principal.account_id), key=lambda f: (f.created_at, f.feed_id))
        plans = self._repo.get_plans(p for f in feeds for p in f.plan_ids)
        return [
            FeedDetail(f, [plans[p] for p in f.plan_ids if p in plans], self._active_count(f.feed_id)) for f in feeds
        ]

    def _active_count(self, feed_id: str) -> int:
        return sum(1 for s in self._repo.feed_subscriptions(feed_id) if s.is_active)

    def get_feed(self, principal: Principal, feed_id: str) -> FeedDetail | FeedListing:
        """The provider's view of its own feed, or the marketplace view for a buyer allowed to see it."""
        feed = self._repo.get_feed(feed_id)
        if feed is not None and feed.provider_id == principal.account_id:
            return FeedDetail(feed, self._plans(feed), self._active_count(feed_id))
        listings = self._listings(principal.account_id, [feed] if feed is not None else [])
        if not listings:
            raise NotFoundError(f"Feed {feed_id} not found.")
        return listings[0]

    def activate_feed(self, principal: Principal, feed_id: str, now: datetime) -> Feed:
        feed = self._own_feed(principal, feed_id)
        if feed.status == "active":
            return feed
        self._repo.activate_feed(feed_id, now)
        activated = self._repo.get_feed(feed_id)
        assert activated is not None
        return activated

    def delete_feed(self, principal: Principal, feed_id: str, now: datetime) -> None:
        feed = self._own_feed(principal, feed_id)
        rules.check_feed_deletable(feed, self._active_count(feed_id))
        if not self._repo.delete_feed(feed, now):
            rules.check_feed_deletable(feed, max(1, self._active_count(feed_id)))
            raise ConflictError("The feed changed meanwhile; read it again and retry.", code="conflict")

    # ---------------------------------------------------------------------------------------- marketplace
    def _may_see(self, buyer_id: str, feed: Feed, access: Mapping[str, AccessRequest]) -> str | None:
        """How the buyer may see this feed (``public``/``approved``), or None."""
        if not feed.is_active or feed.provider_id == buyer_id:
            return None
        if feed.visibility == "public":
            return "public"
        request = access.get(feed.feed_id)
        return "approved" if request is not None and request.status == "approved" else None

    def _listings(self, buyer_id: str, feeds: Sequence[Feed]) -> list[FeedListing]:
        access = self._repo.buyer_access(buyer_id) if any(f.visibility == "private" for f in feeds) else {}
        visible = [(f, how) for f in feeds if (how := self._may_see(buyer_id, f, access))]
        if not visible:
            return []
        plans = self._repo.get_plans(p for f, _ in visible for p in f.plan_ids)
        traits = self._onboarding.get_traits(t for f, _ in visible for t in f.trait_ids)
        discounts = self._repo.buyer_discounts(buyer_id)
        subs = [s for s in self._repo.buyer_subscriptions(buyer_id) if s.is_active]
        names = self._provider_names({f.provider_id for f, _ in visible})
        return [
            FeedListing(
                feed=f,
                provider_name=names.get(f.provider_id, ""),
                plans=[plans[p] for p in f.plan_ids if p in plans],
                traits=[traits[t] for t in f.trait_ids if t in traits and traits[t].feed_id == f.feed_id],
                discount_pct=discounts.get(f.feed_id, Decimal(0)),
                access=how,
                subscriptions=[s for s in subs if s.feed_id == f.feed_id],
            )
            for f, how in sorted(visible, key=lambda pair: (pair[0].name.lower(), pair[0].feed_id))
        ]

    def market_feeds(self, principal: Principal) -> list[FeedListing]:
        return self._listings(principal.account_id, self._repo.market_feeds())

    def market_segments(self, principal: Principal) -> list[tuple[Segment, str]]:
        """Public, active segments of other accounts (providers) with their CPM and the provider's name.

        A scan of every segment id through the onboarding table's segment index: fine for a catalog
        of thousands; a dedicated sparse index is the next step if it grows (docs/marketplace.md).
        """
        found: list[Segment] = []
        for segment_id in self._onboarding.all_segment_ids():
            segment = self._onboarding.get_segment(segment_id)
            if (
                segment is not None
                and segment.visibility == "public"
                and segment.status == "active"
                and segment.account_id != principal.account_id
            ):
                found.append(segment)
        names = self._provider_names({s.account_id for s in found})
        found.sort(key=lambda s: (s.category.lower(), s.name.lower(), s.segment_id))
        return [(s, names.get(s.account_id, "")) for s in found]

    def _provider_names(self, provider_ids: set[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for provider_id in sorted(provider_ids):
            account = self._accounts.get(provider_id)
            if account is not None:
                out[provider_id] = account.company_name
        return out

    # -------------------------------------------------------------------------------------------- access
    def request_access(self, principal: Principal, feed_id: str, now: datetime) -> AccessRequest:
        feed = self._repo.get_feed(feed_id)
        if feed is None or not feed.is_active or feed.provider_id == principal.account_id:
            raise NotFoundError(f"Feed {feed_id} not found.")
        if feed.visibility == "public":
            raise ValidationError(
                "This feed is public: no access request is needed, subscribe to one of its plans.",
                code="feed_is_public",
            )
        request = AccessRequest(feed_id, principal.account_id, "pending", now)
        if not self._repo.request_access(request):
            existing = self._repo.get_access(feed_id, principal.account_id)
            state = existing.status if existing else "pending"
            raise ConflictError(
                f"You already have a {state} access request for this feed.",
                code="access_already_requested",
                details=[{"status": state}],
            )
        return request

    def decide_access(
        self, principal: Principal, feed_id: str, buyer_id: str, *, approve: bool, now: datetime
    ) -> AccessRequest:
        self._own_feed(principal, feed_id)
        if self._repo.get_access(feed_id, buyer_id) is None:
            raise NotFoundError(f"No access request from buyer {buyer_id} for this feed.")
        return self._repo.decide_access(feed_id, buyer_id, "approved" if approve else "denied", now)

    def list_access(self, principal: Principal, feed_id: str) -> list[AccessRequest]:
        self._own_feed(principal, feed_id)
        return sorted(self._repo.list_access(feed_id), key=lambda r: (r.requested_at, r.buyer_id))

    # ----------------------------------------------------------------------------------------- discounts
    def put_discount(self, principal: Principal, feed_id: str, buyer_id: str, pct: object, now: datetime) -> Decimal:
        self._own_feed(principal, feed_id)
        discount = rules.parse_discount(pct)
        buyer = self._accounts.get(buyer_id)
        if buyer is None or buyer.status != "active" or "buyer" not in buyer.roles or buyer_id == principal.account_id:
            raise NotFoundError(f"Buyer {buyer_id} not found.")
        self._repo.put_discount(feed_id, buyer_id, discount, now)
        return discount

    # ---------------------------------------------------------------------------------------------- plans
    def change_plan_price(self, principal: Principal, feed_id: str, plan_id: str, price: object, now: datetime) -> Plan:
        """A new list price from ``now`` on; periods already ended keep the price in force at their end."""
        feed = self._own_feed(principal, feed_id)
        if feed.status == "deleted" or plan_id not in feed.plan_ids:
            raise NotFoundError(f"Plan {plan_id} not found in feed {feed_id}.")
        new_price = rules.parse_plan_price(price)
        plan = self._repo.get_plan(plan_id)
        if plan is None:
            raise NotFoundError(f"Plan {plan_id} not found in feed {feed_id}.")
        if new_price == plan.price:
            return plan
        if not self._repo.change_plan_price(plan, new_price, now):
            raise ConflictError("The plan changed meanwhile; read it again and retry.", code="conflict")
        changed = self._repo.get_plan(plan_id)
        assert changed is not None
        return changed

    def list_discounts(self, principal: Principal, feed_id: str) -> dict[str, Decimal]:
        self._own_feed(principal, feed_id)
        return self._repo.list_discounts(feed_id)

    # ------------------------------------------------------------------------------------- subscriptions
    def subscribe(self, principal: Principal, plan_id: str, now: datetime) -> Subscription:
        plan = self._repo.get_plan(plan_id)
        feed = self._repo.get_feed(plan.feed_id) if plan is not None else None
        if plan is None or feed is None:
            raise NotFoundError(f"Plan {plan_id} not found.")
        access = self._repo.buyer_access(principal.account_id) if feed.visibility == "private" else {}
        active = [s for s in self._repo.buyer_subscriptions(principal.account_id) if s.is_active]
        base = rules.check_can_subscribe(
            plan=plan,
            feed=feed,
            buyer_id=principal.account_id,
            may_see=self._may_see(principal.account_id, feed, access) is not None,
            active=active,
        )
        sub = Subscription(
            subscription_id=new_id("sub"),
            buyer_id=principal.account_id,
            plan_id=plan.plan_id,
            feed_id=feed.feed_id,
            provider_id=feed.provider_id,
            use_cases=plan.use_cases,
            unit=plan.unit,
            start_date=now.astimezone(UTC).date(),
            created_at=now,
        )
        self._repo.subscribe(
            sub,
            base_subscription_id=base.subscription_id if base is not None else None,
            private_feed=feed.visibility == "private",
        )
        return sub

    def _own_subscription(self, principal: Principal, subscription_id: str) -> Subscription:
        sub = self._repo.get_subscription(subscription_id)
        if sub is None or sub.buyer_id != principal.account_id:
            raise NotFoundError(f"Subscription {subscription_id} not found.")
        return sub

    def get_subscription(self, principal: Principal, subscription_id: str) -> Subscription:
        return self._own_subscription(principal, subscription_id)

    def end_subscription(self, principal: Principal, subscription_id: str, now: datetime) -> Subscription:
        sub = self._own_subscription(principal, subscription_id)
        active = [s for s in self._repo.buyer_subscriptions(principal.account_id) if s.is_active]
        rules.check_can_end(sub, active)
        guard = (
            [u for u in rules.USE_CASES if u not in sub.use_cases]
            if rules.SEGMENTS_AND_OVERLAP in sub.use_cases
            else []
        )
        end_date = now.astimezone(UTC).date()
        if not self._repo.end_subscription(sub, end_date=end_date, now=now, guard_use_cases=guard):
            current = self._own_subscription(principal, subscription_id)
            rules.check_can_end(
                current, [s for s in self._repo.buyer_subscriptions(principal.account_id) if s.is_active]
            )
            raise ConflictError("The subscription changed meanwhile; read it again and retry.", code="conflict")
        ended = self._repo.get_subscription(subscription_id)
        assert ended is not None
        return ended

    def list_subscriptions(self, principal: Principal) -> list[Subscription]:
        subs = self._repo.buyer_subscriptions(principal.account_id)
        return sorted(subs, key=lambda s: (s.created_at, s.subscription_id))

    def feed_subscriptions(self, principal: Principal, feed_id: str) -> list[Subscription]:
        self._own_feed(principal, feed_id)
        return sorted(self._repo.feed_subscriptions(feed_id), key=lambda s: (s.created_at, s.subscription_id))

    # ----------------------------------------------------------------------------------- entitlement
    def entitled_feed_ids(self, account_id: str) -> set[str]:
        """Feeds whose traits the account may use now: those it holds an active subscription to."""
        return {s.feed_id for s in self._repo.buyer_subscriptions(account_id) if s.is_active}

    def modeling_feed_ids(self, account_id: str) -> set[str]:
        """Feeds the account holds an active subscription with the ``modeling`` use case to."""
        return {
            s.feed_id
            for s in self._repo.buyer_subscriptions(account_id)
            if s.is_active and rules.MODELING in s.use_cases
        }

    def feed_traits(self, feed_ids: Sequence[str]) -> dict[str, list[str]]:
        feeds = self._repo.get_feeds(feed_ids)
        return {f: list(feeds[f].trait_ids) for f in feed_ids if f in feeds}

    # ------------------------------------------------------------------------------ billing read API
    def billable_subscriptions(self, buyer_id: str, period: Period) -> list[BillableSubscription]:
        """The buyer's subscriptions active at any moment of ``period``, with everything an invoice line needs.

        Terms are those in force at the period's last instant (DOMAIN.md §9): the plan's list price and
        the buyer's discount as they stood just before ``period.end``, read from their history, so a change
        made after the period (even before its close runs) never touches it.
        """
        subs = [s for s in self._repo.buyer_subscriptions(buyer_id) if s.active_during(period)]
        if not subs:
            return []
        plans = self._repo.get_plans(s.plan_id for s in subs)
        feeds = self._repo.get_feeds(s.feed_id for s in subs)
        names = self._provider_names({s.provider_id for s in subs})
        discounts: dict[str, Decimal] = {}
        prices: dict[str, Decimal] = {}
        out: list[BillableSubscription] = []
        for s in sorted(subs, key=lambda s: (s.start_date, s.subscription_id)):
            plan, feed = plans[s.plan_id], feeds[s.feed_id]
            if s.feed_id not in discounts:
                discounts[s.feed_id] = self._repo.discount_before(s.feed_id, buyer_id, period.end)
            if s.plan_id not in prices:
                prices[s.plan_id] = self._repo.plan_price_before(plan, period.end)
            out.append(
                BillableSubscription(
                    subscription_id=s.subscription_id,
                    buyer_id=s.buyer_id,
                    plan_id=s.plan_id,
                    feed_id=s.feed_id,
                    feed_name=feed.name,
                    provider_id=s.provider_id,
                    provider_name=names.get(s.provider_id, ""),
                    use_cases=plan.use_cases,
                    unit=plan.unit,
                    list_price=prices[s.plan_id],
                    currency=plan.currency,
                    discount_pct=discounts[s.feed_id],
                    start_date=s.start_date,
                    end_date=s.end_date,
                )
            )
        return out

    def buyers_with_subscriptions(self, period: Period) -> list[str]:
        buyers = {s.buyer_id for s in self._repo.subscriptions_started_by(period.last_day) if s.active_during(period)}
        return sorted(buyers)

    def feed_usage_keys(self, buyer_id: str, period: Period) -> list[FeedUsageKey]:
        """What the buyer may report feed-level usage for in ``period``: each use case of its ``cpm`` plans.

        Flat-fee subscriptions report nothing (DOMAIN.md §7), so they are not keys.
        """
        keys: list[FeedUsageKey] = []
        for sub in self.billable_subscriptions(buyer_id, period):
            if sub.unit != "cpm":
                continue
            keys.extend(
                FeedUsageKey(
                    sub.provider_id,
                    sub.provider_name,
                    sub.feed_id,
                    sub.feed_name,
                    use_case,
                    sub.unit,
                    sub.subscription_id,
                )
                for use_case in sub.use_cases
            )
        return keys
