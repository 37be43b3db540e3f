"""Request and response models of the billing routes (API.md "Billing"): the OpenAPI document is built from them.

Money is a decimal string with ``currency`` beside it.

The response models are also the one definition of what a response holds: each is validated from the domain's
objects (``from_attributes``) and dumped as the JSON body (field types in :mod:`audiens.api.response_fields`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from audiens.api.response_fields import Instant, Money, OptionalInstant, OptionalMoney, Price, Text, attributes_of
from audiens.ports.billing import StoredPayout
from audiens.services.billing import InvoiceView, Revenue, RunReport

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
    id: str = Field(
        validation_alias=AliasChoices("entity_id", "id"),  # the domain's name, then the body's (response validation)
        description="buyer_id of an invoice job, provider_id of a payout job",
    )
    error: str
    attempts: int
    failed_at: Instant


class RunTotals(BaseModel):
    invoiced: Money
    credited: Money = Field(default="0.00", description="Σ credit notes issued in the period")
    paid_out: Money
    platform_fees: Money
    balanced: bool = Field(
        description="Σ invoices - Σ credit notes issued in the period = Σ payouts + Σ platform fees, to the minor unit"
    )


class RunView(BaseModel):
    run_id: str
    period: Text
    status: Literal["running", "completed"]
    currency: str
    trigger: str
    period_state: str
    created_at: Instant
    completed_at: OptionalInstant
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

    @classmethod
    def of(cls, report: RunReport, totals: RunTotals | None) -> Self:
        counts = report.counts
        return cls.model_validate(
            {
                **attributes_of(report.run, cls),
                "period_state": report.period_state,
                "invoices": counts.documents,
                "buyers_without_charges": counts.empty,
                "payouts": counts.payouts,
                "failed_jobs": report.failed_jobs,
                "totals": totals,
            },
            from_attributes=True,
        )


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
    list_price: Price
    discount_pct: Text
    unit_price: Price
    amount: Money
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
    total: Money


class InvoiceResponse(BaseModel):
    invoice_id: str
    period: Text
    buyer_id: str
    buyer_name: str
    status: Literal["draft", "issued", "void"]
    currency: str
    total: Money
    created_at: Instant
    issued_at: OptionalInstant
    voided_at: OptionalInstant
    void_reason: str | None
    number: str | None = Field(
        default=None, description="Human invoice number, gap-free per period (INV-YYYY-MM-nnnn); set at issue"
    )
    credited: OptionalMoney = Field(
        default=None, description="Σ of the credit notes on this invoice (one invoice view)"
    )
    credit_notes: list[CreditNoteRef] = Field(default_factory=list, description="Credit notes (one invoice view)")
    lines: list[InvoiceLineView]
    uncharged: list[UnchargedView]

    @classmethod
    def of(cls, view: InvoiceView, **documents: Any) -> Self:
        """The stored invoice, its status, and what the billing documents add (number, credit notes) when given
        (a field not given has its default: the body always carries every field)."""
        invoice, stored = view.invoice, view.stored
        return cls.model_validate(
            {
                **attributes_of(invoice, cls),
                "status": view.status,
                "created_at": stored.created_at,
                "issued_at": view.issued_at,
                "voided_at": stored.voided_at,
                "void_reason": stored.void_reason,
                **documents,
            },
            from_attributes=True,
            context={"currency": invoice.currency},
        )


class InvoiceList(BaseModel):
    invoices: list[InvoiceResponse]
    next_token: str | None
    next_cursor: str | None = Field(default=None, description="Same as next_token: pass it as cursor")


class ChannelShareView(BaseModel):
    channel_id: str
    name: str | None
    gross: Money
    provider_share: Money


class PayoutLineView(SoldItemView):
    invoice_id: str
    invoice_line_no: int
    buyer_id: str
    buyer_name: str
    gross: Money
    provider_share: Money
    platform_fee: Money
    channels: list[ChannelShareView]
    credit_note_id: str | None = Field(
        default=None, description="On a negative adjustment: the credit note, issued in this period, it pays back"
    )


class PayoutResponse(BaseModel):
    payout_id: str
    period: Text
    provider_id: str
    provider_name: str
    currency: str
    revenue_share: Text
    gross: Money = Field(description="Σ invoice lines of the provider's feeds and segments")
    amount: Money = Field(description="What the provider is paid: Σ provider shares")
    platform_fee: Money
    created_at: Instant
    lines: list[PayoutLineView]

    @classmethod
    def of(cls, stored: StoredPayout) -> Self:
        payout = stored.payout
        return cls.model_validate(
            {**attributes_of(payout, cls), "created_at": stored.created_at},
            from_attributes=True,
            context={"currency": payout.currency},
        )


class PayoutList(BaseModel):
    payouts: list[PayoutResponse]
    next_token: str | None
    next_cursor: str | None = Field(default=None, description="Same as next_token: pass it as cursor")


class RevenueGroupView(BaseModel):
    key: str
    name: str
    amount: Money = Field(description="The provider's revenue (its share)")
    gross: Money = Field(description="What buyers were invoiced for it")


class RevenueResponse(BaseModel):
    period: Text
    currency: str
    group_by: Literal["total", "buyer", "channel"]
    total: Money
    gross: Money
    credited: Money = Field(
        default="0.00", description="Share given back for credit notes issued in the period (negative; in total)"
    )
    groups: list[RevenueGroupView]

    @classmethod
    def of(cls, revenue: Revenue, group_by: str) -> Self:
        return cls.model_validate(
            {**attributes_of(revenue, cls), "group_by": group_by},
            from_attributes=True,
            context={"currency": revenue.currency},
        )


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
