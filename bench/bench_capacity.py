"""Capacity model: the real code paths under DynamoDB's limits, per scenario, with an on-demand cost estimate.

Every scenario runs the functions' own handlers and services in-process on moto (``mock_aws``, resources from
template.yaml) with the DynamoDB limits engine of the local runtime judging every call
(``local_runtime/dynamodb_limits.py``: transaction conflicts, 1,000 WCU/s and 3,000 RCU/s per partition key,
item and request sizes; no random faults here). The engine records the units each partition key consumed
and its peak in any one second; the table prints, per scenario:

* peak WCU/s and RCU/s on the hottest partition key (the limits: 1,000 and 3,000), and that key;
* total write and read request units (transactional writes count 2 per KB, as DynamoDB bills them);
* Lambda seconds: the handlers' wall time measured here (moto's own work included: an upper bound of the
  code's time, without DynamoDB's network latency), scaled as said in the scenario's note;
* the cost at on-demand prices (us-east-1): $0.625 per million write request units, $0.125 per million
  read request units, $0.0000166667 per GB-second of Lambda (the function's MemorySize) and $0.20 per
  million invocations. SQS, S3 and CloudWatch are left out (cents at these volumes).

Scenarios (sizes scaled down where moto cannot run the real volume in minutes; each note says how):

(a) the window rush: RUSH_BUYERS buyers report on the same day through PUT /v1/usage (8 at a time, so their
    first writes meet on the period's keys), while one buyer's BIG_ROWS-row file goes through
    UsageIngestFunction; the 1M-row file is extrapolated linearly from it (rows, units and seconds scale with
    the rows; its per-key rate does not: the writer paces each shard to 800 WCU/s, whatever the file's size).
(b) the close for 1,000 and 10,000 buyers who all reported usage: the close handler (the freeze of every
    buyer's usage, the run and its snapshot, the invoice jobs), then the invoice and payout workers; for
    10,000 the invoice phase runs a sample and is extrapolated per job.
(c) source ingestion: batches of 500 events through the API (one writer: a batch's units on its shard and
    its time at DynamoDB's speed), the same batches on concurrent writers of one source (each leases its own
    shard: transaction conflicts and shards used, measured), and pixel hits through the queue and
    PixelIngestFunction; taken to 100,000 events/s across 1,000 sources (one writer each) and 5,000 events/s
    on one source (the writers that rate needs, one per shard: the hottest key is shard 0, which takes one
    batch at a time, at most one batch's units per batch time).
(d) the daily job over 100,000 segments, scaled down to DAILY_SEGMENTS and extrapolated per segment.

Memory of the invoice worker: tracemalloc's peak while one invoice is computed from a buyer's streamed
usage, at two row counts: flat when it does not grow with the rows.

Run: python bench/bench_capacity.py [--quick] [--only=c]   (``--quick``: smaller sizes, for a smoke run;
``--only``: the scenarios to run, ``abcd`` by default; the invoice worker's memory runs with ``b``)
"""

from __future__ import annotations

import gc
import logging
import math
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "layers" / "common", ROOT / "infra", ROOT / "bench"):
    sys.path.insert(0, str(extra))

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_LOG_LEVEL="ERROR",
    POWERTOOLS_METRICS_NAMESPACE="Audiens",
    POWERTOOLS_METRICS_DISABLED="true",  # the functions' metric lines would bury the table
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from local_runtime import dynamodb_limits  # noqa: E402

dynamodb_limits.install_botocore_hooks()  # before any botocore session exists

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from tests.support.aws import REGION, create_stack, queue_url  # noqa: E402
from tests.support.billing import schedule_event, sqs_event  # noqa: E402
from tests.support.lambda_api import OPERATOR_KEY_HASH, FakeContext, deploy, load_handler, provider_api_event  # noqa: E402
from tests.support.usage import object_created  # noqa: E402

from audiens.domain.periods import Period  # noqa: E402
from audiens.domain.usage_reports import FeedUsageKey, SegmentUsageKey  # noqa: E402
from local_runtime.moto_patches import fast_moto  # noqa: E402

QUICK = "--quick" in sys.argv
ONLY = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), "abcd")  # e.g. --only=c
PERIOD = "2026-10"
IN_WINDOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
RUSH_BUYERS = 200 if QUICK else 1000
RUSH_ROWS = 20
BIG_ROWS = 5_000 if QUICK else 20_000
MILLION = 1_000_000
CLOSE_SIZES = (200, 1000) if QUICK else (1000, 10_000)
CLOSE_SAMPLE = 300
DESTINATIONS = 20
DAILY_SEGMENTS = 100 if QUICK else 1000

WRU_PRICE = 0.625 / 1e6
RRU_PRICE = 0.125 / 1e6
GB_SECOND = 0.0000166667
INVOCATION = 0.20 / 1e6
MEMORY_GB = {
    "api": 0.5,
    "usage_ingest": 3008 / 1024,
    "close": 0.5,
    "invoice": 1.0,
    "payout": 1.0,
    "ingest": 1.0,
    "daily": 0.5,
    "daily_page": 1.0,
}
WRITE_LIMIT, READ_LIMIT = 1000.0, 3000.0


