"""Shared helpers of the marketplace and channel functional tests: a provider with traits, feeds, a webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

from tests.functional.onboarding_helpers import create_source, post_events
from tests.support.lambda_api import ApiClient, FakeContext, load_handler

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
SNO = ["segments_and_overlap"]


def send_users(api: ApiClient, key: str, source_id: str, users: range, data: dict[str, Any]) -> None:
    events = [{"user_id": f"u{i}", "data": data} for i in users]
    for start in range(0, len(events), 1000):
        assert post_events(api, key, source_id, events[start : start + 1000], now=NOW).status == 202


def make_trait(api: ApiClient, key: str, source_id: str, value: str, name: str | None = None) -> str:
    result = api.call(
        "POST",
        "/v1/traits",
        {"name": name or value, "source_id": source_id, "condition": {"key": "interest", "equals": value}},
        key=key,
    )
    assert result.status == 201, result.body
    return str(result.body["trait_id"])


@dataclass
class Provider:
    account_id: str
    key: str
    source_id: str
    traits: dict[str, str] = field(default_factory=dict)


def make_provider(api: ApiClient, make_account: Any, interests: dict[str, range]) -> Provider:
    """A provider whose source saw users with each interest; one rule trait per interest."""
    account = make_account(["provider"])
    source_id = create_source(api, account["api_key"])["source_id"]
    provider = Provider(account["account_id"], account["api_key"], source_id)
    by_user: dict[int, list[str]] = {}
    for value, users in interests.items():
        for user in users:
            by_user.setdefault(user, []).append(value)
    events = [{"user_id": f"u{u}", "data": {"interest": values}} for u, values in sorted(by_user.items())]
    for start in range(0, len(events), 1000):
        assert post_events(api, provider.key, source_id, events[start : start + 1000], now=NOW).status == 202
    for value in interests:
        provider.traits[value] = make_trait(api, provider.key, source_id, value)
    return provider


def plan(use_cases: list[str], unit: str = "cpm", price: Any = "1.50", **extra: Any) -> dict[str, Any]:
    return {"use_cases": use_cases, "unit": unit, "price": price, **extra}


def create_feed(
    api: ApiClient,
    provider: Provider,
    trait_ids: list[str],
    *,
    plans: list[dict[str, Any]] | None = None,
    visibility: str = "public",
    name: str = "Sports fans",
    activate: bool = True,
) -> dict[str, Any]:
    body = {
        "name": name,
        "description": "Users who follow sports",
        "trait_ids": trait_ids,
        "visibility": visibility,
        "plans": plans or [plan(SNO, "flat_fee", "100"), plan(["activation"], "cpm", "2.50"), plan(["modeling"])],
    }
    result = api.call("POST", "/v1/feeds", body, key=provider.key)
    assert result.status == 201, result.body
    feed = dict(result.body)
    if activate:
        activated = api.call("POST", f"/v1/feeds/{feed['feed_id']}/activate", key=provider.key)
        assert activated.status == 200, activated.body
        feed = dict(activated.body)
    return feed


def plan_id(feed: dict[str, Any], use_case: str) -> str:
    return next(str(p["plan_id"]) for p in feed["plans"] if use_case in p["use_cases"])


def subscribe(api: ApiClient, key: str, plan: str, now: datetime | None = None) -> Any:
    return api.call("POST", "/v1/subscriptions", {"plan_id": plan}, key=key, now=now)


# ------------------------------------------------------------------------------------------------ channels


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 (port 0): records every POST and answers ``status`` after ``delay`` s."""

    def __init__(self, status: int = 204, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.received.append(Received({k: v for k, v in self.headers.items()}, body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/audiens"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_signature(secret: str, received: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("X-Audiens-Signature", ""))


@contextmanager
def local_stage() -> Iterator[None]:
    """Webhooks to 127.0.0.1 over plain http are allowed only on the local stage (``Stage=local``)."""
    from dataclasses import replace

    from tests.support.lambda_api import as_deployed, deployment

    current = deployment()
    with as_deployed(replace(current, parameters={**current.parameters, "Stage": "local"})):
        yield


def push_queue_url(stack: dict[str, str]) -> str:
    from tests.support.aws import queue_url

    return queue_url(stack["ChannelPushQueue"])


def receive(url: str, max_messages: int = 10) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    got: list[dict[str, Any]] = []
    while len(got) < max_messages:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(10, max_messages - len(got)), AttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            break
        got.extend(batch)
    return got


def sqs_event(
    messages: list[dict[str, Any]], queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:push"
) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": m.get("Attributes", {}).get("SentTimestamp", "0"),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": m.get("Attributes", {}).get(
                        "ApproximateFirstReceiveTimestamp", "0"
                    ),
                },
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def run_worker(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(load_handler("ChannelPushFunction")(sqs_event(messages), FakeContext(function_name="channel-push")))


def settle(url: str, messages: list[dict[str, Any]], result: dict[str, Any]) -> list[dict[str, Any]]:
    """What the Lambda event source mapping does: delete successes; failures become visible again at once
    (the back-off is real time; the test skips it). Returns the failed messages."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    failed_ids = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    failed = []
    for m in messages:
        if m["MessageId"] in failed_ids:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            failed.append(m)
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return failed


def pump(url: str, rounds: int = 10) -> list[dict[str, Any]]:
    """Deliver the push queue to the worker until it is empty (or ``rounds`` deliveries); returns the results."""
    results = []
    for _ in range(rounds):
        messages = receive(url)
        if not messages:
            break
        result = run_worker(messages)
        settle(url, messages, result)
        results.append(result)
    return results
