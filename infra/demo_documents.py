"""The demo's billing documents chapter: the reminder, the rejected-file email, the invoice email and its PDF,
the provider's statement, and a credit note that flows into the next month's payouts.

Everything is read the way a user reads it: the outbox of sent emails (``GET /_local/outbox``), the PDFs over
HTTP with ``Accept: application/pdf`` (saved under ``.audiens/demo/`` so they can be opened), the JSON API.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from demo import DemoError, chapter, say, set_clock, wait_for
from local_client import Client

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".audiens" / "demo"
PDF = {"Accept": "application/pdf"}


def _emails_to(api: Client, address: str) -> list[dict[str, Any]]:
    emails: list[dict[str, Any]] = api.get("/_local/outbox", expect=200).body["emails"]
    return [e for e in emails if address in e["to"]]


def _pdf_text(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [line for page in PdfReader(io.BytesIO(data)).pages for line in page.extract_text().splitlines()]


def _save(name: str, data: bytes) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_bytes(data)
    return path


def _show_email(email: dict[str, Any], *, links: bool = True) -> None:
    say(f"   email to {', '.join(email['to'])}: {email['subject']!r}")
    for line in (email.get("body") or "").splitlines():
        if links and "http" in line:
            say(f"       {line.strip()}")


def documents_chapter(api: Client, cast: dict[str, Any], *, acme_address: str) -> None:
    chapter("8. Billing documents and messages: reminders, emails, PDFs, a credit note")
    operator = cast["operator"]
    mine = _emails_to(api, acme_address)
    reminder = next((e for e in mine if e["subject"].startswith("October usage is open")), None)
    rejected = next((e for e in mine if e["subject"].startswith("Usage file for 2026-10 rejected")), None)
    issued = next((e for e in mine if e["subject"].startswith("Invoice INV-2026-10-")), None)
    if reminder is None or rejected is None or issued is None:
        raise DemoError(f"Acme's reminder, rejection and invoice emails are not all in the outbox: {mine}")
    say("   the schedule of 1 November 08:00 UTC reminded every buyer with CPM subscriptions or mapped segments:")
    _show_email(reminder)
    say("   typo.csv was rejected, so its uploader got the first errors and a link to the upload:")
    _show_email(rejected)
    for line in (rejected.get("body") or "").splitlines():
        if line.strip().startswith("line "):
            say(f"       {line.strip()}")
    say("   the close issued the invoice and emailed it:")
    _show_email(issued)

    invoices = api.get("/v1/invoices?period=2026-10", key=cast["acme"], expect=200).body["invoices"]
    invoice = invoices[0]
    pdf = api.get(f"/v1/invoices/{invoice['invoice_id']}.pdf", key=cast["acme"], headers=PDF, expect=200).body
    path = _save(f"{invoice['number']}.pdf", pdf)
    text = _pdf_text(pdf)
    say(f"   GET /v1/invoices/{invoice['invoice_id']}.pdf (Accept: application/pdf) -> {len(pdf):,} bytes, saved to")
    say(f"       {path.relative_to(ROOT)}; it reads:")
    for line in text[:14]:
        say(f"       | {line}")
    total_line = next((t for t in text if t.startswith("Total:")), "")
    say(f"       | ...\n       | {total_line}")
    if f"Total: {invoice['total']} {invoice['currency']}" != total_line or invoice["number"] not in " ".join(text):
        raise DemoError("the PDF does not show the invoice's number and total")
    refused = api.get(f"/v1/invoices/{invoice['invoice_id']}.pdf", key=cast["acme"], expect=406).body
    say(f"   the same without Accept: application/pdf -> 406 {refused['error']['code']}")
    other = api.get(f"/v1/invoices/{invoice['invoice_id']}.pdf", key=cast["northwind"], headers=PDF).status
    say(f"   another account asking for it -> {other}")

    payout = api.get("/v1/payouts?period=2026-10", key=cast["northwind"], expect=200).body["payouts"][0]
    statement = api.get(f"/v1/payouts/{payout['payout_id']}.pdf", key=cast["northwind"], headers=PDF, expect=200).body
    path = _save(f"statement-{payout['payout_id']}.pdf", statement)
    net = next((t for t in _pdf_text(statement) if t.startswith("Net payout")), "")
    say(f"   Northwind's payout statement -> {path.relative_to(ROOT)}: {net!r}")
    statement_mail = next(e for e in _emails_to(api, "data@northwind.example") if "Payout statement" in e["subject"])
    _show_email(statement_mail)

    # A wrong line is corrected by a credit note: the invoice stays as issued
    set_clock(api, "2026-11-12T09:30:00Z")
    line = next(line for line in invoice["lines"] if line["unit"] == "cpm")
    amount = (Decimal(line["amount"]) / 10).quantize(Decimal("0.01"))
    body = {
        "reason": "a destination reported its impressions twice",
        "lines": [{"line_no": line["line_no"], "amount": str(amount)}],
    }
    too_much = {"reason": "x", "lines": [{"line_no": line["line_no"], "amount": str(Decimal(line["amount"]) + 1)}]}
    over = api.post(f"/v1/invoices/{invoice['invoice_id']}/credit-notes", too_much, key=operator, expect=422).body
    say(f"   a credit larger than the line -> 422 {over['error']['code']}")
    note = api.post(f"/v1/invoices/{invoice['invoice_id']}/credit-notes", body, key=operator, expect=201).body
    say(
        f"   the operator credits {note['total']} {note['currency']} of line {line['line_no']} "
        f"({line.get('feed_name') or line.get('segment_name')}, {line['provider_name']})"
        f" -> credit note {note['number']}"
    )
    cn_pdf = wait_for(
        api,
        "the credit note's email",
        lambda: next((e for e in _emails_to(api, acme_address) if note["number"] in e["subject"]), None),
    )
    _show_email(cn_pdf)
    data = api.get(f"/v1/credit-notes/{note['credit_note_id']}.pdf", key=cast["acme"], headers=PDF, expect=200).body
    say(f"   credit note PDF -> {_save(f'{note["number"]}.pdf', data).relative_to(ROOT)}")
    view = api.get(f"/v1/invoices/{invoice['invoice_id']}", key=cast["acme"], expect=200).body
    say(f"   the invoice is unchanged: total {view['total']}, credited {view['credited']} by {view['credit_notes']}")

    # The next close pays the correction back
    set_clock(api, "2026-12-06T00:00:00Z")
    say("   ... 1 and 4 December: November's reminders; 6 December 00:00 UTC: November closes")

    def completed() -> Any:
        reply = api.get("/v1/admin/billing-runs/2026-11", key=operator)
        return reply.body if reply.status == 200 and reply.body["status"] == "completed" else None

    run = wait_for(api, "the close of November", completed, timeout=120)
    provider_key = cast["northwind"] if line["provider_name"] == "Northwind Audiences" else cast["meridian"]
    november = api.get("/v1/payouts?period=2026-11", key=provider_key, expect=200).body["payouts"][0]
    for adjustment in (entry for entry in november["lines"] if entry.get("credit_note_id")):
        say(
            f"   {november['provider_name']}'s November payout carries {note['number']}: gross {adjustment['gross']}, "
            f"share {adjustment['provider_share']}, fee {adjustment['platform_fee']}"
        )
    revenue = api.get("/v1/revenue?period=2026-11", key=provider_key, expect=200).body
    say(f"   its November revenue {revenue['total']} includes {revenue['credited']} given back for credit notes")
    totals = run["totals"]
    say(
        f"   November: Σ invoices {totals['invoiced']} - Σ credit notes {totals['credited']} = Σ payouts "
        f"{totals['paid_out']} + Σ fees {totals['platform_fees']}: {totals['balanced']}"
    )
    if not totals["balanced"] or totals["credited"] != note["total"]:
        raise DemoError("the credit note did not flow into November's payouts")
    last_call = [e for e in _emails_to(api, acme_address) if e["subject"].startswith("Last call: November usage")]
    if last_call:
        say("   Acme reported nothing for November, so the 4 December reminder was a last call:")
        _show_email(last_call[0])

    say("\n   Where to see it all:")
    say(f"     every email sent:      {api.base}/_local/outbox")
    say(f"     the PDFs of the story: {OUT.relative_to(ROOT)}/")
    say(f"     in the console:        {api.base}/invoices/{invoice['invoice_id']}")
    say(f"                            {api.base}/payouts/{payout['payout_id']}")
    say(f"                            {api.base}/payables?period=2026-10")
