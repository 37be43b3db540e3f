"""Cost attribution (DOMAIN.md §8): segment-level impressions → impressions per (data feed, use case).

Buyers report usage per segment and destination; data providers are paid per feed. The rule tree is
walked from the root with the reported impressions:

* AND and NOT hand their full impressions to every child (every trait was needed to reach the user);
* OR splits its impressions between its children in proportion to their populations, in whole
  impressions by the largest-remainder method, so the split is exact (no impression lost or invented)
  and reproducible to the unit — invoices are built from it and must match the published examples;
* a leaf charges its feed under ``activation`` (a trait from a feed), every modeled-on feed under
  ``modeling`` (an algorithmic trait), or nobody (a buyer's own trait).

Everything here is integer arithmetic: a float share of 10^12 impressions is already off by units.

The billing close attributes the same segment for many (destination, row) pairs, so the work that
depends only on the rule and the populations is done once by ``compile_attribution``; the resulting
plan's ``attribute`` does only the per-row divisions. ``allocate_nodes`` is the literal, slow walk
the plan is tested against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from math import gcd
from operator import itemgetter
from typing import Final, Literal, NamedTuple

from audiens.domain.rules import And, Node, Not, Or, Trait, min_trait_id

__all__ = [
    "TRAIT_KINDS",
    "USE_ACTIVATION",
    "USE_MODELING",
    "AttributionPlan",
    "FeedUse",
    "NodePath",
    "PopulationOf",
    "TraitInfo",
    "TraitKind",
    "allocate_nodes",
    "allocate_traits",
    "attribute",
    "compile_attribution",
    "largest_remainder",
]

USE_ACTIVATION: Final = "activation"
USE_MODELING: Final = "modeling"

TraitKind = Literal["rule", "algorithmic", "first_party"]
TRAIT_KINDS: Final = frozenset({"rule", "algorithmic", "first_party"})

FeedUse = tuple[str, str]
"""``(feed_id, use_case)``: the unit a provider is paid for."""

NodePath = tuple[int, ...]
"""A node's position in the rule tree: the child indexes from the root (the root is ``()``)."""

PopulationOf = Callable[[Node], int]
"""Population of a trait or estimated population of a sub-expression; must be an ``int`` >= 0."""


@dataclass(frozen=True, slots=True)
class TraitInfo:
    """What attribution needs to know about one trait of the rule.

    ``feed_id`` is the data feed the trait belongs to (``None`` for a buyer's own trait);
    ``modeled_on_feed_ids`` are the feeds an algorithmic trait was modeled on.
    """

    kind: TraitKind
    feed_id: str | None = None
    modeled_on_feed_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Contradictory combinations would silently bill (or not bill) someone; refuse them at the boundary.
        if self.kind not in TRAIT_KINDS:
            raise ValueError(f"unknown trait kind {self.kind!r}")
        if self.kind == "first_party" and self.feed_id is not None:
            raise ValueError("a first-party trait belongs to no data feed")
        if self.kind != "algorithmic" and self.modeled_on_feed_ids:
            raise ValueError("only an algorithmic trait is modeled on feeds")

    @property
    def charges(self) -> tuple[FeedUse, ...]:
        """The (feed, use case) pairs that each impression reaching this trait is billed to."""
        if self.kind == "algorithmic":
            # A feed listed twice is still one modeling use of that feed.
            return tuple((feed, USE_MODELING) for feed in dict.fromkeys(self.modeled_on_feed_ids))
        if self.kind == "rule" and self.feed_id is not None:
            return ((self.feed_id, USE_ACTIVATION),)
        return ()


# ------------------------------------------------------------------------------------ largest remainder


def largest_remainder(total: int, weights: Sequence[int], tie_keys: Sequence[str]) -> list[int]:
    """Split ``total`` whole units in proportion to ``weights`` (Hamilton's largest-remainder method).

    Chosen because it is exact (the shares sum to ``total``) and never more than one unit away from the
    proportional share (each is the floor or the ceiling of ``total * w / sum(w)``): each child gets its
    floor, and the units left over go one each to the largest remainders. Ties go to the lowest tie key,
    then to the earliest position, so the same report always produces the same invoice. All weights 0 →
    an equal split.
    """
    count = len(weights)
    if count == 0:
        raise ValueError("largest_remainder needs at least one weight")
    if len(tie_keys) != count:
        raise ValueError("largest_remainder needs one tie key per weight")
    _check_count(total, "total")
    for weight in weights:
        _check_count(weight, "weight")
    weight_sum = sum(weights)
    if weight_sum == 0:
        weights, weight_sum = [1] * count, count
    shares: list[int] = []
    remainders: list[int] = []
    for weight in weights:
        share, remainder = divmod(total * weight, weight_sum)
        shares.append(share)
        remainders.append(remainder)
    leftover = total - sum(shares)
    if leftover:
        order = sorted(range(count), key=lambda i: (-remainders[i], tie_keys[i], i))
        for index in order[:leftover]:
            shares[index] += 1
    return shares


