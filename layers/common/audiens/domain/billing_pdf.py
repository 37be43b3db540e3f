"""The printable billing documents: invoice, credit note and payout statement PDFs (fpdf2), bytes in memory.

Rendering is pure: the same document, number, status and dates always give the same bytes (the PDF's
creation date is the document's issue time, never the clock), which is what lets the issue step write a
PDF to its deterministic S3 key again and overwrite nothing different.

fpdf2 is pure Python (its dependencies Pillow and fontTools ship manylinux arm64 wheels), needs no system
library, and embeds a subset of the bundled DejaVu Sans, so every company name prints whatever its script.
A draft or void document is watermarked on every page; a void one also prints its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from audiens.domain.money import format_money, format_price
from audiens.domain.periods import Period

__all__ = [
    "ATTRIBUTION_NOTE",
    "DocumentStatus",
    "Issuer",
    "PdfDocument",
    "PdfLine",
    "render_pdf",
]

ATTRIBUTION_NOTE: Final = "impressions attributed from segment-level usage"
FONT_DIR: Final = Path(__file__).resolve().parent.parent / "fonts"
_FONT: Final = "DejaVu"
_CORE_FONT: Final = "helvetica"
"""A document whose every text is Latin-1 prints in the PDF core font, which costs no font parsing or
subsetting (the embedded DejaVu Sans costs ~0.1 s per document); any other text embeds DejaVu Sans."""
DocumentStatus = Literal["draft", "issued", "void"]


@dataclass(frozen=True, slots=True)
class Issuer:
    """The platform, printed at the top of every document."""

    name: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PdfLine:
    """One row of the table; ``cells`` follow the document's ``columns``; ``note`` prints under the row."""

    cells: tuple[str, ...]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PdfDocument:
    """What a billing document prints, already formatted (see ``billing_documents`` for the three kinds)."""

    title: str  # "Invoice", "Credit note", "Payout statement"
    number: str | None  # the human number, None while a draft
    document_id: str
    status: DocumentStatus
    issued_at: datetime | None
    period: Period
    party_label: str  # "Bill to", "Provider"
    party_name: str
    party_id: str
    currency: str
    columns: tuple[tuple[str, float, str], ...]  # (heading, width in mm, align "L"/"R")
    lines: tuple[PdfLine, ...]
    totals: tuple[tuple[str, str], ...]  # (label, formatted amount), the last one bold
    facts: tuple[tuple[str, str], ...] = ()  # extra header rows (due date, reference invoice, reason...)
    notes: tuple[str, ...] = ()
    void_reason: str | None = None
    numbered: bool = True  # invoices and credit notes carry a human number; payout statements do not


def money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def price(amount: Decimal, currency: str) -> str:
    return format_price(amount, currency)


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


if TYPE_CHECKING:
    from fpdf import FPDF


