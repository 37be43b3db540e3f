"""The look-alike model behind algorithmic traits (DOMAIN.md §3), on theta sketches.

An algorithmic trait is built from a **seed** trait and the traits of the data feeds it is **modeled on**.
The model is deliberately simple, deterministic and checkable by hand:

1. for every candidate trait *t* of the modeled feeds (the seed itself excluded),
   ``affinity(t) = |seed ∩ t| / |t|`` - the share of *t*'s users who are also in the seed, i.e. how much
   *t* "looks like" the seed audience (0 for an empty *t*);
2. keep every candidate with ``affinity ≥ THRESHOLD`` (5 %); if none reaches it, keep the ``FALLBACK_TOP``
   (3) candidates with the highest affinity that overlap the seed at all; ties go to the lower trait id;
3. the look-alike audience is the **union** of the kept traits; its population is that union's estimate.

The kept trait ids are stored on the trait, so its population is recomputed from their current sketches
as data keeps arriving. What billing needs - which feeds it is modeled on - is stored with it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from audiens.domain import sketches
from audiens.domain.sketches import Sketch

__all__ = ["FALLBACK_TOP", "THRESHOLD", "Candidate", "LookalikeModel", "build"]

THRESHOLD: Final = 0.05
FALLBACK_TOP: Final = 3


@dataclass(frozen=True, slots=True)
class Candidate:
    trait_id: str
    population: int
    overlap: int  # estimated |seed ∩ t|
    affinity: float  # overlap / population


@dataclass(frozen=True)
class LookalikeModel:
    kept: tuple[Candidate, ...]
    candidates: tuple[Candidate, ...]
    estimate: sketches.Estimate
    fallback: bool  # True when no candidate reached the threshold

    @property
    def kept_trait_ids(self) -> tuple[str, ...]:
        return tuple(c.trait_id for c in self.kept)


def score(seed: Sketch, candidates: Mapping[str, Sketch]) -> list[Candidate]:
    out: list[Candidate] = []
    for trait_id in sorted(candidates):
        sketch = candidates[trait_id]
        population = sketches.estimate(sketch).population
        overlap = sketches.estimate(sketches.intersect([seed, sketch])).population if population else 0
        overlap = min(overlap, population)
        out.append(Candidate(trait_id, population, overlap, overlap / population if population else 0.0))
    return out


def build(
    seed: Sketch,
    candidates: Mapping[str, Sketch],
    *,
    threshold: float = THRESHOLD,
    fallback_top: int = FALLBACK_TOP,
) -> LookalikeModel:
    """Score the candidates against the seed, keep the look-alikes, and size their union."""
    scored = score(seed, candidates)
    kept = [c for c in scored if c.affinity >= threshold and c.overlap > 0]
    fallback = not kept
    if fallback:
        ranked = sorted((c for c in scored if c.overlap > 0), key=lambda c: (-c.affinity, c.trait_id))
        kept = ranked[:fallback_top]
    kept.sort(key=lambda c: c.trait_id)
    union = sketches.union(candidates[c.trait_id] for c in kept) if kept else sketches.empty()
    return LookalikeModel(tuple(kept), tuple(scored), sketches.estimate(union), fallback)
