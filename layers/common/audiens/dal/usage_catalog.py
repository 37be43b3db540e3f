"""``UsageCatalog`` over the marketplace's repositories: what a buyer may report usage for in a period.

* segment keys: every (segment, destination) mapping on the buyer's destinations - its own segments
  and the marketplace's public segments it mapped - unless the mapping was already removed (segment
  expired or deleted) before the period began. A destination deleted later still counts for the months
  it served impressions.
* feed keys: one per use case of each subscription with a ``cpm`` plan active at some moment of the
  period (flat-fee subscribers report nothing), named by the provider's company name and the feed name.
"""

from __future__ import annotations

from typing import Protocol

from audiens.domain.accounts import Account
from audiens.domain.destinations import SegmentMapping
from audiens.domain.periods import Period
from audiens.domain.usage_reports import FeedUsageKey, SegmentUsageKey
from audiens.ports.channels import ChannelRepository
from audiens.ports.marketplace import MarketplaceRepository


class _Accounts(Protocol):
    def get(self, account_id: str) -> Account | None: ...


class MarketplaceUsageCatalog:
    def __init__(self, marketplace: MarketplaceRepository, channels: ChannelRepository, accounts: _Accounts) -> None:
        self._marketplace = marketplace
        self._channels = channels
        self._accounts = accounts

    def segment_keys(self, buyer_id: str, period: Period) -> list[SegmentUsageKey]:
        keys: dict[tuple[str, str], SegmentUsageKey] = {}
        by_destination: dict[str, list[SegmentMapping]] = {}
        for mapping in self._channels.account_mappings(buyer_id):  # one query, not one per destination
            by_destination.setdefault(mapping.destination_id, []).append(mapping)
        for destination in self._channels.list_destinations(buyer_id):
            for mapping in by_destination.get(destination.destination_id, []):
                if mapping.action == "remove" and mapping.updated_at < period.start:
                    continue
                keys[(mapping.segment_id, destination.destination_id)] = SegmentUsageKey(
                    segment_id=mapping.segment_id,
                    segment_name=mapping.name,
                    destination_id=destination.destination_id,
                    destination_name=destination.name,
                    content_optimization=destination.content_optimization,
                )
        return list(keys.values())

    def feed_keys(self, buyer_id: str, period: Period) -> list[FeedUsageKey]:
        subs = [
            s for s in self._marketplace.buyer_subscriptions(buyer_id) if s.unit == "cpm" and s.active_during(period)
        ]
        if not subs:
            return []
        feeds = self._marketplace.get_feeds(sorted({s.feed_id for s in subs}))
        names: dict[str, str] = {}
        keys: dict[tuple[str, str], FeedUsageKey] = {}
        for sub in subs:
            feed = feeds.get(sub.feed_id)
            if feed is None:
                continue
            if sub.provider_id not in names:
                provider = self._accounts.get(sub.provider_id)
                names[sub.provider_id] = provider.company_name if provider is not None else sub.provider_id
            for use_case in sub.use_cases:
                keys[(sub.feed_id, use_case)] = FeedUsageKey(
                    provider_id=sub.provider_id,
                    provider_name=names[sub.provider_id],
                    feed_id=sub.feed_id,
                    feed_name=feed.name,
                    use_case=use_case,
                    unit="cpm",
                )
        return list(keys.values())

    def mapped_buyers(self) -> list[str]:
        """Every buyer that has mapped a segment (each is checked for keys before it is reminded)."""
        return self._channels.mapping_owners()

    def subscribed_buyers(self, period: Period) -> list[str]:
        subs = self._marketplace.subscriptions_started_by(period.last_day)
        return sorted({s.buyer_id for s in subs if s.active_during(period)})
