"""Taxonomy push throughput: segments mapped to destinations, delivered by ChannelPushFunction, on moto.

Each segment is mapped through the channel service (the same code the API route runs), which stores the
mapping's version and queues ``{mapping_id, version}`` on the real push queue (moto SQS built from
template.yaml). The queue is then drained in batches of the template's BatchSize through
``ChannelPushFunction`` in-process, the way Lambda's event source mapping does (receive, invoke, delete
the successes). Webhook pushes go over real HTTP to a receiver on 127.0.0.1 (http.server in a thread) that
verifies every HMAC signature; s3_export pushes write moto S3 objects; seamless pushes only record.

Reported per channel (one worker, sequential): pushes/s including the simulated poller (moto SQS
receive/delete), pushes/s and milliseconds per push inside the handler (wall clock: moto DynamoDB/S3 and the
HTTP round trip included), the handler's own CPU per push without moto (in AWS that work is server-side),
and DynamoDB calls per push. Lambda runs many workers concurrently; this is one.

Run: python bench/bench_push.py [pushes_per_channel]
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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

import boto3  # noqa: E402
import botocore.handlers  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core import botocore_stubber  # noqa: E402

PUSHES = 300
SECRET = "bench-secret-0123456789"
NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


class Meter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.moto_seconds = 0.0
        self.enabled = False

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.enabled:
            self.calls[model.name] += 1


METER = Meter()
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


class Receiver:
    """Answers 204 to every POST and checks its signature (a bad one is counted, never expected)."""

    def __init__(self) -> None:
        self.good = 0
        self.bad = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if hmac.compare_digest(expected, self.headers.get("X-Audiens-Signature", "")):
                    receiver.good += 1
                else:
                    receiver.bad += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/audiens"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"],
                    "SentTimestamp": m["Attributes"]["SentTimestamp"],
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": m["Attributes"]["ApproximateFirstReceiveTimestamp"],
                },
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:audiens-channel-push-local",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def main(pushes: int = PUSHES) -> None:
    from tests.support.aws import create_stack, queue_url
    from tests.support.lambda_api import FakeContext, deploy, load_handler
    from tests.support.template import functions

    receiver = Receiver()
    batch_size = int(functions()["ChannelPushFunction"]["Properties"]["Events"]["Pushes"]["Properties"]["BatchSize"])
    rows: list[tuple[str, ...]] = []
    with mock_aws():
        physical = create_stack("local")
        deploy(physical, {"Stage": "local"})
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        from audiens.domain.accounts import Principal
        from audiens.domain.segments import Segment
        from audiens.wiring import channel_service, onboarding_repository

        service = channel_service()
        segments = onboarding_repository()
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bench-taxonomy")
        handler = load_handler("ChannelPushFunction")
        context = FakeContext(function_name="channel-push")
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = queue_url(physical["ChannelPushQueue"])
        owner = Principal("acc_bench", ("provider",))

        timing = {"wall": 0.0, "cpu": 0.0}

        def drain() -> tuple[int, int]:
            done = failed = 0
            while True:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch_size, AttributeNames=["All"])
                batch = messages.get("Messages", [])
                if not batch:
                    return done, failed
                event = sqs_event(batch)
                METER.enabled = True  # only the handler's own calls are metered, not the poller's
                start, cpu_start = time.perf_counter(), time.process_time()
                out = handler(event, context)
                timing["wall"] += time.perf_counter() - start
                timing["cpu"] += time.process_time() - cpu_start
                METER.enabled = False
                bad = {f["itemIdentifier"] for f in out["batchItemFailures"]}
                for m in batch:
                    if m["MessageId"] not in bad:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                done += len(batch) - len(bad)
                failed += len(bad)

        channels = [
            ("webhook (signed HTTP POST)", "webhook", {"url": receiver.url, "secret": SECRET}),
            ("s3_export (S3 object)", "s3_export", {"bucket": "bench-taxonomy", "prefix": "taxonomy"}),
            ("seamless (recorded)", "example_dsp", None),
        ]
        for n, (label, channel_id, config) in enumerate(channels):
            destination = service.create_destination(
                owner, channel_id=channel_id, name=label, config=config, content_optimization=False, now=NOW
            )
            ids = []
            for i in range(pushes + 20):
                segment_id = f"seg_bench_{n}_{i:05d}"
                segments.put_segment(
                    Segment(
                        segment_id,
                        owner.account_id,
                        f"Segment {i}",
                        "Bench",
                        "trt_x",
                        30,
                        "private",
                        None,
                        "USD",
                        "active",
                        NOW,
                        NOW,
                    )
                )
                ids.append(segment_id)
            # Warm-up: the first 20 pushes load clients and open connections (a warm Lambda container).
            for segment_id in ids[:20]:
                service.map_segment(owner, destination.destination_id, segment_id, NOW)
            drain()
            for segment_id in ids[20:]:
                service.map_segment(owner, destination.destination_id, segment_id, NOW + timedelta(seconds=1))
            METER.calls.clear()
            METER.moto_seconds = 0.0
            timing.update(wall=0.0, cpu=0.0)
            start = time.perf_counter()
            done, failed = drain()
            elapsed = time.perf_counter() - start
            own_cpu = timing["cpu"] - METER.moto_seconds
            dynamo_calls = sum(METER.calls.values())
            rows.append(
                (
                    label,
                    f"{done:,}",
                    f"{failed}",
                    f"{done / elapsed:,.0f}",
                    f"{done / timing['wall']:,.0f}",
                    f"{1000 * timing['wall'] / done:.2f}",
                    f"{1000 * own_cpu / done:.2f}",
                    f"{done / own_cpu:,.0f}",
                    f"{dynamo_calls / done:.1f}",
                )
            )
        statuses = Counter(m.status for m in service._repo.destination_mappings(destination.destination_id))
        objects = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="bench-taxonomy").get("KeyCount")

    headers = (
        "channel",
        "pushes",
        "failed",
        "pushes/s incl. poller",
        "pushes/s in handler",
        "handler ms/push",
        "CPU ms/push excl. moto",
        "pushes/s excl. moto",
        "DynamoDB calls/push",
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(
        f"\nTaxonomy push: {pushes:,} pushes per channel through ChannelPushFunction (batches of {batch_size}), "
        "one worker, moto\n"
    )
    print("  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    print(f"\n  webhook signatures verified by the receiver: {receiver.good:,} good, {receiver.bad} bad")
    print(f"  s3 objects written: {objects:,};  last destination's mappings: {dict(statuses)}\n")
    receiver.server.shutdown()


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:]])
