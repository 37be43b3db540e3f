"""The same month closed on moto as it is and under DynamoDB's limits with frequent transient faults.

Every DynamoDB call of the second run meets a 20 % fault rate (InternalServerError, ServiceUnavailable,
throttling, and TransactWriteItems committed whose answer is lost), plus the partition and conflict limits;
the invoices and payouts must come out identical to the cent, nothing issued twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from local_runtime.dynamodb_limits import Limits
from tests.functional.conftest import fresh_stack
from tests.functional.marketplace_helpers import create_feed, make_provider, plan, subscribe
from tests.support.billing import deliver
from tests.support.lambda_api import OPERATOR_KEY, ApiClient, load_handler

SUBSCRIBED = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
IN_WINDOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
CLOSE = datetime(2026, 11, 6, 0, 0, tzinfo=UTC)


def _ok(result: Any, status: int = 200) -> dict[str, Any]:
    assert result.status == status, result.body
    return dict(result.body)


def _accounts(api: ApiClient) -> Callable[..., dict[str, Any]]:
    counter = iter(range(1000))

    def make(roles: list[str]) -> dict[str, Any]:
        n = next(counter)
        body = {"company_name": f"Company {n}", "email": f"user{n}@example.com", "roles": roles}
        return _ok(api.call("POST", "/v1/admin/accounts", body, key=OPERATOR_KEY), 201)

    return make


def _month(stack: dict[str, str]) -> dict[str, Any]:
    """Two providers, a buyer on both feeds with usage in the window, the close, its invoice and payouts."""
    api = ApiClient()
    make_account = _accounts(api)
    p1 = make_provider(api, make_account, {"sports": range(0, 300)})
    p2 = make_provider(api, make_account, {"music": range(1000, 1100)})
    feeds = [
        create_feed(
            api,
            p1,
            [p1.traits["sports"]],
            name="Sports",
            plans=[plan(["segments_and_overlap"], "flat_fee", "100"), plan(["activation"], "cpm", "2.50")],
        ),
        create_feed(
            api,
            p2,
            [p2.traits["music"]],
            name="Music",
            plans=[plan(["segments_and_overlap"], "flat_fee", "50"), plan(["activation"], "cpm", "4.00")],
        ),
    ]
    buyer = make_account(["buyer"])
    key = buyer["api_key"]
    for feed in feeds:
        for p in feed["plans"]:
            _ok(subscribe(api, key, p["plan_id"], now=SUBSCRIBED), 201)
    rule = f"{p1.traits['sports']} OR {p2.traits['music']}"
    body = {"name": "Fans", "category": "interest", "rule": rule}
    segment = _ok(api.call("POST", "/v1/segments", body, key=key, now=SUBSCRIBED), 201)
    dsp = _ok(api.call("POST", "/v1/destinations", {"channel_id": "example_dsp", "name": "DSP"}, key=key), 201)
    path = f"/v1/destinations/{dsp['destination_id']}/segments"
    _ok(api.call("POST", path, {"segment_id": segment["segment_id"]}, key=key), 201)
    rows = [{"segment_id": segment["segment_id"], "destination_id": dsp["destination_id"], "usage": 777_777}]
    _ok(api.call("PUT", "/v1/usage/2026-10/segments", {"rows": rows}, key=key, now=IN_WINDOW))

    run = _ok(api.call("POST", "/v1/admin/billing-runs", {"period": "2026-10"}, key=OPERATOR_KEY, now=CLOSE), 202)
    assert run["expected_invoices"] == 1
    deliver(stack["InvoiceJobsQueue"], load_handler("InvoiceWorkerFunction"))
    deliver(stack["PayoutJobsQueue"], load_handler("PayoutWorkerFunction"))
    run = _ok(api.call("GET", "/v1/admin/billing-runs/2026-10", key=OPERATOR_KEY, now=CLOSE))
    invoices = _ok(api.call("GET", "/v1/invoices", key=key, query={"period": "2026-10"}))["invoices"]
    payouts = _ok(api.call("GET", "/v1/payouts", key=OPERATOR_KEY, query={"period": "2026-10"}))["payouts"]
    names = {p1.account_id: "p1", p2.account_id: "p2"}
    return {
        "run": (run["status"], run["invoices"], run["payouts"], run["totals"]),
        "invoices": [
            (
                invoice["status"],
                invoice["total"],
                invoice["currency"],
                sorted(
                    (line["kind"], line.get("feed_name") or "", line["use_case"], line.get("impressions"), amount)
                    for line in invoice["lines"]
                    for amount in [line["amount"]]
                ),
            )
            for invoice in invoices
        ],
        "payouts": sorted((names[p["provider_id"]], p["gross"], p["platform_fee"], p["amount"]) for p in payouts),
    }


def test_invoices_and_payouts_are_identical_to_the_cent_with_faults_on_and_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with fresh_stack(lambda _: None) as stack:
        clean = _month(stack)
    engine = Limits(fault_rate=0.2, seed="invoices-under-faults")
    for _ in range(3):  # and the first transaction commits, then loses its answer to three attempts
        engine.inject("LostAnswer", "TransactWriteItems")
    with fresh_stack(lambda _: engine) as stack:
        faulty = _month(stack)
    assert faulty == clean
    assert clean["run"][:3] == ("completed", 1, 2)
    assert len(clean["invoices"]) == 1 and len(clean["payouts"]) == 2
    stats = engine.stats()
    assert stats["faults"] >= 20  # the second month really met faults, answers lost after commits among them
    assert stats["lost_answers"] >= 1 and stats["idempotent_replays"] >= 3
