"""Routes: the monthly close (operator), invoices (buyer), payouts, revenue and the billing report (provider).

Money is a decimal string with ``currency`` beside it (API.md); every document is rendered from the stored
one, so what the API shows is exactly what the close computed. CSV renditions escape every text cell
against formula injection (``csv_safe_cell``): names come from other tenants and end up in spreadsheets.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field

from audiens.api.billing_documents import credit_summary, pdf_response, wants_pdf
from audiens.api.http import app, json_response, request_time, require_role, roles
from audiens.domain.accounts import OPERATOR
from audiens.domain.invoicing import InvoiceLine, Payout, ReportRow
from audiens.domain.money import format_money, format_price
from audiens.domain.periods import Period, rfc3339
from audiens.domain.usage_csv import csv_safe_cell
from audiens.services.billing import Caller, InvoiceView, RunReport
from audiens.services.billing_ports import StoredPayout
from audiens.wiring import billing_documents_service, billing_service

router = APIGatewayRouter()

_PERIOD = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-10"], description="Billing period, YYYY-MM")]
_CSV_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "CSV; text cells escaped against formula injection.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRunRequest(Strict):
    period: _PERIOD


class VoidRequest(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]


class FailedJobView(BaseModel):
    kind: Literal["invoice", "payout"]
    id: str = Field(description="buyer_id of an invoice job, provider_id of a payout job")
    error: str
    attempts: int
    failed_at: str


class RunTotals(BaseModel):
    invoiced: str
    credited: str = Field(default="0.00", description="Σ credit notes issued in the period")
    paid_out: str
    platform_fees: str
    balanced: bool = Field(
        description="Σ invoices - Σ credit notes issued in the period = Σ payouts + Σ platform fees, to the minor unit"
    )


class RunView(BaseModel):
    run_id: str
    period: str
    status: Literal["running", "completed"]
    currency: str
    trigger: str
    period_state: str
    created_at: str
    completed_at: str | None
    invoices: int = Field(description="Invoices stored (a buyer charged nothing gets none)")
    buyers_without_charges: int = Field(
        default=0, description="Snapshotted buyers whose usage and subscriptions charged nothing: no invoice"
    )
    payouts: int = Field(description="Payouts stored")
    expected_invoices: int = Field(description="Buyers snapshotted when the period was frozen")
    expected_payouts: int | None = Field(description="Providers paid in the period; known once every invoice exists")
    payouts_enqueued: bool
    failed_jobs: list[FailedJobView]
    totals: RunTotals | None = Field(default=None, description="Once the run has completed")


class ChannelUsageView(BaseModel):
    channel_id: str
    name: str | None
    impressions: int


class SoldItemView(BaseModel):
    """What a line sells: a feed's use case (CPM or flat fee) or a public segment at its own CPM."""

    kind: Literal["feed", "flat_fee", "segment"]
    feed_id: str | None = None
    feed_name: str | None = None
    segment_id: str | None = None
    segment_name: str | None = None
    plan_id: str | None = None
    use_case: str
    unit: Literal["cpm", "flat_fee"]
    impressions: int | None = None


class InvoiceLineView(SoldItemView):
    line_no: int
    provider_id: str
    provider_name: str
    list_price: str
    discount_pct: str
    unit_price: str
    amount: str
    channels: list[ChannelUsageView]


class UnchargedView(BaseModel):
    reason: str
    impressions: int
    feed_id: str | None = None
    segment_id: str | None = None
    use_case: str | None = None


class CreditNoteRef(BaseModel):
    credit_note_id: str
    number: str
    total: str


class InvoiceResponse(BaseModel):
    invoice_id: str
    period: str
    buyer_id: str
    buyer_name: str
    status: Literal["draft", "issued", "void"]
    currency: str
    total: str
    created_at: str
    issued_at: str | None
    voided_at: str | None
    void_reason: str | None
    number: str | None = Field(
        default=None, description="Human invoice number, gap-free per period (INV-YYYY-MM-nnnn); set at issue"
    )
    credited: str | None = Field(default=None, description="Σ of the credit notes on this invoice (one invoice view)")
    credit_notes: list[CreditNoteRef] = Field(default_factory=list, description="Credit notes (one invoice view)")
    lines: list[InvoiceLineView]
    uncharged: list[UnchargedView]


