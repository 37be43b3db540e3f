"""PynamoDB models of the marketplace table: feeds, plans, access, discounts, subscriptions, destinations.

One table (``MarketplaceTable``), pk/sk design, three sparse GSIs:

=================================  ==========  ================  ======================  =========================
pk                                 sk          item              gsi1 (owner's list)     gsi2 / gsi3
=================================  ==========  ================  ======================  =========================
FEED#<id>                          META        feed              ACCT#<provider>#FEEDS   gsi2 MARKET#FEEDS (active)
PLAN#<id>                          META        plan              -                       -
PLAN#<id>                          PRICE#<ts>  price change      -                       -
FEED#<id>                          ACCESS#<b>  access request    ACCT#<buyer>#ACCESS     -
FEED#<id>                          DISC#<b>    discount          ACCT#<buyer>#DISCOUNTS  -
FEED#<id>                          DISCH#<b>#<ts>  discount change  -                    -
SUB#<id>                           META        subscription      ACCT#<buyer>#SUBS       gsi2 FEED#<id>#SUBS,
                                                                                         gsi3 SUBS (all)
SUBLOCK#<buyer>#<feed>#<use case>  LOCK        active-sub guard  -                       -
DEST#<id>                          META        destination       ACCT#<owner>#DESTS      -
MAP#<id>                           META        mapping           DEST#<id>#MAPS          gsi2 SEG#<segment>#MAPS,
                                                                                         gsi3 ACCT#<owner>#MAPS
=================================  ==========  ================  ======================  =========================

``PRICE#`` and ``DISCH#`` items are the history of a plan's price and of a buyer's discount (``<ts>`` is the
change's effective-from instant, fixed-width RFC 3339 with microseconds, so the sort key orders them in time):
an invoice uses the terms in force at its period's last instant (DOMAIN.md §9), not the current ones.

The ``SUBLOCK`` items make "one active subscription per (buyer, plan) and per (buyer, feed, use case)"
a conditional write inside the subscription's transaction rather than a read-then-write race.
Money (prices, discounts) is stored as decimal strings, never ``NumberAttribute``.
"""

from __future__ import annotations

from typing import TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from audiens.dal.base import IsoDateTimeAttribute

_M = TypeVar("_M", bound=Model)

TABLE = "MarketplaceTable"


