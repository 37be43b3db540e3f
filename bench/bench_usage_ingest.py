"""End-to-end usage file ingestion: segment files through UsageIngestFunction on moto (in-process ``mock_aws``).

For each file: the object is put into the usage bucket, its EventBridge "Object Created" event is handed to
the function's handler, and the file is streamed from S3, validated whole, diffed against the stored usage
and written in transactions guarded by the period's state, each value with its audit record.

Figures, per file:
* rows/s end to end, and the split between reading+validating+diffing and writing (moto's own DynamoDB
  emulation dominates the write phase: its figure says little about DynamoDB, the call count does);
* DynamoDB write calls per 1,000 rows, counted with a botocore ``before-call`` event hook on every client,
  against the target of 1 + ceil(rows / 25) batch writes, and the calls by operation (no per-row writes);
* peak traced memory (tracemalloc) of the function, phase by phase. moto keeps every item it stores in
  this same process, so the write phase's peak is reported net of what moto retains afterwards. The
  function itself holds three maps keyed by (segment, destination) - the buyer's known keys, the file's
  values, the stored values - and nothing else that grows with the file: a million-row file whose rows
  repeat 10,000 keys must peak like a 10,000-row file, give or take one thing that is moto's, not the
  function's: in-process moto answers GetObject with the whole object in one buffer (S3 streams it), so
  the read peak also holds about one copy of the file (the "file" column).

moto 5 copies the whole table for every TransactWriteItems call (O(table) per transaction, O(rows^2) per
file) and sorts the whole table for every Query; the bench removes both costs with the same semantics
(``local_runtime/moto_patches.fast_moto``), as the usage functional tests do.

Run: python bench/bench_usage_ingest.py [rows ...]   (default: 100000 1000000, plus 1M rows over 10k keys)
"""

from __future__ import annotations

import gc
import math
import os
import sys
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT / "infra"), str(ROOT)]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    POWERTOOLS_METRICS_NAMESPACE="Audiens",
)
os.environ.pop("AWS_ENDPOINT_URL", None)

import botocore.handlers  # noqa: E402

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
CALLS: Counter[str] = Counter()


def _count_call(model: Any, **_: Any) -> None:
    CALLS[model.name] += 1


# Registered before any client exists, so every botocore client (PynamoDB's included) emits to it.
botocore.handlers.BUILTIN_HANDLERS.append(("before-call.dynamodb", _count_call))

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402
from tests.support.aws import create_stack  # noqa: E402
from tests.support.lambda_api import OPERATOR_KEY_HASH, FakeContext, deploy, load_handler  # noqa: E402
from tests.support.usage import object_created  # noqa: E402

from audiens.domain.periods import Period  # noqa: E402
from audiens.domain.usage_reports import FeedUsageKey, SegmentUsageKey  # noqa: E402
from local_runtime.moto_patches import fast_moto  # noqa: E402

PERIOD = "2026-10"
EVENT_TIME = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
HEADER = b"Segment ID,Segment Name,Destination ID,Destination Name,Usage\r\n"
DESTINATIONS = 20


def segment_id(index: int) -> str:
    return f"seg_{index:07d}{(index * 2654435761) % (1 << 32):08x}"


def key_of(index: int) -> tuple[str, str]:
    return segment_id(index // DESTINATIONS), f"dst_{index % DESTINATIONS:02d}"


class Catalog:
    """The buyer's (segment, destination) mappings: the first ``keys`` of the generated key space."""

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}

    def segment_keys(self, buyer_id: str, period: Period) -> list[SegmentUsageKey]:
        count = self.keys.get(buyer_id, 0)
        return [
            SegmentUsageKey(seg, "Sports fans", dst, "Example DSP", False) for seg, dst in map(key_of, range(count))
        ]

    def feed_keys(self, buyer_id: str, period: Period) -> list[FeedUsageKey]:
        return []

    def subscribed_buyers(self, period: Period) -> list[str]:
        return []


def file_bytes(rows: int, distinct: int) -> bytes:
    parts = [HEADER]
    for index in range(rows):
        seg, dst = key_of(index % distinct)
        parts.append(f"{seg},Sports fans,{dst},Example DSP,{(index % distinct) * 7 % 5_000_000}\r\n".encode())
    return b"".join(parts)


class Phases:
    """Marks the start of the write phase (``apply_changes``): time and traced memory at that instant."""

    def __init__(self) -> None:
        self.write_started: float | None = None
        self.read_peak = 0

    def install(self, patch: pytest.MonkeyPatch) -> None:
        from audiens.dal.usage import DynamoUsageRepository

        original = DynamoUsageRepository.apply_changes
        phases = self

        def apply_changes(repo: Any, *args: Any, **kwargs: Any) -> int:
            phases.write_started = time.perf_counter()
            if tracemalloc.is_tracing():
                phases.read_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()
            return original(repo, *args, **kwargs)

        patch.setattr(DynamoUsageRepository, "apply_changes", apply_changes)


