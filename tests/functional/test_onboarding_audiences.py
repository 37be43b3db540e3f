"""Traits, segments, the audience builder's estimates and segment analytics (DOMAIN.md §3-§4)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.functional.onboarding_helpers import create_source, post_events
from tests.support.daily import run_daily
from tests.support.lambda_api import ApiClient, load_handler

pytestmark = pytest.mark.shared_stack  # one stack per module: every test makes its own accounts

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def provider(make_account: Any) -> str:
    return str(make_account(["provider"])["api_key"])


def _trait(api: ApiClient, key: str, source_id: str, condition: dict[str, Any], name: str = "t") -> dict[str, Any]:
    result = api.call("POST", "/v1/traits", {"name": name, "source_id": source_id, "condition": condition}, key=key)
    assert result.status == 201, result.body
    return dict(result.body)


def _send(api: ApiClient, key: str, source_id: str, users: range, data: dict[str, Any], now: datetime = NOW) -> None:
    events = [{"user_id": f"u{i}", "data": data} for i in users]
    for start in range(0, len(events), 1000):
        assert post_events(api, key, source_id, events[start : start + 1000], now=now).status == 202


@pytest.fixture
def world(api: ApiClient, provider: str) -> dict[str, Any]:
    """Users 0-299 like sports, 200-499 like news, 0-99 are aged 25-34 and 100-149 aged 35-44."""
    sid = create_source(api, provider)["source_id"]
    _send(api, provider, sid, range(0, 300), {"interest": "sports"})
    _send(api, provider, sid, range(200, 500), {"interest": "news"})
    _send(api, provider, sid, range(0, 100), {"age": "25-34"})
    _send(api, provider, sid, range(100, 150), {"age": "35-44"})
    sports = _trait(api, provider, sid, {"key": "interest", "equals": "sports"}, "sports")
    news = _trait(api, provider, sid, {"key": "interest", "equals": "news"}, "news")
    young = _trait(api, provider, sid, {"key": "age", "in": ["25-34", "35-44"]}, "25-44")
    return {"source_id": sid, "sports": sports["trait_id"], "news": news["trait_id"], "young": young["trait_id"]}


def _estimate(api: ApiClient, key: str, rule: str) -> Any:
    return api.call("POST", "/v1/segments/estimate", {"rule": rule}, key=key)


def test_rule_traits_are_realized_by_past_and_future_events(api: ApiClient, provider: str) -> None:
    sid = create_source(api, provider)["source_id"]
    _send(api, provider, sid, range(10), {"interest": "sports"})
    trait = _trait(api, provider, sid, {"key": "interest", "in": ["sports", "golf"]})
    assert (trait["kind"], trait["population"], trait["lower_bound"], trait["upper_bound"]) == ("rule", 10, 10, 10)
    assert trait["condition"] == {"key": "interest", "in": ["sports", "golf"]}

    _send(api, provider, sid, range(5, 20), {"interest": "golf"})

    again = api.call("GET", f"/v1/traits/{trait['trait_id']}", key=provider)
    assert again.status == 200 and again.body["population"] == 20
    listed = api.call("GET", "/v1/traits", key=provider).body["traits"]
    assert [(t["trait_id"], t["population"]) for t in listed] == [(trait["trait_id"], 20)]


def test_trait_creation_is_checked(api: ApiClient, provider: str, make_account: Any) -> None:
    sid = create_source(api, provider)["source_id"]
    other = make_account(["provider"])["api_key"]

    def create(body: dict[str, Any], key: str = provider) -> Any:
        return api.call("POST", "/v1/traits", {"name": "t", **body}, key=key)

    assert create({"source_id": sid, "condition": {"key": "k", "equals": "v"}}, other).status == 404
    assert create({"source_id": "src_nope", "condition": {"key": "k", "equals": "v"}}).status == 404
    both = create({"source_id": sid, "condition": {"key": "k", "equals": "v", "in": ["v"]}})
    assert (both.status, both.error_code) == (422, "invalid_condition")
    assert create({"source_id": sid, "condition": {"key": "k", "in": []}}).error_code == "invalid_condition"
    assert create({"source_id": sid, "condition": {"key": "bad key", "equals": "v"}}).status == 422
    assert create({"condition": {"key": "k", "equals": "v"}}).status == 422
    trait = create({"source_id": sid, "condition": {"key": "k", "equals": 1}}).body
    assert trait["condition"] == {"key": "k", "equals": "1"}
    assert api.call("GET", f"/v1/traits/{trait['trait_id']}", key=other).status == 404


def test_estimates_are_exact_set_operations_with_composition(
    api: ApiClient, provider: str, world: dict[str, Any]
) -> None:
    s, n, y = world["sports"], world["news"], world["young"]
    cases = {
        s: 300,
        f"{s} OR {n}": 500,
        f"{s}, {n}": 500,
        f"{s} AND {n}": 100,
        f"{s} AND NOT {n}": 200,
        f"NOT {s}": 200,  # the universe is every user the source has seen (0-499)
        f"{y} AND ({s} OR NOT {n})": 150,
        f"NOT ({s} OR {n})": 0,
        f"NOT {y} AND NOT {n}": 50,  # users 150-199
    }
    for rule, expected in cases.items():
        result = _estimate(api, provider, rule)
        assert result.status == 200, (rule, result.body)
        body = result.body
        assert (body["population"], body["lower_bound"], body["upper_bound"], body["exact"]) == (
            expected,
            expected,
            expected,
            True,
        ), rule

    composition = _estimate(api, provider, f"{s} OR {n} OR {y}").body["traits"]
    assert composition == sorted(
        [
            {"trait_id": s, "population": 300, "share": 0.4},
            {"trait_id": n, "population": 300, "share": 0.4},
            {"trait_id": y, "population": 150, "share": 0.2},
        ],
        key=lambda t: t["trait_id"],
    )


def test_bad_rules_are_refused_with_the_position_or_the_unknown_traits(
    api: ApiClient, provider: str, world: dict[str, Any], make_account: Any
) -> None:
    s = world["sports"]
    syntax = _estimate(api, provider, f"{s} AND (")
    assert (syntax.status, syntax.error_code) == (422, "invalid_rule")
    assert syntax.body["error"]["details"][0]["position"] == len(s) + 6

    unknown = _estimate(api, provider, f"{s} OR trt_missing")
    assert (unknown.status, unknown.error_code) == (422, "unknown_trait")
    assert unknown.body["error"]["details"] == [{"trait_id": "trt_missing"}]

    # Another account's trait is just as unknown, for estimates and segments alike
    other = make_account(["provider", "buyer"])["api_key"]
    assert _estimate(api, other, s).error_code == "unknown_trait"
    seg = api.call("POST", "/v1/segments", {"name": "x", "category": "c", "rule": s}, key=other)
    assert (seg.status, seg.error_code) == (422, "unknown_trait")


def test_segment_crud_pricing_and_tenancy(
    api: ApiClient, provider: str, world: dict[str, Any], make_account: Any
) -> None:
    s, n = world["sports"], world["news"]
    body = {"name": "Sports fans", "category": "Interests > Sports", "rule": f"{s} AND NOT {n}", "expiration_days": 30}

    private_priced = api.call("POST", "/v1/segments", {**body, "visibility": "private", "cpm": "1.50"}, key=provider)
    assert (private_priced.status, private_priced.error_code) == (422, "price_requires_public_segment")
    bad_price = api.call("POST", "/v1/segments", {**body, "visibility": "public", "cpm": "-1"}, key=provider)
    assert bad_price.status == 422

    created = api.call("POST", "/v1/segments", {**body, "visibility": "public", "cpm": "1.50"}, key=provider)
    assert created.status == 201, created.body
    seg = created.body
    assert seg["segment_id"].startswith("seg_") and seg["status"] == "active"
    assert (seg["cpm"], seg["currency"], seg["visibility"]) == ("1.50", "USD", "public")
    assert seg["expires_at"] == "2026-12-03T10:00:00Z"

    got = api.call("GET", f"/v1/segments/{seg['segment_id']}", key=provider).body
    assert got["population"] == 200
    assert [x["segment_id"] for x in api.call("GET", "/v1/segments", key=provider).body["segments"]] == [
        seg["segment_id"]
    ]

    # Going private while priced is refused; dropping the price with it is fine
    later = NOW + timedelta(days=1)
    refused = api.call("PATCH", f"/v1/segments/{seg['segment_id']}", {"visibility": "private"}, key=provider, now=later)
    assert refused.error_code == "price_requires_public_segment"
    patched = api.call(
        "PATCH",
        f"/v1/segments/{seg['segment_id']}",
        {"visibility": "private", "cpm": None, "name": "Sport lovers", "rule": s},
        key=provider,
        now=later,
    )
    assert patched.status == 200, patched.body
    assert (patched.body["visibility"], patched.body["cpm"], patched.body["name"]) == ("private", None, "Sport lovers")
    assert patched.body["changed_at"] == "2026-11-04T10:00:00Z"
    bad_rule = api.call("PATCH", f"/v1/segments/{seg['segment_id']}", {"rule": "trt_x OR"}, key=provider)
    assert bad_rule.error_code == "invalid_rule"

    # Another account sees nothing
    other = make_account(["buyer"])["api_key"]
    for method in ("GET", "PATCH", "DELETE"):
        assert (
            api.call(method, f"/v1/segments/{seg['segment_id']}", {} if method == "PATCH" else None, key=other).status
            == 404
        )
    assert api.call("GET", f"/v1/segments/{seg['segment_id']}/analytics", key=other).status == 404
    assert api.call("GET", "/v1/segments", key=other).body["segments"] == []

    assert api.call("DELETE", f"/v1/segments/{seg['segment_id']}", key=provider).status == 204
    assert api.call("GET", f"/v1/segments/{seg['segment_id']}", key=provider).status == 404


def test_the_daily_run_records_the_cumulative_population_once_a_day_and_expires_old_segments(
    api: ApiClient, provider: str, world: dict[str, Any]
) -> None:
    s = world["sports"]
    keep = api.call(
        "POST", "/v1/segments", {"name": "a", "category": "c", "rule": s, "expiration_days": 30}, key=provider
    )
    short = api.call(
        "POST", "/v1/segments", {"name": "b", "category": "c", "rule": s, "expiration_days": 2}, key=provider
    )
    keep_id, short_id = keep.body["segment_id"], short.body["segment_id"]

    def run(day: datetime) -> dict[str, Any]:
        return run_daily(day.strftime("%Y-%m-%dT%H:%M:%SZ"))  # the schedule, then its pages

    first = run(datetime(2026, 11, 4, 3, tzinfo=UTC))
    assert (first["segment_snapshots"], first["expired_segments"]) == (2, 0)
    assert run(datetime(2026, 11, 4, 3, 30, tzinfo=UTC))["segment_snapshots"] == 0  # same date: nothing new

    _send(api, provider, world["source_id"], range(1000, 1050), {"interest": "sports"}, now=NOW + timedelta(days=1))
    second = run(datetime(2026, 11, 5, 12, tzinfo=UTC))  # the 2-day segment is due since 10:00
    assert (second["segment_snapshots"], second["expired_segments"]) == (1, 1)

    series = api.call("GET", f"/v1/segments/{keep_id}/analytics", key=provider).body["series"]
    assert [(p["date"], p["population"]) for p in series] == [("2026-11-04", 300), ("2026-11-05", 350)]
    expired = api.call("GET", f"/v1/segments/{short_id}", key=provider).body
    assert expired["status"] == "expired" and expired["expired_at"] == "2026-11-05T12:00:00Z"
    assert [
        (p["date"], p["population"])
        for p in api.call("GET", f"/v1/segments/{short_id}/analytics", key=provider).body["series"]
    ] == [("2026-11-04", 300)]

    # A change brings it back and restarts its clock
    revived = api.call(
        "PATCH", f"/v1/segments/{short_id}", {"name": "b2"}, key=provider, now=datetime(2026, 11, 6, tzinfo=UTC)
    )
    assert (revived.body["status"], revived.body["expired_at"]) == ("active", None)


def test_the_daily_job_fans_segments_out_in_pages_and_a_rerun_skips_what_is_done(
    api: ApiClient, provider: str, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.services.audiences import AudienceService

    # Given five segments, and pages of two
    for n in range(5):
        body = {"name": f"s{n}", "category": "c", "rule": world["sports"], "expiration_days": 30}
        assert api.call("POST", "/v1/segments", body, key=provider).status == 201
    schedule = load_handler("DailyMaintenanceFunction")
    monkeypatch.setattr(sys.modules[schedule.__module__], "PAGE_SIZE", 2)
    computed: list[str] = []
    original = AudienceService.segment_population

    def counting(self: AudienceService, segment: Any) -> Any:
        computed.append(segment.segment_id)
        return original(self, segment)

    monkeypatch.setattr(AudienceService, "segment_population", counting)
    # When the schedule runs (the module's earlier segments too): pages of two, one SQS batch, each active
    # segment snapshotted once
    first = run_daily("2026-11-10T03:00:00Z")
    assert first["segments"] >= 5 and first["segment_pages"] == -(-first["segments"] // 2)
    assert first["send_calls"] == 1
    assert first["segment_snapshots"] == len(computed) >= 5
    # And a rerun the same day (a retried schedule) sends the pages again, but computes nothing
    again = run_daily("2026-11-10T03:30:00Z")
    assert again["segment_pages"] == first["segment_pages"] and again["segment_snapshots"] == 0
    assert len(computed) == first["segment_snapshots"]
