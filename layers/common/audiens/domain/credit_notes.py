"""Credit notes (corrections of an issued invoice) and the payout adjustments they cause, as pure functions.

The original invoice never changes. A credit note credits amounts against the invoice's lines, never more
than what remains creditable on a line (its amount less every earlier credit on it). It belongs to the
period in which it is issued: the close of that period pays every affected provider a negative adjustment,
so per period of issue ``Σ invoices - Σ credit notes = Σ payouts + Σ platform fees`` to the minor unit.

A provider's part of a credit is computed cumulatively: after credits c1..ck on a line, the provider has
given back ``round(Σc x share) `` in total, the same rounding its payout used, so crediting a line in full
(in one note or many) takes back exactly the share that was paid for it, never a cent more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from audiens.domain.invoicing import (
    ChannelShare,
    Invoice,
    InvoiceLine,
    LineKind,
    PayoutLine,
    Unit,
    split_by_weight,
)
from audiens.domain.money import from_minor_units, minor_units, round_money, split_revenue, to_minor_units
from audiens.domain.periods import Period
from audiens.errors import ValidationError

__all__ = [
    "MAX_REASON",
    "CreditAdjustment",
    "CreditLine",
    "CreditNote",
    "CreditRequest",
    "build_adjustments",
    "build_credit_note",
    "credit_note_id_for",
    "credit_note_number",
    "invoice_number",
    "parse_credit_request",
    "remaining_by_line",
]

MAX_REASON: Final = 500


@dataclass(frozen=True, slots=True)
class CreditLine:
    invoice_line_no: int
    provider_id: str
    provider_name: str
    kind: LineKind
    use_case: str
    unit: Unit
    amount: Decimal  # credited, positive
    feed_id: str | None = None
    feed_name: str | None = None
    segment_id: str | None = None
    segment_name: str | None = None


@dataclass(frozen=True)
class CreditNote:
    credit_note_id: str
    number: str
    invoice_id: str
    invoice_number: str | None
    invoice_period: Period
    buyer_id: str
    buyer_name: str
    currency: str
    issued_at: datetime
    issue_period: Period
    reason: str
    lines: tuple[CreditLine, ...]
    total: Decimal

    @property
    def provider_ids(self) -> tuple[str, ...]:
        return tuple(sorted({line.provider_id for line in self.lines}))


@dataclass(frozen=True, slots=True)
class CreditAdjustment:
    """The (negative) part of a credit note one provider's payout carries in the close of the issue period."""

    credit_note_id: str
    credit_note_number: str
    invoice_id: str
    invoice_line_no: int
    provider_id: str
    buyer_id: str
    buyer_name: str
    kind: LineKind
    use_case: str
    unit: Unit
    gross: Decimal  # negative
    provider_share: Decimal  # negative
    platform_fee: Decimal  # negative
    feed_id: str | None = None
    feed_name: str | None = None
    segment_id: str | None = None
    segment_name: str | None = None
    channels: tuple[ChannelShare, ...] = ()


@dataclass(frozen=True, slots=True)
class CreditRequest:
    reason: str
    full: bool
    amounts: tuple[tuple[int, Decimal], ...]  # (invoice line no, amount) when not full


def invoice_number(period: Period, sequence: int) -> str:
    """Human invoice number, gap-free per invoice period: INV-2026-10-0001."""
    return f"INV-{period.year:04d}-{period.month:02d}-{sequence:04d}"


def credit_note_number(period: Period, sequence: int) -> str:
    """Credit notes have their own sequence per period of issue: CN-2026-11-0001."""
    return f"CN-{period.year:04d}-{period.month:02d}-{sequence:04d}"


def credit_note_id_for(invoice_id: str, sequence_on_invoice: int) -> str:
    """Deterministic per (invoice, n-th credit of it): two racing requests cannot both become the n-th."""
    digest = hashlib.sha256(f"credit\x1f{invoice_id}\x1f{sequence_on_invoice}".encode()).hexdigest()[:20]
    return f"crn_{digest}"


def _bad(message: str, field: str, code: str = "invalid_credit_note") -> ValidationError:
    return ValidationError(message, code=code, details=[{"field": field, "message": message}])


