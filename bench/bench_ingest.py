"""Ingestion throughput: 100,000 events over 50 traits through the API function's events route, on moto.

Every batch of 1,000 events goes through ``ApiFunction`` in-process exactly as API Gateway would hand
it over (the authorizer's context pre-filled: API Gateway caches the authorizer per key), onto moto's
DynamoDB built from template.yaml. Reported:

* events/s end to end, on one core, moto included (CPU time of the process: the figure does not depend
  on what else the machine runs);
* events/s of the handler alone: the same CPU time minus the CPU spent inside moto's simulated DynamoDB
  (in AWS that work happens on DynamoDB's servers, not in the Lambda); the target (>= 20,000 events/s)
  is about the Lambda's own work, which is this figure;
* DynamoDB write calls per 1,000 events and per batch, next to the data-point values each batch
  touched (one trait = one value here): the target is at most one write per touched trait per batch,
  plus the batch's one commit transaction.

Write calls are counted with a botocore ``before-parameter-build`` hook registered for every session (PynamoDB
makes its own), moto's time by wrapping its botocore stubber.

Run: python bench/bench_ingest.py [events] [batch_size] [transaction]   (default: SKETCH_WRITE_MODE=items)
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
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
    POWERTOOLS_LOG_LEVEL="ERROR",
    POWERTOOLS_METRICS_NAMESPACE="Audiens",
)
os.environ.pop("AWS_ENDPOINT_URL", None)

import botocore.handlers  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core import botocore_stubber  # noqa: E402

EVENTS = 100_000
BATCH = 1_000
TRAITS = 50
USERS = 40_000
TARGET_EVENTS_PER_SECOND = 20_000
WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


class Meter:
    """DynamoDB calls by operation (botocore hook) and the time moto spends serving them."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items_written = 0
        self.sketch_items = 0
        self.moto_seconds = 0.0
        self.enabled = False

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if not self.enabled:
            return
        self.calls[model.name] += 1
        puts: list[dict[str, Any]] = []
        if model.name == "TransactWriteItems":
            self.items_written += len(params.get("TransactItems", []))
            puts = [t["Put"] for t in params.get("TransactItems", []) if "Put" in t]
        elif model.name == "BatchWriteItem":
            self.items_written += sum(len(v) for v in params.get("RequestItems", {}).values())
        elif model.name in WRITE_OPERATIONS:
            self.items_written += 1
            puts = [params] if model.name == "PutItem" else []
        self.sketch_items += sum(1 for p in puts if p["Item"]["sk"]["S"].startswith(("DP#", "ALL")))

    @property
    def write_calls(self) -> int:
        return sum(n for op, n in self.calls.items() if op in WRITE_OPERATIONS)


METER = Meter()
MODE = "items"
botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build.dynamodb", METER.before_call))
_moto_call = botocore_stubber.BotocoreStubber.__call__


def _timed_moto_call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
    start = time.process_time()
    try:
        return _moto_call(self, event_name, request, **kwargs)
    finally:
        if METER.enabled:
            METER.moto_seconds += time.process_time() - start


botocore_stubber.BotocoreStubber.__call__ = _timed_moto_call  # type: ignore[method-assign]