class InvoiceList(BaseModel):
    invoices: list[InvoiceResponse]
    next_token: str | None
    next_cursor: str | None = Field(default=None, description="Same as next_token: pass it as cursor")


class ChannelShareView(BaseModel):
    channel_id: str
    name: str | None
    gross: str
    provider_share: str


class PayoutLineView(SoldItemView):
    invoice_id: str
    invoice_line_no: int
    buyer_id: str
    buyer_name: str
    gross: str
    provider_share: str
    platform_fee: str
    channels: list[ChannelShareView]
    credit_note_id: str | None = Field(
        default=None, description="On a negative adjustment: the credit note, issued in this period, it pays back"
    )


class PayoutResponse(BaseModel):
    payout_id: str
    period: str
    provider_id: str
    provider_name: str
    currency: str
    revenue_share: str
    gross: str = Field(description="Σ invoice lines of the provider's feeds and segments")
    amount: str = Field(description="What the provider is paid: Σ provider shares")
    platform_fee: str
    created_at: str
    lines: list[PayoutLineView]


class PayoutList(BaseModel):
    payouts: list[PayoutResponse]
    next_token: str | None
    next_cursor: str | None = Field(default=None, description="Same as next_token: pass it as cursor")


class RevenueGroupView(BaseModel):
    key: str
    name: str
    amount: str = Field(description="The provider's revenue (its share)")
    gross: str = Field(description="What buyers were invoiced for it")


class RevenueResponse(BaseModel):
    period: str
    currency: str
    group_by: Literal["total", "buyer", "channel"]
    total: str
    gross: str
    credited: str = Field(
        default="0.00", description="Share given back for credit notes issued in the period (negative; in total)"
    )
    groups: list[RevenueGroupView]


class BillingReportRow(BaseModel):
    buyer_id: str
    buyer_name: str
    feed_id: str | None
    feed_name: str | None
    plan_id: str | None
    segment_id: str | None
    segment_name: str | None
    unit: Literal["cpm", "flat_fee"]
    use_cases: list[str]
    list_price: str
    discount_pct: str
    discounted_price: str
    units: int | None = Field(description="Flat fee: 1; CPM: the usage, null when the buyer reported nothing")
    no_usage_reported: Literal[0, 1]
    total_cost: str
    currency: str
    billing_period: str = Field(description="Last day of the period, YYYY-MM-DD")
    subscription_start: str | None
    subscription_end: str | None


class BillingReport(BaseModel):
    period: str
    currency: str
    rows: list[BillingReportRow]


def _json_or_csv(model: type[BaseModel]) -> dict[int, OpenAPIResponse]:
    return {
        200: {
            "description": "JSON by default; CSV with `Accept: text/csv` (text cells escaped against formulas).",
            "content": {"application/json": {"model": model}, "text/csv": {"schema": {"type": "string"}}},
        }
    }


# ---------------------------------------------------------------------------------------------- views


