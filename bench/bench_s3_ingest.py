"""S3 source files: rows/s and peak memory of EventIngestFunction on a 100k and a 1M event file.

moto runs as a server in its own process on 127.0.0.1 (as the local runtime does), so the function's
GetObject really streams over HTTP and ``tracemalloc`` measures the function's process alone; in-process
moto would hand the whole object over as one bytes value and hide the streaming. Each file is an NDJSON
source file dropped under ``<account>/<source>/``; the function is invoked with the "Object Created"
event and must keep its peak memory flat from 100k to 1M rows (it reads 256 KB chunks and ingests
5,000-line batches). rows/s is wall time with moto working in its own process; rows per CPU second
counts only the function's process (its parsing, validation, sketches and AWS client work).

Run: python bench/bench_s3_ingest.py [small_rows] [large_rows]
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]

SIZES = (100_000, 1_000_000)
USERS = 300_000
VALUES = 50
FLAT_RATIO = 1.5  # peak at 1M may be at most 1.5x the peak at 100k


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return proc, endpoint
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto server did not start")


def _write_file(path: Path, rows: int, rng: random.Random) -> None:
    with path.open("w") as out:
        for i in range(rows):
            event = {
                "user_id": f"user-{rng.randrange(USERS)}",
                "timestamp": "2026-11-03T09:00:00Z",
                "data": {"seg": f"v{rng.randrange(VALUES):02d}", "age": f"a{i % 5}"},
            }
            out.write(json.dumps(event, separators=(",", ":")) + "\n")


def main(small: int = SIZES[0], large: int = SIZES[1]) -> None:
    moto, endpoint = _start_moto()
    try:
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_REGION="us-east-1",
            AWS_ENDPOINT_URL=endpoint,
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_LOG_LEVEL="ERROR",
            POWERTOOLS_METRICS_NAMESPACE="Audiens",
        )
        import boto3
        from tests.support.aws import create_stack
        from tests.support.lambda_api import FakeContext, deploy, event, load_handler

        physical = create_stack("bench")
        deploy(physical, {"Stage": "bench"})
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        handler = load_handler("EventIngestFunction")
        from audiens.domain.accounts import Principal
        from audiens.wiring import ingest_service

        now = datetime(2026, 11, 3, 10, tzinfo=UTC)
        provider = Principal(account_id="acc_bench", roles=("provider",))
        source = ingest_service().create_source(provider, name="files", type="s3", now=now).source
        bucket = physical["SourceBucket"]
        s3 = boto3.client("s3", region_name="us-east-1")
        rng = random.Random(11)

        results = []
        warm = True
        for rows in (1_000, small, large):  # the first, tiny file warms imports and clients up
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"events-{rows}.ndjson"
                _write_file(path, rows, rng)
                key = f"{source.account_id}/{source.source_id}/{path.name}"
                s3.upload_file(str(path), bucket, key)
                size = path.stat().st_size
            head = s3.head_object(Bucket=bucket, Key=key)
            ev = event("s3_source_object_created.json")
            ev["detail"]["bucket"]["name"] = bucket
            ev["detail"]["object"].update(key=key, etag=head["ETag"].strip('"'), size=size)
            tracemalloc.start()
            tracemalloc.reset_peak()
            started, cpu_started = time.perf_counter(), time.process_time()
            out = handler(ev, FakeContext(function_name="event-ingest"))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert out["status"] == "processed" and out["accepted"] == rows, out
            if warm:
                warm = False
                continue
            results.append((rows, size, elapsed, cpu, peak))
            print(f"  measured {rows:,} rows: {elapsed:.1f} s, peak {peak / 1e6:.1f} MB", flush=True)
    finally:
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()
            moto.wait(timeout=10)

    print("\nS3 source files through EventIngestFunction (moto server on 127.0.0.1, streamed GetObject)\n")
    columns = ("rows", "file MB", "wall s", "rows/s", "function CPU s", "rows/CPU s", "peak traced MB")
    print("  " + "  ".join(c.rjust(max(8, len(c))) for c in columns))
    for rows, size, elapsed, cpu, peak in results:
        cells = (f"{rows:,}", f"{size / 1e6:.1f}", f"{elapsed:.1f}", f"{rows / elapsed:,.0f}", f"{cpu:.1f}")
        cells += (f"{rows / cpu:,.0f}", f"{peak / 1e6:.1f}")
        print("  " + "  ".join(v.rjust(max(8, len(c))) for v, c in zip(cells, columns, strict=True)))
    ratio = results[-1][4] / results[0][4]
    print(f"\n  peak memory 1M / 100k: {ratio:.2f}x  (flat: {'yes' if ratio <= FLAT_RATIO else 'NO'})\n")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
