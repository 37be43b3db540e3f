"""A write that committed and lost its answer, then retried: the API answers as if nothing had happened.

DynamoDB can commit a write and answer 500 (the answer is lost); the SDK sends it again. The limits
engine injects exactly that (``inject("LostAnswer", operation, where=...)``) on the one write each step
aims at. A transaction's retry is recognised by its deterministic ``ClientRequestToken``; a single-item
conditional write's retry fails its condition, and the DAL reads the item back (``dal/idempotent.py``).
Each step asserts the answer a fault-free run gives, that the fault met its write, and that nothing was
applied twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from audiens.dal.marketplace_models import FeedItem
from audiens.dal.models import AccountItem, EmailClaimItem
from audiens.dal.onboarding_models import SegmentItem
from local_runtime.dynamodb_limits import Limits
from tests.functional.marketplace_helpers import create_feed, make_provider, plan, subscribe
from tests.support.billing import deliver
from tests.support.lambda_api import ApiClient, ApiResult, load_handler

SUBSCRIBED = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
IN_WINDOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
CLOSE = datetime(2026, 11, 6, 0, 0, tzinfo=UTC)
CREDITED = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
VOIDED = datetime(2026, 11, 13, 9, 30, tzinfo=UTC)


@pytest.fixture
def engine(limits: Limits | None) -> Limits:
    if limits is None:
        pytest.skip("needs the DynamoDB limits engine (AUDIENS_DYNAMODB_LIMITS=real)")
    return limits


def _ok(result: ApiResult, status: int = 200) -> Any:
    assert result.status == status, result.body
    return result.body


class LostAnswer:
    """``with LostAnswer(engine, "PutItem", "SEGMENT#"):`` the next such write commits, then answers 500."""

    def __init__(self, engine: Limits, operation: str, where: str) -> None:
        self.engine, self.operation, self.where = engine, operation, where

    def __enter__(self) -> None:
        self.lost = self.engine.stats()["lost_answers"]
        self.engine.inject("LostAnswer", self.operation, where=self.where)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert self.engine.pending_injections() == 0, f"no {self.operation} on {self.where} was sent"
            assert self.engine.stats()["lost_answers"] > self.lost


def test_accounts_keys_and_audiences_answer_as_if_no_answer_was_lost(
    api: ApiClient, operator_key: str, engine: Limits
) -> None:
    # An account created by the operator (one transaction: profile, email claim, key)
    body = {"company_name": "Lost Co", "email": "lost@example.com", "roles": ["provider", "buyer"]}
    with LostAnswer(engine, "TransactWriteItems", "EMAIL#"):
        account = _ok(api.call("POST", "/v1/admin/accounts", body, key=operator_key), 201)
    key = account["api_key"]
    assert _ok(api.call("GET", "/v1/me", key=key))["email"] == "lost@example.com"
    claims = [c for c in EmailClaimItem.scan() if c.pk.startswith("EMAIL#")]
    profiles = [a for a in AccountItem.scan() if a.pk.startswith("ACCOUNT#") and a.sk == "PROFILE"]
    assert [c.account_id for c in claims] == [a.account_id for a in profiles] == [account["account_id"]]
    again = api.call("POST", "/v1/admin/accounts", body, key=operator_key)
    assert (again.status, again.error_code) == (409, "email_already_registered")  # a real duplicate still is

    # A second API key (a single conditional PutItem)
    with LostAnswer(engine, "PutItem", "KEY#"):
        created = _ok(api.call("POST", "/v1/api-keys", {"name": "ci"}, key=key), 201)
    keys = _ok(api.call("GET", "/v1/api-keys", key=key))["api_keys"]
    assert sorted(k["name"] for k in keys).count("ci") == 1 and created["key_id"] in {k["key_id"] for k in keys}

    # A segment (a single conditional PutItem), then its change (a put conditioned on the version read)
    provider = make_provider(api, lambda roles: account, {"sports": range(0, 50)})
    rule = provider.traits["sports"]
    with LostAnswer(engine, "PutItem", "SEGMENT#"):
        segment = _ok(
            api.call("POST", "/v1/segments", {"name": "Fans", "category": "interest", "rule": rule}, key=key), 201
        )
    mine = _ok(api.call("GET", "/v1/segments", key=key))["segments"]
    assert [s["segment_id"] for s in mine] == [segment["segment_id"]]
    path = f"/v1/segments/{segment['segment_id']}"
    with LostAnswer(engine, "PutItem", "SEGMENT#"):
        changed = _ok(api.call("PATCH", path, {"name": "Big fans"}, key=key))
    assert changed["name"] == "Big fans" and _ok(api.call("GET", path, key=key))["name"] == "Big fans"
    assert len([s for s in SegmentItem.scan() if s.pk.startswith("SEGMENT#") and s.sk == "META"]) == 1

    # A destination and a segment mapping (single conditional PutItems)
    with LostAnswer(engine, "PutItem", "DEST#"):
        dsp = _ok(api.call("POST", "/v1/destinations", {"channel_id": "example_dsp", "name": "DSP"}, key=key), 201)
    mapping_path = f"/v1/destinations/{dsp['destination_id']}/segments"
    with LostAnswer(engine, "PutItem", "MAP#"):
        _ok(api.call("POST", mapping_path, {"segment_id": segment["segment_id"]}, key=key), 201)
    mapped = _ok(api.call("GET", mapping_path, key=key))
    assert [m["segment_id"] for m in mapped["segments"]] == [segment["segment_id"]]


def test_a_month_of_marketplace_usage_and_billing_answers_as_if_no_answer_was_lost(
    api: ApiClient, make_account: Any, operator_key: str, stack: dict[str, str], engine: Limits
) -> None:
    provider = make_provider(api, make_account, {"sports": range(0, 300), "golf": range(300, 320)})
    plans = [plan(["segments_and_overlap"], "flat_fee", "100"), plan(["activation"], "cpm", "2.50")]
    with LostAnswer(engine, "TransactWriteItems", "PLAN#"):  # the feed, its plans and its traits at once
        feed = create_feed(api, provider, [provider.traits["sports"]], name="Sports", plans=plans, activate=False)
    with LostAnswer(engine, "UpdateItem", "FEED#"):  # its activation: an UpdateItem conditioned on inactive
        feed = _ok(api.call("POST", f"/v1/feeds/{feed['feed_id']}/activate", key=provider.key))
    assert feed["status"] == "active"
    buyer = make_account(["buyer"])
    key = buyer["api_key"]
    # Subscriptions (a transaction each: the subscription, its locks, the feed's counter)
    for p in feed["plans"]:
        with LostAnswer(engine, "TransactWriteItems", "SUB#"):
            _ok(subscribe(api, key, p["plan_id"], now=SUBSCRIBED), 201)
    subs = _ok(api.call("GET", "/v1/subscriptions", key=key))["subscriptions"]
    assert len(subs) == 2
    assert int(FeedItem.get(f"FEED#{feed['feed_id']}", "META", consistent_read=True).active_subs) == 2

    # An access request to a private feed (a put conditioned on none pending: two at one instant are a
    # conflict, its own retry is not)
    private = create_feed(api, provider, [provider.traits["golf"]], name="Golf", visibility="private")
    access = f"/v1/feeds/{private['feed_id']}/access-requests"
    with LostAnswer(engine, "PutItem", "ACCESS#"):
        asked = _ok(api.call("POST", access, key=key, now=SUBSCRIBED), 201)
    assert asked["status"] == "pending"
    again = api.call("POST", access, key=key, now=SUBSCRIBED)
    assert (again.status, again.error_code) == (409, "access_already_requested")

    # Usage (one transaction: the values, their audit, the buyer's guard check)
    body = {"name": "Fans", "category": "interest", "rule": provider.traits["sports"]}
    segment = _ok(api.call("POST", "/v1/segments", body, key=key, now=SUBSCRIBED), 201)
    dsp = _ok(api.call("POST", "/v1/destinations", {"channel_id": "example_dsp", "name": "DSP"}, key=key), 201)
    path = f"/v1/destinations/{dsp['destination_id']}/segments"
    _ok(api.call("POST", path, {"segment_id": segment["segment_id"]}, key=key), 201)
    rows = [{"segment_id": segment["segment_id"], "destination_id": dsp["destination_id"], "usage": 400_000}]
    with LostAnswer(engine, "TransactWriteItems", "USAGE#"):
        _ok(api.call("PUT", "/v1/usage/2026-10/segments", {"rows": rows}, key=key, now=IN_WINDOW))
    stored = _ok(api.call("GET", "/v1/usage/2026-10/segments", key=key, now=IN_WINDOW))["rows"]
    assert [r["usage"] for r in stored if r["segment_id"] == segment["segment_id"]] == [400_000]

    # The close: the run, the invoice, the payout, the run's completion, each losing its first answer
    with LostAnswer(engine, "TransactWriteItems", "BUYERS#"):
        run = _ok(api.call("POST", "/v1/admin/billing-runs", {"period": "2026-10"}, key=operator_key, now=CLOSE), 202)
    assert run["expected_invoices"] == 1
    with LostAnswer(engine, "TransactWriteItems", "INVOICE#"):
        deliver(stack["InvoiceJobsQueue"], load_handler("InvoiceWorkerFunction"))
    with LostAnswer(engine, "TransactWriteItems", "PAYOUT#"), LostAnswer(engine, "PutItem", "ISSUE"):
        deliver(stack["PayoutJobsQueue"], load_handler("PayoutWorkerFunction"))
        deliver(stack["DocumentJobsQueue"], load_handler("BillingDocumentsFunction"))
    report = _ok(api.call("GET", "/v1/admin/billing-runs/2026-10", key=operator_key, now=CLOSE))
    assert (report["status"], report["invoices"], report["payouts"], report["failed_jobs"]) == ("completed", 1, 1, [])
    invoices = _ok(api.call("GET", "/v1/invoices", key=key, query={"period": "2026-10"}))["invoices"]
    assert len(invoices) == 1 and invoices[0]["total"] == "1100.00" and invoices[0]["number"] == "INV-2026-10-0001"
    payouts = _ok(api.call("GET", "/v1/payouts", key=operator_key, query={"period": "2026-10"}))["payouts"]
    assert len(payouts) == 1 and payouts[0]["gross"] == "1100.00"

    # A credit note (one transaction: the note, the adjustment, the tally, the number sequence)
    invoice = invoices[0]
    cpm = next(line for line in invoice["lines"] if line["unit"] == "cpm")
    credit = {"reason": "reported twice", "lines": [{"line_no": cpm["line_no"], "amount": "100.00"}]}
    notes_path = f"/v1/invoices/{invoice['invoice_id']}/credit-notes"
    with LostAnswer(engine, "TransactWriteItems", "CREDITNOTE#"):
        note = _ok(api.call("POST", notes_path, credit, key=operator_key, now=CREDITED), 201)
    assert (note["number"], note["total"]) == ("CN-2026-11-0001", "100.00")
    view = _ok(api.call("GET", f"/v1/invoices/{invoice['invoice_id']}", key=operator_key))
    assert [c["number"] for c in view["credit_notes"]] == ["CN-2026-11-0001"]

    # Voiding an invoice (an UpdateItem conditioned on not being void yet)
    with LostAnswer(engine, "UpdateItem", "INVOICE#"):
        voided = _ok(
            api.call(
                "POST", f"/v1/invoices/{invoice['invoice_id']}/void", {"reason": "test"}, key=operator_key, now=VOIDED
            )
        )
    assert voided["status"] == "void"
    twice = api.call("POST", f"/v1/invoices/{invoice['invoice_id']}/void", {"reason": "test"}, key=operator_key)
    assert (twice.status, twice.error_code) == (409, "invoice_already_void")
