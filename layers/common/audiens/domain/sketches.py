"""Audience populations as Apache DataSketches theta sketches (DOMAIN.md §3).

A sketch keeps the hashes of at most ``2**LG_K`` users (4,096 at lg_k = 12): below that it is the exact
set, above it a uniform sample whose size estimates the population with a relative standard error of
about ``1 / sqrt(4096)`` = 1.6 %. Sets of users become sketches once, at ingestion; after that every
population the product shows - a trait, a segment rule, a sub-expression for attribution - is a set
operation on sketches, which costs microseconds whatever the number of users behind them.

Properties the rest of the system relies on:

* **union is commutative, associative and idempotent**, so merging the same batch twice, or two
  workers' batches in either order, gives the same sketch (the ingestion's retry loop depends on it);
* sketches are stored *compact* and compressed (immutable, ordered, under 8 bytes per retained hash);
* bounds are taken at ``NUM_STD_DEVS = 2`` standard deviations, i.e. an approximate 95.4 % confidence
  interval; in exact mode the bounds equal the population.

Pure computation (the datasketches wheel is a C++ extension with no I/O), so it belongs to the domain.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from audiens.domain.rules import Node, Not, Or, Trait

__all__ = [
    "LG_K",
    "NOMINAL_ENTRIES",
    "NUM_STD_DEVS",
    "Estimate",
    "Sketch",
    "a_not_b",
    "combine",
    "deserialize",
    "empty",
    "estimate",
    "evaluate",
    "from_users",
    "intersect",
    "same",
    "serialize",
    "union",
]

LG_K: Final = 12
"""log2 of the nominal number of entries: 4,096 retained hashes, ~33 KB per serialized sketch at most."""

NOMINAL_ENTRIES: Final = 1 << LG_K

NUM_STD_DEVS: Final = 2
"""Width of the reported bounds in standard deviations: about a 95 % confidence interval."""

Sketch = Any
"""A ``datasketches.compact_theta_sketch`` (the extension ships no type information)."""


def _ds() -> Any:
    """datasketches (and numpy under it) load on first use: ~100 ms that API routes without sketches
    and functions that never touch one should not pay at cold start."""
    import datasketches

    return datasketches


@dataclass(frozen=True, slots=True)
class Estimate:
    population: int
    lower_bound: int
    upper_bound: int
    exact: bool


def empty() -> Sketch:
    return _ds().update_theta_sketch(LG_K).compact()


def from_users(user_ids: Iterable[str]) -> Sketch:
    """The sketch of a set of user ids (duplicates are harmless: it is a set)."""
    sketch = _ds().update_theta_sketch(LG_K)
    update = sketch.update
    for user_id in user_ids:
        update(user_id)
    return sketch.compact()


def serialize(sketch: Sketch) -> bytes:
    """Compressed compact form (~25 % smaller than plain; a full sketch is ~24 KB, far below DynamoDB's 400 KB)."""
    compact = sketch.compact() if hasattr(sketch, "compact") else sketch
    return bytes(compact.serialize(True))


def deserialize(data: bytes) -> Sketch:
    return _ds().compact_theta_sketch.deserialize(bytes(data))


def union(sketches: Iterable[Sketch]) -> Sketch:
    merger = _ds().theta_union(LG_K)
    for sketch in sketches:
        merger.update(sketch)
    return merger.get_result()


def combine(sketches: Iterable[Sketch]) -> Sketch:
    """The union for reading: one sketch is returned as it is (a union of one would only copy it)."""
    items = list(sketches)
    return items[0] if len(items) == 1 else union(items)


def intersect(sketches: Iterable[Sketch]) -> Sketch:
    """Intersection of one or more sketches (an empty iterable is refused: it would mean 'everyone')."""
    merger = _ds().theta_intersection()
    seen = False
    for sketch in sketches:
        merger.update(sketch)
        seen = True
    if not seen:
        raise ValueError("intersect needs at least one sketch")
    return merger.get_result()


def a_not_b(a: Sketch, b: Sketch) -> Sketch:
    return _ds().theta_a_not_b().compute(a, b)


def same(a: Sketch, b: Sketch) -> bool:
    """True when two sketches hold the same state: a merge that changes nothing needs no write."""
    return bool(serialize(a) == serialize(b))


def estimate(sketch: Sketch) -> Estimate:
    """Population and bounds as whole users: the bounds are widened outwards, never rounded inwards."""
    if not sketch.is_estimation_mode():
        exact = round(sketch.get_estimate())
        return Estimate(exact, exact, exact, True)
    value = sketch.get_estimate()
    lower = math.floor(sketch.get_lower_bound(NUM_STD_DEVS))
    upper = math.ceil(sketch.get_upper_bound(NUM_STD_DEVS))
    return Estimate(round(value), max(lower, sketch.num_retained), upper, False)


def evaluate(node: Node, traits: Mapping[str, Sketch], universe: Sketch | None) -> Sketch:
    """The sketch of a rule tree: AND = intersection, OR = union, NOT x = universe minus x.

    ``A AND NOT B`` is computed as ``A`` minus ``B`` (not ``A ∩ (universe - B)``): the same set when
    ``A`` lies in the universe, one set operation fewer and no error from the universe's own sampling.
    A ``NOT`` with nothing to subtract it from needs the universe (the users of the rule's sources).
    """
    if isinstance(node, Trait):
        return traits[node.id]
    if isinstance(node, Or):
        return union(evaluate(child, traits, universe) for child in node.children)
    if isinstance(node, Not):
        if universe is None:
            raise ValueError("a NOT outside an AND needs the universe sketch")
        return a_not_b(universe, evaluate(node.child, traits, universe))
    positives = [c for c in node.children if not isinstance(c, Not)]
    negatives = [c.child for c in node.children if isinstance(c, Not)]
    if positives:
        result = intersect(evaluate(child, traits, universe) for child in positives)
    else:
        if universe is None:
            raise ValueError("an AND of only NOTs needs the universe sketch")
        result = universe
    if negatives:
        result = a_not_b(result, union(evaluate(child, traits, universe) for child in negatives))
    return result


def needs_universe(node: Node) -> bool:
    """Whether evaluating the rule touches the universe (a NOT that is not the child of an AND with a positive)."""
    if isinstance(node, Trait):
        return False
    if isinstance(node, Not):
        return True
    if isinstance(node, Or):
        return any(needs_universe(c) for c in node.children)
    positives = [c for c in node.children if not isinstance(c, Not)]
    negatives = [c.child for c in node.children if isinstance(c, Not)]
    if not positives:
        return True
    return any(needs_universe(c) for c in positives) or any(needs_universe(c) for c in negatives)