# ------------------------------------------------------------------------------------------ the world


def key_of(index: int) -> tuple[str, str]:
    return f"seg_{index // DESTINATIONS:07d}", f"dst_{index % DESTINATIONS:02d}"


class Catalog:
    """Every buyer may report the first ``keys[buyer]`` (segment, destination) pairs of one key space."""

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}

    def segment_keys(self, buyer_id: str, period: Period) -> list[SegmentUsageKey]:
        return [SegmentUsageKey(s, "Sports fans", d, "DSP", False) for s, d in map(key_of, range(self.keys[buyer_id]))]

    def feed_keys(self, buyer_id: str, period: Period) -> list[FeedUsageKey]:
        return []

    def subscribed_buyers(self, period: Period) -> list[str]:
        return []


@dataclass
class Figures:
    scenario: str
    write_units: float
    read_units: float
    peak_wcu: float
    peak_rcu: float
    hot_write: str
    hot_read: str
    lambda_s: dict[str, float] = field(default_factory=dict)  # function -> seconds
    invocations: dict[str, int] = field(default_factory=dict)
    note: str = ""
    conflicts: int = 0
    throttled: int = 0

    @classmethod
    def of(cls, scenario: str, stats: dict[str, Any], scale: float = 1.0, **more: Any) -> Figures:
        """From the engine's stats; units (not per-key rates) multiplied by ``scale``."""
        return cls(
            scenario,
            float(stats["write_units"]) * scale,
            float(stats["read_units"]) * scale,
            float(stats["peak_wcu_per_s"]),
            float(stats["peak_rcu_per_s"]),
            _key(stats["hottest_writes"]),
            _key(stats["hottest_reads"]),
            conflicts=int(stats.get("conflicts", 0)),
            throttled=int(stats.get("throttled", 0)),
            **more,
        )

    @property
    def seconds(self) -> float:
        return sum(self.lambda_s.values())

    @property
    def cost(self) -> float:
        dynamo = self.write_units * WRU_PRICE + self.read_units * RRU_PRICE
        compute = sum(s * MEMORY_GB[f] * GB_SECOND for f, s in self.lambda_s.items())
        return dynamo + compute + sum(self.invocations.values()) * INVOCATION


def _key(hot: list[dict[str, Any]]) -> str:
    if not hot:
        return "-"
    pk = hot[0]["partition_key"]
    value = next(iter(pk.values())) if isinstance(pk, dict) else pk
    text = str(value.get("S", value)) if isinstance(value, dict) else str(value)
    text = text.split("#", 1)[0] + "#" + text.split("#")[-1] if text.count("#") > 1 else text
    return text if len(text) <= 30 else text[:27] + "..."


def merged(*all_stats: dict[str, Any], scales: tuple[float, ...] | None = None) -> dict[str, Any]:
    """Stats of consecutive phases as one: units summed (each phase scaled), peaks the highest."""
    scales = scales or tuple(1.0 for _ in all_stats)
    out: dict[str, Any] = {"write_units": 0.0, "read_units": 0.0, "peak_wcu_per_s": 0.0, "peak_rcu_per_s": 0.0}
    out["hottest_writes"], out["hottest_reads"] = [], []
    out["conflicts"] = out["throttled"] = 0
    for stats, scale in zip(all_stats, scales, strict=True):
        out["write_units"] += float(stats["write_units"]) * scale
        out["read_units"] += float(stats["read_units"]) * scale
        out["conflicts"] += int(stats.get("conflicts", 0))
        out["throttled"] += int(stats.get("throttled", 0))
        if float(stats["peak_wcu_per_s"]) >= out["peak_wcu_per_s"]:
            out["peak_wcu_per_s"], out["hottest_writes"] = float(stats["peak_wcu_per_s"]), stats["hottest_writes"]
        if float(stats["peak_rcu_per_s"]) >= out["peak_rcu_per_s"]:
            out["peak_rcu_per_s"], out["hottest_reads"] = float(stats["peak_rcu_per_s"]), stats["hottest_reads"]
    return out


LATENCY = {"TransactWriteItems": 0.030, "Query": 0.010, "BatchGetItem": 0.010, "BatchWriteItem": 0.010}
"""DynamoDB's service time per call assumed for the Lambda-time model (others: 5 ms)."""
WRITER_THREADS = 4


class CallMeter:
    """DynamoDB calls by operation and the time spent inside them (emulation, engine, botocore)."""

    def __init__(self) -> None:
        from botocore.client import BaseClient

        self.calls: dict[str, int] = {}
        self.seconds = 0.0
        self._original = BaseClient._make_api_call
        meter = self

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if client.meta.service_model.service_name != "dynamodb":
                return meter._original(client, operation, params)
            started = time.perf_counter()
            try:
                return meter._original(client, operation, params)
            finally:
                meter.seconds += time.perf_counter() - started
                meter.calls[operation] = meter.calls.get(operation, 0) + 1

        BaseClient._make_api_call = counting  # type: ignore[method-assign]

    def reset(self) -> None:
        self.calls, self.seconds = {}, 0.0

    def modeled_latency(self) -> float:
        """Seconds of DynamoDB service time, the writes' transactions spread over the writer's threads."""
        total = 0.0
        for operation, count in self.calls.items():
            share = WRITER_THREADS if operation == "TransactWriteItems" else 1
            total += count * LATENCY.get(operation, 0.005) / share
        return total