def main(events: int = EVENTS, batch_size: int = BATCH) -> None:
    from tests.support.aws import create_stack
    from tests.support.lambda_api import FakeContext, deploy, load_handler, provider_api_event

    with mock_aws():
        physical = create_stack("bench")
        os.environ["SKETCH_WRITE_MODE"] = MODE  # a tunable the template leaves at its default
        deploy(physical, {"Stage": "bench"})
        handler = load_handler("ApiFunction")
        context = FakeContext(function_name="api")
        now = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
        account = "acc_bench"

        def call(method: str, path: str, body: Any = None, at: datetime = now) -> Any:
            out = handler(provider_api_event(method, path, body, account, at), context)
            assert out["statusCode"] < 300, out
            return json.loads(out["body"]) if out.get("body") else None

        source = call("POST", "/v1/sources", {"name": "bench", "type": "api"})["source_id"]
        for t in range(TRAITS):
            call(
                "POST",
                "/v1/traits",
                {"name": f"t{t}", "source_id": source, "condition": {"key": "seg", "equals": f"v{t:02d}"}},
            )

        # Warm the container first, as Lambda keeps it warm between invocations: model clients, imports.
        # The warm-up goes to another source, so the measured one starts with no sketch in any cache.
        warm = call("POST", "/v1/sources", {"name": "warm-up", "type": "api"})["source_id"]
        for w in range(3):
            events_w = [{"user_id": f"w{w}-{i}", "data": {"seg": f"v{i % TRAITS:02d}"}} for i in range(batch_size)]
            call("POST", f"/v1/sources/{warm}/events", {"events": events_w})

        rng = random.Random(7)
        batches = []
        for b in range(events // batch_size):
            batch = [
                {"user_id": f"user-{rng.randrange(USERS)}", "data": {"seg": f"v{rng.randrange(TRAITS):02d}"}}
                for _ in range(batch_size)
            ]
            batches.append((b, {"events": batch}, len({e["data"]["seg"] for e in batch})))
        payloads = [
            (
                b,
                provider_api_event("POST", f"/v1/sources/{source}/events", body, account, now + timedelta(seconds=b)),
                touched,
            )
            for b, body, touched in batches
        ]

        profiler = None
        if os.environ.get("BENCH_PROFILE"):  # BENCH_PROFILE=file.prof: cProfile of the measured loop only
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        METER.enabled = True
        start, cpu_start = time.perf_counter(), time.process_time()
        touched_total = 0
        for _b, ev, touched in payloads:
            out = handler(ev, context)
            assert out["statusCode"] == 202, out
            touched_total += touched
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        METER.enabled = False
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.environ["BENCH_PROFILE"])

        accepted = call("GET", f"/v1/sources/{source}")["events_accepted"]
        traits = call("GET", "/v1/traits")["traits"]

    n_batches = len(payloads)
    handler_seconds = cpu - METER.moto_seconds
    writes = METER.write_calls
    sketch_writes = METER.sketch_items
    rows = [
        ("events ingested", f"{accepted:,}"),
        ("batches (events each)", f"{n_batches} ({batch_size:,})"),
        ("wall time, moto included", f"{elapsed:.2f} s"),
        ("CPU time, moto included", f"{cpu:.2f} s"),
        ("  of which inside moto's DynamoDB", f"{METER.moto_seconds:.2f} s"),
        ("events/s end to end (CPU, moto included)", f"{accepted / cpu:,.0f}"),
        (
            "events/s of the handler (moto excluded)",
            f"{accepted / handler_seconds:,.0f}  (target >= {TARGET_EVENTS_PER_SECOND:,})",
        ),
        ("DynamoDB write calls per 1,000 events", f"{writes / (accepted / 1000):.1f}"),
        ("items written per 1,000 events", f"{METER.items_written / (accepted / 1000):.1f}"),
        ("touched trait values per batch (avg)", f"{touched_total / n_batches:.1f}"),
        ("write calls per batch (avg)", f"{writes / n_batches:.2f}  (mode {MODE})"),
        ("sketch items written per batch (avg)", f"{sketch_writes / n_batches:.1f}  (touched values + all-users)"),
        (
            "other items written per batch (avg)",
            f"{(METER.items_written - sketch_writes) / n_batches:.1f}  (marker, minute, activity, totals)",
        ),
        ("calls by operation", ", ".join(f"{op} {n}" for op, n in sorted(METER.calls.items()))),
        (
            "populations (min..max of 50 traits)",
            f"{min(t['population'] for t in traits):,}..{max(t['population'] for t in traits):,}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nIngestion: {events:,} events over {TRAITS} traits through ApiFunction on moto (one core)\n")
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    ok_rate = accepted / handler_seconds >= TARGET_EVENTS_PER_SECOND
    ok_writes = sketch_writes / n_batches <= touched_total / n_batches + 1
    verdict = {True: "yes", False: "NO"}
    print(f"\n  handler rate target met: {verdict[ok_rate]}")
    print(f"  at most one sketch write per touched trait per batch (+ all-users): {verdict[ok_writes]}\n")


if __name__ == "__main__":
    # "transaction": SKETCH_WRITE_MODE=transaction (a batch in one TransactWriteItems); default: items mode
    MODE = "transaction" if "transaction" in sys.argv[1:] else "items"
    print(f"\n(SKETCH_WRITE_MODE={MODE})")
    main(*(int(a) for a in sys.argv[1:] if a.isdigit()))
