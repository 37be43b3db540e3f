"""The billing documents as the API shows them: JSON views and CSV renditions of the stored documents.

Every document is rendered from the stored one, so what the API shows is exactly what the close computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audiens.api.csv_render import to_csv
from audiens.domain.credit_notes import CreditLine
from audiens.domain.invoicing import InvoiceLine, Payout, PayoutLine, ReportRow
from audiens.domain.money import format_money, format_price
from audiens.domain.time import optional_rfc3339, rfc3339
from audiens.ports.billing import StoredPayout
from audiens.services.billing import InvoiceView, RunReport

__all__ = [
    "INVOICE_CSV_HEADER",
    "REPORT_CSV_HEADER",
    "invoice_csv",
    "invoice_view",
    "line_subject",
    "payout_view",
    "report_csv",
    "report_row",
    "run_view",
]


def run_view(report: RunReport, totals: dict[str, Any] | None) -> dict[str, Any]:
    run = report.run
    return {
        "run_id": run.run_id,
        "period": str(run.period),
        "status": run.status,
        "currency": run.currency,
        "trigger": run.trigger,
        "period_state": report.period_state,
        "created_at": rfc3339(run.created_at),
        "completed_at": optional_rfc3339(run.completed_at),
        "invoices": report.counts.documents,
        "buyers_without_charges": report.counts.empty,
        "payouts": report.counts.payouts,
        "expected_invoices": run.expected_invoices,
        "expected_payouts": run.expected_payouts,
        "payouts_enqueued": run.payouts_enqueued,
        "failed_jobs": [
            {
                "kind": f.kind,
                "id": f.entity_id,
                "error": f.error,
                "attempts": f.attempts,
                "failed_at": rfc3339(f.failed_at),
            }
            for f in report.failed_jobs
        ],
        "totals": totals,
    }


def line_subject(line: InvoiceLine | PayoutLine | CreditLine) -> dict[str, Any]:
    """What a document line charges for: its feed or its segment (the other pair is null)."""
    return {
        "feed_id": line.feed_id,
        "feed_name": line.feed_name,
        "segment_id": line.segment_id,
        "segment_name": line.segment_name,
    }


def _line_view(line: InvoiceLine, currency: str) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "kind": line.kind,
        "provider_id": line.provider_id,
        "provider_name": line.provider_name,
        **line_subject(line),
        "plan_id": line.plan_id,
        "use_case": line.use_case,
        "unit": line.unit,
        "impressions": line.impressions,
        "list_price": format_price(line.list_price, currency),
        "discount_pct": str(line.discount_pct),
        "unit_price": format_price(line.unit_price, currency),
        "amount": format_money(line.amount, currency),
        "channels": [{"channel_id": c.channel_id, "name": c.name, "impressions": c.impressions} for c in line.channels],
    }


def invoice_view(view: InvoiceView) -> dict[str, Any]:
    invoice, stored = view.invoice, view.stored
    currency = invoice.currency
    return {
        "invoice_id": invoice.invoice_id,
        "period": str(invoice.period),
        "buyer_id": invoice.buyer_id,
        "buyer_name": invoice.buyer_name,
        "status": view.status,
        "currency": currency,
        "total": format_money(invoice.total, currency),
        "created_at": rfc3339(stored.created_at),
        "issued_at": optional_rfc3339(view.issued_at),
        "voided_at": optional_rfc3339(stored.voided_at),
        "void_reason": stored.void_reason,
        "lines": [_line_view(line, currency) for line in invoice.lines],
        "uncharged": [
            {
                "reason": u.reason,
                "impressions": u.impressions,
                "feed_id": u.feed_id,
                "segment_id": u.segment_id,
                "use_case": u.use_case,
            }
            for u in invoice.uncharged
        ],
    }


def payout_view(stored: StoredPayout) -> dict[str, Any]:
    payout: Payout = stored.payout
    currency = payout.currency
    return {
        "payout_id": payout.payout_id,
        "period": str(payout.period),
        "provider_id": payout.provider_id,
        "provider_name": payout.provider_name,
        "currency": currency,
        "revenue_share": str(payout.revenue_share),
        "gross": format_money(payout.gross, currency),
        "amount": format_money(payout.amount, currency),
        "platform_fee": format_money(payout.platform_fee, currency),
        "created_at": rfc3339(stored.created_at),
        "lines": [
            {
                "invoice_id": line.invoice_id,
                "invoice_line_no": line.invoice_line_no,
                "buyer_id": line.buyer_id,
                "buyer_name": line.buyer_name,
                "kind": line.kind,
                **line_subject(line),
                "plan_id": line.plan_id,
                "use_case": line.use_case,
                "unit": line.unit,
                "impressions": line.impressions,
                "gross": format_money(line.gross, currency),
                "provider_share": format_money(line.provider_share, currency),
                "platform_fee": format_money(line.platform_fee, currency),
                "credit_note_id": line.credit_note_id,
                "channels": [
                    {
                        "channel_id": c.channel_id,
                        "name": c.name,
                        "gross": format_money(c.gross, currency),
                        "provider_share": format_money(c.provider_share, currency),
                    }
                    for c in line.channels
                ],
            }
            for line in payout.lines
        ],
    }


def report_row(row: ReportRow, currency: str) -> dict[str, Any]:
    return {
        "buyer_id": row.buyer_id,
        "buyer_name": row.buyer_name,
        "feed_id": row.feed_id,
        "feed_name": row.feed_name,
        "plan_id": row.plan_id,
        "segment_id": row.segment_id,
        "segment_name": row.segment_name,
        "unit": row.unit,
        "use_cases": list(row.use_cases),
        "list_price": format_price(row.list_price, currency),
        "discount_pct": str(row.discount_pct),
        "discounted_price": format_price(row.discounted_price, currency),
        "units": row.units,
        "no_usage_reported": 1 if row.no_usage else 0,
        "total_cost": format_money(row.total_cost, currency),
        "currency": currency,
        "billing_period": row.billing_period.isoformat(),
        "subscription_start": row.subscription_start.isoformat() if row.subscription_start else None,
        "subscription_end": row.subscription_end.isoformat() if row.subscription_end else None,
    }


INVOICE_CSV_HEADER = (
    "Invoice ID",
    "Period",
    "Buyer ID",
    "Buyer",
    "Status",
    "Currency",
    "Line",
    "Kind",
    "Provider ID",
    "Provider",
    "Data Feed ID",
    "Data Feed",
    "Segment ID",
    "Segment",
    "Plan ID",
    "Use Case",
    "Unit",
    "Impressions",
    "List Price",
    "Discount %",
    "Unit Price",
    "Amount",
)
_INVOICE_TEXT = {0, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}


def invoice_csv(view: InvoiceView) -> str:
    invoice = view.invoice
    currency = invoice.currency
    head = (invoice.invoice_id, str(invoice.period), invoice.buyer_id, invoice.buyer_name, view.status, currency)
    rows: list[Sequence[Any]] = [
        (
            *head,
            line.line_no,
            line.kind,
            line.provider_id,
            line.provider_name,
            line.feed_id,
            line.feed_name,
            line.segment_id,
            line.segment_name,
            line.plan_id,
            line.use_case,
            line.unit,
            line.impressions,
            format_price(line.list_price, currency),
            str(line.discount_pct),
            format_price(line.unit_price, currency),
            format_money(line.amount, currency),
        )
        for line in invoice.lines
    ]
    rows.append((*head, "", "total", *([None] * 13), format_money(invoice.total, currency)))
    return to_csv(INVOICE_CSV_HEADER, rows, _INVOICE_TEXT)


REPORT_CSV_HEADER = (
    "Buyer ID",
    "Buyer (Agency)",
    "Data Feed ID",
    "Data Feed",
    "Plan ID",
    "Segment ID",
    "Segment",
    "Unit",
    "Use Cases",
    "List Price",
    "Discount %",
    "Discounted Price",
    "Units",
    "No Usage Reported",
    "Total Cost",
    "Currency",
    "Billing Period",
    "Subscription Start",
    "Subscription End",
)
_REPORT_TEXT = {0, 1, 2, 3, 4, 5, 6, 7, 8}


def report_csv(rows: Sequence[dict[str, Any]]) -> str:
    return to_csv(
        REPORT_CSV_HEADER,
        (
            (
                r["buyer_id"],
                r["buyer_name"],
                r["feed_id"],
                r["feed_name"],
                r["plan_id"],
                r["segment_id"],
                r["segment_name"],
                r["unit"],
                "+".join(r["use_cases"]),
                r["list_price"],
                r["discount_pct"],
                r["discounted_price"],
                r["units"],
                r["no_usage_reported"],
                r["total_cost"],
                r["currency"],
                r["billing_period"],
                r["subscription_start"],
                r["subscription_end"],
            )
            for r in rows
        ),
        _REPORT_TEXT,
    )
