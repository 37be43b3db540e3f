"""The production ``BillingInputs``: the monthly close's reads over the other modules' read APIs.

Everything billing needs comes from the modules that own it, through the read APIs they publish for
billing, never from their tables directly:

* buyers and usage: ``UsageLedger`` (issue 4B) — ``buyers_to_invoice``, ``segment_rows`` and ``feed_rows``
  (streamed; frozen by the close);
* subscriptions: ``MarketplaceService.billable_subscriptions`` (issue 4A) — active at any moment of the
  period, with the plan's unit, list price and currency and the buyer's discount as of the close;
* destinations → channels: the channel repository (issue 4A), channel names from the catalog;
* segments, traits and populations: the onboarding repository and ``AudienceService.trait_sketches``
  (issue 3) — a sub-expression's population is its theta-sketch estimate, as the audience builder shows;
* names and revenue shares: the accounts repository.

Populations are read at close time (sketches are cumulative; there is no "as of the last day" view): each
invoice is computed once and stored, so later changes never alter it. Reads are cached per invoice
computation (``subscriptions`` starts one), which keeps a warm worker's memory bounded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol

from audiens.domain import sketches
from audiens.domain.accounts import DEFAULT_REVENUE_SHARE
from audiens.domain.attribution import PopulationOf, TraitInfo
from audiens.domain.channels import channel as catalog_channel
from audiens.domain.invoicing import (
    CPM,
    FLAT_FEE,
    UNKNOWN_CHANNEL,
    BillingInputError,
    FeedUsage,
    Party,
    SegmentInfo,
    SegmentUsage,
    Subscription,
    Unit,
)
from audiens.domain.periods import Period
from audiens.domain.rules import Node, Trait, trait_ids
from audiens.domain.segments import TraitDef
from audiens.domain.sketches import Sketch
from audiens.errors import AppError
from audiens.ports.accounts import AccountRepository
from audiens.ports.channels import ChannelRepository
from audiens.ports.marketplace import BillableSubscription
from audiens.ports.onboarding import OnboardingRepository
from audiens.ports.usage import FeedUsageRow, SegmentUsageRow

USAGE_PAGE_ROWS: Final = 1_000
"""Usage rows whose destinations are looked up together."""


class SubscriptionsReader(Protocol):
    def billable_subscriptions(self, buyer_id: str, period: Period) -> list[BillableSubscription]: ...


class UsageReader(Protocol):
    def segment_rows(self, buyer_id: str, period: Period) -> Iterator[SegmentUsageRow]: ...

    def feed_rows(self, buyer_id: str, period: Period) -> Iterator[FeedUsageRow]: ...

    def buyers_to_invoice(self, period: Period) -> list[str]: ...


class SketchReader(Protocol):
    def trait_sketches(self, traits: Iterable[TraitDef]) -> dict[str, Sketch]: ...


@dataclass
class _Cache:
    traits: dict[str, TraitDef]
    sketches: dict[str, Sketch]
    populations: dict[tuple[Node, tuple[str, ...] | None], int]
    universes: dict[tuple[str, ...], Sketch]
    destinations: dict[str, tuple[str, str | None]]  # destination -> (channel id, channel name)


def _empty_cache() -> _Cache:
    return _Cache({}, {}, {}, {}, {})


class ProductBillingInputs:
    def __init__(
        self,
        *,
        subscriptions: SubscriptionsReader,
        usage: UsageReader,
        onboarding: OnboardingRepository,
        audiences: SketchReader,
        channels: ChannelRepository,
        accounts: AccountRepository,
        currency: str,
    ) -> None:
        self._subscriptions = subscriptions
        self._usage = usage
        self._onboarding = onboarding
        self._audiences = audiences
        self._channels = channels
        self._accounts = accounts
        self._currency = currency
        self._cache = _empty_cache()

    # ------------------------------------------------------------------------------------ buyers
    def buyers_for_period(self, period: Period) -> list[str]:
        self._cache = _empty_cache()
        return self._usage.buyers_to_invoice(period)

    # ----------------------------------------------------------------------------- subscriptions
    def subscriptions(self, buyer_id: str, period: Period) -> list[Subscription]:
        self._cache = _empty_cache()  # a new invoice: populations are read afresh, memory stays bounded
        out: list[Subscription] = []
        for sub in self._subscriptions.billable_subscriptions(buyer_id, period):
            if sub.currency != self._currency:
                raise BillingInputError(
                    f"plan {sub.plan_id} is priced in {sub.currency}; the platform bills in {self._currency}"
                )
            unit: Unit
            if sub.unit == CPM:
                unit = "cpm"
            elif sub.unit == FLAT_FEE:
                unit = "flat_fee"
            else:
                raise BillingInputError(f"plan {sub.plan_id} has unknown unit {sub.unit!r}")
            out.append(
                Subscription(
                    subscription_id=sub.subscription_id,
                    feed_id=sub.feed_id,
                    feed_name=sub.feed_name,
                    provider_id=sub.provider_id,
                    plan_id=sub.plan_id,
                    use_cases=tuple(sub.use_cases),
                    unit=unit,
                    list_price=sub.list_price,
                    discount_pct=sub.discount_pct,
                    start_date=sub.start_date,
                    end_date=sub.end_date,
                )
            )
        return out

    # ------------------------------------------------------------------------------------- usage
    def segment_usage(self, buyer_id: str, period: Period) -> Iterator[SegmentUsage]:
        """Streamed from the ledger; destinations are looked up a page of rows at a time and kept (a buyer
        has few), so memory holds one page of rows whatever the buyer's row count."""
        page: list[SegmentUsageRow] = []
        for row in self._usage.segment_rows(buyer_id, period):
            page.append(row)
            if len(page) == USAGE_PAGE_ROWS:
                yield from self._with_channels(page)
                page = []
        yield from self._with_channels(page)

    def _with_channels(self, rows: list[SegmentUsageRow]) -> Iterator[SegmentUsage]:
        unknown = sorted({r.destination_id for r in rows} - set(self._cache.destinations))
        if unknown:
            found = self._channels.get_destinations(unknown)
            for destination_id in unknown:
                destination = found.get(destination_id)
                channel_id = destination.channel_id if destination is not None else UNKNOWN_CHANNEL
                self._cache.destinations[destination_id] = (channel_id, _channel_name(channel_id))
        for row in rows:
            channel_id, channel_name = self._cache.destinations[row.destination_id]
            yield SegmentUsage(
                segment_id=row.segment_id,
                destination_id=row.destination_id,
                impressions=int(row.usage),
                channel_id=channel_id,
                content_optimization=bool(row.content_optimization),
                channel_name=channel_name,
            )

    def feed_usage(self, buyer_id: str, period: Period) -> Iterator[FeedUsage]:
        for row in self._usage.feed_rows(buyer_id, period):
            yield FeedUsage(row.feed_id, row.use_case, int(row.usage))

    # ----------------------------------------------------------------------- segments and traits
    def segments(self, segment_ids: Collection[str]) -> dict[str, SegmentInfo]:
        out: dict[str, SegmentInfo] = {}
        for segment_id in segment_ids:
            segment = self._onboarding.get_segment(segment_id)
            if segment is None:
                continue  # the invoice builder refuses usage on a segment it cannot find, loudly
            out[segment_id] = SegmentInfo(
                segment_id=segment.segment_id,
                name=segment.name,
                rule=segment.rule,
                owner_id=segment.account_id,
                visibility="public" if segment.visibility == "public" else "private",
                cpm=segment.cpm,
            )
        return out

    def _load_traits(self, ids: Iterable[str]) -> dict[str, TraitDef]:
        missing = sorted(set(ids) - set(self._cache.traits))
        if missing:
            self._cache.traits.update(self._onboarding.get_traits(missing))
        return self._cache.traits

    def traits(self, trait_ids: Collection[str]) -> dict[str, TraitInfo]:
        known = self._load_traits(trait_ids)
        out: dict[str, TraitInfo] = {}
        for trait_id in trait_ids:
            trait = known.get(trait_id)
            if trait is None:
                continue
            if trait.kind == "algorithmic":
                out[trait_id] = TraitInfo("algorithmic", modeled_on_feed_ids=tuple(trait.modeled_on_feed_ids))
            elif trait.feed_id:
                out[trait_id] = TraitInfo("rule", feed_id=trait.feed_id)
            else:
                out[trait_id] = TraitInfo("first_party")  # a trait bundled in no feed is its owner's data
        return out

    def population_of(self, node: Node) -> int:
        """A sub-expression's estimate on its own (NOT taken against the sources of its own traits)."""
        return self._population(node, None)

    def population_in(self, rule: Node) -> PopulationOf:
        """Populations of the parts of ``rule`` as its estimate sees them (DOMAIN.md §8): a ``NOT x`` is the
        users of the sources of *the rule's* traits, less ``x``; one user id across sources is one user."""
        known = self._load_traits(trait_ids(rule))
        sources = _source_ids(known[t] for t in trait_ids(rule) if t in known)
        return lambda node: self._population(node, sources)

    def _population(self, node: Node, sources: tuple[str, ...] | None) -> int:
        cached = self._cache.populations.get((node, sources))
        if cached is not None:
            return cached
        ids = trait_ids(node)
        known = self._load_traits(ids)
        wanted = [known[t] for t in sorted(ids) if t in known and t not in self._cache.sketches]
        if wanted:
            self._cache.sketches.update(self._audiences.trait_sketches(wanted))
        by_trait = {t: self._cache.sketches.get(t, sketches.empty()) for t in ids}
        if isinstance(node, Trait):
            population = sketches.estimate(by_trait[node.id]).population
        else:
            universe = None
            if sketches.needs_universe(node):
                own = _source_ids(known[t] for t in ids if t in known)
                universe = self._universe(sources if sources is not None else own)
            population = sketches.estimate(sketches.evaluate(node, by_trait, universe)).population
        self._cache.populations[(node, sources)] = population
        return population

    def _universe(self, source_ids: tuple[str, ...]) -> Sketch:
        """Everyone the sources have seen (a union: the same user id in two sources is one user)."""
        if source_ids not in self._cache.universes:
            loaded = self._onboarding.load_sketches((s, "ALL") for s in source_ids)
            self._cache.universes[source_ids] = sketches.union(loaded.values())
        return self._cache.universes[source_ids]

    # ------------------------------------------------------------------------------------ parties
    def parties(self, account_ids: Collection[str]) -> dict[str, Party]:
        out: dict[str, Party] = {}
        for account_id in account_ids:
            account = self._accounts.get(account_id)
            if account is None:
                out[account_id] = Party(account_id, account_id, DEFAULT_REVENUE_SHARE)
                continue
            share = account.revenue_share if account.revenue_share is not None else DEFAULT_REVENUE_SHARE
            out[account_id] = Party(account_id, account.company_name, Decimal(share))
        return out


def _source_ids(traits: Iterable[TraitDef]) -> tuple[str, ...]:
    return tuple(sorted({t.source_id for t in traits if t.source_id}))


def _channel_name(channel_id: str) -> str | None:
    if channel_id == UNKNOWN_CHANNEL:
        return None
    try:
        return catalog_channel(channel_id).name
    except AppError:
        return None
