"""Credit notes: what may be credited, numbering, payout adjustments (hypothesis properties) and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiens.domain.credit_notes import (
    CreditRequest,
    build_adjustments,
    build_credit_note,
    credit_note_id_for,
    credit_note_number,
    credited_amounts,
    invoice_number,
    parse_credit_request,
)
from audiens.domain.invoicing import ChannelUsage, Invoice, InvoiceLine, Party, build_payout, provider_slices
from audiens.domain.periods import Period
from audiens.errors import ValidationError

PERIOD = Period(2026, 10)
ISSUED = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)


def make_invoice(amounts_cents: list[int], providers: int = 2) -> Invoice:
    lines = tuple(
        InvoiceLine(
            line_no=n,
            kind="feed",
            provider_id=f"p{n % providers}",
            provider_name=f"Provider {n % providers}",
            use_case="activation",
            unit="cpm",
            list_price=Decimal("2.00"),
            discount_pct=Decimal(0),
            unit_price=Decimal("2.00"),
            amount=Decimal(cents) / 100,
            impressions=cents * 5,
            feed_id=f"f{n}",
            feed_name=f"Feed {n}",
            channels=(ChannelUsage("dsp", cents * 3, "DSP"), ChannelUsage("unknown", cents * 2)),
        )
        for n, cents in enumerate(amounts_cents, start=1)
    )
    total = sum((line.amount for line in lines), Decimal("0.00"))
    return Invoice("inv_1", PERIOD, "buyer", "Buyer", "USD", lines, total)


def credit(invoice: Invoice, request: CreditRequest, credited: dict[int, Decimal], n: int = 1) -> Any:
    return build_credit_note(
        invoice,
        request,
        credited,
        credit_note_id=credit_note_id_for(invoice.invoice_id, n),
        number=credit_note_number(Period(2026, 11), n),
        invoice_number=invoice_number(PERIOD, 1),
        issued_at=ISSUED,
    )


def test_numbers_are_human_and_per_period() -> None:
    assert invoice_number(PERIOD, 7) == "INV-2026-10-0007"
    assert credit_note_number(Period(2026, 11), 12) == "CN-2026-11-0012"
    assert credit_note_id_for("inv_1", 1) == credit_note_id_for("inv_1", 1) != credit_note_id_for("inv_1", 2)


def test_given_a_partial_credit_when_issued_then_only_those_lines_are_credited_and_the_invoice_is_unchanged() -> None:
    invoice = make_invoice([10000, 5000])
    before = make_invoice([10000, 5000])
    note = credit(invoice, CreditRequest("price error", False, ((2, Decimal("12.34")),)), {})
    assert [(line.invoice_line_no, line.amount) for line in note.lines] == [(2, Decimal("12.34"))]
    assert note.total == Decimal("12.34") and note.issue_period == Period(2026, 11)
    assert invoice == before


def test_given_a_credit_larger_than_what_remains_when_issued_then_422_naming_the_line() -> None:
    invoice = make_invoice([10000, 5000])
    with pytest.raises(ValidationError) as error:
        credit(invoice, CreditRequest("x", False, ((2, Decimal("40.01")),)), {2: Decimal("10.00")})
    assert error.value.status == 422 and error.value.code == "credit_exceeds_remaining"
    assert error.value.details[0]["line_no"] == 2 and error.value.details[0]["remaining"] == "40.00"


def test_given_an_invoice_credited_in_full_when_credited_again_then_nothing_to_credit() -> None:
    invoice = make_invoice([100])
    with pytest.raises(ValidationError) as error:
        credit(invoice, CreditRequest("again", True, ()), {1: Decimal("1.00")})
    assert error.value.code == "nothing_to_credit"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "r"}, "lines"),
        ({"reason": "r", "lines": []}, "lines"),
        ({"reason": "r", "full": True, "lines": [{"line_no": 1, "amount": "1.00"}]}, "lines"),
        ({"reason": "r", "full": "yes"}, "full"),
        ({"reason": "r", "lines": [{"line_no": 0, "amount": "1.00"}]}, "lines[0].line_no"),
        ({"reason": "r", "lines": [{"line_no": True, "amount": "1.00"}]}, "lines[0].line_no"),
        ({"reason": "r", "lines": [{"line_no": 1, "amount": 1}]}, "lines[0].amount"),
        ({"reason": "r", "lines": [{"line_no": 1, "amount": "abc"}]}, "lines[0].amount"),
        ({"reason": "r", "lines": [{"line_no": 1, "amount": "-1.00"}]}, "lines[0].amount"),
        ({"reason": "r", "lines": [{"line_no": 1, "amount": "0"}]}, "lines[0].amount"),
        ({"reason": "r", "lines": [{"line_no": 1, "amount": "NaN"}]}, "lines[0].amount"),
        ({"reason": "r", "lines": [{"line_no": 1, "amount": "1.001"}]}, "lines[0].amount"),
        ({"reason": "r", "lines": [{"line_no": 1, "amount": "1"}, {"line_no": 1, "amount": "2"}]}, "lines[1].line_no"),
    ],
)
def test_given_a_bad_credit_request_when_parsed_then_422_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        parse_credit_request(body, "USD")
    assert error.value.status == 422 and error.value.details[0]["field"] == field


def test_given_an_unknown_line_when_credited_then_422() -> None:
    with pytest.raises(ValidationError) as error:
        credit(make_invoice([100]), CreditRequest("r", False, ((9, Decimal("1.00")),)), {})
    assert error.value.code == "credit_exceeds_remaining" and "has no line 9" in error.value.message


# ---------------------------------------------------------------------------------------------- properties

cents_lists = st.lists(st.integers(min_value=1, max_value=5_000_000), min_size=1, max_size=6)
shares = st.sampled_from(["0.80", "0.70", "0.333", "1", "0", "0.5555"])


@st.composite
def credit_sequences(draw: st.DrawFn) -> tuple[list[int], list[CreditRequest | None], str]:
    amounts = draw(cents_lists)
    requests: list[CreditRequest | None] = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        if draw(st.booleans()) and draw(st.booleans()):
            requests.append(CreditRequest("full", True, ()))
            continue
        line = draw(st.integers(min_value=1, max_value=len(amounts)))
        value = draw(st.integers(min_value=1, max_value=amounts[line - 1] + 100))
        requests.append(CreditRequest("part", False, ((line, Decimal(value) / 100),)))
    return amounts, requests, draw(shares)


@settings(max_examples=150, deadline=None)
@given(credit_sequences())
def test_property_credits_never_exceed_the_invoice_and_payouts_give_back_at_most_what_was_paid(
    data: tuple[list[int], list[CreditRequest | None], str],
) -> None:
    amounts, requests, share_text = data
    share = Decimal(share_text)
    invoice = make_invoice(amounts)
    # Given the invoice's payouts at the share
    paid = {}
    for provider_id, piece in provider_slices(invoice).items():
        payout = build_payout(Party(provider_id, provider_id, share), PERIOD, "USD", [piece])
        for line in payout.lines:
            paid[line.invoice_line_no] = (line.provider_share, line.platform_fee)
    credited: dict[int, Decimal] = {}
    notes = []
    given_back: dict[int, Decimal] = {}
    for n, request in enumerate(requests, start=1):
        remaining = {line.line_no: line.amount - credited.get(line.line_no, Decimal(0)) for line in invoice.lines}
        try:
            note = credit(invoice, request, credited, n)  # type: ignore[arg-type]
        except ValidationError as error:
            # Then a refusal is 422 and only when the request is larger than what remains
            assert error.status == 422
            if request.full:  # type: ignore[union-attr]
                assert all(v == 0 for v in remaining.values())
            else:
                (line_no, amount), *_ = request.amounts  # type: ignore[union-attr]
                assert amount > remaining[line_no]
            continue
        adjustments = build_adjustments(note, invoice, credited, {f"p{i}": share for i in range(2)})
        # Then each adjustment is the credited amount, negative, split exactly into share and fee
        assert sum((a.gross for a in adjustments), Decimal(0)) == -note.total
        for adj in adjustments:
            assert adj.provider_share + adj.platform_fee == adj.gross <= 0
            assert sum((c.gross for c in adj.channels), Decimal(0)) == adj.gross
            given_back[adj.invoice_line_no] = given_back.get(adj.invoice_line_no, Decimal(0)) - adj.provider_share
        notes.append(note)
        credited = credited_amounts(notes)
    # Then no line is credited beyond its amount, the total never beyond the invoice's
    for line in invoice.lines:
        assert credited.get(line.line_no, Decimal(0)) <= line.amount
        # And a provider never gives back more than its share of the line; all of it when credited in full
        back = given_back.get(line.line_no, Decimal(0))
        assert Decimal(0) <= back <= paid[line.line_no][0]
        if credited.get(line.line_no) == line.amount:
            assert back == paid[line.line_no][0]
    assert sum((n.total for n in notes), Decimal(0)) <= invoice.total
    # And the books of the issue period balance: credited = given back by providers + fees given back
    fees_back = sum((n.total for n in notes), Decimal(0)) - sum(given_back.values(), Decimal(0))
    assert fees_back >= 0 or share == 1