def parse_credit_request(body: Mapping[str, object], currency: str) -> CreditRequest:
    """The operator's request: ``{"reason", "full": true}`` or ``{"reason", "lines": [{"line_no", "amount"}]}``."""
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise _bad("reason is required: say why the invoice is credited.", "reason")
    if len(reason) > MAX_REASON:
        raise _bad(f"reason is longer than {MAX_REASON} characters.", "reason")
    full = body.get("full", False)
    lines = body.get("lines")
    if full is True:
        if lines:
            raise _bad('Give either "full": true or "lines", not both.', "lines")
        return CreditRequest(reason.strip(), True, ())
    if full is not False:
        raise _bad('"full" must be true or false.', "full")
    if not isinstance(lines, list) or not lines:
        raise _bad('Give "lines": [{"line_no": 1, "amount": "10.00"}] or "full": true.', "lines")
    amounts: list[tuple[int, Decimal]] = []
    seen: set[int] = set()
    places = minor_units(currency)
    for index, entry in enumerate(lines):
        where = f"lines[{index}]"
        if not isinstance(entry, Mapping):
            raise _bad(f"{where} must be an object with line_no and amount.", where)
        line_no = entry.get("line_no")
        if type(line_no) is not int or line_no < 1:
            raise _bad(f"{where}.line_no must be a line number of the invoice (1, 2, ...).", f"{where}.line_no")
        if line_no in seen:
            raise _bad(f"line {line_no} is named twice.", f"{where}.line_no")
        seen.add(line_no)
        text = entry.get("amount")
        if not isinstance(text, str):
            raise _bad(f'{where}.amount must be a decimal string like "10.00".', f"{where}.amount")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise _bad(f'{where}.amount must be a decimal string like "10.00".', f"{where}.amount") from None
        if not amount.is_finite() or amount <= 0:
            raise _bad(f"{where}.amount must be greater than zero.", f"{where}.amount")
        if amount.as_tuple().exponent < -places:  # type: ignore[operator]
            raise _bad(f"{where}.amount has more than {places} decimal places for {currency}.", f"{where}.amount")
        amounts.append((line_no, round_money(amount, currency)))
    return CreditRequest(reason.strip(), False, tuple(amounts))


def remaining_by_line(invoice: Invoice, credited: Mapping[int, Decimal]) -> dict[int, Decimal]:
    """What is still creditable on each line of the invoice."""
    return {line.line_no: line.amount - credited.get(line.line_no, Decimal(0)) for line in invoice.lines}


class CreditExceedsRemainingError(ValidationError):
    pass


def build_credit_note(
    invoice: Invoice,
    request: CreditRequest,
    credited: Mapping[int, Decimal],
    *,
    credit_note_id: str,
    number: str,
    invoice_number: str | None,
    issued_at: datetime,
) -> CreditNote:
    """The credit note for ``request``, checked against what remains creditable (422 when larger)."""
    remaining = remaining_by_line(invoice, credited)
    by_no = {line.line_no: line for line in invoice.lines}
    if request.full:
        wanted = [(no, amount) for no, amount in sorted(remaining.items()) if amount > 0]
        if not wanted:
            raise CreditExceedsRemainingError(
                f"Nothing remains creditable on invoice {invoice.invoice_id}: it is credited in full.",
                code="nothing_to_credit",
            )
    else:
        wanted = list(request.amounts)
        problems = []
        for line_no, amount in wanted:
            if line_no not in by_no:
                problems.append({"line_no": line_no, "message": f"invoice {invoice.invoice_id} has no line {line_no}"})
            elif amount > remaining[line_no]:
                problems.append(
                    {
                        "line_no": line_no,
                        "message": f"line {line_no}: {amount} is more than the {remaining[line_no]} "
                        f"{invoice.currency} that remains creditable",
                        "remaining": str(remaining[line_no]),
                    }
                )
        if problems:
            raise CreditExceedsRemainingError(
                "The credit note is larger than what remains creditable on the invoice: "
                + "; ".join(str(p["message"]) for p in problems)
                + ".",
                code="credit_exceeds_remaining",
                details=problems,
            )
    lines = tuple(_credit_line(by_no[no], amount) for no, amount in sorted(wanted))
    zero = from_minor_units(0, invoice.currency)
    return CreditNote(
        credit_note_id=credit_note_id,
        number=number,
        invoice_id=invoice.invoice_id,
        invoice_number=invoice_number,
        invoice_period=invoice.period,
        buyer_id=invoice.buyer_id,
        buyer_name=invoice.buyer_name,
        currency=invoice.currency,
        issued_at=issued_at,
        issue_period=Period.of(issued_at),
        reason=request.reason,
        lines=lines,
        total=sum((line.amount for line in lines), zero),
    )