METER = CallMeter()


@contextmanager
def engine() -> Iterator[dynamodb_limits.Limits]:
    limits = dynamodb_limits.Limits(time_scale=1.0, fault_rate=0.0, seed="capacity")
    limits.learn_tables(boto3.client("dynamodb", region_name=REGION))
    previous = dynamodb_limits.use(limits)
    try:
        yield limits
    finally:
        dynamodb_limits.use(previous)


def timed(seconds: dict[str, float], function: str, call: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    try:
        return call()
    finally:
        seconds[function] = seconds.get(function, 0.0) + time.perf_counter() - started


# ------------------------------------------------------------------------------------------ (a) the rush


def rush(limits: dynamodb_limits.Limits, catalog: Catalog, bucket: str) -> list[Figures]:
    from audiens.domain.accounts import Principal
    from audiens.wiring import usage_service

    service = usage_service()
    buyers = [f"acc_rush{i:05d}" for i in range(RUSH_BUYERS)]
    for buyer in buyers:
        catalog.keys[buyer] = RUSH_ROWS
    from audiens.wiring import accounts_service

    account, _ = accounts_service().create_active_account(
        company_name="Big buyer", email="big@example.com", roles=["buyer"], revenue_share=None, now=IN_WINDOW
    )
    big = account.account_id
    catalog.keys[big] = BIG_ROWS
    rows = [
        [
            {"segment_id": s, "destination_id": d, "usage": 100 + n}
            for n, (s, d) in enumerate(map(key_of, range(RUSH_ROWS)))
        ]
    ]
    seconds: dict[str, float] = {}

    def report(buyer: str) -> float:
        started = time.perf_counter()
        principal = Principal(account_id=buyer, roles=("buyer",), key_id="key_bench")
        service.put_usage(principal, PERIOD, "segments", rows[0], now=IN_WINDOW, request_id=f"req-{buyer}")
        return time.perf_counter() - started

    body = b"Segment ID,Segment Name,Destination ID,Destination Name,Usage\r\n" + b"".join(
        f"{s},Sports fans,{d},DSP,{n * 7 % 5_000_000}\r\n".encode()
        for n, (s, d) in enumerate(map(key_of, range(BIG_ROWS)))
    )
    key = f"{big}/{PERIOD}/segments/big.csv"
    etag = boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    event = object_created(bucket, key, body, time=IN_WINDOW, etag=etag)
    handler = load_handler("UsageIngestFunction")
    limits.reset("rush")
    with ThreadPoolExecutor(max_workers=8) as pool:
        file_future = pool.submit(
            timed, seconds, "usage_ingest", lambda: handler(event, FakeContext(function_name="usage-ingest"))
        )
        api_seconds = sum(pool.map(report, buyers))
        outcome = file_future.result()
    assert outcome["status"] == "accepted", outcome
    small = Figures.of(
        f"(a) rush: {RUSH_BUYERS:,} buyers (API) + {BIG_ROWS:,}-row file",
        limits.stats(),
        lambda_s={"api": api_seconds, "usage_ingest": seconds["usage_ingest"]},
        invocations={"api": RUSH_BUYERS, "usage_ingest": 1},
        note=f"as run: {RUSH_ROWS} rows per buyer, 8 PUTs at a time while the file is written",
    )
    # The 1M-row file alone, extrapolated from the file's own units and seconds.
    limits.reset("big")
    catalog.keys[big] = BIG_ROWS
    body2 = b"Segment ID,Segment Name,Destination ID,Destination Name,Usage\r\n" + b"".join(
        f"{s},Sports fans,{d},DSP,{n * 7 % 5_000_000 + 1}\r\n".encode()
        for n, (s, d) in enumerate(map(key_of, range(BIG_ROWS)))
    )  # every value changes: a full rewrite
    key2 = f"{big}/{PERIOD}/segments/big2.csv"
    etag2 = boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=key2, Body=body2)["ETag"].strip('"')
    event2 = object_created(bucket, key2, body2, time=IN_WINDOW, etag=etag2)
    from audiens.wiring import usage_repository

    repo = usage_repository()
    repo._parallelism = 1  # measured on one thread: the code's own time is the wall time less DynamoDB's
    METER.reset()
    seconds2: dict[str, float] = {}
    outcome2 = timed(seconds2, "usage_ingest", lambda: handler(event2, FakeContext(function_name="usage-ingest")))
    repo._parallelism = WRITER_THREADS
    assert outcome2["status"] == "accepted" and outcome2["changed"] == BIG_ROWS, outcome2
    scale = MILLION / BIG_ROWS
    stats2 = limits.stats()
    code = seconds2["usage_ingest"] - METER.seconds
    modeled = (code + METER.modeled_latency()) * scale
    floor = float(stats2["write_units"]) * scale / (16 * 800.0)
    big_figures = Figures.of(
        "(a) the 1M-row file",
        stats2,
        scale,
        lambda_s={"usage_ingest": max(modeled, floor)},
        invocations={"usage_ingest": 1},
        note=f"x{scale:.0f} a {BIG_ROWS:,}-row rewrite: code {code:.1f} s + DynamoDB {METER.modeled_latency():.1f} s "
        f"(modeled; moto took {METER.seconds:.1f} s); pacing floor {floor:,.0f} s",
    )
    return [small, big_figures]


