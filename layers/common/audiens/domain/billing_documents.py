"""The printable billing documents' content and their S3 keys.

Pure: the service gives the stored documents, numbers and times; this module decides what each PDF prints
(``billing_pdf`` lays it out) and where the issued PDF is stored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final, Literal

from audiens.domain.billing_emails import PAYMENT_TERMS_DAYS, due_date
from audiens.domain.billing_pdf import ATTRIBUTION_NOTE, DocumentStatus, PdfDocument, PdfLine, count, money, price
from audiens.domain.credit_notes import CreditNote
from audiens.domain.invoicing import CPM, KIND_SEGMENT, UNKNOWN_CHANNEL, Invoice, InvoiceLine, Payout
from audiens.domain.periods import Period

__all__ = [
    "credit_note_document",
    "document_key",
    "invoice_document",
    "is_attributed",
    "payout_document",
]

DocumentKind = Literal["invoice", "payout", "credit_note"]


def document_key(kind: DocumentKind, period: Period, document_id: str) -> str:
    """The S3 key of an issued document's PDF: fixed by the document, written once at issue."""
    folder = {"invoice": "invoices", "payout": "payouts", "credit_note": "credit-notes"}[kind]
    return f"{folder}/{period}/{document_id}.pdf"


def is_attributed(line: InvoiceLine) -> bool:
    """A CPM feed line fed by segment-level usage (its impressions came with a channel from a destination)."""
    return (
        line.unit == CPM and line.kind != KIND_SEGMENT and any(c.channel_id != UNKNOWN_CHANNEL for c in line.channels)
    )


def _item(line: InvoiceLine | object) -> tuple[str, str]:
    """(label, ids text) of a line: the feed or segment it charges."""
    segment_id = getattr(line, "segment_id", None)
    if segment_id:
        return str(getattr(line, "segment_name", None) or segment_id), f"segment {segment_id}"
    feed_id = getattr(line, "feed_id", None)
    return str(getattr(line, "feed_name", None) or feed_id or ""), f"feed {feed_id}"


_INVOICE_COLUMNS: Final = (
    ("#", 7.0, "L"),
    ("Feed / segment", 44.0, "L"),
    ("Provider", 32.0, "L"),
    ("Use case", 27.0, "L"),
    ("Unit", 13.0, "L"),
    ("Impressions", 21.0, "R"),
    ("Unit price", 18.0, "R"),
    ("Amount", 20.0, "R"),
)


def invoice_document(
    invoice: Invoice,
    *,
    number: str | None,
    status: DocumentStatus,
    issued_at: datetime | None,
    void_reason: str | None = None,
    credited: Decimal | None = None,
) -> PdfDocument:
    cur = invoice.currency
    lines = []
    attributed = False
    for line in invoice.lines:
        label, ids = _item(line)
        note_parts = [ids, f"provider {line.provider_name} ({line.provider_id})"]
        if line.discount_pct:
            note_parts.append(f"list price {price(line.list_price, cur)} less {line.discount_pct}%")
        if is_attributed(line):
            attributed = True
            note_parts.append(ATTRIBUTION_NOTE)
        lines.append(
            PdfLine(
                (
                    str(line.line_no),
                    label,
                    line.provider_name,
                    line.use_case,
                    line.unit,
                    count(line.impressions),
                    price(line.unit_price, cur),
                    money(line.amount, cur),
                ),
                note=" · ".join(note_parts),
            )
        )
    facts: list[tuple[str, str]] = [("Invoice id", invoice.invoice_id)]
    if issued_at is not None:
        facts.append(("Payment due", f"{due_date(issued_at).isoformat()} ({PAYMENT_TERMS_DAYS} days from issue)"))
    totals = [("Total", money(invoice.total, cur))]
    if credited:
        totals.insert(0, ("Credited by credit notes", money(credited, cur)))
    notes = [
        "CPM lines: amount = impressions x unit price / 1000, each line rounded half-up to the currency's minor unit; "
        "the total is the sum of the lines."
    ]
    if attributed:
        notes.append(f"Lines marked '{ATTRIBUTION_NOTE}': the buyer reported impressions per segment and destination; "
                     "they were attributed to data feeds by the marketplace formula.")  # fmt: skip
    return PdfDocument(
        title="Invoice",
        number=number,
        document_id=invoice.invoice_id,
        status=status,
        issued_at=issued_at,
        period=invoice.period,
        party_label="Bill to",
        party_name=invoice.buyer_name,
        party_id=invoice.buyer_id,
        currency=cur,
        columns=_INVOICE_COLUMNS,
        lines=tuple(lines),
        totals=tuple(totals),
        facts=tuple(facts[1:]),
        notes=tuple(notes),
        void_reason=void_reason,
    )


