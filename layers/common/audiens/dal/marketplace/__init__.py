"""DynamoDB adapter for feeds, plans, access requests, discounts and subscriptions.

Every rule that two concurrent requests could break is a condition inside one transaction: a trait joins
a feed only if it has no feed yet; a subscription takes a lock per (buyer, feed, use case) and checks the
feed is still active (and its ``segments_and_overlap`` base subscription still running); a feed counts its
active subscriptions in the same transactions, so deleting it is a condition on that counter.

The repository is one store per aggregate, combined: :mod:`.feeds` (feeds and plans), :mod:`.terms`
(access requests and discounts), :mod:`.subscriptions`; :mod:`.common` is what they share.
"""

from __future__ import annotations

from audiens.dal.marketplace.feeds import FeedStore
from audiens.dal.marketplace.subscriptions import SubscriptionStore
from audiens.dal.marketplace.terms import TermsStore


class DynamoMarketplaceRepository(FeedStore, TermsStore, SubscriptionStore):
    """``MarketplaceRepository`` on the Marketplace table: one store per aggregate, combined."""


__all__ = ["DynamoMarketplaceRepository"]