# ------------------------------------------------------------------------------------------ (b) the close


def drain(queue: str, handler: Any, seconds: dict[str, float], function: str, limit: int | None = None) -> int:
    sqs = boto3.client("sqs", region_name=REGION)
    url = queue if queue.startswith("http") else queue_url(queue)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    processed = 0
    while limit is None or processed < limit:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        batch = sqs_event(got, arn)
        result = timed(seconds, function, lambda batch=batch: handler(batch, FakeContext()))
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for m in got:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                processed += 1
    return processed


def close(limits: dynamodb_limits.Limits, physical: dict[str, str], buyers: int) -> Figures:
    import bench_close
    from audiens import wiring
    from audiens.domain.usage_reports import ChangeSource, UsageChange
    from audiens.wiring import usage_repository

    world = bench_close.build_world(buyers, 3, 50)
    wiring.billing_inputs = lambda: world  # type: ignore[assignment]
    wiring.billing_service.cache_clear()
    repo = usage_repository()
    period = Period.parse(PERIOD)

    def reported(b: int) -> None:  # the buyer's usage guard and marker exist, as after a real report
        buyer = f"buyer_{b:04d}"
        source = ChangeSource(buyer, "key", "api", f"seed-{buyer}", IN_WINDOW)
        repo.apply_changes(buyer, period, "segments", [UsageChange(("seg_seed", "dst_0"), None, 1)], source)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(reported, range(buyers)))
    limits.reset(f"close-{buyers}")
    seconds: dict[str, float] = {}
    summary = timed(
        seconds, "close", lambda: load_handler("CloseReportingWindowFunction")(schedule_event(), FakeContext())
    )
    jobs = int(summary["invoice_jobs_sent"])
    close_stats = limits.stats()
    limits.reset(f"invoices-{buyers}")
    sample = None if buyers <= CLOSE_SAMPLE else CLOSE_SAMPLE
    invoiced = drain(physical["InvoiceJobsQueue"], load_handler("InvoiceWorkerFunction"), seconds, "invoice", sample)
    invoice_stats = limits.stats()
    factor = jobs / max(invoiced, 1)
    seconds["invoice"] *= factor
    phases, scales = [close_stats, invoice_stats], [1.0, factor]
    note = f"close handler {seconds['close']:.1f} s for {jobs:,} jobs (usage frozen, run, fan-out)"
    paid = 0
    if sample is None:
        limits.reset(f"payouts-{buyers}")
        paid = drain(physical["PayoutJobsQueue"], load_handler("PayoutWorkerFunction"), seconds, "payout")
        phases.append(limits.stats())
        scales.append(1.0)
        report = wiring.billing_service().run_report(period)
        note += f"; run {report.run.status}, {paid} payouts"
    else:
        note += f"; invoices: {invoiced:,} of {jobs:,} jobs run, x{factor:.0f} (payouts as for 1,000)"
    return Figures.of(
        f"(b) close: {buyers:,} buyers",
        merged(*phases, scales=tuple(scales)),
        lambda_s=seconds,
        invocations={"close": 1, "invoice": math.ceil(jobs / 10), "payout": math.ceil(paid / 10)},
        note=note,
    )


# ------------------------------------------------------------------------------------------ (c) ingestion


INGEST_WORKERS = 4
PIXEL_BATCH = 96  # PixelIngestFunction's BatchSize


@contextmanager
def atomic_dynamodb() -> Iterator[None]:
    """Each moto DynamoDB request whole before the next, as DynamoDB is per request, for writers on threads
    (moto checks a condition and writes in two steps another thread can come between)."""
    import threading

    from moto.dynamodb.responses import DynamoHandler

    one_at_a_time = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic(self: Any) -> Any:
        with one_at_a_time:
            return call_action(self)

    DynamoHandler.call_action = atomic  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def source_units(stats: dict[str, Any], source: str) -> tuple[float, float, int]:
    """(units on the source's shard keys, units on its marker keys, shard keys written) from the engine."""
    shards = markers = 0.0
    used = 0
    for hot in stats["hottest_writes"]:
        key = _partition(hot)
        if key == f"SOURCE#{source}" or (key.startswith(f"SOURCE#{source}#") and key.rsplit("#", 1)[1].isdigit()):
            shards += float(hot["write_units"])
            used += 1
        elif key.startswith(f"SOURCE#{source}#M"):
            markers += float(hot["write_units"])
    return shards, markers, used


def _partition(hot: dict[str, Any]) -> str:
    pk = hot["partition_key"]
    value = next(iter(pk.values())) if isinstance(pk, dict) else pk
    return str(value.get("S", value)) if isinstance(value, dict) else str(value)