def credit_note_document(note: CreditNote) -> PdfDocument:
    cur = note.currency
    lines = []
    for line in note.lines:
        label, ids = _item(line)
        lines.append(
            PdfLine(
                (
                    str(line.invoice_line_no),
                    label,
                    line.provider_name,
                    line.use_case,
                    line.unit,
                    money(line.amount, cur),
                ),
                note=f"{ids} · provider {line.provider_name} ({line.provider_id})",
            )
        )
    reference = note.invoice_number or note.invoice_id
    return PdfDocument(
        title="Credit note",
        number=note.number,
        document_id=note.credit_note_id,
        status="issued",
        issued_at=note.issued_at,
        period=note.invoice_period,
        party_label="Bill to",
        party_name=note.buyer_name,
        party_id=note.buyer_id,
        currency=cur,
        columns=(
            ("Line", 11.0, "L"),
            ("Feed / segment", 55.0, "L"),
            ("Provider", 40.0, "L"),
            ("Use case", 28.0, "L"),
            ("Unit", 16.0, "L"),
            ("Credited", 32.0, "R"),
        ),
        lines=tuple(lines),
        totals=(("Total credited", money(note.total, cur)),),
        facts=(("Credits invoice", f"{reference} ({note.invoice_id})"), ("Reason", note.reason)),
        notes=("The original invoice is unchanged; this credit note reduces what is owed on it.",),
    )


def payout_document(payout: Payout, *, issued_at: datetime | None) -> PdfDocument:
    cur = payout.currency
    lines = []
    for line in payout.lines:
        label, ids = _item(line)
        channels = ", ".join(f"{c.name or c.channel_id}" for c in line.channels) or UNKNOWN_CHANNEL
        origin = getattr(line, "credit_note_id", None)
        note = (
            f"{ids} · buyer {line.buyer_name} ({line.buyer_id}) · invoice {line.invoice_id} line {line.invoice_line_no}"
        )
        if origin:
            note += f" · credit note {origin}"
        lines.append(
            PdfLine(
                (
                    line.buyer_name,
                    label,
                    channels,
                    line.use_case,
                    count(line.impressions),
                    money(line.gross, cur),
                    money(line.provider_share, cur),
                    money(line.platform_fee, cur),
                ),
                note=note,
            )
        )
    share = (payout.revenue_share * 100).normalize()
    share_pct, fee_pct = f"{share:f}", f"{(100 - share).normalize():f}"
    return PdfDocument(
        title="Payout statement",
        number=None,
        document_id=payout.payout_id,
        status="issued",
        issued_at=issued_at,
        period=payout.period,
        party_label="Provider",
        party_name=payout.provider_name,
        party_id=payout.provider_id,
        currency=cur,
        columns=(
            ("Buyer", 32.0, "L"),
            ("Feed / segment", 36.0, "L"),
            ("Channel", 24.0, "L"),
            ("Use case", 22.0, "L"),
            ("Impressions", 19.0, "R"),
            ("Gross", 17.0, "R"),
            ("Your share", 17.0, "R"),
            ("Fee", 15.0, "R"),
        ),
        lines=tuple(lines),
        totals=(
            ("Gross sales", money(payout.gross, cur)),
            (f"Platform fee ({fee_pct}%)", money(payout.platform_fee, cur)),
            (f"Net payout (revenue share {share_pct}%)", money(payout.amount, cur)),
        ),
        facts=(("Revenue share", f"{share_pct}%"),),
        numbered=False,
        notes=("Per invoice line: your share = line amount x revenue share, rounded half-up; the fee is the rest.",),
    )
