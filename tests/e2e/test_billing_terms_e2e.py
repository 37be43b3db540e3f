"""The billing rules of DOMAIN.md §6 and §9 on the local runtime, over HTTP only: a ``cpm`` plan for content
optimization is refused, the billing report's no-usage flag follows the usage the invoice used, and the terms
in force at the period's last instant are billed even when they change before the close runs."""

from __future__ import annotations

from typing import Any

from demo import Client
from demo_billing import _wait_for_run

PERIOD = "2026-10"


def _ok(reply: Any, status: int = 200) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body)
    return dict(reply.body)


def _clock(api: Client, now: str) -> None:
    """Move the local clock and wait until what it triggered (schedules, queues) is done."""
    _ok(api.post("/_local/clock", {"now": now, "wait": True}))


def test_given_terms_changed_after_october_when_october_closes_then_the_invoice_uses_the_terms_in_force_at_its_end(
    runtime: Any, operator_key: str, new_account: Any
) -> None:
    api = Client(runtime.api_url)
    _clock(api, "2026-10-05T09:00:00Z")
    provider = new_account(["provider"], revenue_share="0.80")
    buyer = new_account(["buyer"])
    pkey, bkey = provider["api_key"], buyer["api_key"]
    source = _ok(api.post("/v1/sources", {"name": "web", "type": "api"}, key=pkey), 201)
    events = [{"user_id": f"u{i}", "data": {"interest": "sports"}} for i in range(50)]
    _ok(api.post(f"/v1/sources/{source['source_id']}/events", {"events": events}, key=pkey), 202)
    condition = {"key": "interest", "equals": "sports"}
    trait = _ok(
        api.post("/v1/traits", {"name": "sports", "source_id": source["source_id"], "condition": condition}, key=pkey),
        201,
    )
    sno = {"use_cases": ["segments_and_overlap"], "unit": "flat_fee", "price": "100.00"}
    body = {"name": "Sports", "trait_ids": [trait["trait_id"]], "visibility": "public"}

    # Given a cpm plan for content optimization: refused with 422 naming the plan, nothing created
    refused = api.post(
        "/v1/feeds",
        {**body, "plans": [sno, {"use_cases": ["content_optimization"], "unit": "cpm", "price": "1.00"}]},
        key=pkey,
    )
    assert refused.status == 422, refused.body
    problem = refused.body["error"]["details"][0]
    assert (problem["field"], problem["code"]) == ("plans.1.unit", "cpm_content_optimization")
    assert "Plan 2" in refused.body["error"]["message"]
    assert _ok(api.get("/v1/feeds", key=pkey))["feeds"] == []

    # Given a feed whose activation and modeling plans are cpm, a buyer on every plan with a 10 % discount
    plans = [
        sno,
        {"use_cases": ["activation"], "unit": "cpm", "price": "2.00"},
        {"use_cases": ["modeling"], "unit": "cpm", "price": "3.00"},
        {"use_cases": ["content_optimization"], "unit": "flat_fee", "price": "20.00"},
    ]
    feed = _ok(api.post("/v1/feeds", {**body, "plans": plans}, key=pkey), 201)
    _ok(api.post(f"/v1/feeds/{feed['feed_id']}/activate", key=pkey))
    by_use = {p["use_cases"][0]: p["plan_id"] for p in feed["plans"]}
    for plan_id in by_use.values():
        _ok(api.post("/v1/subscriptions", {"plan_id": plan_id}, key=bkey), 201)
    discount_url = f"/v1/feeds/{feed['feed_id']}/discounts/{buyer['account_id']}"
    _ok(api.put(discount_url, {"discount_pct": "10"}, key=pkey))

    # When, on 2 November (before the close), the discount becomes 50 % and the activation price 9.00
    _clock(api, "2026-11-02T10:00:00Z")
    _ok(api.put(discount_url, {"discount_pct": "50"}, key=pkey))
    changed = _ok(api.patch(f"/v1/feeds/{feed['feed_id']}/plans/{by_use['activation']}", {"price": "9.00"}, key=pkey))
    assert changed["price"] == "9.00" and changed["price_effective_from"].startswith("2026-11-02T10:00:")
    # and the buyer reports 10,000 October activation impressions (nothing for modeling)
    provider_name = _ok(api.get("/v1/me", key=pkey))["company_name"]
    row = {"provider_name": provider_name, "feed_name": "Sports", "use_case": "activation", "usage": 10_000}
    _ok(api.put(f"/v1/usage/{PERIOD}/feeds", {"rows": [row]}, key=bkey))
    _clock(api, "2026-11-06T00:00:00Z")
    run = _wait_for_run(api, operator_key, PERIOD, timeout=120)
    assert run["failed_jobs"] == []

    # Then October is billed at the terms of 31 October 23:59:59: 10 % off, activation at 2.00
    invoices = _ok(api.get("/v1/invoices", key=bkey))["invoices"]
    invoice = next(i for i in invoices if i["period"] == PERIOD)
    lines = {(line["kind"], line["use_case"]): line for line in invoice["lines"]}
    assert (lines[("feed", "activation")]["unit_price"], lines[("feed", "activation")]["amount"]) == ("1.80", "18.00")
    assert lines[("flat_fee", "segments_and_overlap")]["amount"] == "90.00"
    assert lines[("flat_fee", "content_optimization")]["amount"] == "18.00"
    assert ("feed", "modeling") not in lines
    assert invoice["total"] == "126.00"

    # And the billing report's flag says exactly who reported nothing: modeling, not activation
    report = _ok(api.get(f"/v1/reports/billing?period={PERIOD}", key=pkey))
    rows = {r["use_cases"][0]: r for r in report["rows"] if r["buyer_id"] == buyer["account_id"]}
    assert (rows["activation"]["units"], rows["activation"]["no_usage_reported"]) == (10_000, 0)
    assert (rows["modeling"]["units"], rows["modeling"]["no_usage_reported"]) == (None, 1)
    assert (rows["segments_and_overlap"]["units"], rows["segments_and_overlap"]["no_usage_reported"]) == (1, 0)
    assert rows["activation"]["discounted_price"] == "1.80" and rows["activation"]["list_price"] == "2.00"