def batch_seconds(seconds: float, batches: int) -> float:
    """One batch's time at DynamoDB's speed: the code's own time (wall time less the time inside DynamoDB
    calls on moto) plus DynamoDB's service time modeled per call (LATENCY), the calls one after the other."""
    service = sum(count * LATENCY.get(operation, 0.005) for operation, count in METER.calls.items())
    return (seconds - METER.seconds + service) / batches


def ingestion(limits: dynamodb_limits.Limits) -> list[Figures]:
    """(c): batches of 500 events of one source on one writer (the batch's units and time), the same on
    INGEST_WORKERS concurrent writers (each its own service, as Lambda containers: conflicts and shards),
    and pixel hits through the queue and PixelIngestFunction; taken to the target rates."""
    import json

    from tests.functional.onboarding_helpers import pixel_hit

    from audiens.dal.onboarding import DynamoOnboardingRepository
    from audiens.dal.onboarding.common import MARKER_KEYS, SOURCE_SHARDS
    from audiens.services.ingest import IngestService
    from audiens.wiring import ingest_service

    handler = load_handler("ApiFunction")
    context = FakeContext(function_name="api")

    def call(method: str, path: str, body: Any = None) -> Any:
        out = handler(provider_api_event(method, path, body, "acc_ingest", IN_WINDOW), context)
        assert out["statusCode"] < 300, out
        return json.loads(out["body"]) if out.get("body") else None

    source = call("POST", "/v1/sources", {"name": "bench", "type": "api"})["source_id"]
    for t in range(20):
        call(
            "POST",
            "/v1/traits",
            {"name": f"t{t}", "source_id": source, "condition": {"key": "seg", "equals": f"v{t:02d}"}},
        )
    rng = random.Random(7)
    batches, size = (8, 500) if QUICK else (24, 500)

    def events() -> list[dict[str, Any]]:
        return [
            {"user_id": f"u{rng.randrange(40_000)}", "data": {"seg": f"v{rng.randrange(20):02d}"}} for _ in range(size)
        ]

    # 1. one writer: what a batch writes on its shard and its markers' keys, and how long it takes
    limits.reset("ingest")
    METER.reset()
    seconds: dict[str, float] = {}
    for _ in range(batches):
        body = {"events": events()}
        timed(seconds, "ingest", lambda body=body: call("POST", f"/v1/sources/{source}/events", body))
    one = limits.stats(top=100)
    on_shard, on_markers, _ = source_units(one, source)
    per_batch, markers_per_batch = on_shard / batches, on_markers / batches
    batch_s = batch_seconds(seconds["ingest"], batches)
    per_event, per_event_read = (
        float(one["write_units"]) / (batches * size),
        float(one["read_units"]) / (batches * size),
    )
    lambda_per_event = seconds["ingest"] / (batches * size)

    # 2. concurrent writers on the same source
    limits.reset("ingest-concurrent")
    hot_source = ingest_service().source_for_ingest(source, IN_WINDOW)
    assert hot_source is not None
    work = [events() for _ in range(batches)]

    def writer(n: int) -> int:
        service = IngestService(DynamoOnboardingRepository(REGION))
        return sum(service.ingest_batch(hot_source, b, now=IN_WINDOW).stats.conflicts for b in work[n::INGEST_WORKERS])

    with atomic_dynamodb(), ThreadPoolExecutor(INGEST_WORKERS) as pool:
        sketch_conflicts = sum(pool.map(writer, range(INGEST_WORKERS)))
    together = limits.stats(top=100)
    _, _, shards_used = source_units(together, source)

    # 3. pixel hits: the route queues them, PixelIngestFunction counts them PIXEL_BATCH at a time
    pixel = call("POST", "/v1/sources", {"name": "tag", "type": "pixel"})
    hits = 2 * PIXEL_BATCH if QUICK else 6 * PIXEL_BATCH
    for i in range(hits):
        query = {"t": pixel["pixel_token"], "uid": f"c{rng.randrange(40_000)}", "seg": f"v{rng.randrange(20):02d}"}
        pixel_hit(query, pixel["source_id"], IN_WINDOW, f"hit-{i}")
    limits.reset("pixel")
    METER.reset()
    px_seconds: dict[str, float] = {}
    consumer = load_handler("PixelIngestFunction")
    url = os.environ["PIXEL_QUEUE_URL"]
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    consumed = 0
    while consumed < hits:
        got: list[dict[str, Any]] = []
        while len(got) < PIXEL_BATCH and (
            more := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages")
        ):
            got.extend(more)
        out = timed(px_seconds, "ingest", lambda got=got: consumer(sqs_event(got, arn), FakeContext()))
        assert not out["batchItemFailures"] and out["counted"] == len(got), out
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got[:10])]
        )
        for start in range(10, len(got), 10):
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got[start : start + 10])
                ],
            )
        consumed += len(got)
    px = limits.stats(top=100)
    px_shard, px_markers, _ = source_units(px, pixel["source_id"])
    px_batches = math.ceil(hits / PIXEL_BATCH)
    px_batch_s = batch_seconds(px_seconds["ingest"], px_batches)

    def at(rate: float, units_per_batch: float, markers_per_batch: float, per_batch_events: int, batch_time: float):
        """(hottest key WCU/s, the even spread, writers needed) at ``rate`` events/s on one source."""
        batches_per_s = rate / per_batch_events
        writers = max(1, math.ceil(batches_per_s * batch_time))
        hottest_shard = units_per_batch * min(batches_per_s, 1 / batch_time)  # shard 0: one batch at a time
        floor = units_per_batch * batches_per_s / min(writers, SOURCE_SHARDS)
        on_marker_key = markers_per_batch * batches_per_s / MARKER_KEYS
        return max(hottest_shard, on_marker_key), floor, writers

    def api_row(label: str, rate: int, hottest: float, stats: dict[str, Any], key: str, note: str) -> Figures:
        return Figures(
            f"(c) ingest: {label}, per second",
            per_event * rate,
            per_event_read * rate,
            hottest,
            float(stats["peak_rcu_per_s"]),
            key,
            _key(stats["hottest_reads"]),
            lambda_s={"ingest": lambda_per_event * rate},
            invocations={"ingest": math.ceil(rate / size)},
            note=note,
            conflicts=int(stats["conflicts"]),
            throttled=int(stats["throttled"]),
        )

    spread, _, _ = at(100, per_batch, markers_per_batch, size, batch_s)
    hottest, floor, writers = at(5_000, per_batch, markers_per_batch, size, batch_s)
    out = [
        api_row(
            "100,000 events/s over 1,000 sources",
            100_000,
            spread,
            one,
            "SOURCE#…",
            f"100 events/s per source: one writer, shard 0 ({per_batch:.0f} WCU per batch of {size} on its shard)",
        ),
        api_row(
            "5,000 events/s on one source",
            5_000,
            hottest,
            together,
            "SOURCE#…#<shard>",
            f"a batch of {size}: {per_batch:.0f} WCU on its shard, {batch_s * 1000:.0f} ms at DynamoDB's speed -> "
            f"{writers} writers on {min(writers, SOURCE_SHARDS)} shards; "
            f"even spread (floor) {floor:.0f} WCU/s per shard key; "
            f"measured: {INGEST_WORKERS} concurrent writers used {shards_used} shards, "
            f"{together['conflicts']} transaction conflicts, {sketch_conflicts} sketch re-reads, "
            f"peak {together['peak_wcu_per_s']:.0f} WCU/s on {_key(together['hottest_writes'])} (moto's speed)",
        ),
    ]
    px_hottest, px_floor, px_writers = at(
        5_000, px_shard / px_batches, px_markers / px_batches, PIXEL_BATCH, px_batch_s
    )
    out.append(
        Figures(
            "(c) pixel: 5,000 hits/s on one source, per second",
            float(px["write_units"]) / hits * 5_000,
            float(px["read_units"]) / hits * 5_000,
            px_hottest,
            float(px["peak_rcu_per_s"]),
            _key(px["hottest_writes"]),
            _key(px["hottest_reads"]),
            lambda_s={"ingest": px_seconds["ingest"] / hits * 5_000},
            invocations={"ingest": math.ceil(5_000 / PIXEL_BATCH)},
            note=f"batches of {PIXEL_BATCH} hits: {px_shard / px_batches:.0f} WCU on the shard, "
            f"{px_markers / hits:.1f} WCU of markers per hit over {MARKER_KEYS} keys, "
            f"{px_batch_s * 1000:.0f} ms per batch -> {px_writers} consumers; floor {px_floor:.0f} WCU/s per shard key",
            conflicts=int(px["conflicts"]),
        )
    )
    return out