def _ts(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def _run_view(report: RunReport, totals: dict[str, Any] | None) -> dict[str, Any]:
    run = report.run
    return {
        "run_id": run.run_id,
        "period": str(run.period),
        "status": run.status,
        "currency": run.currency,
        "trigger": run.trigger,
        "period_state": report.period_state,
        "created_at": rfc3339(run.created_at),
        "completed_at": _ts(run.completed_at),
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


def _line_view(line: InvoiceLine, currency: str) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "kind": line.kind,
        "provider_id": line.provider_id,
        "provider_name": line.provider_name,
        "feed_id": line.feed_id,
        "feed_name": line.feed_name,
        "segment_id": line.segment_id,
        "segment_name": line.segment_name,
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
        "issued_at": _ts(view.issued_at),
        "voided_at": _ts(stored.voided_at),
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
                "feed_id": line.feed_id,
                "feed_name": line.feed_name,
                "segment_id": line.segment_id,
                "segment_name": line.segment_name,
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


def _report_row(row: ReportRow, currency: str) -> dict[str, Any]:
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


# ------------------------------------------------------------------------------------------------ CSV


def wants_csv() -> bool:
    accept = app.current_event.get_header_value("accept", default_value="") or ""
    return "text/csv" in accept.lower()


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], text_columns: set[int]) -> str:
    """CSV with every text cell escaped; numbers and amounts written by the system stay numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                "" if cell is None else (csv_safe_cell(str(cell)) if index in text_columns else str(cell))
                for index, cell in enumerate(row)
            ]
        )
    return out.getvalue()


def csv_response(body: str, filename: str) -> Response[Any]:
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=body,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


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


# --------------------------------------------------------------------------------------------- routes


def _caller(*roles: str) -> Caller:
    principal = require_role(*roles)
    return Caller(principal.account_id, is_operator=principal.has_role(OPERATOR))


def _run_response(period: Period) -> dict[str, Any]:
    service = billing_service()
    report = service.run_report(period)
    totals = None
    if report.run.status == "completed":
        invoiced, paid, fees = service.period_totals(period)
        credited = -sum((a.gross for a in service.adjustments(period)), Decimal(0))
        currency = report.run.currency
        totals = {
            "invoiced": format_money(invoiced, currency),
            "credited": format_money(credited, currency),
            "paid_out": format_money(paid, currency),
            "platform_fees": format_money(fees, currency),
            "balanced": invoiced - credited == paid + fees,
        }
    return _run_view(report, totals)


@router.post(
    "/v1/admin/billing-runs",
    tags=["billing"],
    summary="Operator: close a period by hand (the schedule's code path); returns the existing run if any",
    openapi_extensions=roles(OPERATOR),
    status_code=202,
)
def create_billing_run(body: CreateRunRequest) -> Response[RunView]:
    require_role(OPERATOR)
    period = Period.parse(body.period)
    billing_service().close(now=request_time(), period=period, trigger="manual")
    return json_response(202, _run_response(period))


@router.get(
    "/v1/admin/billing-runs/<period>",
    tags=["billing"],
    summary="Operator: a period's billing run",
    openapi_extensions=roles(OPERATOR),
)
def get_billing_run(period: str) -> Response[RunView]:
    require_role(OPERATOR)
    return json_response(200, _run_response(Period.parse(period)))


@router.get(
    "/v1/invoices",
    tags=["billing"],
    summary="Invoices: the buyer's own, or every buyer's (operator)",
    openapi_extensions=roles("buyer", OPERATOR),
)
def list_invoices(
    period: Annotated[str | None, Query(max_length=7, description="YYYY-MM; required for the operator")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query(max_length=2000)] = None,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
) -> Response[InvoiceList]:
    caller = _caller("buyer", OPERATOR)
    views, token = billing_service().list_invoices(
        caller, period=Period.parse(period) if period else None, limit=limit, token=cursor or next_token
    )
    numbers = billing_documents_service().invoice_numbers([v.invoice.invoice_id for v in views])
    invoices = [{**invoice_view(v), "number": numbers.get(v.invoice.invoice_id)} for v in views]
    return json_response(200, {"invoices": invoices, "next_token": token, "next_cursor": token})


@router.get(
    "/v1/invoices/<invoice_id>.csv",
    tags=["billing"],
    summary="One invoice as CSV",
    responses=_CSV_RESPONSES,
    openapi_extensions=roles("buyer", OPERATOR),
)
def get_invoice_csv(invoice_id: str) -> Response[str]:
    view = billing_service().get_invoice(_caller("buyer", OPERATOR), invoice_id)
    return csv_response(invoice_csv(view), f"{invoice_id}.csv")


@router.get(
    "/v1/invoices/<invoice_id>",
    tags=["billing"],
    summary="One invoice (JSON; CSV with Accept: text/csv; the PDF with Accept: application/pdf)",
    responses={
        200: {
            "description": "JSON by default; CSV with `Accept: text/csv`; the PDF with `Accept: application/pdf`.",
            "content": {
                "application/json": {"model": InvoiceResponse},
                "text/csv": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
    openapi_extensions=roles("buyer", OPERATOR),
)
def get_invoice(invoice_id: str) -> Response[InvoiceResponse | str]:
    caller = _caller("buyer", OPERATOR)
    if wants_pdf():
        return pdf_response(billing_documents_service().invoice_pdf(caller, invoice_id))
    view = billing_service().get_invoice(caller, invoice_id)
    if wants_csv():
        return csv_response(invoice_csv(view), f"{invoice_id}.csv")
    documents = billing_documents_service()
    extra = {"number": documents.invoice_number_of(invoice_id), **credit_summary(invoice_id, view.invoice.currency)}
    return json_response(200, {**invoice_view(view), **extra})


@router.post(
    "/v1/invoices/<invoice_id>/void",
    tags=["billing"],
    summary="Operator: void an issued invoice",
    openapi_extensions=roles(OPERATOR),
)
def void_invoice(invoice_id: str, body: VoidRequest) -> Response[InvoiceResponse]:
    require_role(OPERATOR)
    view = billing_service().void_invoice(invoice_id, reason=body.reason.strip(), now=request_time())
    return json_response(200, invoice_view(view))


@router.get(
    "/v1/payouts",
    tags=["billing"],
    summary="Payouts: the provider's own, or every provider's (operator)",
    openapi_extensions=roles("provider", OPERATOR),
)
def list_payouts(
    period: Annotated[str | None, Query(max_length=7, description="YYYY-MM; required for the operator")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query(max_length=2000)] = None,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
) -> Response[PayoutList]:
    caller = _caller("provider", OPERATOR)
    payouts, token = billing_service().list_payouts(
        caller, period=Period.parse(period) if period else None, limit=limit, token=cursor or next_token
    )
    views = [payout_view(p) for p in payouts]
    return json_response(200, {"payouts": views, "next_token": token, "next_cursor": token})


@router.get(
    "/v1/payouts/<payout_id>", tags=["billing"], summary="One payout", openapi_extensions=roles("provider", OPERATOR)
)
def get_payout(payout_id: str) -> Response[PayoutResponse]:
    stored = billing_service().get_payout(_caller("provider", OPERATOR), payout_id)
    return json_response(200, payout_view(stored))


@router.get(
    "/v1/revenue",
    tags=["billing"],
    summary="Provider: revenue of a closed period, by buyer or channel",
    openapi_extensions=roles("provider"),
)
def revenue(
    period: Annotated[str, Query(max_length=7, description="YYYY-MM")],
    group_by: Annotated[Literal["total", "buyer", "channel"], Query()] = "total",
) -> Response[RevenueResponse]:
    caller = require_role("provider")
    result = billing_service().revenue(caller.account_id, Period.parse(period), group_by)
    currency = result.currency
    return json_response(
        200,
        {
            "period": str(result.period),
            "currency": currency,
            "group_by": group_by,
            "total": format_money(result.total, currency),
            "gross": format_money(result.gross, currency),
            "credited": format_money(result.credited, currency),
            "groups": [
                {
                    "key": g.key,
                    "name": g.name,
                    "amount": format_money(g.amount, currency),
                    "gross": format_money(g.gross, currency),
                }
                for g in result.groups
            ],
        },
    )


@router.get(
    "/v1/reports/billing",
    tags=["billing"],
    summary="Provider: billing report, one row per (buyer, feed, plan) (JSON, or CSV with Accept: text/csv)",
    responses=_json_or_csv(BillingReport),
    openapi_extensions=roles("provider"),
)
def billing_report(
    period: Annotated[str, Query(max_length=7, description="YYYY-MM")],
) -> Response[BillingReport | str]:
    caller = require_role("provider")
    parsed = Period.parse(period)
    currency, rows = billing_service().billing_report(caller.account_id, parsed)
    views = [_report_row(row, currency) for row in rows]
    if wants_csv():
        return csv_response(report_csv(views), f"billing-report-{parsed}.csv")
    return json_response(200, {"period": str(parsed), "currency": currency, "rows": views})
