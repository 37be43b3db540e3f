"""Routes: the monthly close (operator), invoices (buyer), payouts, revenue and the billing report (provider).

The models (also what builds the JSON bodies) are in :mod:`audiens.api.billing_models`, the CSV renditions in
:mod:`audiens.api.billing_csv`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from audiens.api.billing_csv import invoice_csv, report_csv, report_row
from audiens.api.billing_documents import billing_caller, credit_summary, pdf_response, wants_pdf
from audiens.api.billing_models import (
    CSV_RESPONSES,
    BillingReport,
    CreateRunRequest,
    InvoiceList,
    InvoiceResponse,
    PayoutList,
    PayoutResponse,
    RevenueResponse,
    RunView,
    VoidRequest,
    json_or_csv,
)
from audiens.api.csv_render import csv_response, wants_csv
from audiens.api.http import json_response, request_time, require_role, roles
from audiens.domain.accounts import OPERATOR
from audiens.domain.money import format_money
from audiens.domain.periods import Period
from audiens.wiring import billing_documents_service, billing_service

router = APIGatewayRouter()


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
    return RunView.of(report, totals).model_dump(mode="json")


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
    caller = billing_caller("buyer", OPERATOR)
    views, token = billing_service().list_invoices(
        caller, period=Period.parse(period) if period else None, limit=limit, token=cursor or next_token
    )
    numbers = billing_documents_service().invoice_numbers([v.invoice.invoice_id for v in views])
    invoices = [InvoiceResponse.of(v, number=numbers.get(v.invoice.invoice_id)) for v in views]
    return json_response(200, InvoiceList(invoices=invoices, next_token=token, next_cursor=token))


@router.get(
    "/v1/invoices/<invoice_id>.csv",
    tags=["billing"],
    summary="One invoice as CSV",
    responses=CSV_RESPONSES,
    openapi_extensions=roles("buyer", OPERATOR),
)
def get_invoice_csv(invoice_id: str) -> Response[str]:
    view = billing_service().get_invoice(billing_caller("buyer", OPERATOR), invoice_id)
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
    caller = billing_caller("buyer", OPERATOR)
    if wants_pdf():
        return pdf_response(billing_documents_service().invoice_pdf(caller, invoice_id))
    view = billing_service().get_invoice(caller, invoice_id)
    if wants_csv():
        return csv_response(invoice_csv(view), f"{invoice_id}.csv")
    documents = billing_documents_service()
    extra = {"number": documents.invoice_number_of(invoice_id), **credit_summary(invoice_id, view.invoice.currency)}
    return json_response(200, InvoiceResponse.of(view, **extra))


@router.post(
    "/v1/invoices/<invoice_id>/void",
    tags=["billing"],
    summary="Operator: void an issued invoice",
    openapi_extensions=roles(OPERATOR),
)
def void_invoice(invoice_id: str, body: VoidRequest) -> Response[InvoiceResponse]:
    require_role(OPERATOR)
    view = billing_service().void_invoice(invoice_id, reason=body.reason.strip(), now=request_time())
    return json_response(200, InvoiceResponse.of(view))


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
    caller = billing_caller("provider", OPERATOR)
    payouts, token = billing_service().list_payouts(
        caller, period=Period.parse(period) if period else None, limit=limit, token=cursor or next_token
    )
    views = [PayoutResponse.of(p) for p in payouts]
    return json_response(200, PayoutList(payouts=views, next_token=token, next_cursor=token))


@router.get(
    "/v1/payouts/<payout_id>", tags=["billing"], summary="One payout", openapi_extensions=roles("provider", OPERATOR)
)
def get_payout(payout_id: str) -> Response[PayoutResponse]:
    stored = billing_service().get_payout(billing_caller("provider", OPERATOR), payout_id)
    return json_response(200, PayoutResponse.of(stored))


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
    responses=json_or_csv(BillingReport),
    openapi_extensions=roles("provider"),
)
def billing_report(
    period: Annotated[str, Query(max_length=7, description="YYYY-MM")],
) -> Response[BillingReport | str]:
    caller = require_role("provider")
    parsed = Period.parse(period)
    currency, rows = billing_service().billing_report(caller.account_id, parsed)
    views = [report_row(row, currency) for row in rows]
    if wants_csv():
        return csv_response(report_csv(views), f"billing-report-{parsed}.csv")
    return json_response(200, {"period": str(parsed), "currency": currency, "rows": views})
