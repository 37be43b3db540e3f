"""Algorithmic (look-alike) traits (DOMAIN.md §3): a seed trait, modeled on subscribed data feeds.

The model is :mod:`audiens.domain.lookalike`: candidates are the traits of the modeled feeds, scored by
how many of their users are in the seed; the trait is the union of the kept candidates. What it is
modeled on is stored with it, so attribution charges every modeled feed under the ``modeling`` use case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from audiens.domain import lookalike
from audiens.domain.accounts import Principal
from audiens.domain.segments import TraitDef
from audiens.errors import ValidationError
from audiens.ports.onboarding import OnboardingRepository
from audiens.services.audiences import AudienceService
from audiens.services.ingest import new_id
from audiens.services.marketplace import MarketplaceService

MAX_MODELED_FEEDS: Final = 10


class LookalikeService:
    def __init__(
        self, repo: OnboardingRepository, *, audiences: AudienceService, marketplace: MarketplaceService
    ) -> None:
        self._repo = repo
        self._audiences = audiences
        self._marketplace = marketplace

    def create(
        self,
        principal: Principal,
        *,
        name: str,
        seed_trait_id: str | None,
        modeled_on_feed_ids: Sequence[str] | None,
        now: datetime,
    ) -> tuple[TraitDef, lookalike.LookalikeModel]:
        if not seed_trait_id:
            raise ValidationError(
                "An algorithmic trait needs seed_trait_id.",
                code="validation_error",
                details=[{"field": "seed_trait_id"}],
            )
        feed_ids = list(dict.fromkeys(modeled_on_feed_ids or ()))
        if not 1 <= len(feed_ids) <= MAX_MODELED_FEEDS:
            raise ValidationError(
                f"An algorithmic trait is modeled on 1 to {MAX_MODELED_FEEDS} data feeds (modeled_on_feed_ids).",
                code="validation_error",
                details=[{"field": "modeled_on_feed_ids"}],
            )
        seed = self._audiences.resolve_traits(principal.account_id, [seed_trait_id])[seed_trait_id]
        allowed = self._marketplace.modeling_feed_ids(principal.account_id)
        missing = [f for f in feed_ids if f not in allowed]
        if missing:
            raise ValidationError(
                "An algorithmic trait can only be modeled on feeds you subscribe to with a modeling plan; "
                f"no active modeling subscription to: {', '.join(missing)}.",
                code="modeling_subscription_required",
                details=[{"field": "modeled_on_feed_ids", "feed_id": f} for f in missing],
            )
        by_feed = self._marketplace.feed_traits(feed_ids)
        candidate_ids = sorted({t for f in feed_ids for t in by_feed.get(f, []) if t != seed.trait_id})
        found = self._repo.get_traits(candidate_ids)
        candidates = [found[t] for t in candidate_ids if t in found and found[t].feed_id in feed_ids]
        trait_sketches = self._audiences.trait_sketches([seed, *candidates])
        model = lookalike.build(
            trait_sketches[seed.trait_id], {c.trait_id: trait_sketches[c.trait_id] for c in candidates}
        )
        if not model.kept:
            raise ValidationError(
                "None of the modeled feeds' traits shares users with the seed trait, so the look-alike audience "
                "would be empty; choose another seed or other feeds.",
                code="empty_lookalike",
                details=[{"field": "seed_trait_id"}],
            )
        trait = TraitDef(
            trait_id=new_id("trt"),
            account_id=principal.account_id,
            name=name.strip(),
            kind="algorithmic",
            created_at=now,
            seed_trait_id=seed.trait_id,
            modeled_on_feed_ids=tuple(sorted(feed_ids)),
            modeled_trait_ids=model.kept_trait_ids,
        )
        self._repo.put_trait(trait)
        return trait, model
