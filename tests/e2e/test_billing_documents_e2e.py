"""Billing documents and messages on the real local runtime, over HTTP: reminders fired by the local clock and
fired again by hand (one email each), the rejected-file email, the invoice email, the PDFs through the gateway
(binary only for Accept: application/pdf), and a credit note paid back by the next close."""

from __future__ import annotations

import io
import urllib.request
from typing import Any

from pypdf import PdfReader

from tests.e2e.client import Client

PDF = {"Accept": "application/pdf"}
OPEN = "UsageRemindersFunction.UsageOpenReminder"
LAST_CALL = "UsageRemindersFunction.UsageLastCallReminder"


def clock(http: Client, now: str) -> None:
    http.post("/_local/clock", {"now": now, "wait": True, "timeout": 50}, expect=200)


def idle(http: Client) -> None:
    http.post("/_local/idle", {"timeout": 50}, expect=200)


def outbox(http: Client, address: str) -> list[dict[str, Any]]:
    return [e for e in http.get("/_local/outbox", expect=200).body["emails"] if address in e["to"]]


def text(data: bytes) -> str:
    assert data[:5] == b"%PDF-", data[:40]
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(data)).pages)


def test_given_buyers_and_a_provider_when_the_month_turns_then_reminders_documents_and_a_credit_note_follow(
    http: Client, new_account: Any, operator_key: str
) -> None:
    # Given a provider's feed with a CPM plan and three buyers subscribed on November 3rd, one without reminders
    provider = new_account(["provider"])
    pkey = provider["api_key"]
    source = http.post("/v1/sources", {"name": "web", "type": "api"}, key=pkey, expect=201).body
    events = [{"user_id": f"u{i}", "data": {"interest": "sports"}} for i in range(200)]
    http.post(f"/v1/sources/{source['source_id']}/events", {"events": events}, key=pkey, expect=202)
    trait = http.post(
        "/v1/traits",
        {"name": "sports", "source_id": source["source_id"], "condition": {"key": "interest", "equals": "sports"}},
        key=pkey,
        expect=201,
    ).body
    feed = http.post(
        "/v1/feeds",
        {
            "name": "Sports",
            "description": "fans",
            "trait_ids": [trait["trait_id"]],
            "visibility": "public",
            "plans": [
                {"use_cases": ["segments_and_overlap"], "unit": "flat_fee", "price": "20.00"},
                {"use_cases": ["activation"], "unit": "cpm", "price": "3.00"},
            ],
        },
        key=pkey,
        expect=201,
    ).body
    http.post(f"/v1/feeds/{feed['feed_id']}/activate", key=pkey, expect=200)
    buyers = [new_account(["buyer"]) for _ in range(3)]
    reporter, silent, quiet = buyers
    addresses = {b["account_id"]: http.get("/v1/me", key=b["api_key"], expect=200).body["email"] for b in buyers}
    for buyer in buyers:
        for plan in feed["plans"]:
            http.post("/v1/subscriptions", {"plan_id": plan["plan_id"]}, key=buyer["api_key"], expect=201)
    http.patch("/v1/me", {"usage_reminders": False}, key=quiet["api_key"], expect=200)

    # When the clock passes 1 December 08:00 UTC and the schedule is fired twice more by hand
    clock(http, "2026-12-01T08:00:00Z")
    for _ in range(2):
        http.post(f"/_local/schedules/{OPEN}/run", expect=200)
    idle(http)
    # Then each buyer with reminders on has exactly one, at its own address; the quiet one none
    subject = "November usage is open until 5 December 23:59 UTC"
    for buyer, expected in ((reporter, 1), (silent, 1), (quiet, 0)):
        got = [e for e in outbox(http, addresses[buyer["account_id"]]) if e["subject"] == subject]
        assert len(got) == expected, got
    assert "/payables?period=2026-11" in outbox(http, addresses[reporter["account_id"]])[-1]["body"]

    # When the reporter uploads a wrong file, then reports, and the 4th's schedule fires (and again by hand)
    clock(http, "2026-12-02T10:00:00Z")
    upload = http.post("/v1/usage/2026-11/uploads", {"kind": "feeds"}, key=reporter["api_key"], expect=201).body
    bad = b"Data Provider Name,Data Feed Name,Use Case,Usage\r\nNobody,Nothing,activation,12.5\r\n"
    put = urllib.request.Request(upload["upload_url"], data=bad, method="PUT", headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(put, timeout=30) as response:
        assert response.status == 200
    idle(http)
    rows = http.get("/v1/usage/2026-11/feeds", key=reporter["api_key"], expect=200).body["rows"]
    mine = [{**{k: r[k] for k in ("provider_name", "feed_name", "use_case")}, "usage": 500_000} for r in rows]
    http.put("/v1/usage/2026-11/feeds", {"rows": mine}, key=reporter["api_key"], expect=200)
    clock(http, "2026-12-04T08:00:00Z")
    http.post(f"/_local/schedules/{LAST_CALL}/run", expect=200)
    idle(http)
    # Then the rejection email lists the errors and links to the upload; only the silent buyer gets a last call
    rejected = [e for e in outbox(http, addresses[reporter["account_id"]]) if "rejected" in e["subject"]]
    assert len(rejected) == 1 and f"/payables/uploads/{upload['upload_id']}" in rejected[0]["body"]
    assert "line 2:" in rejected[0]["body"]
    calls = {
        b["account_id"]: [e for e in outbox(http, addresses[b["account_id"]]) if "Last call" in e["subject"]]
        for b in buyers
    }
    assert [len(calls[b["account_id"]]) for b in buyers] == [0, 1, 0]

    # When November closes at 00:00 UTC on 6 December
    clock(http, "2026-12-06T00:00:00Z")
    idle(http)
    invoices = http.get("/v1/invoices?period=2026-11", key=reporter["api_key"], expect=200).body["invoices"]
    invoice = invoices[0]
    # Then the invoice email came once, and the PDF travels as bytes through the gateway for Accept: application/pdf
    issued = [e for e in outbox(http, addresses[reporter["account_id"]]) if e["subject"].startswith("Invoice INV-")]
    assert len(issued) == 1 and invoice["number"] in issued[0]["subject"]
    assert f"/invoices/{invoice['invoice_id']}" in issued[0]["body"]
    reply = http.get(f"/v1/invoices/{invoice['invoice_id']}.pdf", key=reporter["api_key"], headers=PDF, expect=200)
    assert reply.headers.get("Content-Type") == "application/pdf"
    page = text(reply.body)
    assert f"Number {invoice['number']}" in page and "Status issued" in page and invoice["total"] in page
    assert invoice["buyer_id"] in page and "2026-11" in page
    as_json = http.get(f"/v1/invoices/{invoice['invoice_id']}", key=reporter["api_key"], headers=PDF, expect=200)
    assert as_json.body == reply.body
    assert http.get(f"/v1/invoices/{invoice['invoice_id']}.pdf", key=reporter["api_key"], expect=406).code == (
        "not_acceptable"
    )
    other = http.get(f"/v1/invoices/{invoice['invoice_id']}.pdf", key=silent["api_key"], headers=PDF)
    assert other.status == 404
    payout = http.get("/v1/payouts?period=2026-11", key=pkey, expect=200).body["payouts"][0]
    statement = text(http.get(f"/v1/payouts/{payout['payout_id']}.pdf", key=pkey, headers=PDF, expect=200).body)
    assert f"Net payout (revenue share 80%): {payout['amount']} USD" in statement

    # When the operator credits the invoice in full on 10 December, a draft-free, issued invoice
    clock(http, "2026-12-10T09:00:00Z")
    path = f"/v1/invoices/{invoice['invoice_id']}/credit-notes"
    note = http.post(path, {"reason": "wrong buyer entity", "full": True}, key=operator_key, expect=201).body
    assert note["total"] == invoice["total"] and note["number"] == "CN-2026-12-0001"
    again = http.post(path, {"reason": "twice", "full": True}, key=operator_key, expect=422).body
    assert again["error"]["code"] == "nothing_to_credit"
    assert http.post(path, {"reason": "r", "full": True}, key=reporter["api_key"]).status == 403
    idle(http)
    pdf = text(
        http.get(
            f"/v1/credit-notes/{note['credit_note_id']}.pdf", key=reporter["api_key"], headers=PDF, expect=200
        ).body
    )
    assert "Number CN-2026-12-0001" in pdf and "wrong buyer entity" in pdf
    assert len([e for e in outbox(http, addresses[reporter["account_id"]]) if "CN-2026-12-0001" in e["subject"]]) == 1
    # Then December's close pays the provider the negative adjustment, and December's books balance
    clock(http, "2027-01-06T00:00:00Z")
    idle(http)
    december = http.get("/v1/payouts?period=2026-12", key=pkey, expect=200).body["payouts"][0]
    credits = [line for line in december["lines"] if line.get("credit_note_id") == note["credit_note_id"]]
    assert sum(float(c["gross"]) for c in credits) == -float(invoice["total"])
    run = http.get("/v1/admin/billing-runs/2026-12", key=operator_key, expect=200).body
    assert run["totals"]["balanced"] is True and run["totals"]["credited"] == note["total"]
