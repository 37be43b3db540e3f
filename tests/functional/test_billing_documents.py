"""Billing documents and messages on the template's resources: reminders, the invoice and payout emails and PDFs,
credit notes flowing into the next close's payouts, every email sent once however often its trigger fires."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from pypdf import PdfReader

from tests.functional.marketplace_helpers import create_feed, make_provider, plan, subscribe
from tests.support.billing import deliver
from tests.support.lambda_api import ApiClient, FakeContext, load_handler

SUBSCRIBED = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
FIRST = "2026-11-01T08:00:00Z"
FOURTH = "2026-11-04T08:00:00Z"
IN_WINDOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
CLOSE = datetime(2026, 11, 6, 0, 0, tzinfo=UTC)
CREDITED = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
NOV_CLOSE = datetime(2026, 12, 6, 0, 0, tzinfo=UTC)
PDF = {"Accept": "application/pdf"}


def _ok(result: Any, status: int = 200) -> Any:
    assert result.status == status, result.body
    return result.body


def sent() -> list[dict[str, Any]]:
    from moto.ses.models import ses_backends

    backend = ses_backends["123456789012"]["us-east-1"]
    return [
        {"to": m.destinations["ToAddresses"][0], "subject": m.subject, "body": m.body} for m in backend.sent_messages
    ]


def drain(stack: dict[str, str]) -> None:
    """Every queue of the close and its documents, in order, then the emails."""
    deliver(stack["InvoiceJobsQueue"], load_handler("InvoiceWorkerFunction"))
    deliver(stack["PayoutJobsQueue"], load_handler("PayoutWorkerFunction"))
    deliver(stack["DocumentJobsQueue"], load_handler("BillingDocumentsFunction"))
    deliver(stack["EmailQueue"], load_handler("EmailWorkerFunction"))


def remind(at: str) -> dict[str, Any]:
    result: dict[str, Any] = load_handler("UsageRemindersFunction")(
        {"time": at, "schedule": "usage-reminders"}, FakeContext()
    )
    return result


def pdf_text(data: bytes) -> str:
    assert data[:5] == b"%PDF-"
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(data)).pages)


def world(api: ApiClient, make_account: Any) -> dict[str, Any]:
    provider = make_provider(api, make_account, {"sports": range(0, 400)})
    feed = create_feed(
        api,
        provider,
        [provider.traits["sports"]],
        name="Sports",
        plans=[plan(["segments_and_overlap"], "flat_fee", "100"), plan(["activation"], "cpm", "2.50")],
    )
    reporter, silent, opted_out = (make_account(["buyer"]) for _ in range(3))
    for buyer in (reporter, silent, opted_out):
        for p in feed["plans"]:
            _ok(subscribe(api, buyer["api_key"], p["plan_id"], now=SUBSCRIBED), 201)
    return {"provider": provider, "feed": feed, "reporter": reporter, "silent": silent, "opted_out": opted_out}


def test_given_a_month_when_schedules_close_and_credit_fire_twice_then_each_email_and_document_exists_once(
    api: ApiClient, make_account: Any, operator_key: str, stack: dict[str, str]
) -> None:
    w = world(api, make_account)
    reporter, silent, opted_out = w["reporter"], w["silent"], w["opted_out"]
    emails = {b["account_id"]: api.call("GET", "/v1/me", key=b["api_key"]).body["email"] for b in (reporter, silent)}
    # Given a buyer who turned reminders off
    me = _ok(api.call("PATCH", "/v1/me", {"usage_reminders": False}, key=opted_out["api_key"]))
    assert me["usage_reminders"] is False
    bad = api.call("PATCH", "/v1/me", {"usage_reminders": "no"}, key=opted_out["api_key"])
    assert bad.status == 422

    # When the reminder of the 1st fires twice
    first = remind(FIRST)
    assert (first["kind"], first["period"], first["sent"]) == ("usage_open", "2026-10", 2)
    assert remind(FIRST)["sent"] == 0
    deliver(stack["EmailQueue"], load_handler("EmailWorkerFunction"))
    # Then the two buyers with reminders on got one each, at their accounts' addresses
    opened = [m for m in sent() if m["subject"] == "October usage is open until 5 November 23:59 UTC"]
    assert sorted(m["to"] for m in opened) == sorted(emails.values())
    assert "/payables?period=2026-10" in opened[0]["body"]

    # When one buyer reports and the reminder of the 4th fires twice
    rows = [{"provider_name": w["provider"].account_id, "feed_name": "Sports", "use_case": "activation", "usage": 0}]
    feed_rows = _ok(api.call("GET", "/v1/usage/2026-10/feeds", key=reporter["api_key"], now=IN_WINDOW))["rows"]
    rows = [{**{k: feed_rows[0][k] for k in ("provider_name", "feed_name", "use_case")}, "usage": 400_000}]
    _ok(api.call("PUT", "/v1/usage/2026-10/feeds", {"rows": rows}, key=reporter["api_key"], now=IN_WINDOW))
    assert remind(FOURTH)["sent"] == 1 and remind(FOURTH)["sent"] == 0
    deliver(stack["EmailQueue"], load_handler("EmailWorkerFunction"))
    # Then only the buyer who reported nothing got the last call
    last = [m for m in sent() if m["subject"].startswith("Last call: October usage")]
    assert [m["to"] for m in last] == [emails[silent["account_id"]]]

    # When October is closed (twice) and every queue drained (twice)
    for _ in range(2):
        _ok(api.call("POST", "/v1/admin/billing-runs", {"period": "2026-10"}, key=operator_key, now=CLOSE), 202)
        drain(stack)
    # Then each buyer got one invoice email and the provider one payout email
    invoices = _ok(api.call("GET", "/v1/invoices", key=operator_key, query={"period": "2026-10"}))["invoices"]
    assert len(invoices) == 3 and sorted(i["number"] for i in invoices) == [
        "INV-2026-10-0001",
        "INV-2026-10-0002",
        "INV-2026-10-0003",
    ]
    invoice = next(i for i in invoices if i["buyer_id"] == reporter["account_id"])
    mails = [m for m in sent() if m["subject"].startswith("Invoice INV-2026-10-")]
    assert len(mails) == 3
    mine = next(m for m in mails if m["to"] == emails[reporter["account_id"]])
    assert f"/invoices/{invoice['invoice_id']}" in mine["body"] and f"Total: {invoice['total']} USD" in mine["body"]
    assert len([m for m in sent() if m["subject"].startswith("Payout statement for 2026-10")]) == 1

    # And the buyer opens its invoice PDF: every field as on the JSON, stored once in the documents bucket
    own = _ok(api.call("GET", f"/v1/invoices/{invoice['invoice_id']}.pdf", key=reporter["api_key"], headers=PDF))
    text = pdf_text(own)
    assert f"Number {invoice['number']}" in text and invoice["buyer_name"] in text and "Status issued" in text
    for line in invoice["lines"]:
        assert line["amount"] in text and line["feed_name"] in text
    assert f"Total: {invoice['total']} USD" in text
    same = _ok(api.call("GET", f"/v1/invoices/{invoice['invoice_id']}", key=reporter["api_key"], headers=PDF))
    assert same == own
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=stack["DocumentsBucket"])["Contents"]]
    assert f"invoices/2026-10/{invoice['invoice_id']}.pdf" in keys and len(keys) == 4
    # And bad requests for it are refused without revealing anything
    assert api.call("GET", f"/v1/invoices/{invoice['invoice_id']}.pdf", key=reporter["api_key"]).status == 406
    other = api.call("GET", f"/v1/invoices/{invoice['invoice_id']}.pdf", key=silent["api_key"], headers=PDF)
    assert other.status == 404
    # And the provider opens its statement
    payout = _ok(api.call("GET", "/v1/payouts", key=w["provider"].key, query={"period": "2026-10"}))["payouts"][0]
    statement = pdf_text(
        _ok(api.call("GET", f"/v1/payouts/{payout['payout_id']}.pdf", key=w["provider"].key, headers=PDF))
    )
    assert f"Net payout (revenue share 80%): {payout['amount']} USD" in statement

    # When the operator credits the reporter's CPM line (twice with one Idempotency-Key) and then too much
    cpm = next(line for line in invoice["lines"] if line["unit"] == "cpm")
    body = {"reason": "usage reported twice", "lines": [{"line_no": cpm["line_no"], "amount": "100.00"}]}
    path = f"/v1/invoices/{invoice['invoice_id']}/credit-notes"
    note = _ok(api.call("POST", path, body, key=operator_key, now=CREDITED, headers={"Idempotency-Key": "cn-1"}), 201)
    again = api.call("POST", path, body, key=operator_key, now=CREDITED, headers={"Idempotency-Key": "cn-1"})
    assert again.status == 201 and again.body == note
    assert (note["number"], note["total"], note["period"]) == ("CN-2026-11-0001", "100.00", "2026-11")
    over = api.call(
        "POST",
        path,
        {"reason": "x", "full": False, "lines": [{"line_no": cpm["line_no"], "amount": "999999"}]},
        key=operator_key,
        now=CREDITED,
    )
    assert (over.status, over.error_code) == (422, "credit_exceeds_remaining")
    assert api.call("POST", path, body, key=reporter["api_key"], now=CREDITED).status == 403
    deliver(stack["DocumentJobsQueue"], load_handler("BillingDocumentsFunction"))
    deliver(stack["EmailQueue"], load_handler("EmailWorkerFunction"))
    # Then the invoice is unchanged but shows the credit, the buyer reads the note and got its email
    view = _ok(api.call("GET", f"/v1/invoices/{invoice['invoice_id']}", key=reporter["api_key"]))
    assert view["total"] == invoice["total"] and view["credited"] == "100.00"
    assert [c["number"] for c in view["credit_notes"]] == ["CN-2026-11-0001"]
    listed = _ok(api.call("GET", "/v1/credit-notes", key=reporter["api_key"]))["credit_notes"]
    assert [n["credit_note_id"] for n in listed] == [note["credit_note_id"]]
    assert api.call("GET", f"/v1/credit-notes/{note['credit_note_id']}", key=silent["api_key"]).status == 404
    cn_text = pdf_text(
        _ok(api.call("GET", f"/v1/credit-notes/{note['credit_note_id']}.pdf", key=reporter["api_key"], headers=PDF))
    )
    assert "Number CN-2026-11-0001" in cn_text and "usage reported twice" in cn_text and invoice["number"] in cn_text
    assert len([m for m in sent() if m["subject"].startswith("Credit note CN-2026-11-0001")]) == 1

    # When November is closed
    _ok(api.call("POST", "/v1/admin/billing-runs", {"period": "2026-11"}, key=operator_key, now=NOV_CLOSE), 202)
    drain(stack)
    # Then the provider's November payout carries the negative adjustment, and the books of November balance
    nov = _ok(api.call("GET", "/v1/payouts", key=w["provider"].key, query={"period": "2026-11"}))["payouts"][0]
    credit_lines = [line for line in nov["lines"] if line.get("credit_note_id")]
    assert [(c["credit_note_id"], c["gross"]) for c in credit_lines] == [(note["credit_note_id"], "-100.00")]
    assert Decimal(credit_lines[0]["provider_share"]) == Decimal("-80.00")
    run = _ok(api.call("GET", "/v1/admin/billing-runs/2026-11", key=operator_key))
    totals = run["totals"]
    assert totals["balanced"] is True and totals["credited"] == "100.00"
    assert Decimal(totals["invoiced"]) - Decimal(totals["credited"]) == Decimal(totals["paid_out"]) + Decimal(
        totals["platform_fees"]
    )
    revenue = _ok(api.call("GET", "/v1/revenue", key=w["provider"].key, query={"period": "2026-11"}))
    assert revenue["credited"] == "-80.00"
