"""``make bench``: the account-wide views for an account at its quotas, through the local runtime.

Starts the local runtime on the real template.yaml and fills one provider-and-buyer account up to its
quotas where they matter: every source it may hold (each with a batch of events, so the data points
catalog holds thousands of values) and every destination it may hold, each with segments mapped to it.
Then it measures, one keep-alive client, ``REQUESTS`` calls each of the views that used to read once per
source or destination — ``GET /v1/data-points``, ``GET /v1/usage/{period}/segments`` — next to the
source list, the feed-level usage view and a floor measured in the same run (``GET /v1/me``: gateway,
authorizer and one read), and prints p50 / p99 / max against the target: p99 <= 300 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench_api import _connection, _request, percentile

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = 100
WARMUP_REQUESTS = 10
TARGET_P99_MS = 300.0
MAPPED_PER_DESTINATION = 2
PERIOD = "2026-11"


def _ok(port: int, method: str, path: str, body: Any, key: str, expect: int) -> Any:
    status, reply = _request(port, method, path, body, key=key)
    if status != expect:
        raise SystemExit(f"{method} {path} answered {status}: {reply}")
    return reply


def seed(port: int, key: str, quotas: dict[str, int]) -> dict[str, int]:
    """One account at its source and destination quotas; returns what it holds."""
    values = 0
    first_source = ""
    for n in range(quotas["sources"]):
        source = _ok(port, "POST", "/v1/sources", {"name": f"source {n}", "type": "api"}, key, 201)
        first_source = first_source or source["source_id"]
        events = [{"user_id": f"u{n}-{i}", "data": {f"k{j}": f"v{(i + j) % 3}" for j in range(5)}} for i in range(30)]
        _ok(port, "POST", f"/v1/sources/{source['source_id']}/events", {"events": events}, key, 202)
        values += 15
    segments = []
    for n in range(MAPPED_PER_DESTINATION):
        condition = {"key": "k0", "equals": f"v{n}"}
        trait = _ok(
            port, "POST", "/v1/traits", {"name": f"t{n}", "source_id": first_source, "condition": condition}, key, 201
        )
        body = {"name": f"segment {n}", "category": "bench", "rule": trait["trait_id"]}
        segments.append(_ok(port, "POST", "/v1/segments", body, key, 201)["segment_id"])
    for n in range(quotas["destinations"]):
        body = {"channel_id": "example_dsp", "name": f"destination {n}"}
        destination = _ok(port, "POST", "/v1/destinations", body, key, 201)["destination_id"]
        for segment_id in segments:
            _ok(port, "POST", f"/v1/destinations/{destination}/segments", {"segment_id": segment_id}, key, 201)
    return {
        "sources": quotas["sources"],
        "data points": values,
        "destinations": quotas["destinations"],
        "usage rows": quotas["destinations"] * MAPPED_PER_DESTINATION,
    }


def measure(port: int, path: str, key: str, requests: int = REQUESTS) -> list[float]:
    connection = _connection(port)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}")
        latencies.append((time.perf_counter() - started) * 1000)
    connection.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "infra"))
    sys.path.insert(0, str(ROOT / "layers" / "common"))
    from audiens.domain.quotas import QUOTAS
    from local_runtime import LocalRuntime
    from local_runtime.runtime import operator_key

    print(f"bench_lists: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run", flush=True)
    with LocalRuntime(args.template, api_port=0, aws_port=0, clock=f"{PERIOD}-03T10:00:00Z") as runtime:
        port = int(runtime.api_url.rsplit(":", 1)[1])
        account = {"company_name": "Bench Co", "email": "lists@bench.example", "roles": ["provider", "buyer"]}
        key = _ok(port, "POST", "/v1/admin/accounts", account, operator_key(), 201)["api_key"]
        started = time.monotonic()
        held = seed(port, key, QUOTAS)
        print(f"seeded in {time.monotonic() - started:.0f} s: " + ", ".join(f"{v:,} {k}" for k, v in held.items()))
        paths = [
            ("floor: GET /v1/me", "/v1/me"),
            ("GET /v1/data-points", "/v1/data-points"),
            (f"GET /v1/usage/{PERIOD}/segments", f"/v1/usage/{PERIOD}/segments"),
            (f"GET /v1/usage/{PERIOD}/feeds", f"/v1/usage/{PERIOD}/feeds"),
            ("GET /v1/sources", "/v1/sources"),
        ]
        for _, path in paths:  # warm every worker and cache on the path
            measure(port, path, key, WARMUP_REQUESTS)
        print(f"\n{'view':<34} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  ({REQUESTS} sequential requests each)")
        verdict = True
        for label, path in paths:
            latencies = measure(port, path, key)
            p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
            print(f"{label:<34} {p50:>8.1f} {p99:>8.1f} {max(latencies):>8.1f}", flush=True)
            verdict = verdict and p99 <= TARGET_P99_MS
        print(
            f"\ntarget: p99 <= {TARGET_P99_MS:.0f} ms for every view at the quotas -> {'MET' if verdict else 'NOT MET'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
