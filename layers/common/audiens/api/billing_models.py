"""Request and response models of the billing routes (API.md "Billing"): the OpenAPI document is built from them.

Money is a decimal string with ``currency`` beside it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

PERIOD = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-10"], description="Billing period, YYYY-MM")]
CSV_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "CSV; text cells escaped against formula injection.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRunRequest(Strict):
    period: PERIOD


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
    paid_out: str
    platform_fees: str
    balanced: bool = Field(description="Σ invoices = Σ payouts + Σ platform fees, to the minor unit")


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


def json_or_csv(model: type[BaseModel]) -> dict[int, OpenAPIResponse]:
    return {
        200: {
            "description": "JSON by default; CSV with `Accept: text/csv` (text cells escaped against formulas).",
            "content": {"application/json": {"model": model}, "text/csv": {"schema": {"type": "string"}}},
        }
    }