def run(rows: int, distinct: int, *, buyer: str, catalog: Catalog, bucket: str, trace: bool) -> dict[str, Any]:
    import boto3

    from audiens.wiring import usage_service

    catalog.keys[buyer] = distinct
    body = file_bytes(rows, distinct)
    size = len(body)
    key = f"{buyer}/{PERIOD}/segments/bench-{rows}-{distinct}-{'mem' if trace else 'time'}.csv"
    etag = boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    event = object_created(bucket, key, body, time=EVENT_TIME, etag=etag.strip('"'))
    event["detail"]["object"]["size"] = size
    del body
    handler = load_handler("UsageIngestFunction")
    service = usage_service()
    phases = Phases()
    patch = pytest.MonkeyPatch()
    phases.install(patch)
    gc.collect()
    CALLS.clear()
    if trace:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    outcome = handler(event, FakeContext(function_name="usage-ingest"), service)
    elapsed = time.perf_counter() - started
    result: dict[str, Any] = {"rows": rows, "distinct": distinct, "bytes": size, "outcome": outcome}
    if trace:
        gc.collect()
        current, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        retained = current - before  # moto's stored items (and caches) that outlive the invocation
        result["read_peak_mib"] = (phases.read_peak - before) / 2**20
        result["write_peak_mib"] = (write_peak - before - retained) / 2**20
        result["moto_retained_mib"] = retained / 2**20
    else:
        write_started = phases.write_started or time.perf_counter()
        result["seconds"] = elapsed
        result["read_seconds"] = write_started - started
        result["write_seconds"] = started + elapsed - write_started
        result["calls"] = {name: count for name, count in CALLS.items() if name in WRITES}
    patch.undo()
    return result


def main(sizes: list[tuple[int, int]]) -> None:
    from audiens import wiring
    from audiens.wiring import accounts_service

    patch = pytest.MonkeyPatch()
    catalog = Catalog()
    patch.setattr(wiring, "usage_catalog", lambda: catalog)
    with fast_moto(), mock_aws():
        physical = create_stack()
        deploy(physical, {"Stage": "bench", "OperatorKeyHash": OPERATOR_KEY_HASH})
        os.environ["POWERTOOLS_LOG_LEVEL"] = os.environ.get("BENCH_LOG_LEVEL", "WARNING")
        bucket = physical["UsageBucket"]
        print(
            f"{'rows':>22}  {'file':>5}  {'rows/s':>8}  {'read+validate':>13}  {'write':>8}  {'writes/1k rows':>14}  "
            f"{'target/1k':>9}  {'read peak':>9}  {'write peak':>10}  {'moto kept':>9}",
            flush=True,
        )
        for n, (rows, distinct) in enumerate(sizes):
            buyers = []
            for which in ("time", "mem"):
                account, _ = accounts_service().create_active_account(
                    company_name=f"Bench buyer {n} {which}",
                    email=f"bench{n}{which}@example.com",
                    roles=["buyer"],
                    revenue_share=None,
                    now=EVENT_TIME,
                )
                buyers.append(account.account_id)
            timed = run(rows, distinct, buyer=buyers[0], catalog=catalog, bucket=bucket, trace=False)
            traced = run(rows, distinct, buyer=buyers[1], catalog=catalog, bucket=bucket, trace=True)
            assert timed["outcome"]["status"] == "accepted", timed["outcome"]
            assert traced["outcome"]["status"] == "accepted", traced["outcome"]
            calls = timed["calls"]
            total = sum(calls.values())
            target = 1 + math.ceil(rows / 25)
            label = f"{rows:,} rows" + ("" if distinct == rows else f" / {distinct:,} keys")
            memory = (
                f"{traced['read_peak_mib']:>8.0f}M  {traced['write_peak_mib']:>9.0f}M  "
                f"{traced['moto_retained_mib']:>8.0f}M"
            )
            print(
                f"{label:>22}  {timed['bytes'] / 2**20:>4.0f}M  {rows / timed['seconds']:>8,.0f}  "
                f"{timed['read_seconds']:>12.1f}s  "
                f"{timed['write_seconds']:>7.1f}s  {1000 * total / rows:>14.2f}  {1000 * target / rows:>9.2f}  {memory}"
            )
            verdict = "OK" if total <= target else "OVER TARGET"
            print(f"{'':>29}write calls: {calls} (target <= {target:,}): {verdict}", flush=True)
    patch.undo()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    plan = [(n, n) for n in args] if args else [(100_000, 100_000), (1_000_000, 1_000_000), (1_000_000, 10_000)]
    main(plan)