@cache
def _pdf_class() -> Any:
    """fpdf2 (and Pillow, fontTools) load on the first PDF, not with the API: importing them costs cold starts."""
    from fpdf import FPDF

    class _Pdf(FPDF):
        def __init__(self, doc: PdfDocument, family: str) -> None:
            super().__init__(orientation="P", unit="mm", format="A4")
            self.doc = doc
            self.typeface = family
            if family == _FONT:
                self.add_font(_FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
                self.add_font(_FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
            self.set_auto_page_break(auto=True, margin=18)
            self.set_margins(14, 14, 14)

        def header(self) -> None:
            if self.doc.status != "issued":
                mark = "DRAFT" if self.doc.status == "draft" else "VOID"
                self.set_font(self.typeface, "B", 96)
                self.set_text_color(225, 225, 225)
                with self.rotation(45, x=self.w / 2, y=self.h / 2):
                    width = self.get_string_width(mark)
                    self.text(self.w / 2 - width / 2, self.h / 2 + 12, mark)
                self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(self.typeface, "", 7)
            self.set_text_color(110, 110, 110)
            ident = self.doc.number or self.doc.document_id
            self.cell(0, 5, f"{self.doc.title} {ident} - page {self.page_no()}/{{nb}}", align="C")
            self.set_text_color(0, 0, 0)

    return _Pdf


def _flow() -> tuple[Any, Any]:
    from fpdf.enums import XPos, YPos

    return XPos, YPos


def _issue_stamp(issued_at: datetime | None, period: Period) -> datetime:
    """The PDF's creation date: the issue time, or the period's end for a draft (never the clock)."""
    if issued_at is not None:
        return issued_at.astimezone(UTC)
    return datetime.combine(period.last_day, time(23, 59, 59), tzinfo=UTC)


def _row(pdf: FPDF, label: str, value: str, *, bold: bool = False) -> None:
    XPos, YPos = _flow()
    pdf.set_font(_typeface(pdf), "", 9)
    pdf.cell(38, 5.5, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.set_font(_typeface(pdf), "B" if bold else "", 9)
    pdf.multi_cell(0, 5.5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _typeface(pdf: FPDF) -> str:
    """The font family chosen for this document (``_Pdf.typeface``)."""
    return str(vars(pdf)["typeface"])


def _family(doc: PdfDocument, issuer: Issuer) -> str:
    """The core font when every text of the document is Latin-1, else the embedded DejaVu Sans."""
    texts = [doc.title, doc.number or "", doc.document_id, doc.party_label, doc.party_name, doc.party_id]
    texts += [doc.currency, doc.void_reason or "", issuer.name, *issuer.details, *doc.notes]
    texts += [heading for heading, _, _ in doc.columns]
    texts += [text for line in doc.lines for text in (*line.cells, line.note or "")]
    texts += [text for pair in (*doc.totals, *doc.facts) for text in pair]
    try:
        "".join(texts).encode("latin-1")
    except UnicodeEncodeError:
        return _FONT
    return _CORE_FONT


def render_pdf(doc: PdfDocument, issuer: Issuer) -> bytes:
    """The document as PDF bytes; deterministic for the same arguments."""
    XPos, YPos = _flow()
    pdf = _pdf_class()(doc, _family(doc, issuer))
    pdf.set_title(f"{doc.title} {doc.number or doc.document_id}")
    pdf.set_author(issuer.name)
    pdf.set_creator("Audiens billing")
    pdf.set_creation_date(_issue_stamp(doc.issued_at, doc.period))
    pdf.alias_nb_pages()
    pdf.add_page()

    # issuer block
    pdf.set_font(_typeface(pdf), "B", 14)
    pdf.cell(0, 7, issuer.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_typeface(pdf), "", 8)
    for detail in issuer.details:
        pdf.cell(0, 4, detail, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    pdf.set_font(_typeface(pdf), "B", 18)
    pdf.cell(0, 9, doc.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    if doc.numbered:
        _row(pdf, "Number", doc.number or "assigned when issued", bold=True)
    _row(pdf, "Document id", doc.document_id)
    _row(pdf, "Status", doc.status)
    _row(pdf, "Issue date", doc.issued_at.date().isoformat() if doc.issued_at else "not issued yet")
    _row(pdf, "Period", f"{doc.period} ({doc.period.first_day.isoformat()} to {doc.period.last_day.isoformat()})")
    _row(pdf, doc.party_label, doc.party_name)
    _row(pdf, "Account id", doc.party_id)
    _row(pdf, "Currency", doc.currency)
    for label, value in doc.facts:
        _row(pdf, label, value)
    if doc.void_reason:
        _row(pdf, "Void reason", doc.void_reason, bold=True)
    pdf.ln(4)

    _table(pdf, doc)

    pdf.ln(3)
    for index, (label, value) in enumerate(doc.totals):
        last = index == len(doc.totals) - 1
        pdf.set_font(_typeface(pdf), "B" if last else "", 10 if last else 9)
        pdf.cell(0, 6, f"{label}: {value} {doc.currency}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.notes:
        pdf.ln(3)
        pdf.set_font(_typeface(pdf), "", 8)
        for note in doc.notes:
            pdf.multi_cell(0, 4.5, note, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _table(pdf: FPDF, doc: PdfDocument) -> None:
    XPos, YPos = _flow()
    widths = [width for _, width, _ in doc.columns]

    def heading() -> None:
        pdf.set_font(_typeface(pdf), "B", 7.5)
        pdf.set_fill_color(238, 238, 238)
        for (title, width, align), last in zip(doc.columns, _last_flags(doc.columns), strict=True):
            pdf.cell(width, 6, title, border="B", align=align, fill=True, new_x=XPos.RIGHT, new_y=YPos.TOP)
            if last:
                pdf.ln(6)

    heading()
    pdf.set_font(_typeface(pdf), "", 7.5)
    for line in doc.lines:
        needed = 5 + (4 if line.note else 0)
        if pdf.get_y() + needed > pdf.h - pdf.b_margin:
            pdf.add_page()
            heading()
            pdf.set_font(_typeface(pdf), "", 7.5)
        for text, width, (_, _, align) in zip(line.cells, widths, doc.columns, strict=True):
            pdf.cell(width, 5, _fit(pdf, text, width), align=align, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.ln(5)
        if line.note:
            pdf.set_font(_typeface(pdf), "", 6.5)
            pdf.set_text_color(90, 90, 90)
            pdf.cell(0, 4, f"    {line.note}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_text_color(0, 0, 0)
            pdf.set_font(_typeface(pdf), "", 7.5)


def _last_flags(columns: Sequence[object]) -> list[bool]:
    return [index == len(columns) - 1 for index in range(len(columns))]


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """Shorten a cell that would overflow its column (names can be long); ids and amounts always fit."""
    if pdf.get_string_width(text) <= width - 1.5:
        return text
    ellipsis = "…" if _typeface(pdf) == _FONT else "..."
    while text and pdf.get_string_width(text + ellipsis) > width - 1.5:
        text = text[:-1]
    return text + ellipsis


def day(value: date) -> str:
    return value.isoformat()
