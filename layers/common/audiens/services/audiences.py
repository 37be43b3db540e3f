"""Traits, segments, the audience builder's estimates and segment analytics (DOMAIN.md §3-§4).

A rule trait is never materialized: its population is the union, computed on read, of the sketches of
the data-point values its condition names. Past and future events of its source therefore realize it
with no backfill, and ingestion writes per data-point value, never per trait.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from audiens.domain import segments as rules
from audiens.domain import sketches
from audiens.domain.accounts import Principal
from audiens.domain.quotas import check_quota
from audiens.domain.rules import Node, parse_rule, trait_ids
from audiens.domain.segments import Segment, Snapshot, TraitDef
from audiens.domain.sketches import Estimate, Sketch
from audiens.errors import ConflictError, NotFoundError, ValidationError
from audiens.observability import logger
from audiens.ports.channels import SegmentChannels
from audiens.ports.jobs import DailyPageJob, JobMessage, JobQueue
from audiens.ports.onboarding import OnboardingRepository
from audiens.services.ingest import new_id


@dataclass(frozen=True)
class Composition:
    trait_id: str
    population: int
    share: float


@dataclass(frozen=True)
class RuleEstimate:
    estimate: Estimate
    traits: list[Composition]


@dataclass(frozen=True)
class DailyReport:
    snapshots: int
    expired: int
    segments: int


_UNSET: Any = object()

ESTIMATE_FRESHNESS = timedelta(seconds=5)
"""The audience builder re-estimates as a rule is edited; sketches it read this recently are reused."""
ESTIMATE_CACHE_ENTRIES = 500


class AudienceService:
    def __init__(
        self,
        repo: OnboardingRepository,
        *,
        entitlements: Callable[[str], set[str]] | None = None,
        modeling: Callable[[str], set[str]] | None = None,
        channels: Callable[[], SegmentChannels] | None = None,
    ) -> None:
        self._repo = repo
        self._recent: OrderedDict[tuple[str, str], tuple[datetime, Sketch]] = OrderedDict()  # estimate reads
        self._entitlements = entitlements  # account id -> feeds it subscribes to (services/marketplace.py)
        self._modeling = modeling  # account id -> feeds it subscribes to with a modeling plan
        self._channels = channels  # the destinations a segment is mapped to (services/channels.py)

    # ------------------------------------------------------------------------------------------- traits
    def create_trait(
        self, principal: Principal, *, name: str, source_id: str, condition: dict[str, Any], now: datetime
    ) -> TraitDef:
        source = self._repo.get_source(source_id)
        if source is None or source.account_id != principal.account_id:
            raise NotFoundError(f"Source {source_id} not found.")
        trait = TraitDef(
            trait_id=new_id("trt"),
            account_id=principal.account_id,
            name=name.strip(),
            kind="rule",
            created_at=now,
            source_id=source.source_id,
            condition=rules.parse_condition(condition),
        )
        self._repo.put_trait(trait)
        return trait

    def usable_trait(self, account_id: str, trait: TraitDef) -> bool:
        """May this account use this trait in a rule? Its own traits, and those of the feeds it subscribes to.

        An own look-alike (algorithmic) trait stays usable while every feed it is modeled on is subscribed
        with a modeling plan: ending that subscription ends the right to use the model.
        """
        if trait.account_id == account_id:
            if trait.kind == "algorithmic" and trait.modeled_on_feed_ids and self._modeling is not None:
                return set(trait.modeled_on_feed_ids) <= self._modeling(account_id)
            return True
        if trait.feed_id is None or self._entitlements is None:
            return False
        return trait.feed_id in self._entitlements(account_id)

    def get_trait(self, principal: Principal, trait_id: str) -> tuple[TraitDef, Estimate]:
        trait = self._repo.get_traits([trait_id]).get(trait_id)
        own = trait is not None and trait.account_id == principal.account_id
        if trait is None or not (own or self.usable_trait(principal.account_id, trait)):
            raise NotFoundError(f"Trait {trait_id} not found.")
        return trait, sketches.estimate(self.trait_sketches([trait])[trait_id])

    def trait_estimate(self, trait: TraitDef) -> Estimate:
        return sketches.estimate(self.trait_sketches([trait])[trait.trait_id])

    def list_traits(self, principal: Principal) -> list[tuple[TraitDef, Estimate]]:
        traits = sorted(self._repo.list_traits(principal.account_id), key=lambda t: (t.created_at, t.trait_id))
        found = self.trait_sketches(traits)
        return [(t, sketches.estimate(found[t.trait_id])) for t in traits]

    def resolve_traits(self, account_id: str, ids: Iterable[str]) -> dict[str, TraitDef]:
        wanted = sorted(set(ids))
        found = self._repo.get_traits(wanted)
        unknown = [t for t in wanted if t not in found or not self.usable_trait(account_id, found[t])]
        if unknown:
            raise ValidationError(
                f"The rule names trait(s) this account cannot use: {', '.join(unknown)}.",
                code="unknown_trait",
                details=[{"trait_id": t} for t in unknown],
            )
        return found

    @staticmethod
    def _value_refs(trait: TraitDef) -> list[tuple[str, str]]:
        if trait.kind != "rule" or trait.source_id is None or trait.condition is None:
            return []  # algorithmic traits (next issue) bring their own population
        return [(trait.source_id, f"DP#{trait.condition.key}#{v}") for v in trait.condition.values]

    def trait_sketches(self, traits: Iterable[TraitDef], *, now: datetime | None = None) -> dict[str, Sketch]:
        """Each trait's population sketch: the union of its values' sketches, read in one batch."""
        traits = list(traits)
        # An algorithmic trait is the union of the feed traits its look-alike model kept (domain/lookalike.py).
        basis_ids = {b for t in traits if t.kind == "algorithmic" for b in t.modeled_trait_ids}
        basis = self._repo.get_traits(basis_ids) if basis_ids else {}
        refs = [ref for t in [*traits, *basis.values()] for ref in self._value_refs(t)]
        loaded = self._load_sketches(refs, now) if refs else {}

        def own(t: TraitDef) -> Sketch:
            return sketches.combine(loaded[r] for r in self._value_refs(t))

        return {
            t.trait_id: sketches.union(own(basis[b]) for b in t.modeled_trait_ids if b in basis)
            if t.kind == "algorithmic"
            else own(t)
            for t in traits
        }

    # ---------------------------------------------------------------------------------------- estimates
    def _load_sketches(self, refs: list[tuple[str, str]], now: datetime | None) -> dict[tuple[str, str], Sketch]:
        """Read sketches; with ``now`` (the audience builder), reuse those read in the last few seconds."""
        if now is None:
            return self._repo.load_sketches(refs)
        found: dict[tuple[str, str], Sketch] = {}
        for ref in refs:
            hit = self._recent.get(ref)
            if hit is not None and timedelta(0) <= now - hit[0] <= ESTIMATE_FRESHNESS:
                found[ref] = hit[1]
        missing = [ref for ref in dict.fromkeys(refs) if ref not in found]
        if missing:
            for ref, sketch in self._repo.load_sketches(missing).items():
                found[ref] = sketch
                self._recent[ref] = (now, sketch)
                self._recent.move_to_end(ref)
            while len(self._recent) > ESTIMATE_CACHE_ENTRIES:
                self._recent.popitem(last=False)
        return found

    def _evaluate(
        self, tree: Node, traits: dict[str, TraitDef], now: datetime | None = None
    ) -> tuple[Sketch, dict[str, Sketch]]:
        universe_refs: list[tuple[str, str]] = []
        if sketches.needs_universe(tree):
            universe_refs = [(s, "ALL") for s in sorted({t.source_id for t in traits.values() if t.source_id})]
        if now is not None:  # one read for the traits' values and the universe together
            self._load_sketches([*(r for t in traits.values() for r in self._value_refs(t)), *universe_refs], now)
        by_trait = self.trait_sketches(traits.values(), now=now)
        universe = None
        if sketches.needs_universe(tree):
            universe = sketches.combine(self._load_sketches(universe_refs, now).values())
        return sketches.evaluate(tree, by_trait, universe), by_trait

    def estimate_rule(self, account_id: str, rule: str, *, now: datetime | None = None) -> RuleEstimate:
        tree = parse_rule(rule)
        traits = self.resolve_traits(account_id, trait_ids(tree))
        result, by_trait = self._evaluate(tree, traits, now)
        populations = {t: sketches.estimate(s).population for t, s in by_trait.items()}
        total = sum(populations.values())
        composition = [Composition(t, populations[t], rules.share(populations[t], total)) for t in sorted(populations)]
        return RuleEstimate(sketches.estimate(result), composition)

    def estimate(self, principal: Principal, rule: str, *, now: datetime | None = None) -> RuleEstimate:
        return self.estimate_rule(principal.account_id, rule, now=now)

    # ----------------------------------------------------------------------------------------- segments
    def _check_rule(self, account_id: str, rule: str) -> str:
        tree = parse_rule(rule)
        self.resolve_traits(account_id, trait_ids(tree))
        return rule.strip()

    def create_segment(
        self,
        principal: Principal,
        *,
        name: str,
        category: str,
        rule: str,
        expiration_days: int,
        visibility: str,
        cpm: str | None,
        now: datetime,
    ) -> Segment:
        price = rules.check_price(visibility, cpm)
        held = [s for s in self._repo.list_segments(principal.account_id) if s.status != "deleted"]
        check_quota("segments", len(held))
        segment = Segment(
            segment_id=new_id("seg"),
            account_id=principal.account_id,
            name=name.strip(),
            category=category.strip(),
            rule=self._check_rule(principal.account_id, rule),
            expiration_days=rules.check_expiration_days(expiration_days),
            visibility=visibility,
            cpm=price,
            currency=rules.DEFAULT_CURRENCY,
            status="active",
            created_at=now,
            changed_at=now,
        )
        self._repo.put_segment(segment)
        return segment

    def get_segment(self, principal: Principal, segment_id: str) -> Segment:
        segment = self._repo.get_segment(segment_id)
        if segment is None or segment.account_id != principal.account_id or segment.status == "deleted":
            raise NotFoundError(f"Segment {segment_id} not found.")
        return segment

    def segment_population(self, segment: Segment) -> Estimate:
        """The segment's population now; a rule whose traits were since withdrawn counts them as empty."""
        tree = parse_rule(segment.rule)
        found = self._repo.get_traits(trait_ids(tree))
        usable = {t: d for t, d in found.items() if self.usable_trait(segment.account_id, d)}
        by_trait = self.trait_sketches(usable.values())
        empty = sketches.empty()
        for missing in trait_ids(tree) - set(by_trait):
            by_trait[missing] = empty
        universe = None
        if sketches.needs_universe(tree):
            source_ids = sorted({t.source_id for t in usable.values() if t.source_id})
            universe = sketches.combine(self._repo.load_sketches((s, "ALL") for s in source_ids).values())
        return sketches.estimate(sketches.evaluate(tree, by_trait, universe))

    def list_segments(self, principal: Principal) -> list[Segment]:
        return sorted(self._repo.list_segments(principal.account_id), key=lambda s: (s.created_at, s.segment_id))

    def update_segment(
        self,
        principal: Principal,
        segment_id: str,
        *,
        now: datetime,
        name: str | None = None,
        category: str | None = None,
        rule: str | None = None,
        expiration_days: int | None = None,
        visibility: str | None = None,
        cpm: Any = _UNSET,
    ) -> Segment:
        """A change restarts the expiration clock and re-activates an expired segment."""
        current = self.get_segment(principal, segment_id)
        new_visibility = visibility or current.visibility
        if cpm is _UNSET:
            price = current.cpm
            if price is not None and new_visibility != "public":
                raise ValidationError(
                    'Only public segments may have a price (cpm); remove the cpm ("cpm": null) to make it private.',
                    code="price_requires_public_segment",
                    details=[{"field": "visibility"}],
                )
        else:
            price = rules.check_price(new_visibility, cpm)
        updated = replace(
            current,
            name=name.strip() if name is not None else current.name,
            category=category.strip() if category is not None else current.category,
            rule=self._check_rule(principal.account_id, rule) if rule is not None else current.rule,
            expiration_days=rules.check_expiration_days(expiration_days)
            if expiration_days is not None
            else current.expiration_days,
            visibility=new_visibility,
            cpm=price,
            status="active",
            changed_at=max(now, current.changed_at),
            expired_at=None,
        )
        if not self._repo.replace_segment(updated, expected=current):
            raise ConflictError("The segment was changed by another request; read it again and retry.", code="conflict")
        if self._channels is not None and (updated.name, updated.category, updated.visibility) != (
            current.name,
            current.category,
            current.visibility,
        ):
            self._channels().segment_changed(updated, now)  # re-push the new taxonomy to its destinations
        return updated

    def delete_segment(self, principal: Principal, segment_id: str, now: datetime | None = None) -> None:
        segment = self.get_segment(principal, segment_id)
        self._repo.delete_segment(segment.segment_id)
        self.remove_from_channels(segment, reason="deleted", now=now)

    def remove_from_channels(self, segment: Segment, *, reason: str, now: datetime | None = None) -> None:
        """Expiry or deletion removes the segment from every destination (DOMAIN.md §5): a queued ``remove``."""
        logger.info("segment leaves channels", extra={"segment_id": segment.segment_id, "reason": reason})
        if self._channels is not None:
            when = now or segment.expired_at or segment.changed_at
            self._channels().segment_removed(segment, reason=reason, now=when)

    # ---------------------------------------------------------------------------------------- analytics
    def analytics(self, principal: Principal, segment_id: str) -> tuple[Segment, list[Snapshot]]:
        segment = self.get_segment(principal, segment_id)
        return segment, sorted(self._repo.snapshots(segment_id), key=lambda s: s.day)

    def run_daily(self, *, now: datetime) -> DailyReport:
        """Every segment in one pass (the daily job's pages run ``run_daily_segments`` instead)."""
        return self.run_daily_segments(list(self._repo.all_segment_ids()), now=now)

    def daily_pages(self, page_size: int) -> Iterator[list[str]]:
        """Every segment id, ``page_size`` at a time: what the daily job fans out."""
        page: list[str] = []
        for segment_id in self._repo.all_segment_ids():
            page.append(segment_id)
            if len(page) == page_size:
                yield page
                page = []
        if page:
            yield page

    def fan_out_daily(self, queue: JobQueue, *, now: datetime, page_size: int) -> tuple[int, int, int]:
        """Send every segment id to ``queue`` in pages of ``page_size`` (ten messages per send); returns
        (pages, segments, send calls). Only ids are read here: the pages do the work."""
        pages = segments = calls = 0
        batch: list[JobMessage] = []
        for page in self.daily_pages(page_size):
            batch.append(DailyPageJob(time=now, segment_ids=page))
            pages, segments = pages + 1, segments + len(page)
            if len(batch) == 10:
                calls += queue.send(batch)
                batch = []
        if batch:
            calls += queue.send(batch)
        return pages, segments, calls

    def run_daily_segments(self, segment_ids: Iterable[str], *, now: datetime) -> DailyReport:
        """Snapshot each active segment's population for today (once per date: a segment whose snapshot
        exists is skipped before its population is computed) and expire old segments."""
        day = rules.snapshot_day(now)
        snapshots = expired = seen = 0
        for segment_id in segment_ids:
            segment = self._repo.get_segment(segment_id)
            if segment is None:
                continue
            seen += 1
            if segment.is_due_to_expire(now):
                gone = replace(segment, status="expired", expired_at=now)
                if self._repo.replace_segment(gone, expected=segment):
                    expired += 1
                    self.remove_from_channels(gone, reason="expired", now=now)
                continue
            if segment.status != "active" or self._repo.has_snapshot(segment_id, day):
                continue
            if self._repo.put_snapshot(segment_id, day, self.segment_population(segment), now):
                snapshots += 1
        return DailyReport(snapshots=snapshots, expired=expired, segments=seen)
