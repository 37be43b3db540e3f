"""The billing emails: what each says, where its links point, and its id.

Every email has a deterministic id per (purpose, recipient, subject of the email) — the period for reminders,
the document otherwise — so a schedule or a job that fires twice finds the email it already created and sends
nothing twice. The recipient is an account, never an address: the address is the account's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal

from audiens.domain.credit_notes import CreditNote
from audiens.domain.invoicing import Invoice, Payout
from audiens.domain.money import format_money
from audiens.domain.periods import DEFAULT_DUE_DAY, Period, window

__all__ = [
    "MAX_ERRORS_IN_EMAIL",
    "PAYMENT_TERMS_DAYS",
    "BillingEmail",
    "EmailPurpose",
    "ReminderKind",
    "credit_note_email",
    "due_date",
    "email_id_for",
    "invoice_email",
    "payout_email",
    "reminder_due",
    "reminder_email",
    "upload_rejected_email",
]

PAYMENT_TERMS_DAYS: Final = 30
"""Invoices are payable within 30 days of their issue date (the platform's standard terms)."""
MAX_ERRORS_IN_EMAIL: Final = 10

EmailPurpose = Literal[
    "invoice_issued", "payout_computed", "credit_note_issued", "usage_open", "usage_last_call", "upload_rejected"
]
ReminderKind = Literal["usage_open", "usage_last_call"]


@dataclass(frozen=True, slots=True)
class BillingEmail:
    email_id: str
    purpose: EmailPurpose
    account_id: str
    subject: str
    body: str


def email_id_for(purpose: str, account_id: str, about: str) -> str:
    """One email per (purpose, recipient, period or document), however often it is asked for."""
    digest = hashlib.sha256(f"{purpose}\x1f{account_id}\x1f{about}".encode()).hexdigest()[:24]
    return f"eml_{digest}"


def due_date(issued_at: datetime) -> date:
    return issued_at.astimezone(UTC).date() + timedelta(days=PAYMENT_TERMS_DAYS)


def money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def _money_text(amount: Decimal, currency: str) -> str:
    return f"{money(amount, currency)} {currency}"


def _email(purpose: EmailPurpose, account_id: str, about: str, subject: str, body: str) -> BillingEmail:
    return BillingEmail(email_id_for(purpose, account_id, about), purpose, account_id, subject, body)


def _document_email(
    purpose: EmailPurpose, account_id: str, about: str, subject: str, *, name: str, text: str,
    links: Sequence[tuple[str, str]],
) -> BillingEmail:  # fmt: skip
    """An email about one document: the greeting, the text (ending with a blank line), then a line per link."""
    body = f"Hello {name},\n\n{text}" + "".join(f"{label}: {url}\n" for label, url in links)
    return _email(purpose, account_id, about, subject, body)


def invoice_email(invoice: Invoice, *, number: str, issued_at: datetime, base_url: str) -> BillingEmail:
    due, total, link = (
        due_date(issued_at),
        _money_text(invoice.total, invoice.currency),
        f"invoices/{invoice.invoice_id}",
    )
    text = (
        f"Your Audiens invoice {number} for {invoice.period.first_day:%B %Y} is issued.\n\n"
        f"Total: {total}\nIssue date: {issued_at.date().isoformat()}\n"
        f"Payment due: {due.isoformat()} ({PAYMENT_TERMS_DAYS} days from issue)\n\n"
    )
    links = [("View it in the console", f"{base_url}/{link}"), ("Download the PDF", f"{base_url}/v1/{link}.pdf")]
    subject = f"Invoice {number} for {invoice.period}: {total}"
    return _document_email(
        "invoice_issued", invoice.buyer_id, invoice.invoice_id, subject, name=invoice.buyer_name, text=text, links=links
    )


def payout_email(payout: Payout, *, base_url: str) -> BillingEmail:
    amounts = (("Gross sales", payout.gross), ("Platform fee", payout.platform_fee), ("Net payout", payout.amount))
    text = f"Your Audiens payout for {payout.period.first_day:%B %Y} is computed.\n\n" + "".join(
        f"{label}: {_money_text(amount, payout.currency)}\n" for label, amount in amounts
    )
    link = f"payouts/{payout.payout_id}"
    links = [
        ("View the statement in the console", f"{base_url}/{link}"),
        ("Download the PDF", f"{base_url}/v1/{link}.pdf"),
    ]
    subject = f"Payout statement for {payout.period}: {_money_text(payout.amount, payout.currency)}"
    return _document_email(
        "payout_computed",
        payout.provider_id,
        payout.payout_id,
        subject,
        name=payout.provider_name,
        text=text + "\n",
        links=links,
    )


def credit_note_email(note: CreditNote, *, base_url: str) -> BillingEmail:
    reference = note.invoice_number or note.invoice_id
    total = _money_text(note.total, note.currency)
    text = f"Credit note {note.number} credits {total} on invoice {reference}.\nReason: {note.reason}\n\n"
    links = [
        ("View the invoice in the console", f"{base_url}/invoices/{note.invoice_id}"),
        ("Download the credit note PDF", f"{base_url}/v1/credit-notes/{note.credit_note_id}.pdf"),
    ]
    subject = f"Credit note {note.number} on invoice {reference}"
    return _document_email(
        "credit_note_issued", note.buyer_id, note.credit_note_id, subject, name=note.buyer_name, text=text, links=links
    )


def reminder_due(now: datetime) -> tuple[ReminderKind, Period] | None:
    """On the 1st the previous month's usage opens; on the 4th the last call goes to those who reported nothing."""
    today = now.astimezone(UTC)
    period = Period.of(today).previous()
    if today.day == 1:
        return "usage_open", period
    if today.day == 4:
        return "usage_last_call", period
    return None


def reminder_email(
    kind: ReminderKind, period: Period, *, account_id: str, company_name: str, base_url: str,
    due_day: int = DEFAULT_DUE_DAY,
) -> BillingEmail:  # fmt: skip
    closes = window(period, due_day).closes_at - timedelta(minutes=1)
    month = f"{period.first_day:%B}"
    deadline = f"{closes.day} {closes:%B} {closes:%H:%M} UTC"
    link = f"{base_url}/payables?period={period}"
    if kind == "usage_open":
        subject = f"{month} usage is open until {deadline}"
        lead = f"{month} usage is open until {deadline}. Report your impressions for {period} before then."
    else:
        subject = f"Last call: {month} usage closes {deadline}"
        lead = (
            f"You have not reported any {month} usage yet. The reporting window closes {deadline}; "
            f"impressions reported later are added to next month's report."
        )
    body = (
        f"Hello {company_name},\n\n{lead}\n\n"
        f"Report usage in the console: {link}\n\n"
        f"You receive this because your account has CPM subscriptions or mapped segments. "
        f'Turn these reminders off with PATCH /v1/me {{"usage_reminders": false}}.\n'
    )
    return _email(kind, account_id, str(period), subject, body)


def upload_rejected_email(
    *, account_id: str, company_name: str, upload_id: str, period: str, file_name: str,
    errors: Sequence[tuple[int | None, str, str]], base_url: str,
) -> BillingEmail:  # fmt: skip
    shown = list(errors[:MAX_ERRORS_IN_EMAIL])
    listing = "\n".join(
        f"  line {line if line is not None else '-'}: {code} - {message}" for line, code, message in shown
    )
    more = f"\n  ... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
    body = (
        f"Hello {company_name},\n\n"
        f"The usage file {file_name} for {period} was rejected: nothing in it was applied. "
        f"It has {len(errors)} problem(s); the first ones:\n\n{listing}{more}\n\n"
        f"See every problem and upload a corrected file: {base_url}/payables/uploads/{upload_id}\n"
    )
    return _email(
        "upload_rejected", account_id, upload_id, f"Usage file for {period} rejected: {len(errors)} problem(s)", body
    )
