"""Shared helpers of the onboarding functional tests (sources, events, pixel hits, S3 files)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3

from tests.support.lambda_api import ApiClient, FakeContext, event, load_handler


def create_source(api: ApiClient, key: str, type_: str = "api", name: str = "web") -> dict[str, Any]:
    result = api.call("POST", "/v1/sources", {"name": name, "type": type_}, key=key)
    assert result.status == 201, result.body
    return dict(result.body)


def post_events(api: ApiClient, key: str, source_id: str, events: list[Any], now: datetime | None = None) -> Any:
    return api.call("POST", f"/v1/sources/{source_id}/events", {"events": events}, key=key, now=now)


def pixel_hit(query: dict[str, str] | None, source_id: str, now: datetime, request_id: str = "req-1") -> dict[str, Any]:
    """Call the ApiFunction like API Gateway does for the public pixel route (no authorizer context)."""
    ev = event("api_get_me.json")
    path = f"/v1/pixel/{source_id}"
    ev.update(
        path=path,
        resource="/v1/pixel/{source_id}",
        httpMethod="GET",
        headers={"Accept": "image/avif,image/webp,*/*"},
        multiValueHeaders={"Accept": ["image/avif,image/webp,*/*"]},
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        pathParameters={"source_id": source_id},
        body=None,
    )
    ev["requestContext"].update(
        httpMethod="GET",
        path=f"/local{path}",
        resourcePath="/v1/pixel/{source_id}",
        requestTimeEpoch=int(now.timestamp() * 1000),
        requestId=request_id,
        authorizer={},
    )
    return dict(load_handler("ApiFunction")(ev, FakeContext(function_name="api")))


def drain_pixel_hits() -> dict[str, Any]:
    """Run PixelIngestFunction over the pixel queue as its SQS event source does (batches of up to 10 here):
    messages it reports failed stay in the queue. Totals of its answers."""
    import os

    from tests.support.billing import sqs_event

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = os.environ["PIXEL_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    worker = load_handler("PixelIngestFunction")
    totals: dict[str, Any] = {"counted": 0, "duplicates": 0, "failed": 0, "batchItemFailures": []}
    while got := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages"):
        out = worker(sqs_event(got, arn), FakeContext(function_name="pixel-ingest"))
        failed = {f["itemIdentifier"] for f in out["batchItemFailures"]}
        for key in ("counted", "duplicates", "failed"):
            totals[key] += out[key]
        totals["batchItemFailures"] += out["batchItemFailures"]
        for message in got:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if failed:
            break  # left in the queue: the caller decides
    return totals


def ingest_with_key(source_id: str, ingest_key: str | None, events: list[Any], now: datetime) -> tuple[int, Any]:
    """The public server-to-server route: no authorizer, the source's key in X-Ingest-Key."""
    import json

    ev = event("api_get_me.json")
    path = f"/v1/ingest/{source_id}/events"
    headers = {"Content-Type": "application/json", **({"X-Ingest-Key": ingest_key} if ingest_key else {})}
    ev.update(
        path=path,
        resource="/v1/ingest/{source_id}/events",
        httpMethod="POST",
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        pathParameters={"source_id": source_id},
        body=json.dumps({"events": events}),
    )
    ev["requestContext"].update(
        httpMethod="POST", path=f"/local{path}", requestTimeEpoch=int(now.timestamp() * 1000), authorizer={}
    )
    out = load_handler("ApiFunction")(ev, FakeContext(function_name="api"))
    return int(out["statusCode"]), json.loads(out["body"]) if out.get("body") else None


def put_source_file(bucket: str, key: str, body: bytes) -> dict[str, Any]:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    head = s3.head_object(Bucket=bucket, Key=key)
    return {"etag": head["ETag"].strip('"'), "size": head["ContentLength"]}


def object_created_event(bucket: str, key: str, etag: str, size: int, when: str) -> dict[str, Any]:
    from urllib.parse import quote_plus

    ev = event("s3_source_object_created.json")
    ev["time"] = when
    ev["resources"] = [f"arn:aws:s3:::{bucket}"]
    ev["detail"]["bucket"]["name"] = bucket
    ev["detail"]["object"].update(key=quote_plus(key, safe="/"), etag=etag, size=size)
    return ev


def run_ingest(ev: dict[str, Any]) -> dict[str, Any]:
    return dict(load_handler("EventIngestFunction")(ev, FakeContext(function_name="event-ingest")))
