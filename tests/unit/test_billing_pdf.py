"""Billing PDFs read back as text (pypdf): every field an invoice, credit note and payout statement must show."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader

from audiens.domain.billing_documents import (
    credit_note_document,
    document_key,
    invoice_document,
    is_attributed,
    payout_document,
)
from audiens.domain.billing_pdf import ATTRIBUTION_NOTE, Issuer, render_pdf
from audiens.domain.credit_notes import CreditRequest, build_credit_note
from audiens.domain.invoicing import (
    ChannelUsage,
    Invoice,
    InvoiceLine,
    Party,
    build_payout,
    provider_slices,
)
from audiens.domain.money import format_money, format_price
from audiens.domain.periods import Period
from tests.unit.test_invoicing import EXAMPLES, published_invoice

ISSUER = Issuer("Audiens Marketplace", ("1 Market Street, Springfield", "VAT EU000000000"))
ISSUED = datetime(2026, 11, 6, 0, 3, 12, tzinfo=UTC)


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def assert_invoice_fields(text: str, invoice: Invoice, number: str | None, status: str) -> None:
    page = flat(text)
    assert ISSUER.name in page and ISSUER.details[0] in page
    assert invoice.buyer_name in page and invoice.buyer_id in page
    assert str(invoice.period) in page and invoice.invoice_id in page
    assert f"Status {status}" in page
    if number:
        assert f"Number {number}" in page
    assert f"Total: {format_money(invoice.total, invoice.currency)} {invoice.currency}" in page
    assert f"Currency {invoice.currency}" in page
    for line in invoice.lines:
        label = line.segment_name or line.feed_name or ""
        amount, price = format_money(line.amount, invoice.currency), format_price(line.unit_price, invoice.currency)
        impressions = f"{line.impressions:,}" if line.impressions is not None else ""
        row = f"{line.line_no} {label} {line.provider_name} {line.use_case} {line.unit} {impressions} {price} {amount}"
        assert flat(row) in page, row
        assert f"feed {line.feed_id}" in page or f"segment {line.segment_id}" in page
        assert f"provider {line.provider_name} ({line.provider_id})" in page
        if is_attributed(line):
            assert ATTRIBUTION_NOTE in page


@pytest.mark.parametrize("case", EXAMPLES["cases"], ids=[case["name"] for case in EXAMPLES["cases"]])
def test_given_a_published_example_when_its_invoice_is_printed_then_every_field_reads_back(
    case: dict[str, Any],
) -> None:
    # Given the invoice of a published example (segment-level usage, attributed to feeds)
    invoice = published_invoice(case["rule"], case["impressions"], EXAMPLES["traits"], EXAMPLES["feeds"])
    # When it is printed as issued
    pdf = render_pdf(invoice_document(invoice, number="INV-2026-10-0001", status="issued", issued_at=ISSUED), ISSUER)
    # Then its text has the issuer, buyer, period, number, issue date, status, every line, the total and the note
    text = text_of(pdf)
    assert_invoice_fields(text, invoice, "INV-2026-10-0001", "issued")
    assert "Issue date 2026-11-06" in flat(text) and "Payment due 2026-12-06" in flat(text)
    assert case["expected"]["invoice_total"] in text
    assert ATTRIBUTION_NOTE in flat(text)
    assert "DRAFT" not in text and "VOID" not in text


def test_given_the_same_document_when_printed_twice_then_the_bytes_are_identical() -> None:
    case = EXAMPLES["cases"][2]
    invoice = published_invoice(case["rule"], case["impressions"], EXAMPLES["traits"], EXAMPLES["feeds"])
    doc = invoice_document(invoice, number="INV-2026-10-0007", status="issued", issued_at=ISSUED)
    assert render_pdf(doc, ISSUER) == render_pdf(doc, ISSUER)


@pytest.mark.parametrize(
    ("buyer_name", "embedded"),
    [("Acme Agency", False), ("Agence Élan Média", False), ("Ясная Медиа", True), ("Łódź Media", True)],
)
def test_given_a_buyer_name_when_printed_then_it_reads_back_in_the_core_font_or_the_embedded_one(
    buyer_name: str, embedded: bool
) -> None:
    """Latin-1 documents print in the core Helvetica (no font parsing); any other text embeds DejaVu Sans."""
    case = EXAMPLES["cases"][2]
    invoice = published_invoice(case["rule"], case["impressions"], EXAMPLES["traits"], EXAMPLES["feeds"])
    invoice = replace(invoice, buyer_name=buyer_name)
    pdf = render_pdf(invoice_document(invoice, number="INV-2026-10-0008", status="issued", issued_at=ISSUED), ISSUER)
    assert buyer_name in flat(text_of(pdf))
    assert (b"DejaVu" in pdf) is embedded
    assert (b"/Helvetica" in pdf) is not embedded


@pytest.mark.parametrize("status", ["draft", "void"])
def test_given_a_draft_or_void_invoice_when_printed_then_every_page_is_watermarked(status: str) -> None:
    # Given an invoice long enough for several pages
    invoice = long_invoice(120)
    number = None if status == "draft" else "INV-2026-10-0002"
    reason = "issued to the wrong entity" if status == "void" else None
    # When it is printed as a draft or void
    doc = invoice_document(
        invoice, number=number, status=status, issued_at=None if status == "draft" else ISSUED, void_reason=reason
    )  # type: ignore[arg-type]
    reader = PdfReader(io.BytesIO(render_pdf(doc, ISSUER)))
    # Then every page carries the watermark, and a void one its reason
    assert len(reader.pages) > 1
    mark = status.upper()
    for page in reader.pages:
        assert mark in page.extract_text()
    text = flat(text_of(render_pdf(doc, ISSUER)))
    if status == "draft":
        assert "Number assigned when issued" in text
    else:
        assert "Void reason issued to the wrong entity" in text and "Number INV-2026-10-0002" in text


def long_invoice(lines: int, buyer_name: str = "Agence Étoile & Co") -> Invoice:
    items = tuple(
        InvoiceLine(
            line_no=n,
            kind="feed",
            provider_id=f"acc_p{n % 3}",
            provider_name=f"Provider Ünïcode {n % 3}",
            use_case="activation",
            unit="cpm",
            list_price=Decimal("2.50"),
            discount_pct=Decimal("10"),
            unit_price=Decimal("2.25"),
            amount=Decimal("2.25") * 1000 * n / 1000,
            impressions=1000 * n,
            feed_id=f"feed_{n:04d}",
            feed_name=f"Feed {n}",
            channels=(ChannelUsage("example_dsp", 1000 * n, "Example DSP"),),
        )
        for n in range(1, lines + 1)
    )
    total = sum((line.amount for line in items), Decimal("0.00"))
    return Invoice("inv_202610_long", Period(2026, 10), "acc_buyer", buyer_name, "USD", items, total)


def test_given_a_200_line_invoice_when_printed_then_every_line_and_the_total_read_back() -> None:
    invoice = long_invoice(200)
    pdf = render_pdf(invoice_document(invoice, number="INV-2026-10-0003", status="issued", issued_at=ISSUED), ISSUER)
    assert_invoice_fields(text_of(pdf), invoice, "INV-2026-10-0003", "issued")


def test_given_a_credit_note_when_printed_then_number_reason_reference_lines_and_total_read_back() -> None:
    invoice = long_invoice(3)
    note = build_credit_note(
        invoice,
        CreditRequest("wrong discount applied", False, ((2, Decimal("1.50")),)),
        {},
        credit_note_id="crn_1",
        number="CN-2026-11-0001",
        invoice_number="INV-2026-10-0003",
        issued_at=datetime(2026, 11, 12, 9, 0, tzinfo=UTC),
    )
    text = flat(text_of(render_pdf(credit_note_document(note), ISSUER)))
    assert "Credit note" in text and "Number CN-2026-11-0001" in text and "Status issued" in text
    assert "Credits invoice INV-2026-10-0003 (inv_202610_long)" in text
    assert "Reason wrong discount applied" in text and "Issue date 2026-11-12" in text
    assert "2 Feed 2 Provider Ünïcode 2 activation cpm 1.50" in text
    assert "Total credited: 1.50 USD" in text and invoice.buyer_name in text


def test_given_a_payout_when_its_statement_is_printed_then_gross_share_fee_net_and_lines_read_back() -> None:
    # Given the payout of a provider paid from one invoice at 70 %
    invoice = long_invoice(4)
    piece = provider_slices(invoice)["acc_p1"]
    payout = build_payout(Party("acc_p1", "Provider Ünïcode 1", Decimal("0.70")), invoice.period, "USD", [piece])
    # When its statement is printed
    text = flat(text_of(render_pdf(payout_document(payout, issued_at=ISSUED), ISSUER)))
    # Then gross, share, fee, net, and each line by buyer / feed / channel read back
    assert "Payout statement" in text and "Provider Ünïcode 1" in text and payout.payout_id in text
    assert f"Gross sales: {payout.gross} USD" in text
    assert f"Platform fee (30%): {payout.platform_fee} USD" in text
    assert f"Net payout (revenue share 70%): {payout.amount} USD" in text
    for line in payout.lines:
        assert f"{line.buyer_name} {line.feed_name} Example DSP activation" in text
        assert f"{line.gross} {line.provider_share} {line.platform_fee}" in text


def test_document_keys_are_fixed_by_the_document() -> None:
    assert document_key("invoice", Period(2026, 10), "inv_1") == "invoices/2026-10/inv_1.pdf"
    assert document_key("payout", Period(2026, 10), "pay_1") == "payouts/2026-10/pay_1.pdf"
    assert document_key("credit_note", Period(2026, 11), "crn_1") == "credit-notes/2026-11/crn_1.pdf"
