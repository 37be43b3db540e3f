"""Audience builder latency: ``POST /v1/segments/estimate`` over 2, 5 and 20 traits of ~1M users each.

Server-side, in-process: the API function's handler is called as API Gateway would call it (authorizer
context pre-filled) on moto's DynamoDB built from template.yaml, and timed around the handler only. Each
trait is a rule trait on its own data-point value whose stored sketch holds ~1,000,000 users (random,
overlapping); NOT rules read the source's all-users sketch too. Reported: p50/p99 wall time, and the
same without the time spent inside moto's simulated DynamoDB (reads of ~20 KB sketches), which in AWS
is DynamoDB's own latency, and the CPU time of the request. Two read modes: "cold" (every sketch read
from DynamoDB) and "builder" (the rule re-estimated within 5 s, as while a user edits it: the API
container reuses the sketches it just read). Target: p99 <= 50 ms.

Run: python bench/bench_estimate.py [iterations]
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_NAMESPACE="Audiens",
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws  # noqa: E402
from moto.core import botocore_stubber  # noqa: E402

ITERATIONS = 300
TRAITS = 20
USERS_PER_TRAIT = 1_000_000
UNIVERSE = 2_000_000
TARGET_P99_MS = 50.0
RULES = {
    2: "t0 AND t1",
    5: "(t0 OR t1) AND (t2 OR t3) AND NOT t4",
    20: (
        "(t0 OR t1 OR t2 OR t3) AND (t4, t5, t6) AND NOT (t7 OR t8) OR (t9 AND t10 AND NOT t11) "
        "OR (t12 OR t13) AND (t14 OR (t15 AND NOT t16)) OR NOT (t17 OR t18 OR t19)"
    ),
}

MOTO = {"seconds": 0.0}
_moto_call = botocore_stubber.BotocoreStubber.__call__


def _timed_moto_call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
    start = time.perf_counter()
    try:
        return _moto_call(self, event_name, request, **kwargs)
    finally:
        MOTO["seconds"] += time.perf_counter() - start


botocore_stubber.BotocoreStubber.__call__ = _timed_moto_call  # type: ignore[method-assign]


def api_event(path: str, body: Any, account_id: str, now: datetime) -> dict[str, Any]:
    from tests.support.lambda_api import event

    ev = event("api_get_me.json")
    ev.update(
        path=path,
        httpMethod="POST",
        headers={"Content-Type": "application/json"},
        multiValueHeaders={"Content-Type": ["application/json"]},
        body=json.dumps(body),
    )
    ev["requestContext"].update(
        httpMethod="POST",
        requestTimeEpoch=int(now.timestamp() * 1000),
        authorizer={"principalId": account_id, "account_id": account_id, "roles": "provider", "key_id": "key_bench"},
    )
    return ev


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(iterations: int = ITERATIONS) -> None:
    from tests.support.aws import create_stack
    from tests.support.lambda_api import FakeContext, deploy, load_handler

    with mock_aws():
        physical = create_stack("bench")
        deploy(physical, {"Stage": "bench"})
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        handler = load_handler("ApiFunction")
        context = FakeContext(function_name="api")
        now = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
        account = "acc_bench"

        def call(path: str, body: Any) -> Any:
            out = handler(api_event(path, body, account, now), context)
            assert out["statusCode"] < 300, out
            return json.loads(out["body"])

        from audiens.domain import sketches
        from audiens.wiring import onboarding_repository

        source = call("/v1/sources", {"name": "bench", "type": "api"})["source_id"]
        ids = [
            call(
                "/v1/traits", {"name": f"t{t}", "source_id": source, "condition": {"key": "seg", "equals": f"v{t:02d}"}}
            )["trait_id"]
            for t in range(TRAITS)
        ]
        # ~1M users per trait: a random run of ids in a universe of 2M, so any two traits overlap
        rng = random.Random(5)
        repo = onboarding_repository()
        value_sketches = {}
        for t in range(TRAITS):
            start = rng.randrange(UNIVERSE - USERS_PER_TRAIT)
            value_sketches[f"DP#seg#v{t:02d}"] = sketches.from_users(range(start, start + USERS_PER_TRAIT))  # type: ignore[arg-type]
        value_sketches["ALL"] = sketches.union(value_sketches.values())
        labels = {sk: ("seg", sk.rsplit("#", 1)[1]) for sk in value_sketches if sk != "ALL"}
        repo.merge_sketches(source, value_sketches, now=now, labels=labels)

        import audiens.services.audiences as audiences

        results = []
        for mode in ("cold", "builder"):
            # cold: every estimate reads its sketches from DynamoDB; builder: the same rule re-estimated
            # within ESTIMATE_FRESHNESS (5 s), as while a user edits it, so sketches come from memory
            audiences.ESTIMATE_CACHE_ENTRIES = 0 if mode == "cold" else 500
            for size, template in RULES.items():
                rule = template
                for t in range(TRAITS - 1, -1, -1):
                    rule = rule.replace(f"t{t}", ids[t])
                ev = api_event("/v1/segments/estimate", {"rule": rule}, account, now)
                for _ in range(20):  # warm-up
                    handler(ev, context)
                walls, own, cpus = [], [], []
                answer: dict[str, Any] = {}
                for _ in range(iterations):
                    MOTO["seconds"] = 0.0
                    started, cpu_started = time.perf_counter(), time.process_time()
                    out = handler(ev, context)
                    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                    walls.append(wall * 1000)
                    cpus.append(cpu * 1000)
                    own.append((wall - MOTO["seconds"]) * 1000)
                    answer = json.loads(out["body"])
                results.append((mode, size, walls, cpus, own, answer))

    print(f"\nEstimate latency: POST /v1/segments/estimate, traits of ~{USERS_PER_TRAIT:,} users, in-process on moto\n")
    columns = (
        "reads",
        "traits",
        "p50 ms",
        "p99 ms",
        "CPU p50",
        "CPU p99",
        "p50 w/o moto",
        "p99 w/o moto",
        "population",
    )
    widths = (7, 6, 7, 7, 7, 7, 12, 12, 11)
    print("  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)) + "  bounds")
    for mode, size, walls, cpus, own, answer in results:
        cells = (
            mode,
            str(size),
            f"{statistics.median(walls):.1f}",
            f"{_percentile(walls, 0.99):.1f}",
            f"{statistics.median(cpus):.1f}",
            f"{_percentile(cpus, 0.99):.1f}",
            f"{statistics.median(own):.1f}",
            f"{_percentile(own, 0.99):.1f}",
            f"{answer['population']:,}",
        )
        bounds = f"{answer['lower_bound']:,}..{answer['upper_bound']:,}"
        print("  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + f"  {bounds}")
    for mode in ("cold", "builder"):
        worst = max(_percentile(w, 0.99) for m, _, w, _, _, _ in results if m == mode)
        verdict = "yes" if worst <= TARGET_P99_MS else "NO"
        print(f"\n  {mode}: p99 target ({TARGET_P99_MS:.0f} ms, wall, moto included) met: {verdict}", end="")
    print("\n  (wall-clock percentiles include whatever else the machine runs; CPU ones do not)\n")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
