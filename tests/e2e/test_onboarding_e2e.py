"""Issue 3 on the local runtime: a provider's file dropped in the source bucket (S3 → EventBridge →
EventIngestFunction), the pixel, traits realized by past events, the estimate, analytics from the daily job."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.e2e.client import Client


def test_a_file_dropped_in_the_source_bucket_feeds_traits_and_reports_its_bad_lines(
    http: Client, runtime: Any, new_account: Any
) -> None:
    # Given an s3 source of a provider
    key = new_account(["provider"])["api_key"]
    source = http.post("/v1/sources", {"name": "nightly CRM export", "type": "s3"}, key=key)
    assert source.status == 201, source.body
    ingest = source.body["ingest"]
    # When a newline-delimited JSON file with 300 good lines and 2 bad ones is dropped under its prefix
    lines = [json.dumps({"user_id": f"u{i}", "data": {"tier": "gold" if i % 3 == 0 else "silver"}}) for i in range(300)]
    lines.insert(10, "{not json")
    lines.insert(50, json.dumps({"data": {"tier": "gold"}}))  # no user id
    body = ("\n".join(lines) + "\n").encode()
    runtime.client("s3").put_object(
        Bucket=ingest["bucket"], Key=f"{ingest['prefix'].rstrip('/')}/export.ndjson", Body=body
    )

    # Then the file is listed processed/failed with each bad line, and the good lines are kept
    http.idle()
    (record,) = http.get(f"/v1/sources/{source.body['source_id']}/files", key=key).body["files"]
    assert record["rows"] == 302 and record["accepted"] == 300 and record["rejected"] == 2
    assert sorted(e["line"] for e in record["errors"]) == [11, 51]
    # And a trait created afterwards is realized by those past events (exact below the sketch's nominal size)
    trait = http.post(
        "/v1/traits",
        {"name": "gold", "source_id": source.body["source_id"], "condition": {"key": "tier", "equals": "gold"}},
        key=key,
    ).body
    assert trait["population"] == 100
    # And the same file delivered again changes nothing
    runtime.client("s3").put_object(
        Bucket=ingest["bucket"], Key=f"{ingest['prefix'].rstrip('/')}/again.ndjson", Body=body
    )
    http.idle()
    assert len(http.get(f"/v1/sources/{source.body['source_id']}/files", key=key).body["files"]) == 2
    assert http.get(f"/v1/traits/{trait['trait_id']}", key=key).body["population"] == 100


def test_pixel_estimate_and_daily_analytics(http: Client, new_account: Any) -> None:
    key = new_account(["provider"])["api_key"]
    pixel = http.post("/v1/sources", {"name": "site tag", "type": "pixel"}, key=key).body
    token = pixel.get("pixel_token") or pixel["ingest"].get("pixel_token")
    # Given browser hits on the pixel (a bad one still gets a GIF, never an error page)
    for uid, interest in (("b1", "sports"), ("b2", "sports"), ("b3", "travel")):
        url = f"{http.base}/v1/pixel/{pixel['source_id']}?t={token}&uid={uid}&interest={interest}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/gif"
    with urllib.request.urlopen(f"{http.base}/v1/pixel/{pixel['source_id']}?t=wrong", timeout=30) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/gif"
    http.idle()  # the hits are queued; PixelIngestFunction counts them
    sports = http.post(
        "/v1/traits",
        {"name": "s", "source_id": pixel["source_id"], "condition": {"key": "interest", "equals": "sports"}},
        key=key,
    ).body
    travel = http.post(
        "/v1/traits",
        {"name": "t", "source_id": pixel["source_id"], "condition": {"key": "interest", "in": ["travel"]}},
        key=key,
    ).body
    # When estimating a rule over them
    estimate = http.post("/v1/segments/estimate", {"rule": f"{sports['trait_id']}, {travel['trait_id']}"}, key=key)
    assert estimate.status == 200 and estimate.body["population"] == 3
    bad = http.post("/v1/segments/estimate", {"rule": f"{sports['trait_id']} AND ("}, key=key)
    assert bad.status == 422 and bad.body["error"]["details"][0]["position"] >= 0
    # And a segment is saved, then the daily schedule runs
    segment = http.post(
        "/v1/segments",
        {"name": "fans", "category": "c", "rule": sports["trait_id"], "expiration_days": 30, "visibility": "private"},
        key=key,
    ).body
    assert http.post("/_local/schedules/DailyMaintenanceFunction.Daily/run").status in (200, 202)
    # Then the analytics series has the day's population
    http.idle()
    series = http.get(f"/v1/segments/{segment['segment_id']}/analytics", key=key).body["series"]
    assert series[-1]["population"] == 2


def test_pixel_hits_travel_through_the_queue_and_are_counted_once(http: Client, runtime: Any, new_account: Any) -> None:
    # Given a pixel source on a page
    key = new_account(["provider"])["api_key"]
    pixel = http.post("/v1/sources", {"name": "shop tag", "type": "pixel"}, key=key).body
    sid, token = pixel["source_id"], pixel["pixel_token"]
    # When browsers load it 20 times (one without a user id), each answered the GIF at once
    for i in range(20):
        uid = f"&uid=v{i % 8}" if i else ""
        url = f"{http.base}/v1/pixel/{sid}?t={token}{uid}&page={('home', 'cart')[i % 2]}&cb={i}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/gif"

    # Then PixelIngestFunction drains the queue and counts every hit once: 19 accepted, 1 rejected
    http.idle()
    source = http.get(f"/v1/sources/{sid}", key=key).body
    assert (source["events_accepted"], source["events_rejected"]) == (19, 1)
    catalog = http.get(f"/v1/data-points?source_id={sid}", key=key).body["data_points"]
    assert {v["value"]: v["users"] for p in catalog for v in p["values"]} == {"home": 4, "cart": 4}
    activity = http.get(f"/v1/sources/{sid}/activity", key=key).body
    assert sum(m["count"] for m in activity["per_minute"]) == 19 and len(activity["events"]) == 19
    # And nothing is left in the queue or its dead-letter queue
    sqs = runtime.client("sqs")
    for name in ("PixelHitsQueue", "PixelHitsDeadLetterQueue"):
        attributes = sqs.get_queue_attributes(QueueUrl=runtime.resource(name), AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0", name
