"""Throughput of segment-level cost attribution (DOMAIN.md §8) on one core.

The monthly close attributes every reported (segment, destination) usage row, so attribution must keep
up with large buyers: the target is 100,000 rows/s for rules of 3-20 traits. Each rule is compiled once
(as the close does per segment) and then applied to ROWS rows of random impressions, REPEATS times; the
best run is reported (the others measure the noise of whatever else the machine is doing).

Run: python bench/bench_attribution.py [rows] [repeats]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "common"))

from audiens.domain.attribution import TraitInfo, compile_attribution
from audiens.domain.rules import And, Node, Not, Or, Trait, parse_rule, trait_ids

TARGET_ROWS_PER_SECOND = 100_000
ROWS = 200_000
REPEATS = 3

# Nested mixes of AND / OR / NOT / comma lists; "tNN" is replaced by a realistic trait id.
RULES = {
    3: "t00 AND (t01 OR NOT t02)",
    5: "t00 AND (t01 OR t02 OR (t03 AND NOT t04))",
    10: "(t00 OR t01 OR t02) AND (t03, t04, (t05 AND NOT t06)) AND NOT (t07 OR t08) OR t09",
    20: (
        "(t00 OR t01 OR t02 OR t03) AND (t04 OR (t05 AND t06) OR NOT t07) AND NOT (t08 OR t09) "
        "AND ((t10 OR t11, t12) OR (t13 AND (t14 OR t15))) OR (t16 AND t17 AND NOT (t18 OR t19))"
    ),
}
FEEDS = ("feed_a", "feed_b", "feed_c", "feed_d", "feed_e")


def trait_id(index: int) -> str:
    return f"trt_{index:02d}{random.Random(index).getrandbits(64):016x}"


def make_rule(template: str) -> Node:
    text = template
    for index in range(19, -1, -1):
        text = text.replace(f"t{index:02d}", trait_id(index))
    return parse_rule(text)


def make_traits(ids: frozenset[str], rng: random.Random) -> dict[str, TraitInfo]:
    traits: dict[str, TraitInfo] = {}
    for position, tid in enumerate(sorted(ids)):
        if position % 7 == 3:
            traits[tid] = TraitInfo("algorithmic", modeled_on_feed_ids=tuple(rng.sample(FEEDS, 2)))
        elif position % 7 == 5:
            traits[tid] = TraitInfo("first_party")
        else:
            traits[tid] = TraitInfo("rule", feed_id=FEEDS[position % len(FEEDS)])
    return traits


def make_population_of(rng: random.Random) -> Callable[[Node], int]:
    """A stand-in for the sketch estimates: random trait populations, plausible sub-expression ones."""
    cache: dict[Node, int] = {}

    def population_of(node: Node) -> int:
        if node not in cache:
            if isinstance(node, Trait):
                cache[node] = rng.randint(10_000, 20_000_000)
            elif isinstance(node, Not):
                cache[node] = max(0, 50_000_000 - population_of(node.child))
            elif isinstance(node, And):
                cache[node] = min(population_of(c) for c in node.children) * 3 // 5
            else:
                cache[node] = sum(population_of(c) for c in node.children) * 4 // 5
        return cache[node]

    return population_of


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else REPEATS
    rng = random.Random(20240501)
    impressions = [rng.randint(1, 10_000_000) for _ in range(rows)]
    python = sys.version.split()[0]
    print(f"Cost attribution throughput, one core: {rows:,} usage rows per rule, best of {repeats} (Python {python})")
    print()
    columns = ("traits", "OR nodes", "compile ms", "best s", "rows/s", "vs target")
    widths = (6, 8, 10, 8, 10, 9)
    header = " | ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    slowest = float("inf")
    for size, template in RULES.items():
        rule = make_rule(template)
        assert len(trait_ids(rule)) == size, (size, len(trait_ids(rule)))
        population_of = make_population_of(rng)
        traits = make_traits(trait_ids(rule), rng)
        started = time.perf_counter()
        plan = compile_attribution(rule, traits, population_of)
        compile_ms = (time.perf_counter() - started) * 1000
        attribute = plan.attribute
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            for amount in impressions:
                attribute(amount)
            best = min(best, time.perf_counter() - started)
        rate = rows / best
        slowest = min(slowest, rate)
        cells = (
            f"{size:>6}",
            f"{_count_or(rule):>8}",
            f"{compile_ms:>10.3f}",
            f"{best:>8.3f}",
            f"{rate:>10,.0f}",
            f"{rate / TARGET_ROWS_PER_SECOND:>8.2f}x",
        )
        print(" | ".join(cells))
    print()
    verdict = "PASS" if slowest >= TARGET_ROWS_PER_SECOND else "FAIL"
    print(f"target: >= {TARGET_ROWS_PER_SECOND:,} rows/s for every rule size")
    print(f"slowest: {slowest:,.0f} rows/s -> {verdict}")


def _count_or(node: Node) -> int:
    if isinstance(node, Trait):
        return 0
    if isinstance(node, Not):
        return _count_or(node.child)
    return int(isinstance(node, Or)) + sum(_count_or(child) for child in node.children)


if __name__ == "__main__":
    main()