def _check_count(value: int, name: str) -> None:
    # bool is an int subclass and float estimates sneak in from sketches; both would corrupt exact shares.
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def _child_weights(node: Or, population_of: PopulationOf) -> list[int]:
    weights = []
    for child in node.children:
        population = population_of(child)
        _check_count(population, "population")
        weights.append(population)
    return weights


# ------------------------------------------------------------------------------- reference allocation


def allocate_nodes(rule: Node, impressions: int, population_of: PopulationOf) -> dict[NodePath, int]:
    """Impressions reaching every node of the rule, keyed by path (in pre-order): the walk of §8, literally.

    Slow on purpose: it is the reference the compiled plan is checked against, and lets a test (or an
    auditor) verify conservation at each OR node.
    """
    return {path: amount for path, _, amount in _walk(rule, impressions, population_of)}


def allocate_traits(rule: Node, impressions: int, population_of: PopulationOf) -> dict[str, int]:
    """Impressions per trait id, summed over every path that reaches the trait (each path counts)."""
    per_trait: dict[str, int] = {}
    for _, node, amount in _walk(rule, impressions, population_of):
        if isinstance(node, Trait):
            per_trait[node.id] = per_trait.get(node.id, 0) + amount
    return per_trait


def _walk(rule: Node, impressions: int, population_of: PopulationOf) -> Iterator[tuple[NodePath, Node, int]]:
    _check_count(impressions, "impressions")
    stack: list[tuple[NodePath, Node, int]] = [((), rule, impressions)]
    while stack:
        path, node, amount = stack.pop()
        yield path, node, amount
        if isinstance(node, Trait):
            continue
        if isinstance(node, Not):
            stack.append(((*path, 0), node.child, amount))
            continue
        if isinstance(node, And):
            shares = [amount] * len(node.children)
        else:
            tie_keys = [min_trait_id(child) for child in node.children]
            shares = largest_remainder(amount, _child_weights(node, population_of), tie_keys)
        children = [
            ((*path, index), child, share)
            for index, (child, share) in enumerate(zip(node.children, shares, strict=True))
        ]
        stack.extend(reversed(children))


# ------------------------------------------------------------------------------------- compiled plan
#
# AND and NOT pass their amount through unchanged, so after compilation only the OR nodes do work. The
# plan is a flat program over "slots": slot 0 holds the row's impressions, every child of an OR node gets
# its own slot (the children of one OR are consecutive), and the OR nodes become steps listed so that a
# step's source slot is always filled before the step runs. Each leaf then charges its slot's amount to
# its (feed, use case). A flat loop over plain tuples, with no recursion, is what makes ~100k rows/s
# reachable in pure Python.


class _Step(NamedTuple):
    """One OR node. Flat on purpose: unpacking one tuple per step is the cheapest access in the hot loop."""

    source: int  # slot holding the OR node's impressions
    arity: int  # number of children, n
    first: int  # slot of child 0; the children fill first .. first + n - 1
    # Two children (the common case): one division decides everything.
    weight0: int
    weight_sum: int
    child0_wins_tie: bool
    # Any arity: weights and sum scaled by n, so a scaled remainder plus the child's reversed tie rank
    # (n - 1 - rank) is one int whose order is exactly §8's order (larger remainder, then lower tie key,
    # then earlier position); `key % n` recovers the reversed rank.
    scaled_weights: tuple[int, ...]
    scaled_sum: int
    reversed_ranks: tuple[int, ...]
    child_by_reversed_rank: tuple[int, ...]


class _Charge(NamedTuple):
    feed_use: FeedUse
    slots: Callable[[list[int]], tuple[int, ...]] | None  # several slots (repeated per path) → their amounts
    slot: int  # the only slot when `slots` is None