# ------------------------------------------------------------------------------------------ (d) the daily job


def daily(limits: dynamodb_limits.Limits) -> Figures:
    """The schedule and its pages over DAILY_SEGMENTS segments, extrapolated per segment to 100,000."""
    import json

    handler = load_handler("ApiFunction")
    context = FakeContext(function_name="api")

    def call(account: str, method: str, path: str, body: Any = None) -> Any:
        out = handler(provider_api_event(method, path, body, account, IN_WINDOW), context)
        assert out["statusCode"] < 300, out
        return json.loads(out["body"]) if out.get("body") else None

    # An account holds at most 500 segments (the quota): the segments are spread over providers of 250 each.
    per_provider = 250
    for first in range(0, DAILY_SEGMENTS, per_provider):
        account = f"acc_daily_{first // per_provider}"
        source = call(account, "POST", "/v1/sources", {"name": "daily", "type": "api"})["source_id"]
        condition = {"key": "seg", "equals": "v"}
        trait = call(account, "POST", "/v1/traits", {"name": "t", "source_id": source, "condition": condition})
        events = [{"user_id": f"u{i}", "data": {"seg": "v"}} for i in range(500)]
        call(account, "POST", f"/v1/sources/{source}/events", {"events": events})
        for n in range(first, min(first + per_provider, DAILY_SEGMENTS)):
            segment = {"name": f"s{n}", "category": "c", "rule": trait["trait_id"], "expiration_days": 30}
            call(account, "POST", "/v1/segments", segment)
    limits.reset("daily")
    seconds: dict[str, float] = {}
    event = {"time": "2026-11-04T03:00:00Z", "schedule": "daily-maintenance"}
    summary = timed(seconds, "daily", lambda: load_handler("DailyMaintenanceFunction")(event, FakeContext()))
    pages = drain(os.environ["DAILY_SEGMENTS_QUEUE_URL"], load_handler("DailySegmentsFunction"), seconds, "daily_page")
    stats = limits.stats()
    scale = 100_000 / DAILY_SEGMENTS
    # The schedule again, warm: its time is then its per-id work (the index query, the sends), scaled below.
    warm: dict[str, float] = {}
    timed(warm, "daily", lambda: load_handler("DailyMaintenanceFunction")(event, FakeContext()))
    schedule_s = warm["daily"]
    seconds["daily"] = schedule_s
    for name in seconds:
        seconds[name] *= scale
    return Figures.of(
        "(d) daily job: 100,000 segments",
        stats,
        scale,
        lambda_s=seconds,
        invocations={"daily": 1, "daily_page": math.ceil(100_000 / 100)},
        note=f"x{scale:.0f} of {DAILY_SEGMENTS:,} segments ({summary['segment_pages']} pages, {pages} processed); "
        f"the schedule (warm) {schedule_s:.2f} s for {DAILY_SEGMENTS:,} ids; 1,000 pages on 10 workers",
    )


