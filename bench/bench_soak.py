"""Soak: does the local runtime's memory stay flat under a working day of mixed traffic?

Starts ``python -m local_runtime`` (the real template.yaml, a fresh temporary state, free ports, the clock on
2026-11-03 so October's usage window is open), sets up a provider-buyer with a source, a trait, a segment
mapped to a destination, then drives mixed traffic at a steady rate from this process: reads (``/v1/me``,
traits, usage rows), event batches into the source (DynamoDB transactions), estimates, usage upserts
(transactions with a condition check), presigned usage-file uploads (S3 → EventBridge → UsageIngest),
sign-ups (SQS → email worker → SES) and API keys created and revoked (authorizer cache flushes).

Every minute it prints the resident memory of the runtime's process and of its function workers, the items
stored in DynamoDB (the data the traffic wrote, which moto holds in the runtime's process as DynamoDB would
hold it on disk), and the requests done and answered unexpectedly in that minute. The verdict compares the
last sample with the one taken after the first (warm-up) minute: growth <= 10 % of the total (the runtime and
its workers) passes. ``--minutes`` (default 60) and ``--rate`` (requests per second, default 4: the machine
is shared).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "infra")]

import boto3  # noqa: E402

from local_client import Client  # noqa: E402

OPERATOR_KEY = "aud_operator_soak_key_0123456789abcdef"
PERIOD = "2026-10"
CLOCK = "2026-11-03T10:00:00Z"
GROWTH_LIMIT = 0.10
USERS = 2000  # the event batches draw their users from this pool: the audience stops growing, the writes do not
INTERESTS = ("sports", "travel", "autos", "cooking")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return found


def memory(pid: int) -> tuple[int, int]:
    """(the runtime's own RSS, the sum of its workers' RSS), in KiB."""
    return _rss_kib(pid), sum(_rss_kib(child) for child in _children(pid))


def stored_items(dynamodb: Any) -> int:
    """Items in every table: the data the traffic stored, which the runtime must hold (as DynamoDB would)."""
    tables = dynamodb.list_tables()["TableNames"]
    return sum(int(dynamodb.describe_table(TableName=name)["Table"].get("ItemCount", 0)) for name in tables)


class Soak:
    def __init__(self, api: Client) -> None:
        self.api = api
        self.random = random.Random(7)
        self.signups = 0
        self.key = ""
        self.account_id = ""
        self.source_id = ""
        self.rule = ""
        self.row: dict[str, Any] = {}
        self.upload_body = b""

    def set_up(self) -> None:
        api = self.api
        account = api.post(
            "/v1/admin/accounts",
            {"company_name": "Soak Data", "email": "soak@soak.example", "roles": ["provider", "buyer"]},
            key=OPERATOR_KEY,
            expect=201,
        ).body
        self.key, self.account_id = account["api_key"], account["account_id"]
        self.source_id = api.post("/v1/sources", {"name": "web", "type": "api"}, key=self.key, expect=201).body[
            "source_id"
        ]
        self.events()
        trait = api.post(
            "/v1/traits",
            {"name": "sports", "source_id": self.source_id, "condition": {"key": "interest", "equals": "sports"}},
            key=self.key,
            expect=201,
        ).body
        self.rule = trait["trait_id"]
        segment = api.post(
            "/v1/segments",
            {
                "name": "Sports fans",
                "category": "Interest",
                "rule": self.rule,
                "expiration_days": 30,
                "visibility": "private",
            },
            key=self.key,
            expect=201,
        ).body
        destination = api.post(
            "/v1/destinations", {"channel_id": "example_dsp", "name": "My DSP"}, key=self.key, expect=201
        ).body
        api.post(
            f"/v1/destinations/{destination['destination_id']}/segments",
            {"segment_id": segment["segment_id"]},
            key=self.key,
            expect=201,
        )
        self.row = {"segment_id": segment["segment_id"], "destination_id": destination["destination_id"]}
        self.upload_body = (
            f"Segment ID,Destination ID,Usage\r\n{segment['segment_id']},{destination['destination_id']},"
        ).encode()

    # ------------------------------------------------------------------------------------------ traffic
    def me(self) -> int:
        return self.api.get("/v1/me", key=self.key).status

    def reads(self) -> int:
        path = self.random.choice(("/v1/traits", f"/v1/usage/{PERIOD}/segments", "/v1/sources"))
        return self.api.get(path, key=self.key).status

    def events(self) -> int:
        batch = [
            {
                "user_id": f"u{self.random.randrange(USERS)}",
                "data": {"interest": self.random.choice(INTERESTS)},
            }
            for _ in range(25)
        ]
        return self.api.post(f"/v1/sources/{self.source_id}/events", {"events": batch}, key=self.key).status

    def estimate(self) -> int:
        return self.api.post("/v1/segments/estimate", {"rule": self.rule}, key=self.key).status

    def usage(self) -> int:
        row = {**self.row, "usage": self.random.randrange(1, 10**6)}
        return self.api.put(f"/v1/usage/{PERIOD}/segments", {"rows": [row]}, key=self.key).status

    def upload(self) -> int:
        ticket = self.api.post(f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=self.key)
        if ticket.status != 201:
            return ticket.status
        body = self.upload_body + str(self.random.randrange(1, 10**6)).encode() + b"\r\n"
        request = urllib.request.Request(
            ticket.body["upload_url"], data=body, method="PUT", headers={"Content-Type": "text/csv"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)

    def signup(self) -> int:
        self.signups += 1
        body = {"company_name": f"Soak {self.signups}", "email": f"s{self.signups}@soak.example", "roles": ["buyer"]}
        return self.api.post("/v1/accounts", body).status

    def key_cycle(self) -> int:
        created = self.api.post("/v1/api-keys", {"name": "rotating"}, key=self.key)
        if created.status != 201:
            return created.status
        self.api.get("/v1/me", key=created.body["api_key"])
        return self.api.delete(f"/v1/api-keys/{created.body['key_id']}", key=self.key).status

    def mix(self) -> list[tuple[Any, int]]:
        """One cycle of 20 steps of traffic in a fixed proportion, each with the status it must answer."""
        return (
            [(self.me, 200)] * 6
            + [(self.reads, 200)] * 3
            + [(self.events, 202)] * 4
            + [(self.estimate, 200)] * 2
            + [(self.usage, 200)] * 2
            + [(self.upload, 200), (self.signup, 201), (self.key_cycle, 200)]
        )


def run(minutes: float, rate: float) -> int:
    api_port, aws_port = _free_port(), _free_port()
    state = tempfile.mkdtemp(prefix="audiens-soak-")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "infra", ".")),
        "AUDIENS_API_PORT": str(api_port),
        "AUDIENS_AWS_PORT": str(aws_port),
        "AUDIENS_CLOCK": CLOCK,
        "AUDIENS_OPERATOR_KEY": OPERATOR_KEY,
        "AUDIENS_STATE_DIR": state,
        "AUDIENS_FUNCTION_LOG": os.devnull,
    }
    log_path = Path(state) / "runtime.log"  # a file, not a pipe: a pipe nobody reads blocks the runtime when full
    with open(log_path, "w") as log_file:
        runtime = subprocess.Popen(
            [sys.executable, "-m", "local_runtime"], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    api = Client(f"http://127.0.0.1:{api_port}", timeout=60)
    passed = False
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if api.get("/_local/health").status == 200:
                    break
            except OSError:
                time.sleep(0.5)
            if runtime.poll() is not None:
                print(log_path.read_text(), file=sys.stderr)
                return 1
        soak = Soak(api)
        soak.set_up()
        mix = soak.mix()
        print(f"soak: {minutes:g} min at {rate:g} requests/s, runtime pid {runtime.pid}, log {log_path}", flush=True)
        header = ("minute", "runtime MiB", "workers MiB", "total MiB", "items", "requests", "unexpected")
        print("{:>6} {:>12} {:>12} {:>10} {:>8} {:>9} {:>10}".format(*header))
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{aws_port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        samples: list[tuple[int, int]] = []
        interval = 1.0 / rate
        started = time.monotonic()
        next_at = started
        next_sample = started + 60
        done = failed = 0
        step = 0
        unexpected: dict[str, int] = {}
        while time.monotonic() < started + minutes * 60:
            now = time.monotonic()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            action, expected = mix[step % len(mix)]
            step += 1
            try:
                status = action()
            except OSError as error:
                status = 0
                print(f"  {action.__name__}: {error}", file=sys.stderr)
            done += 1
            if status != expected:
                failed += 1
                unexpected[action.__name__] = unexpected.get(action.__name__, 0) + 1
            if time.monotonic() >= next_sample:
                next_sample += 60
                own, workers = memory(runtime.pid)
                samples.append((own, workers))
                print(
                    f"{len(samples):>6} {own / 1024:>12.1f} {workers / 1024:>12.1f} {(own + workers) / 1024:>10.1f} "
                    f"{stored_items(dynamodb):>8} {done:>9} {failed:>10}",
                    flush=True,
                )
                done = failed = 0
        if unexpected:
            print(f"soak: unexpected statuses by step: {unexpected}")
        if len(samples) < 2:
            print("soak: too short for a verdict (two samples needed: --minutes 2 or more)")
            passed = not unexpected
            return 0 if passed else 1
        base, last = sum(samples[0]), sum(samples[-1])
        growth = (last - base) / base
        runtime_growth = (samples[-1][0] - samples[0][0]) / samples[0][0]
        verdict = "PASS" if growth <= GROWTH_LIMIT else "FAIL"
        print(
            f"soak: total RSS {base / 1024:.1f} -> {last / 1024:.1f} MiB after minute 1: {growth:+.1%} "
            f"(runtime alone {runtime_growth:+.1%}); target <= {GROWTH_LIMIT:.0%}: {verdict}"
        )
        passed = verdict == "PASS" and not unexpected
        return 0 if passed else 1
    finally:
        runtime.terminate()
        try:
            runtime.wait(30)
        except subprocess.TimeoutExpired:
            runtime.kill()
        if passed:
            shutil.rmtree(state, ignore_errors=True)
        else:
            print(f"soak: the runtime's state and log are kept in {state}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long to drive traffic (default 60)")
    parser.add_argument("--rate", type=float, default=4.0, help="requests per second (default 4)")
    args = parser.parse_args()
    return run(args.minutes, args.rate)


if __name__ == "__main__":
    raise SystemExit(main())
