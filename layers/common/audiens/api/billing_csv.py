"""The billing documents as the API shows them in CSV (their JSON is the response models of billing_models).

Every document is rendered from the stored one, so what the API shows is exactly what the close computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audiens.api.csv_render import to_csv
from audiens.domain.invoicing import ReportRow
from audiens.domain.money import format_money, format_price
from audiens.services.billing import InvoiceView

__all__ = [
    "INVOICE_CSV_HEADER",
    "REPORT_CSV_HEADER",
    "invoice_csv",
    "report_csv",
    "report_row",
]


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
