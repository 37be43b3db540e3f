"""Sketch accuracy: how often the true population lies within the reported bounds (target >= 95 %).

1,000 trials (by default) of random user sets of known size, drawn log-uniformly from 100 to 2,000,000
users, through ``domain.sketches`` exactly as the product computes populations: built from user ids,
serialized and read back, then estimated with bounds at 2 standard deviations (~95.4 %). Also checked:
every set below the nominal size (4,096) is reported exactly, and set operations (union, intersection,
difference of two overlapping sets) keep the truth within bounds at the same rate.

Run: python bench/bench_sketch_accuracy.py [trials] [seed]
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]

from audiens.domain import sketches  # noqa: E402

TRIALS = 1_000
MIN_SIZE, MAX_SIZE = 100, 2_000_000
TARGET_COVERAGE = 0.95


def _ids(rng: random.Random, count: int) -> list[int]:
    # 64-bit random ids: sketches hash whatever they are given, so ints measure the same as user id strings
    return [rng.getrandbits(64) for _ in range(count)]


def main(trials: int = TRIALS, seed: int = 2026) -> None:
    rng = random.Random(seed)
    started = time.perf_counter()
    covered = exact_small = small = 0
    errors: list[float] = []
    ops_covered = ops_trials = 0
    for trial in range(trials):
        size = int(math.exp(rng.uniform(math.log(MIN_SIZE), math.log(MAX_SIZE))))
        users = _ids(rng, size)
        stored = sketches.deserialize(sketches.serialize(sketches.union([sketches.from_users(users)])))  # type: ignore[arg-type]
        found = sketches.estimate(stored)
        covered += found.lower_bound <= size <= found.upper_bound
        errors.append((found.population - size) / size)
        if size < sketches.NOMINAL_ENTRIES:
            small += 1
            exact_small += found.exact and found.population == size
        if trial % 10 == 0 and size <= 200_000:  # set operations on two overlapping sets of known overlap
            overlap = rng.randint(0, size)
            other = users[:overlap] + _ids(rng, rng.randint(0, size))
            a, b = sketches.from_users(users), sketches.from_users(other)  # type: ignore[arg-type]
            truth_union = len(set(users) | set(other))
            truth_inter = len(set(users) & set(other))
            truth_diff = len(set(users) - set(other))
            for sketch, truth in (
                (sketches.union([a, b]), truth_union),
                (sketches.intersect([a, b]), truth_inter),
                (sketches.a_not_b(a, b), truth_diff),
            ):
                est = sketches.estimate(sketch)
                ops_trials += 1
                ops_covered += est.lower_bound <= truth <= est.upper_bound
    elapsed = time.perf_counter() - started
    errors.sort(key=abs)
    rows = [
        ("trials (set sizes log-uniform)", f"{trials:,} ({MIN_SIZE:,} .. {MAX_SIZE:,} users)"),
        ("bounds", f"{sketches.NUM_STD_DEVS} standard deviations (~95.4 %), lg_k = {sketches.LG_K}"),
        ("truth within bounds", f"{covered / trials:.1%}  (target >= {TARGET_COVERAGE:.0%})"),
        ("sets below nominal size reported exactly", f"{exact_small}/{small}"),
        ("median |relative error|", f"{abs(errors[len(errors) // 2]):.3%}"),
        ("95th percentile |relative error|", f"{abs(errors[int(len(errors) * 0.95)]):.3%}"),
        ("set operations: truth within bounds", f"{ops_covered}/{ops_trials} ({ops_covered / max(ops_trials, 1):.1%})"),
        ("time", f"{elapsed:.1f} s"),
    ]
    width = max(len(r[0]) for r in rows)
    print("\nSketch accuracy (theta sketches, domain.sketches)\n")
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    ok = covered / trials >= TARGET_COVERAGE and exact_small == small
    print(f"\n  target met: {'yes' if ok else 'NO'}\n")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
