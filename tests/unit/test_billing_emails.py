"""What the billing emails say, where their links point, and when reminders are due."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from audiens.domain.billing_emails import (
    email_id_for,
    invoice_email,
    payout_email,
    reminder_due,
    reminder_email,
    upload_rejected_email,
)
from audiens.domain.invoicing import Party, build_payout, provider_slices
from audiens.domain.periods import Period
from tests.unit.test_billing_pdf import long_invoice

BASE = "https://console.example"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-01T08:00:00+00:00", ("usage_open", "2026-10")),
        ("2026-11-04T08:00:00+00:00", ("usage_last_call", "2026-10")),
        ("2027-01-01T00:00:00+00:00", ("usage_open", "2026-12")),
        ("2026-11-02T08:00:00+00:00", None),
        ("2026-11-05T08:00:00+00:00", None),
    ],
)
def test_reminders_are_due_on_the_1st_and_the_4th_for_the_previous_month(now: str, expected: object) -> None:
    due = reminder_due(datetime.fromisoformat(now))
    assert (None if due is None else (due[0], str(due[1]))) == expected


def test_the_opening_reminder_says_until_when_and_links_to_payables() -> None:
    email = reminder_email("usage_open", Period(2026, 10), account_id="acc_b", company_name="Agency", base_url=BASE)
    assert email.subject == "October usage is open until 5 November 23:59 UTC"
    assert "October usage is open until 5 November 23:59 UTC" in email.body
    assert f"{BASE}/payables?period=2026-10" in email.body
    assert email.account_id == "acc_b" and email.email_id == email_id_for("usage_open", "acc_b", "2026-10")


def test_the_last_call_names_the_deadline_and_the_roll_over() -> None:
    email = reminder_email(
        "usage_last_call", Period(2026, 12), account_id="acc_b", company_name="Agency", base_url=BASE, due_day=7
    )
    assert "7 January 23:59 UTC" in email.subject and "next month's report" in email.body
    assert email.email_id != email_id_for("usage_open", "acc_b", "2026-12")


def test_the_invoice_email_has_total_due_date_and_both_links() -> None:
    invoice = long_invoice(3)
    email = invoice_email(
        invoice, number="INV-2026-10-0004", issued_at=datetime(2026, 11, 6, tzinfo=UTC), base_url=BASE
    )
    assert email.account_id == invoice.buyer_id and "INV-2026-10-0004" in email.subject
    assert f"Total: {invoice.total} USD" in email.body and "Payment due: 2026-12-06" in email.body
    assert f"{BASE}/invoices/{invoice.invoice_id}" in email.body
    assert f"{BASE}/v1/invoices/{invoice.invoice_id}.pdf" in email.body


def test_the_payout_email_links_to_the_statement() -> None:
    invoice = long_invoice(3)
    payout = build_payout(
        Party("acc_p1", "P1", Decimal("0.8")), invoice.period, "USD", [provider_slices(invoice)["acc_p1"]]
    )
    email = payout_email(payout, base_url=BASE)
    assert email.account_id == "acc_p1" and f"Net payout: {payout.amount} USD" in email.body
    assert f"{BASE}/payouts/{payout.payout_id}" in email.body and f"/v1/payouts/{payout.payout_id}.pdf" in email.body


def test_the_rejection_email_lists_the_first_errors_and_links_to_the_upload() -> None:
    errors = [(n + 2, "values_not_supported", f"usage on line {n + 2} is not a whole number") for n in range(14)]
    email = upload_rejected_email(
        account_id="acc_b", company_name="Agency", upload_id="upl_1", period="2026-10", file_name="oct.csv",
        errors=errors, base_url=BASE,
    )  # fmt: skip
    assert "14 problem(s)" in email.subject
    assert "line 2: values_not_supported" in email.body and "line 11: values_not_supported" in email.body
    assert "line 12:" not in email.body and "and 4 more" in email.body
    assert f"{BASE}/payables/uploads/upl_1" in email.body
    assert email.email_id == email_id_for("upload_rejected", "acc_b", "upl_1")


def test_given_a_buyer_who_only_mapped_segments_when_the_reminder_audience_is_built_then_it_is_a_candidate() -> None:
    """A first month: mapped segments, no subscription, nothing reported before: still reminded on the 1st."""
    from audiens.domain.periods import Period
    from audiens.services.billing_documents import UsageReminderAudience
    from tests.support.usage import InMemoryUsageCatalog

    class NoUsage:
        def buyers_with_usage(self, period: Period) -> list[str]:
            return []

    catalog = InMemoryUsageCatalog()
    catalog.map_segment("acc_mapper", "seg_1", "dst_1")
    audience = UsageReminderAudience(catalog, NoUsage())
    period = Period.parse("2026-10")
    assert audience.candidates(period) == ["acc_mapper"]
    assert audience.reports_usage("acc_mapper", period)
