"""Sources, event batches, the pixel, the activity stream and the data points catalog (DOMAIN.md §2)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.functional.onboarding_helpers import (
    create_source,
    drain_pixel_hits,
    ingest_with_key,
    pixel_hit,
    post_events,
)
from tests.support.lambda_api import ApiClient

pytestmark = pytest.mark.shared_stack  # one stack per module: every test makes its own accounts

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def provider(make_account: Any) -> str:
    return str(make_account(["provider"])["api_key"])


def _events(n: int, *, prefix: str = "u", data: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [{"user_id": f"{prefix}{i}", "data": data or {"interest": "sports"}} for i in range(n)]


def test_sources_of_each_type_get_their_own_credentials_and_are_listed_by_type(api: ApiClient, provider: str) -> None:
    # Given one source of each type
    api_src = create_source(api, provider, "api", "server")
    s3_src = create_source(api, provider, "s3", "nightly dump")
    px_src = create_source(api, provider, "pixel", "site tag")

    # Then each carries its own ingest details and secret, shown once
    assert api_src["source_id"].startswith("src_")
    assert (
        api_src["ingest_key"].startswith("ing_") and api_src["ingest"]["ingest_key_prefix"] == api_src["ingest_key"][:8]
    )
    assert s3_src["ingest"]["prefix"].endswith(f"/{s3_src['source_id']}/") and s3_src["ingest"]["bucket"]
    assert px_src["pixel_token"] and px_src["ingest"]["pixel_path"] == f"/v1/pixel/{px_src['source_id']}"
    assert len({api_src["ingest_key"], px_src["pixel_token"]}) == 2

    # And the integration center lists them, without any secret
    listing = api.call("GET", "/v1/sources", key=provider)
    assert listing.status == 200
    assert listing.body["by_type"] == {"api": 1, "s3": 1, "pixel": 1}
    assert [s["name"] for s in listing.body["sources"]] == ["server", "nightly dump", "site tag"]
    assert "ingest_key" not in json.dumps(listing.body["sources"]).replace("ingest_key_prefix", "")


def test_other_accounts_sources_are_not_found_and_buyers_cannot_create_sources(
    api: ApiClient, provider: str, make_account: Any
) -> None:
    source = create_source(api, provider)
    other = make_account(["provider"])["api_key"]
    buyer = make_account(["buyer"])["api_key"]
    sid = source["source_id"]

    for method, path, body in [
        ("GET", f"/v1/sources/{sid}", None),
        ("POST", f"/v1/sources/{sid}/events", {"events": _events(1)}),
        ("GET", f"/v1/sources/{sid}/activity", None),
        ("GET", f"/v1/sources/{sid}/files", None),
        ("GET", "/v1/sources/src_doesnotexist", None),
    ]:
        result = api.call(method, path, body, key=other)
        assert result.status == 404 and result.error_code == "not_found", (method, path, result.body)
    assert api.call("GET", f"/v1/data-points?source_id={sid}", key=other, query={"source_id": sid}).status == 404
    assert api.call("POST", "/v1/sources", {"name": "x", "type": "api"}, key=buyer).status == 403
    assert api.call("POST", "/v1/sources", {"name": "x", "type": "ftp"}, key=provider).status == 422


def test_a_batch_keeps_its_good_events_and_rejects_each_bad_one_with_index_code_and_message(
    api: ApiClient, provider: str
) -> None:
    sid = create_source(api, provider)["source_id"]
    batch: list[Any] = [
        {"user_id": "u1", "timestamp": "2026-11-03T09:59:00Z", "data": {"interest": "sports", "age": 30}},
        {"data": {"interest": "news"}},  # no user id
        {"user_id": "u2", "data": ["interest", "news"]},  # data is not an object
        {"user_id": "u3", "data": {"interest": "x" * 257}},  # oversized value
        {"user_id": "u4", "timestamp": "yesterday", "data": {}},  # bad timestamp
        {"user_id": "u5", "timestamp": "2026-11-09T00:00:00Z"},  # far in the future
        {"user_id": "u6", "data": {"bad key!": "v"}},
        {"user_id": "u7", "data": {"interest": None}},
        "not an event",
        {"user_id": "u8", "data": {"interest": ["sports", "news"]}, "timestamp": "2026-11-03T10:00:00.123456789+01:00"},
    ]
    result = post_events(api, provider, sid, batch)
    assert result.status == 202, result.body
    assert result.body["accepted"] == 2 and result.body["duplicate"] is False
    codes = {r["index"]: r["code"] for r in result.body["rejected"]}
    assert codes == {
        1: "missing_user_id",
        2: "invalid_data",
        3: "value_too_long",
        4: "invalid_timestamp",
        5: "invalid_timestamp",
        6: "invalid_key",
        7: "invalid_value",
        8: "invalid_event",
    }
    assert all(r["message"] for r in result.body["rejected"])

    catalog = api.call("GET", "/v1/data-points", key=provider, query={"source_id": sid}).body["data_points"]
    by_key = {d["key"]: {v["value"]: v["users"] for v in d["values"]} for d in catalog}
    assert by_key == {"interest": {"sports": 2, "news": 1}, "age": {"30": 1}}


def test_too_many_events_or_bytes_is_413_with_a_clear_message(api: ApiClient, provider: str) -> None:
    sid = create_source(api, provider)["source_id"]
    too_many = post_events(api, provider, sid, _events(1001))
    assert too_many.status == 413 and too_many.error_code == "batch_too_large"
    assert "1,000" in too_many.body["error"]["message"]
    big = [{"user_id": f"u{i}", "data": {f"k{j}": "v" * 250 for j in range(10)}} for i in range(500)]
    too_big = post_events(api, provider, sid, big)
    assert too_big.status == 413 and "1 MB" in too_big.body["error"]["message"]
    # A batch touching more distinct data-point values than one batch may write is refused too
    spread = [{"user_id": "u", "data": {f"{k}{i % 40}": f"{k}{i}" for k in "abc"}} for i in range(1000)]
    wide = post_events(api, provider, sid, spread)
    assert wide.status == 413 and "2,000 distinct data-point values" in wide.body["error"]["message"]
    # Nothing of any of these batches was kept
    assert api.call("GET", f"/v1/sources/{sid}", key=provider).body["events_accepted"] == 0


def test_a_repeated_batch_changes_no_population_and_no_count(api: ApiClient, provider: str) -> None:
    sid = create_source(api, provider)["source_id"]
    batch = [*_events(5), {"user_id": "x"}, {"bad": 1}]
    first = post_events(api, provider, sid, batch)
    again = post_events(api, provider, sid, batch, now=NOW + timedelta(minutes=3))
    assert first.body["accepted"] == again.body["accepted"] == 6
    assert first.body["duplicate"] is False and again.body["duplicate"] is True

    source = api.call("GET", f"/v1/sources/{sid}", key=provider).body
    assert (source["events_accepted"], source["events_rejected"]) == (6, 1)
    activity = api.call("GET", f"/v1/sources/{sid}/activity", key=provider, now=NOW + timedelta(minutes=3)).body
    assert sum(m["count"] for m in activity["per_minute"]) == 6
    assert len(activity["events"]) == 6
    catalog = api.call("GET", "/v1/data-points", key=provider, query={"source_id": sid}).body["data_points"]
    assert catalog == [{"source_id": sid, "key": "interest", "values": [{"value": "sports", "users": 5}]}]


def test_activity_shows_latest_events_first_and_per_minute_counts_and_forgets_old_entries(
    api: ApiClient, provider: str
) -> None:
    sid = create_source(api, provider)["source_id"]
    old = NOW - timedelta(hours=49)
    post_events(api, provider, sid, _events(3, prefix="old"), now=old)
    post_events(api, provider, sid, _events(2, prefix="a"), now=NOW - timedelta(minutes=2))
    post_events(api, provider, sid, _events(60, prefix="b"), now=NOW)

    result = api.call("GET", f"/v1/sources/{sid}/activity", key=provider, query={"minutes": "5"})
    assert result.status == 200
    events = result.body["events"]
    assert len(events) == 50  # the newest 50
    assert events[0]["user_id"] == "b59" and all(not e["user_id"].startswith("old") for e in events)
    assert result.body["per_minute"] == [
        {"minute": "2026-11-03T09:56Z", "count": 0},
        {"minute": "2026-11-03T09:57Z", "count": 0},
        {"minute": "2026-11-03T09:58Z", "count": 2},
        {"minute": "2026-11-03T09:59Z", "count": 0},
        {"minute": "2026-11-03T10:00Z", "count": 60},
    ]
    assert api.call("GET", f"/v1/sources/{sid}/activity", key=provider, query={"minutes": "0"}).status == 422


def test_the_source_ingest_key_authenticates_server_to_server_batches(api: ApiClient, provider: str) -> None:
    source = create_source(api, provider, "api")
    status, body = ingest_with_key(source["source_id"], source["ingest_key"], _events(3), NOW)
    assert status == 202 and body["accepted"] == 3
    assert ingest_with_key(source["source_id"], "ing_wrong", _events(1), NOW)[0] == 401
    assert ingest_with_key(source["source_id"], None, _events(1), NOW)[0] == 401
    assert ingest_with_key("src_unknown", source["ingest_key"], _events(1), NOW)[0] == 401
    assert api.call("GET", f"/v1/sources/{source['source_id']}", key=provider).body["events_accepted"] == 3


def test_the_pixel_always_answers_a_gif_and_ingests_only_good_hits(api: ApiClient, provider: str) -> None:
    source = create_source(api, provider, "pixel")
    sid, token = source["source_id"], source["pixel_token"]

    good = pixel_hit({"t": token, "uid": "cookie-1", "section": "sports", "cb": "123"}, sid, NOW, "r1")
    bad_token = pixel_hit({"t": "nope", "uid": "cookie-2", "section": "news"}, sid, NOW, "r2")
    no_uid = pixel_hit({"t": token, "section": "news"}, sid, NOW, "r3")
    nothing = pixel_hit(None, "src_unknown", NOW, "r4")
    too_long = pixel_hit({"t": token, "uid": "c3", "section": "x" * 300}, sid, NOW, "r5")

    for hit in (good, bad_token, no_uid, nothing, too_long):
        assert hit["statusCode"] == 200 and hit["isBase64Encoded"] is True
        assert base64.b64decode(hit["body"])[:6] == b"GIF89a"
        headers = {k: ", ".join(v) for k, v in hit["multiValueHeaders"].items()}
        assert headers["Content-Type"] == "image/gif" and "no-store" in headers["Cache-Control"]

    # the hits of the live source are queued, then counted in a batch by PixelIngestFunction
    assert api.call("GET", f"/v1/sources/{sid}", key=provider).body["events_accepted"] == 0
    drained = drain_pixel_hits()
    assert (drained["counted"], drained["failed"]) == (3, 0)
    stored = api.call("GET", f"/v1/sources/{sid}", key=provider).body
    assert (stored["events_accepted"], stored["events_rejected"]) == (1, 2)
    catalog = api.call("GET", "/v1/data-points", key=provider, query={"source_id": sid}).body["data_points"]
    assert catalog == [{"source_id": sid, "key": "section", "values": [{"value": "sports", "users": 1}]}]


def test_a_key_refuses_values_past_its_distinct_value_cap(
    api: ApiClient, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.domain import events

    monkeypatch.setattr(events, "MAX_VALUES_PER_KEY", 3)
    sid = create_source(api, provider)["source_id"]
    first = post_events(api, provider, sid, [{"user_id": f"u{i}", "data": {"zip": f"z{i}"}} for i in range(2)])
    assert first.body["accepted"] == 2
    second = post_events(
        api, provider, sid, [{"user_id": f"v{i}", "data": {"zip": f"z{i}", "ok": "1"}} for i in range(5)]
    )
    assert second.body["accepted"] == 3  # z0, z1 known, z2 fills the cap
    assert [(r["index"], r["code"]) for r in second.body["rejected"]] == [
        (3, "too_many_values"),
        (4, "too_many_values"),
    ]
    assert "3 distinct values" in second.body["rejected"][0]["message"]
