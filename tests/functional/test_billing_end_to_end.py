"""The monthly close over the REAL inputs: accounts, sources, traits, feeds, subscriptions, a discount,
segments, destinations and usage all created through the API, then closed by the operator and paid.

This is the production ``BillingInputs`` (``services.billing_inputs.ProductBillingInputs``) reading the
other modules' read APIs — no fake anywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.functional.marketplace_helpers import create_feed, make_provider, plan, subscribe
from tests.support.billing import deliver
from tests.support.lambda_api import ApiClient, load_handler

SUBSCRIBED = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
IN_WINDOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
CLOSE = datetime(2026, 11, 6, 0, 0, tzinfo=UTC)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _ok(result: Any, status: int = 200) -> dict[str, Any]:
    assert result.status == status, result.body
    return dict(result.body)


def test_given_a_real_month_when_the_operator_closes_it_then_invoices_payouts_and_reports_follow_the_rules(
    api: ApiClient, make_account: Any, operator_key: str, stack: dict[str, str]
) -> None:
    # Given two providers (one at a 70 % revenue share) with populations 400 / 150 and a feed each
    p1 = make_provider(api, make_account, {"sports": range(0, 400)})
    p2 = make_provider(api, make_account, {"music": range(1000, 1150)})
    feed1 = create_feed(
        api,
        p1,
        [p1.traits["sports"]],
        name="Sports",
        plans=[plan(["segments_and_overlap"], "flat_fee", "100"), plan(["activation"], "cpm", "2.50")],
    )
    feed2 = create_feed(
        api,
        p2,
        [p2.traits["music"]],
        name="Music",
        plans=[plan(["segments_and_overlap"], "flat_fee", "50"), plan(["activation"], "cpm", "4.00")],
    )
    # And a buyer with every plan of both feeds from Oct 5th, and a 10 % discount on Sports
    buyer = make_account(["buyer"])
    key = buyer["api_key"]
    for feed in (feed1, feed2):
        for p in feed["plans"]:
            _ok(subscribe(api, key, p["plan_id"], now=SUBSCRIBED), 201)
    _ok(
        api.call(
            "PUT",
            f"/v1/feeds/{feed1['feed_id']}/discounts/{buyer['account_id']}",
            {"discount_pct": "10"},
            key=p1.key,
            now=SUBSCRIBED,
        )
    )
    # And a segment "sports OR music" mapped to a DSP destination, and a public segment of p2 at CPM 0.35
    rule = f"{p1.traits['sports']} OR {p2.traits['music']}"
    segment = _ok(
        api.call(
            "POST", "/v1/segments", {"name": "Fans", "category": "interest", "rule": rule}, key=key, now=SUBSCRIBED
        ),
        201,
    )
    public = _ok(
        api.call(
            "POST",
            "/v1/segments",
            {
                "name": "=Music lovers",
                "category": "interest",
                "rule": p2.traits["music"],
                "visibility": "public",
                "cpm": "0.35",
            },
            key=p2.key,
            now=SUBSCRIBED,
        ),
        201,
    )
    dsp = _ok(api.call("POST", "/v1/destinations", {"channel_id": "example_dsp", "name": "DSP"}, key=key), 201)
    for seg in (segment, public):
        _ok(
            api.call(
                "POST", f"/v1/destinations/{dsp['destination_id']}/segments", {"segment_id": seg["segment_id"]}, key=key
            ),
            201,
        )
    # And October usage reported in the window: 1,000,000 on the segment, 1,500 on the public one
    rows = [
        {"segment_id": segment["segment_id"], "destination_id": dsp["destination_id"], "usage": 1_000_000},
        {"segment_id": public["segment_id"], "destination_id": dsp["destination_id"], "usage": 1500},
    ]
    _ok(api.call("PUT", "/v1/usage/2026-10/segments", {"rows": rows}, key=key, now=IN_WINDOW))
    # And the buyer deletes the segment after reporting on it: it disappears for the buyer, not for billing
    assert api.call("DELETE", f"/v1/segments/{segment['segment_id']}", key=key, now=IN_WINDOW).status in (200, 204)
    assert api.call("GET", f"/v1/segments/{segment['segment_id']}", key=key).status == 404
    listed = _ok(api.call("GET", "/v1/segments", key=key))["segments"]
    assert segment["segment_id"] not in {s["segment_id"] for s in listed}

    # When the operator closes October at 00:00 UTC on the 6th and the workers drain their queues
    run = _ok(api.call("POST", "/v1/admin/billing-runs", {"period": "2026-10"}, key=operator_key, now=CLOSE), 202)
    assert (run["status"], run["expected_invoices"]) == ("running", 1)
    deliver(stack["InvoiceJobsQueue"], load_handler("InvoiceWorkerFunction"))
    deliver(stack["PayoutJobsQueue"], load_handler("PayoutWorkerFunction"))

    # Then the run completed and the books balance
    run = _ok(api.call("GET", "/v1/admin/billing-runs/2026-10", key=operator_key, now=CLOSE))
    assert (run["status"], run["period_state"], run["invoices"], run["payouts"]) == ("completed", "CLOSED", 1, 2)
    assert run["totals"]["balanced"] is True
    # And the invoice attributes 1,000,000 by population (400 : 150), discounts Sports, bills both flat fees in
    # full and the public segment at its own CPM
    invoices = _ok(api.call("GET", "/v1/invoices", key=key, query={"period": "2026-10"}))["invoices"]
    assert len(invoices) == 1
    invoice = invoices[0]
    lines = {
        (line["kind"], line.get("feed_name") or line.get("segment_name"), line["use_case"]): line
        for line in invoice["lines"]
    }
    sports = lines[("feed", "Sports", "activation")]
    music = lines[("feed", "Music", "activation")]
    assert (sports["impressions"], music["impressions"]) == (727_273, 272_727)
    assert (sports["unit_price"], sports["amount"]) == ("2.25", str(_cents(Decimal(727_273) * Decimal("2.25") / 1000)))
    assert (music["unit_price"], music["amount"]) == ("4.00", "1090.91")
    assert sports["channels"] == [
        {"channel_id": "example_dsp", "name": sports["channels"][0]["name"], "impressions": 727_273}
    ]
    assert lines[("flat_fee", "Sports", "segments_and_overlap")]["amount"] == "90.00"
    assert lines[("flat_fee", "Music", "segments_and_overlap")]["amount"] == "50.00"
    assert lines[("segment", "=Music lovers", "activation")]["amount"] == "0.53"
    total = sum(Decimal(line["amount"]) for line in invoice["lines"])
    assert (invoice["status"], invoice["total"], invoice["currency"]) == ("issued", str(total), "USD")
    # And each provider is paid its share of its lines (p1 at 80 %, p2 at 80 %), fees being the rest
    payouts = _ok(api.call("GET", "/v1/payouts", key=operator_key, query={"period": "2026-10"}))["payouts"]
    by_provider = {p["provider_id"]: p for p in payouts}
    assert set(by_provider) == {p1.account_id, p2.account_id}
    for payout in payouts:
        assert Decimal(payout["amount"]) + Decimal(payout["platform_fee"]) == Decimal(payout["gross"])
    assert sum(Decimal(p["gross"]) for p in payouts) == total
    # And p2's revenue by channel and its billing report show the sales
    revenue = _ok(api.call("GET", "/v1/revenue", key=p2.key, query={"period": "2026-10", "group_by": "channel"}))
    assert revenue["total"] == by_provider[p2.account_id]["amount"]
    assert [g["key"] for g in revenue["groups"]] == ["example_dsp", "unknown"]
    report = _ok(api.call("GET", "/v1/reports/billing", key=p2.key, query={"period": "2026-10"}))
    assert {(r["plan_id"] is None, r["unit"], r["units"], r["billing_period"]) for r in report["rows"]} == {
        (False, "flat_fee", 1, "2026-10-31"),
        (False, "cpm", 272_727, "2026-10-31"),
        (True, "cpm", 1500, "2026-10-31"),
    }
    # And re-running the close changes nothing
    again = _ok(api.call("POST", "/v1/admin/billing-runs", {"period": "2026-10"}, key=operator_key, now=CLOSE), 202)
    assert again["status"] == "completed" and again["run_id"] == run["run_id"]
    assert _ok(api.call("GET", f"/v1/invoices/{invoice['invoice_id']}", key=key)) == invoice