# ------------------------------------------------------------------------------------------ memory


class StreamedInputs:
    """``BillingInputs`` whose usage is the ledger's stream: 100 segments sold to the buyer at a CPM, on as
    many destinations as the rows need (3 channels): what an invoice holds is bounded by segments x
    channels, so its peak must not grow with the rows."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def subscriptions(self, buyer_id: str, period: Period) -> list[Any]:
        return []

    def segment_usage(self, buyer_id: str, period: Period) -> Iterator[Any]:
        from audiens.domain.invoicing import SegmentUsage

        for row in self.ledger.segment_rows(buyer_id, period):
            channel = f"chan_{int(row.destination_id[4:]) % 3}"
            yield SegmentUsage(row.segment_id, row.destination_id, row.usage, channel)

    def feed_usage(self, buyer_id: str, period: Period) -> list[Any]:
        return []

    def segments(self, ids: Any) -> dict[str, Any]:
        from decimal import Decimal

        from audiens.domain.invoicing import SegmentInfo

        return {i: SegmentInfo(i, f"Segment {i}", "t1", "acc_seller", "public", Decimal("1.50")) for i in ids}

    def traits(self, ids: Any) -> dict[str, Any]:
        return {}

    def population_of(self, node: Any) -> int:
        return 0

    def population_in(self, rule: Any) -> Callable[[Any], int]:
        return self.population_of

    def parties(self, ids: Any) -> dict[str, Any]:
        from audiens.domain.invoicing import Party

        return {i: Party(i, f"Party {i}") for i in ids}


class PagedUsage:
    """Stands for DynamoDB's Query: pages of 1 MB of raw usage items, made when asked (as botocore hands
    them over), so the peak measured is the worker's own and not moto's copy of the table."""

    PAGE = 4_000  # items of ~250 bytes: DynamoDB's 1 MB page

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def pages(self) -> Iterator[dict[str, Any]]:
        """Every page of every shard (the floor: what making the raw items costs)."""
        for shard in range(16):
            params: dict[str, Any] = {
                "ExpressionAttributeValues": {":pk": {"S": f"USAGE#b#p#{shard:02d}"}, ":prefix": {"S": "USE#SEG#"}}
            }
            while True:
                page = self.query(**params)
                yield page
                if "LastEvaluatedKey" not in page:
                    break
                params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def query(self, **params: Any) -> dict[str, Any]:
        pk = params["ExpressionAttributeValues"][":pk"]["S"]
        if not params["ExpressionAttributeValues"].get(":prefix", {}).get("S", "").startswith("USE#SEG"):
            return {"Items": []}
        shard = int(pk[-2:])
        start = int(params.get("ExclusiveStartKey", {}).get("i", {}).get("N", shard))
        indexes = range(start, min(self.rows, start + 16 * self.PAGE), 16)
        items = [
            {
                "pk": {"S": pk},
                "sk": {"S": f"USE#SEG#seg_{i % 100:03d}#dst_{i // 100:06d}"},
                "k1": {"S": f"seg_{i % 100:03d}"},
                "k2": {"S": f"dst_{i // 100:06d}"},
                "usage": {"N": str(1000 + i % 977)},
                "updated_at": {"S": "2026-11-03T10:00:00.000000Z"},
                "source": {"S": "upl_bench"},
            }
            for i in indexes
        ]
        following = start + 16 * self.PAGE
        return {"Items": items, **({"LastEvaluatedKey": {"i": {"N": str(following)}}} if following < self.rows else {})}


def invoice_memory(rows: int, *, trace: bool = True) -> tuple[float, float, str]:
    """(peak MiB, seconds, total) of one invoice computed from ``rows`` streamed usage rows."""
    from audiens.dal.usage import DynamoUsageRepository
    from audiens.domain.invoicing import build_invoice
    from audiens.services.billing_lookups import invoice_inputs
    from audiens.services.usage_ledger import UsageLedger

    repo = DynamoUsageRepository(REGION)
    repo.__dict__["_client"] = PagedUsage(rows)
    inputs = StreamedInputs(UsageLedger(repo, Catalog()))
    gc.collect()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    invoice = build_invoice(invoice_inputs(inputs, "acc_mem", Period.parse(PERIOD), "USD"))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    tracemalloc.stop()
    return peak / 2**20, elapsed, str(invoice.total)


# ------------------------------------------------------------------------------------------ main


@contextmanager
def stack(catalog: Catalog | None = None) -> Iterator[dict[str, str]]:
    from audiens import wiring

    with fast_moto(), mock_aws():
        physical = create_stack()
        deploy(physical, {"Stage": "bench", "OperatorKeyHash": OPERATOR_KEY_HASH})
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        if catalog is not None:
            wiring.usage_catalog = lambda: catalog  # type: ignore[assignment]
        yield physical


HEADER_PRINTED: list[bool] = []


def print_table(figures: list[Figures]) -> None:
    """Print the rows (the header once): each scenario as soon as it is measured."""
    header = (
        f"{'scenario':<46} {'peak WCU/s':>10} {'peak RCU/s':>10} {'hottest key (writes)':<30} "
        f"{'WRU':>12} {'RRU':>12} {'Lambda s':>9} {'cost $':>9}"
    )
    if not HEADER_PRINTED:
        print(header)
        print("-" * len(header))
        HEADER_PRINTED.append(True)
    for f in figures:
        print(
            f"{f.scenario:<46} {f.peak_wcu:>10,.0f} {f.peak_rcu:>10,.0f} {f.hot_write:<30} "
            f"{f.write_units:>12,.0f} {f.read_units:>12,.0f} {f.seconds:>9,.1f} {f.cost:>9.2f}"
        )
        print(
            f"{'':<4}{f.note}"
            + (f" [conflicts {f.conflicts}, throttled {f.throttled}]" if f.conflicts or f.throttled else "")
        )


def main() -> None:
    import audiens.wiring as wiring

    original_catalog = wiring.usage_catalog
    figures: list[Figures] = []
    catalog = Catalog()
    logging.disable(logging.INFO)  # the functions' INFO lines would measure the terminal

    def show(new: list[Figures]) -> None:
        figures.extend(new)
        print_table(new)
        sys.stdout.flush()

    if "a" in ONLY:
        with stack(catalog) as physical, engine() as limits:
            show(rush(limits, catalog, physical["UsageBucket"]))
    wiring.usage_catalog = original_catalog  # type: ignore[assignment]
    for buyers in CLOSE_SIZES if "b" in ONLY else ():
        with stack() as physical, engine() as limits:
            show([close(limits, physical, buyers)])
    if "c" in ONLY:
        with stack() as physical, engine() as limits:
            show(ingestion(limits))
    if "d" in ONLY:
        with stack() as physical, engine() as limits:
            show([daily(limits)])
    print()
    over = [f.scenario for f in figures if f.peak_wcu > WRITE_LIMIT or f.peak_rcu > READ_LIMIT]
    print(f"partition keys over 1,000 WCU/s or 3,000 RCU/s: {', '.join(over) if over else 'none'}")
    if "b" not in ONLY or "a" not in ONLY:
        return
    # Both sizes fill every shard's 1 MB pages (16 x 4,000 rows), so the one page in flight is the same.
    sizes = (100_000, 300_000) if QUICK else (100_000, 500_000)
    with stack():
        small, large = (invoice_memory(rows) for rows in sizes)
        _, speed_s, _ = invoice_memory(sizes[0], trace=False)
        floor_started = time.perf_counter()
        sum(1 for _ in PagedUsage(sizes[0]).pages())
        floor_s = time.perf_counter() - floor_started
    growth = (large[0] / small[0] - 1) * 100
    rate = sizes[0] / speed_s
    print(
        f"invoice worker memory (tracemalloc peak): {small[0]:.1f} MiB at {sizes[0]:,} rows, {large[0]:.1f} MiB at "
        f"{sizes[1]:,} rows: +{growth:.0f} % for {sizes[1] / sizes[0]:.0f}x the rows (totals {small[2]} / {large[2]})"
    )
    print(
        f"invoice worker speed: {rate:,.0f} rows/s streamed, parsed and aggregated (floor: making the raw pages, "
        f"{sizes[0] / floor_s:,.0f} rows/s) -> a 1M-row buyer in {MILLION / rate:,.0f} s of the worker's 120 s"
    )
    big = next(f for f in figures if f.scenario.startswith("(a) the 1M"))
    print(f"1M-row file: {big.seconds:,.0f} s of Lambda (target < 900 s: {'OK' if big.seconds < 900 else 'MISSED'})")


if __name__ == "__main__":
    main()