class _MarketplaceTable(Model):
    class Meta:
        table_name = TABLE
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _Gsi1(GlobalSecondaryIndex[_M]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _Gsi2(GlobalSecondaryIndex[_M]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class _Gsi3(GlobalSecondaryIndex[_M]):
    class Meta:
        index_name = "gsi3"
        projection = AllProjection()

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class FeedItem(_MarketplaceTable):
    feed_id = UnicodeAttribute()
    provider_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    visibility = UnicodeAttribute()
    status = UnicodeAttribute()
    trait_ids = ListAttribute[str](of=UnicodeAttribute)  # type: ignore[arg-type]
    plan_ids = ListAttribute[str](of=UnicodeAttribute)  # type: ignore[arg-type]
    created_at = IsoDateTimeAttribute()
    activated_at = IsoDateTimeAttribute(null=True)
    deleted_at = IsoDateTimeAttribute(null=True)
    active_subs = NumberAttribute(null=True)  # active subscriptions: deleting the feed is a condition on it
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_owner = _Gsi1["FeedItem"]()
    by_market = _Gsi2["FeedItem"]()


class PlanItem(_MarketplaceTable):
    plan_id = UnicodeAttribute()
    feed_id = UnicodeAttribute()
    use_cases = ListAttribute[str](of=UnicodeAttribute)  # type: ignore[arg-type]
    unit = UnicodeAttribute()
    price = UnicodeAttribute()  # decimal string: the current price
    currency = UnicodeAttribute()
    price_changed_at = IsoDateTimeAttribute(null=True)  # the latest change's effective-from; None: never changed
    original_price = UnicodeAttribute(null=True)  # the price the plan was created with, once it has changed


class PriceChangeItem(_MarketplaceTable):
    """One change of a plan's price: ``price`` is in force from ``effective_from`` until the next change."""

    plan_id = UnicodeAttribute()
    price = UnicodeAttribute()  # decimal string
    effective_from = IsoDateTimeAttribute()


class AccessItem(_MarketplaceTable):
    write_id = UnicodeAttribute(null=True)  # the call that wrote it: its retry is recognised (dal/idempotent.py)
    feed_id = UnicodeAttribute()
    buyer_id = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | approved | denied
    requested_at = IsoDateTimeAttribute()
    decided_at = IsoDateTimeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_buyer = _Gsi1["AccessItem"]()


class DiscountItem(_MarketplaceTable):
    feed_id = UnicodeAttribute()
    buyer_id = UnicodeAttribute()
    discount_pct = UnicodeAttribute()  # decimal string, 0-100
    updated_at = IsoDateTimeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_buyer = _Gsi1["DiscountItem"]()


class DiscountChangeItem(_MarketplaceTable):
    """One change of a buyer's discount on a feed: in force from ``effective_from`` until the next change."""

    feed_id = UnicodeAttribute()
    buyer_id = UnicodeAttribute()
    discount_pct = UnicodeAttribute()  # decimal string, 0-100
    effective_from = IsoDateTimeAttribute()


class SubscriptionItem(_MarketplaceTable):
    subscription_id = UnicodeAttribute()
    buyer_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    feed_id = UnicodeAttribute()
    provider_id = UnicodeAttribute()
    use_cases = ListAttribute[str](of=UnicodeAttribute)  # type: ignore[arg-type]
    unit = UnicodeAttribute()
    start_date = UnicodeAttribute()  # YYYY-MM-DD (UTC)
    end_date = UnicodeAttribute(null=True)
    created_at = IsoDateTimeAttribute()
    ended_at = IsoDateTimeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    gsi3pk = UnicodeAttribute()
    gsi3sk = UnicodeAttribute()
    by_buyer = _Gsi1["SubscriptionItem"]()
    by_feed = _Gsi2["SubscriptionItem"]()
    by_all = _Gsi3["SubscriptionItem"]()


class SubscriptionLockItem(_MarketplaceTable):
    subscription_id = UnicodeAttribute()


class DestinationItem(_MarketplaceTable):
    destination_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    channel_id = UnicodeAttribute()
    name = UnicodeAttribute()
    config = UnicodeAttribute()  # JSON; secrets included (table encrypted at rest, never returned by the API)
    content_optimization = BooleanAttribute(default=False)
    status = UnicodeAttribute()
    created_at = IsoDateTimeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_owner = _Gsi1["DestinationItem"]()


class MappingItem(_MarketplaceTable):
    mapping_id = UnicodeAttribute()
    destination_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    segment_id = UnicodeAttribute()
    segment_owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    category = UnicodeAttribute()
    action = UnicodeAttribute()
    version = NumberAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    last_attempt_at = IsoDateTimeAttribute(null=True)
    pushed_at = IsoDateTimeAttribute(null=True)
    pushed_version = NumberAttribute(default=0)
    created_at = IsoDateTimeAttribute()
    updated_at = IsoDateTimeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)
    by_destination = _Gsi1["MappingItem"]()
    by_segment = _Gsi2["MappingItem"]()
    by_owner = _Gsi3["MappingItem"]()


class MappingOwnerItem(_MarketplaceTable):
    """pk ``MAPOWNERS``, sk the account id: every account that ever mapped a segment (usage reminders read it;
    a stale one costs a query, since the reminder also checks the account has something to report)."""


MAPPING_OWNERS = "MAPOWNERS"

MODELS: list[type[Model]] = [
    FeedItem,
    PlanItem,
    PriceChangeItem,
    AccessItem,
    DiscountItem,
    DiscountChangeItem,
    SubscriptionItem,
    SubscriptionLockItem,
    DestinationItem,
    MappingItem,
    MappingOwnerItem,
]