class AttributionPlan:
    """The attribution of one rule under fixed populations, ready to apply to any number of rows."""

    __slots__ = ("_charges", "_feed_uses", "_slot_count", "_steps")

    def __init__(self, slot_count: int, steps: tuple[_Step, ...], charges: tuple[_Charge, ...]) -> None:
        self._slot_count = slot_count
        self._steps = steps
        self._charges = charges
        self._feed_uses = tuple(charge.feed_use for charge in charges)

    @property
    def feed_uses(self) -> tuple[FeedUse, ...]:
        """Every (feed, use case) this segment can charge, whatever the impressions."""
        return self._feed_uses

    def attribute(self, impressions: int) -> dict[FeedUse, int]:
        """Impressions per (feed_id, use_case) for one usage row; pairs that get 0 are left out."""
        if type(impressions) is not int or impressions < 0:
            _check_count(impressions, "impressions")
        amounts = [0] * self._slot_count
        amounts[0] = impressions
        for (
            source,
            arity,
            first,
            weight0,
            weight_sum,
            child0_wins_tie,
            scaled_weights,
            scaled_sum,
            reversed_ranks,
            child_by_reversed_rank,
        ) in self._steps:
            amount = amounts[source]
            if not amount:
                continue
            if arity == 2:
                # At most one unit is left over, and only if the remainder r is non-zero; the two children's
                # remainders are r and weight_sum - r, so child 0 takes it iff 2r beats weight_sum.
                share, remainder = divmod(amount * weight0, weight_sum)
                doubled = remainder + remainder
                if doubled > weight_sum or (doubled == weight_sum and child0_wins_tie):
                    share += 1
                amounts[first] = share
                amounts[first + 1] = amount - share
                continue
            shares = []
            keys = []
            for weight, reversed_rank in zip(scaled_weights, reversed_ranks, strict=True):
                share, remainder = divmod(amount * weight, scaled_sum)
                shares.append(share)
                keys.append(remainder + reversed_rank)
            leftover = amount - sum(shares)
            if leftover:
                keys.sort(reverse=True)
                for key in keys[:leftover]:
                    shares[child_by_reversed_rank[key % arity]] += 1
            amounts[first : first + arity] = shares
        result: dict[FeedUse, int] = {}
        for feed_use, slots, slot in self._charges:
            total = amounts[slot] if slots is None else sum(slots(amounts))
            if total:
                result[feed_use] = total
        return result


def compile_attribution(rule: Node, traits: Mapping[str, TraitInfo], population_of: PopulationOf) -> AttributionPlan:
    """Precompute everything that depends only on the rule and the populations (asked once per OR child).

    ``traits`` must describe every trait id of the rule. The plan is tied to the populations it was
    compiled with; compile again when they change (e.g. each monthly close).
    """
    steps: list[_Step] = []
    charged_slots: dict[FeedUse, list[int]] = {}
    slot_count = 1

    def place(node: Node, slot: int) -> None:
        nonlocal slot_count
        if isinstance(node, Trait):
            info = traits.get(node.id)
            if info is None:
                raise ValueError(f"no trait information for trait {node.id!r}")
            for feed_use in info.charges:
                # A trait reached through several paths charges once per path: its slot is listed each time.
                charged_slots.setdefault(feed_use, []).append(slot)
        elif isinstance(node, Not):
            place(node.child, slot)
        elif isinstance(node, And):
            for child in node.children:
                place(child, slot)
        else:
            first = slot_count
            slot_count += len(node.children)
            steps.append(_compile_step(node, population_of, slot, first))
            for offset, child in enumerate(node.children):
                place(child, first + offset)

    place(rule, 0)
    charges = tuple(
        _Charge(feed_use, itemgetter(*slots) if len(slots) > 1 else None, slots[0])
        for feed_use, slots in charged_slots.items()
    )
    return AttributionPlan(slot_count, tuple(steps), charges)


def _compile_step(node: Or, population_of: PopulationOf, source: int, first: int) -> _Step:
    weights = _child_weights(node, population_of)
    count = len(weights)
    if sum(weights) == 0:
        weights = [1] * count
    # Dividing every weight by their gcd leaves every floor and the remainder order unchanged.
    divisor = gcd(*weights)
    weights = [weight // divisor for weight in weights]
    weight_sum = sum(weights)
    tie_order = sorted(range(count), key=lambda i: (min_trait_id(node.children[i]), i))
    reversed_ranks = [0] * count
    for rank, position in enumerate(tie_order):
        reversed_ranks[position] = count - 1 - rank
    return _Step(
        source=source,
        arity=count,
        first=first,
        weight0=weights[0],
        weight_sum=weight_sum,
        child0_wins_tie=tie_order[0] == 0,
        scaled_weights=tuple(weight * count for weight in weights),
        scaled_sum=weight_sum * count,
        reversed_ranks=tuple(reversed_ranks),
        child_by_reversed_rank=tuple(reversed(tie_order)),
    )


def attribute(
    rule: Node, impressions: int, traits: Mapping[str, TraitInfo], population_of: PopulationOf
) -> dict[FeedUse, int]:
    """One-off attribution of one row; for many rows of the same segment compile a plan once instead."""
    return compile_attribution(rule, traits, population_of).attribute(impressions)
