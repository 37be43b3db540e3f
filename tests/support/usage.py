"""Usage reporting test support: an in-memory ``UsageCatalog``, S3 drops and their EventBridge events."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from audiens.domain.periods import Period
from audiens.domain.usage_reports import FeedUsageKey, SegmentUsageKey
from tests.support.lambda_api import FakeContext, event, load_handler

SAMPLES = Path("/work/shared/testdata/usage_csv")
if not SAMPLES.is_dir():  # the shared specs sit next to the repository
    SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "usage_csv"

# In the window of 2026-10 (open 2026-11-01 .. 2026-11-05 inclusive, UTC).
IN_WINDOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
PERIOD = "2026-10"


@dataclass
class InMemoryUsageCatalog:
    """The marketplace as usage reporting sees it: mappings and CPM subscriptions per buyer."""

    segments: dict[str, list[SegmentUsageKey]] = field(default_factory=lambda: defaultdict(list))
    feeds: dict[str, list[FeedUsageKey]] = field(default_factory=lambda: defaultdict(list))
    subscribers: set[str] = field(default_factory=set)
    calls: int = 0

    def map_segment(
        self,
        buyer_id: str,
        segment_id: str,
        destination_id: str,
        *,
        segment_name: str = "Sports fans",
        destination_name: str = "Example DSP",
        content_optimization: bool = False,
    ) -> SegmentUsageKey:
        key = SegmentUsageKey(segment_id, segment_name, destination_id, destination_name, content_optimization)
        self.segments[buyer_id].append(key)
        return key

    def subscribe(
        self,
        buyer_id: str,
        *,
        provider_id: str = "acc_provider_a",
        provider_name: str = "Data Provider A",
        feed_id: str = "feed_a",
        feed_name: str = "Data Feed A",
        use_case: str = "activation",
        unit: str = "cpm",
    ) -> FeedUsageKey:
        key = FeedUsageKey(provider_id, provider_name, feed_id, feed_name, use_case, unit)
        self.feeds[buyer_id].append(key)
        self.subscribers.add(buyer_id)
        return key

    def segment_keys(self, buyer_id: str, period: Period) -> list[SegmentUsageKey]:
        self.calls += 1
        return list(self.segments.get(buyer_id, []))

    def feed_keys(self, buyer_id: str, period: Period) -> list[FeedUsageKey]:
        self.calls += 1
        return list(self.feeds.get(buyer_id, []))

    def subscribed_buyers(self, period: Period) -> list[str]:
        return sorted(self.subscribers)

    def mapped_buyers(self) -> list[str]:
        return sorted(buyer for buyer, keys in self.segments.items() if keys)


def sample(name: str, **ids: str) -> bytes:
    """A shared testdata CSV with its ``{seg_x}``-style placeholders replaced by real ids."""
    text = (SAMPLES / name).read_text(encoding="utf-8")
    for placeholder, value in ids.items():
        text = text.replace("{" + placeholder + "}", value)
    return text.encode()


def object_created(bucket: str, key: str, body: bytes, *, time: datetime, etag: str | None = None) -> dict[str, Any]:
    """The EventBridge event S3 sends for ``key``; the key URL-encoded the way S3 encodes it."""
    from urllib.parse import quote_plus

    ev = event("s3_usage_object_created.json")
    ev["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ")
    ev["resources"] = [f"arn:aws:s3:::{bucket}"]
    ev["detail"]["bucket"]["name"] = bucket
    ev["detail"]["object"].update(
        key=quote_plus(key, safe="/"), size=len(body), etag=etag or hashlib.md5(body).hexdigest()
    )
    return ev


class UsageDrops:
    """Puts files into the usage bucket and delivers their events to UsageIngestFunction, as EventBridge does."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.s3 = boto3.client("s3", region_name="us-east-1")
        self.handler = load_handler("UsageIngestFunction")

    def put(self, key: str, body: bytes) -> dict[str, Any]:
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return object_created(self.bucket, key, body, time=IN_WINDOW, etag=response["ETag"].strip('"'))

    def deliver(self, ev: dict[str, Any], *, time: datetime | None = None, service: Any = None) -> dict[str, Any]:
        if time is not None:
            ev = {**ev, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        result: dict[str, Any] = self.handler(ev, FakeContext(function_name="usage-ingest"), service)
        return result

    def drop(self, key: str, body: bytes, *, time: datetime | None = None, service: Any = None) -> dict[str, Any]:
        return self.deliver(self.put(key, body), time=time, service=service)


class WriteCounter:
    """Counts DynamoDB write calls by operation, on every botocore client (clients PynamoDB cached included)."""

    WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)

    def install(self, monkeypatch: Any) -> WriteCounter:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        counter = self

        def counting(client: Any, operation_name: str, api_params: Any) -> Any:
            if operation_name in counter.WRITES and client.meta.service_model.service_name == "dynamodb":
                counter.calls[operation_name] += 1
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counting)
        return self

    def reset(self) -> None:
        self.calls.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())
