"""Theta sketch helpers and rule evaluation (pure): exact below the nominal size, bounded above it."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiens.domain import events, sketches, source_files
from audiens.domain.rules import And, Node, Not, Or, Trait, parse_rule

NOW = datetime(2026, 11, 3, 10, tzinfo=UTC)


def _users(ids: range | set[int]) -> sketches.Sketch:
    return sketches.from_users(f"user-{i}" for i in ids)


def test_populations_below_the_nominal_size_are_exact_through_every_operation() -> None:
    a, b = _users(range(0, 3000)), _users(range(2000, 4000))
    for sketch, expected in [
        (a, 3000),
        (sketches.union([a, b]), 4000),
        (sketches.intersect([a, b]), 1000),
        (sketches.a_not_b(a, b), 2000),
        (sketches.empty(), 0),
    ]:
        found = sketches.estimate(sketch)
        assert (found.population, found.lower_bound, found.upper_bound, found.exact) == (
            expected,
            expected,
            expected,
            True,
        )


def test_large_populations_are_estimated_within_their_bounds() -> None:
    found = sketches.estimate(_users(range(1_000_000)))
    assert not found.exact
    assert found.lower_bound <= 1_000_000 <= found.upper_bound
    assert abs(found.population - 1_000_000) / 1_000_000 < 0.05
    assert (found.upper_bound - found.lower_bound) / 1_000_000 < 0.08  # ~±3.2 % at two standard deviations


def test_serialized_sketches_round_trip_and_stay_far_below_the_item_limit() -> None:
    big = sketches.union([_users(range(200_000))])
    data = sketches.serialize(big)
    assert len(data) < 40_000
    assert sketches.same(sketches.deserialize(data), big)
    assert sketches.estimate(sketches.deserialize(data)) == sketches.estimate(big)


def test_union_is_idempotent_and_commutative_byte_for_byte() -> None:
    a, b = _users(range(0, 9000)), _users(range(5000, 20000))
    ab, ba = sketches.union([a, b]), sketches.union([b, a])
    assert sketches.same(ab, ba)
    assert sketches.same(sketches.union([ab, b]), ab)  # merging a batch again changes nothing
    assert sketches.same(sketches.union([ab, _users(range(100, 200))]), ab)


def test_a_not_without_a_universe_is_refused() -> None:
    with pytest.raises(ValueError):
        sketches.evaluate(parse_rule("NOT a"), {"a": _users({1})}, None)
    assert sketches.needs_universe(parse_rule("NOT a"))
    assert not sketches.needs_universe(parse_rule("a AND NOT b"))
    assert sketches.needs_universe(parse_rule("a OR NOT b"))


def _evaluate_sets(node: Node, sets: dict[str, set[int]], universe: set[int]) -> set[int]:
    if isinstance(node, Trait):
        return sets[node.id]
    if isinstance(node, Not):
        return universe - _evaluate_sets(node.child, sets, universe)
    parts = [_evaluate_sets(c, sets, universe) for c in node.children]
    if isinstance(node, And):
        return set.intersection(*parts)
    return set.union(*parts)


_NAMES = ["a", "b", "c", "d"]


def _trees() -> st.SearchStrategy[Node]:
    leaves: st.SearchStrategy[Node] = st.sampled_from(_NAMES).map(Trait)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            inner.map(Not),
            st.lists(inner, min_size=2, max_size=3).map(lambda c: And(tuple(c))),
            st.lists(inner, min_size=2, max_size=3).map(lambda c: Or(tuple(c))),
        ),
        max_leaves=6,
    )


@settings(max_examples=150, deadline=None)
@given(
    tree=_trees(),
    members=st.lists(st.sets(st.integers(0, 399), max_size=300), min_size=4, max_size=4),
)
def test_rule_evaluation_on_small_populations_equals_the_set_semantics(tree: Node, members: list[set[int]]) -> None:
    sets = dict(zip(_NAMES, members, strict=True))
    universe = set().union(*members) | {10_000}  # someone seen by the source who is in no trait
    by_trait = {name: _users(ids) for name, ids in sets.items()}
    result = sketches.evaluate(tree, by_trait, _users(universe))
    expected = len(_evaluate_sets(tree, sets, universe))
    assert sketches.estimate(result) == sketches.Estimate(expected, expected, expected, True)


@settings(max_examples=25, deadline=None)
@given(size=st.integers(5_000, 60_000), seed=st.integers(0, 2**32))
def test_estimates_of_large_random_sets_stay_close_and_bounds_are_ordered(size: int, seed: int) -> None:
    rng = random.Random(seed)
    found = sketches.estimate(sketches.from_users(str(rng.getrandbits(64)) for _ in range(size)))
    assert found.lower_bound <= found.population <= found.upper_bound
    assert abs(found.population - size) / size < 0.08  # 5 standard deviations: a failure here is a bug


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")), max_size=30),
    chunk=st.integers(1, 17),
    crlf=st.booleans(),
)
def test_split_lines_yields_the_lines_whatever_the_chunking(lines: list[bytes], chunk: int, crlf: bool) -> None:
    data = b"".join(line + (b"\r\n" if crlf else b"\n") for line in lines)
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    assert list(source_files.split_lines(chunks)) == lines


def test_split_lines_replaces_an_overlong_line_without_buffering_it() -> None:
    data = [b"ok\n", b"x" * 50, b"x" * 50, b"\nlast"]
    assert list(source_files.split_lines(data, max_line=60)) == [b"ok", None, b"last"]


def test_event_validation_normalizes_values_and_rejects_one_by_one() -> None:
    good = events.validate_event(
        {
            "user_id": "u1",
            "timestamp": "2026-11-03T09:00:00+01:00",
            "data": {"age": 30.0, "ok": True, "t": ["a", "a", 2]},
        },
        0,
        NOW,
    )
    assert isinstance(good, events.Event)
    assert good.timestamp == datetime(2026, 11, 3, 8, tzinfo=UTC)
    assert good.data == (("age", "30"), ("ok", "true"), ("t", "a"), ("t", "2"))
    assert events.validate_event({"user_id": 7}, 3, NOW) == events.Rejection(
        3, "invalid_user_id", "user_id must be a non-blank string of at most 256 characters."
    )
    assert isinstance(
        events.validate_event({"user_id": "u", "timestamp": "2026-11-03T09:00:00"}, 0, NOW), events.Rejection
    )
    assert isinstance(events.validate_event({"user_id": "u", "data": {"k": float("nan")}}, 0, NOW), events.Rejection)
