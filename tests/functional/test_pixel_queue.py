"""Pixel hits buffered by the PixelHits queue and counted in batches by PixelIngestFunction: each hit counted
exactly once, a failing batch reported back and dead-lettered, nothing dropped in silence."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from local_runtime.dynamodb_limits import Limits
from tests.functional.onboarding_helpers import create_source, drain_pixel_hits, pixel_hit
from tests.support.billing import sqs_event
from tests.support.lambda_api import ApiClient, FakeContext, load_handler

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def provider(make_account: Any) -> str:
    return str(make_account(["provider"])["api_key"])


@pytest.fixture
def pixel(api: ApiClient, provider: str) -> tuple[str, str]:
    source = create_source(api, provider, "pixel")
    return source["source_id"], source["pixel_token"]


def _hits(sid: str, token: str, count: int, *, prefix: str = "r") -> None:
    for i in range(count):
        query = {"t": token, "uid": f"cookie-{i % 7}", "section": ("sports", "news")[i % 2]}
        assert pixel_hit(query, sid, NOW, f"{prefix}{i}")["statusCode"] == 200


def _receive(queue: str, **extra: Any) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"], **extra)
    return list(got.get("Messages", []))


def _consume(messages: list[dict[str, Any]]) -> dict[str, Any]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    arn = sqs.get_queue_attributes(QueueUrl=os.environ["PIXEL_QUEUE_URL"], AttributeNames=["QueueArn"])
    out = load_handler("PixelIngestFunction")(
        sqs_event(messages, arn["Attributes"]["QueueArn"]), FakeContext(function_name="pixel-ingest")
    )
    return dict(out)


def _counts(api: ApiClient, provider: str, sid: str) -> tuple[int, int, dict[str, int]]:
    stored = api.call("GET", f"/v1/sources/{sid}", key=provider).body
    catalog = api.call("GET", "/v1/data-points", key=provider, query={"source_id": sid}).body["data_points"]
    values = {v["value"]: v["users"] for point in catalog for v in point["values"]}
    return stored["events_accepted"], stored["events_rejected"], values


def test_queued_hits_are_counted_in_batches_exactly_once_even_when_delivered_again(
    api: ApiClient, provider: str, pixel: tuple[str, str], limits: Limits | None
) -> None:
    sid, token = pixel
    # Given 12 hits queued by the pixel route, one of them without a user (a bad event)
    _hits(sid, token, 11)
    assert pixel_hit({"t": token, "section": "news"}, sid, NOW, "no-uid")["statusCode"] == 200
    queue = os.environ["PIXEL_QUEUE_URL"]
    first = _receive(queue, VisibilityTimeout=0)
    assert len(first) == 10 and json.loads(first[0]["Body"])["source_id"] == sid
    assert "t" not in json.loads(first[0]["Body"])["params"]  # the token is checked, never stored

    # When the consumer's first counting transaction loses its answer after committing
    if limits is not None:
        limits.inject("LostAnswer", "TransactWriteItems")
    assert _consume(first)["batchItemFailures"] == []
    # And the same messages are delivered again (at-least-once), twice in one batch, then the rest drained
    again = _consume(first + first[:3])
    assert (again["counted"], again["duplicates"], again["batchItemFailures"]) == (0, 13, [])
    rest = drain_pixel_hits()

    # Then every hit is counted once: 11 accepted, 1 rejected, each value's users exact
    assert rest["failed"] == 0
    assert _counts(api, provider, sid) == (11, 1, {"sports": 6, "news": 5})
    # And the activity stream shows each accepted hit once
    events = api.call("GET", f"/v1/sources/{sid}/activity", key=provider, query={"minutes": "1"}).body
    assert len(events["events"]) == 11 and events["per_minute"][-1]["count"] == 11


def test_a_batch_that_fails_is_reported_back_retried_then_dead_lettered_and_the_rest_is_kept(
    api: ApiClient, provider: str, pixel: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.dal.onboarding import DynamoOnboardingRepository

    sid, token = pixel
    other = create_source(api, provider, "pixel", "other site")
    # Given hits on two sources in one batch, and a message that is not a hit at all
    _hits(sid, token, 3)
    _hits(other["source_id"], other["pixel_token"], 2, prefix="o")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = os.environ["PIXEL_QUEUE_URL"]
    sqs.send_message(QueueUrl=queue, MessageBody='{"not": "a hit"}')
    # And the first source's group cannot be counted (its writes fail)
    real_apply = DynamoOnboardingRepository.apply_batch

    def failing(self: Any, source_id: str, *args: Any, **kwargs: Any) -> Any:
        if source_id == sid:
            raise RuntimeError("DynamoDB is unavailable")
        return real_apply(self, source_id, *args, **kwargs)

    monkeypatch.setattr(DynamoOnboardingRepository, "apply_batch", failing)

    # When the consumer takes the batch
    batch = _receive(queue, VisibilityTimeout=0)
    out = _consume(batch)

    # Then the failed group's hits and the poison message are reported, the other source's hits counted
    by_id = {m["MessageId"]: json.loads(m["Body"]) for m in batch}
    failed = {f["itemIdentifier"] for f in out["batchItemFailures"]}
    assert {by_id[i].get("source_id") for i in failed} == {sid, None} and len(failed) == 4
    assert out["counted"] == 2 and _counts(api, provider, other["source_id"])[0] == 2
    assert _counts(api, provider, sid)[0] == 0
    for message in batch:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    # And after 5 failed receives the hits land in the dead-letter queue (alarmed), none lost
    for _ in range(4):
        assert {
            f["itemIdentifier"] for f in _consume(_receive(queue, VisibilityTimeout=0))["batchItemFailures"]
        } == failed
    assert _receive(queue) == []
    dead = _receive(os.environ["PIXEL_QUEUE_URL"].replace("audiens-pixel-hits-", "audiens-pixel-hits-dlq-"))
    assert {m["MessageId"] for m in dead} == failed

    # And once the writes work again, a redrive counts them once
    monkeypatch.setattr(DynamoOnboardingRepository, "apply_batch", real_apply)
    hits = [m for m in dead if "source_id" in json.loads(m["Body"])]
    assert _consume(hits)["counted"] == 3
    assert _counts(api, provider, sid)[0] == 3


def test_a_hit_that_cannot_be_queued_fails_the_request_with_the_error_body(
    pixel: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.wiring import pixel_service

    sid, token = pixel
    service = pixel_service()

    def unavailable(jobs: Any) -> int:
        raise RuntimeError("SQS is unavailable")

    monkeypatch.setattr(service._queue, "send", unavailable)
    answer = pixel_hit({"t": token, "uid": "cookie-1"}, sid, NOW, "r-lost")
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"])["error"]["code"] == "internal_error"
    # while a hit for no live source is still answered the GIF (nothing to queue)
    assert pixel_hit({"t": "wrong", "uid": "cookie-1"}, sid, NOW, "r-bad")["statusCode"] == 200