def _credit_line(line: InvoiceLine, amount: Decimal) -> CreditLine:
    return CreditLine(
        invoice_line_no=line.line_no,
        provider_id=line.provider_id,
        provider_name=line.provider_name,
        kind=line.kind,
        use_case=line.use_case,
        unit=line.unit,
        amount=amount,
        feed_id=line.feed_id,
        feed_name=line.feed_name,
        segment_id=line.segment_id,
        segment_name=line.segment_name,
    )


def build_adjustments(
    note: CreditNote,
    invoice: Invoice,
    credited_before: Mapping[int, Decimal],
    revenue_shares: Mapping[str, Decimal],
) -> list[CreditAdjustment]:
    """The negative payout lines of the credit note, one per credited line (provider share taken cumulatively)."""
    currency = note.currency
    by_no = {line.line_no: line for line in invoice.lines}
    out = []
    for credit in note.lines:
        line = by_no[credit.invoice_line_no]
        share_rate = revenue_shares[credit.provider_id]
        before = credited_before.get(credit.invoice_line_no, Decimal(0))
        share_after, _ = split_revenue(before + credit.amount, share_rate, currency)
        share_before, _ = split_revenue(before, share_rate, currency)
        share = share_after - share_before
        fee = credit.amount - share
        keys, weights, names = line.channel_weights()
        gross_parts = split_by_weight(credit.amount, keys, weights, currency)
        share_parts = split_by_weight(share, keys, weights, currency) if share >= 0 else [Decimal(0)] * len(keys)
        out.append(
            CreditAdjustment(
                credit_note_id=note.credit_note_id,
                credit_note_number=note.number,
                invoice_id=note.invoice_id,
                invoice_line_no=credit.invoice_line_no,
                provider_id=credit.provider_id,
                buyer_id=note.buyer_id,
                buyer_name=note.buyer_name,
                kind=credit.kind,
                use_case=credit.use_case,
                unit=credit.unit,
                gross=-credit.amount,
                provider_share=-share,
                platform_fee=-fee,
                feed_id=credit.feed_id,
                feed_name=credit.feed_name,
                segment_id=credit.segment_id,
                segment_name=credit.segment_name,
                channels=tuple(
                    ChannelShare(key, -gross, -part, names.get(key))
                    for key, gross, part in zip(keys, gross_parts, share_parts, strict=True)
                ),
            )
        )
    return out


def as_payout_line(adjustment: CreditAdjustment) -> PayoutLine:
    """The adjustment as a line of the provider's payout in the close of the credit note's period."""
    return PayoutLine(
        invoice_id=adjustment.invoice_id,
        invoice_line_no=adjustment.invoice_line_no,
        buyer_id=adjustment.buyer_id,
        buyer_name=adjustment.buyer_name,
        kind=adjustment.kind,
        use_case=adjustment.use_case,
        unit=adjustment.unit,
        gross=adjustment.gross,
        provider_share=adjustment.provider_share,
        platform_fee=adjustment.platform_fee,
        feed_id=adjustment.feed_id,
        feed_name=adjustment.feed_name,
        segment_id=adjustment.segment_id,
        segment_name=adjustment.segment_name,
        channels=adjustment.channels,
        credit_note_id=adjustment.credit_note_id,
    )


def credited_amounts(notes: Sequence[CreditNote]) -> dict[int, Decimal]:
    """Σ credited per invoice line over the given credit notes of one invoice."""
    out: dict[int, Decimal] = {}
    for note in notes:
        for line in note.lines:
            out[line.invoice_line_no] = out.get(line.invoice_line_no, Decimal(0)) + line.amount
    return out


def minor(amount: Decimal, currency: str) -> int:
    return to_minor_units(amount, currency)
