"""``make bench``: latency of ``GET /v1/me`` through the local runtime (gateway, cached authorizer, ApiFunction, moto).

Starts the local runtime on the real template.yaml, creates a buyer account with the operator key, then
drives ``GET /v1/me`` from a separate process (http.client, keep-alive, TCP_NODELAY) at 1, 8 and 32
concurrent clients, a bounded number of requests each, and prints p50 / p99 / max latency, requests per
second and errors per level, against the target: p99 <= 100 ms at 32 concurrent clients, zero errors.

If the application does not serve ``/v1/me`` yet, it measures ``GET /_local/clock`` (the gateway alone)
and says so.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ((1, 300), (8, 100), (32, 40))  # (concurrent clients, requests per client)
TARGET_P99_MS = 100.0
TARGET_CONCURRENCY = 32
WARMUP_REQUESTS = 60
TIME_LIMIT_S = 60.0  # per level: the loop stops by itself even if the runtime is slow


def _connection(port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.connect()
    assert connection.sock is not None
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _client(
    port: int,
    path: str,
    headers: dict[str, str],
    requests: int,
    deadline: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    connection = _connection(port)
    for _ in range(requests):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            errors.append(repr(error))
            connection.close()
            connection = _connection(port)
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            errors.append(f"HTTP {status}")
    connection.close()


def drive(port: int, path: str, headers: dict[str, str], clients: int, requests: int, results: Any) -> None:
    """Runs in its own process: ``clients`` threads, each with one keep-alive connection."""
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + TIME_LIMIT_S
    threads = [
        threading.Thread(target=_client, args=(port, path, headers, requests, deadline, latencies, errors))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put({"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - started})


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def _request(port: int, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    connection = _connection(port)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    try:
        return response.status, json.loads(raw) if raw else None
    except ValueError:
        return response.status, raw


def run_level(port: int, path: str, headers: dict[str, str], clients: int, requests: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=drive, args=(port, path, headers, clients, requests, results))
    process.start()
    outcome = results.get(timeout=TIME_LIMIT_S + 60)
    process.join(10)
    return dict(outcome)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "infra"))
    from local_runtime import LocalRuntime
    from local_runtime.runtime import operator_key

    load = os.getloadavg()[0]
    print(
        f"bench_api: {os.cpu_count()} cores, load average {load:.1f} before the run "
        f"(other work on the machine inflates every figure); starting the local runtime on "
        f"{Path(args.template).name} ...",
        flush=True,
    )
    with LocalRuntime(args.template, api_port=0, aws_port=0) as runtime:
        port = int(runtime.api_url.rsplit(":", 1)[1])
        print(f"time to ready: {runtime.ready_seconds:.2f} s (API answering, API functions' workers warm)")
        status, body = _request(
            port,
            "POST",
            "/v1/admin/accounts",
            {"company_name": "Bench Co", "email": "bench@bench.example", "roles": ["buyer"]},
            key=operator_key(),
        )
        if status == 201 and isinstance(body, dict) and body.get("api_key"):
            path, headers = "/v1/me", {"Authorization": f"Bearer {body['api_key']}"}
            check, _ = _request(port, "GET", path, key=body["api_key"])
            if check != 200:
                print(f"GET /v1/me answered {check}: measuring GET /_local/clock instead")
                path, headers = "/_local/clock", {}
        else:
            print(f"POST /v1/admin/accounts answered {status}: the app is not ready; measuring GET /_local/clock")
            path, headers = "/_local/clock", {}
        # warm every worker of every function on the path (first calls create their AWS clients)
        run_level(port, path, headers, 8, WARMUP_REQUESTS // 8)
        print(f"\nGET {path}  (each level in a separate client process, keep-alive, TCP_NODELAY)")
        print(f"{'clients':>8} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8} {'errors':>7}")
        verdict = True
        for clients, requests in LEVELS:
            outcome = run_level(port, path, headers, clients, requests)
            latencies, errors = outcome["latencies"], outcome["errors"]
            count = len(latencies)
            p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
            print(
                f"{clients:>8} {count:>9} {p50:>8.1f} {p99:>8.1f} {max(latencies):>8.1f} "
                f"{count / outcome['seconds']:>8.0f} {len(errors):>7}",
                flush=True,
            )
            if errors:
                print(f"         first errors: {errors[:3]}")
            if clients == TARGET_CONCURRENCY:
                verdict = p99 <= TARGET_P99_MS and not errors and count == clients * requests
        print(
            f"\ntarget: p99 <= {TARGET_P99_MS:.0f} ms at {TARGET_CONCURRENCY} concurrent clients, zero errors "
            f"-> {'MET' if verdict else 'NOT MET'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
