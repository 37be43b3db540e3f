"""Routes: the billing documents — invoice, credit note and payout statement PDFs — and credit notes.

A PDF travels as binary through API Gateway: the function answers ``isBase64Encoded`` (Powertools encodes a
``bytes`` body) and the API lists ``application/pdf`` among its binary media types, so the gateway decodes the
body for a client whose *first* ``Accept`` type is ``application/pdf`` — for any other it would hand over the
base64 text. A ``.pdf`` route therefore answers ``406`` to a request that does not ask for a PDF first,
rather than bytes the client cannot read.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field

from audiens.api.http import app, json_response, request_time, require_role, roles
from audiens.api.response_fields import Instant, Money, Text, attributes_of
from audiens.domain.accounts import OPERATOR
from audiens.domain.credit_notes import CreditNote
from audiens.domain.periods import Period
from audiens.errors import NotAcceptableError
from audiens.services.billing import Caller
from audiens.services.billing_documents import Pdf
from audiens.wiring import billing_documents_service

router = APIGatewayRouter()

PDF = "application/pdf"
PDF_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "The PDF (send `Accept: application/pdf`; any other first Accept type answers 406).",
        "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def first_accept() -> str:
    accept = app.current_event.headers.get("accept") or ""  # Powertools headers are case-insensitive
    return accept.split(",", 1)[0].split(";", 1)[0].strip().lower()


def wants_pdf() -> bool:
    return first_accept() == PDF


def require_pdf_accept() -> None:
    if not wants_pdf():
        raise NotAcceptableError(
            "This route answers a PDF: send the header Accept: application/pdf (the API gateway returns binary "
            "bodies only to a client whose first accepted type is application/pdf).",
            details=[{"header": "Accept", "expected": PDF, "got": first_accept() or None}],
        )


def pdf_response(pdf: Pdf) -> Response[Any]:
    response: Response[Any] = Response(
        status_code=200,
        content_type=PDF,
        body=base64.b64encode(pdf.data).decode(),
        headers={"Content-Disposition": f'inline; filename="{pdf.filename}"', "Cache-Control": "private, no-store"},
    )
    response.base64_encoded = True  # already encoded: a str body passes the resolver's response validation as is
    return response


def billing_caller(*names: str) -> Caller:
    """The caller of a billing route that one of these roles may call: its account, and whether it is the operator."""
    principal = require_role(*names)
    return Caller(principal.account_id, is_operator=principal.has_role(OPERATOR))


# ------------------------------------------------------------------------------------------- models


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreditLineRequest(Strict):
    line_no: Annotated[int, Field(ge=1, description="The invoice line credited (lines[].line_no)")]
    amount: Annotated[str, Field(max_length=32, examples=["10.00"], description="Decimal string, > 0")]


class CreditNoteRequest(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]
    full: bool = Field(default=False, description="Credit everything that remains creditable on the invoice")
    lines: list[CreditLineRequest] | None = Field(default=None, max_length=5000)


class CreditNoteLineView(BaseModel):
    invoice_line_no: int
    kind: str
    provider_id: str
    provider_name: str
    feed_id: str | None
    feed_name: str | None
    segment_id: str | None
    segment_name: str | None
    use_case: str
    unit: str
    amount: Money


class CreditNoteResponse(BaseModel):
    credit_note_id: str
    number: str = Field(description="Gap-free per period of issue: CN-YYYY-MM-nnnn")
    invoice_id: str
    invoice_number: str | None
    invoice_period: Text
    period: Text = Field(description="The period of issue: the close of this period pays the payout adjustments")
    buyer_id: str
    buyer_name: str
    status: Literal["issued"]
    currency: str
    total: Money
    reason: str
    issued_at: Instant
    lines: list[CreditNoteLineView]

    @classmethod
    def of(cls, note: CreditNote) -> Self:
        return cls.model_validate(
            {**attributes_of(note, cls), "period": note.issue_period, "status": "issued"},
            from_attributes=True,
            context={"currency": note.currency},
        )


class CreditNoteList(BaseModel):
    credit_notes: list[CreditNoteResponse]
    next_cursor: str | None


def credit_summary(invoice_id: str) -> dict[str, Any]:
    """What the invoice view adds: its credit notes and the amount they credited (the invoice is unchanged)."""
    notes, credited = billing_documents_service().invoice_credit_notes(invoice_id)
    return {"credited": credited if notes else None, "credit_notes": notes}


# ------------------------------------------------------------------------------------------- routes


@router.get(
    "/v1/invoices/<invoice_id>.pdf",
    tags=["billing"],
    summary="One invoice as PDF (draft and void ones watermarked); Accept: application/pdf",
    responses=PDF_RESPONSES,
    openapi_extensions=roles("buyer", OPERATOR),
)
def get_invoice_pdf(invoice_id: str) -> Response[str]:
    caller = billing_caller("buyer", OPERATOR)
    service = billing_documents_service()
    pdf = service.invoice_pdf(caller, invoice_id)  # 404 for another account's invoice, whatever the Accept
    require_pdf_accept()
    return pdf_response(pdf)


@router.get(
    "/v1/payouts/<payout_id>.pdf",
    tags=["billing"],
    summary="Provider: one payout statement as PDF; Accept: application/pdf",
    responses=PDF_RESPONSES,
    openapi_extensions=roles("provider", OPERATOR),
)
def get_payout_pdf(payout_id: str) -> Response[str]:
    pdf = billing_documents_service().payout_pdf(billing_caller("provider", OPERATOR), payout_id)
    require_pdf_accept()
    return pdf_response(pdf)


@router.post(
    "/v1/invoices/<invoice_id>/credit-notes",
    tags=["billing"],
    summary="Operator: credit an issued invoice (some lines, or in full); the invoice never changes",
    openapi_extensions=roles(OPERATOR),
    status_code=201,
)
def create_credit_note(invoice_id: str, body: CreditNoteRequest) -> Response[CreditNoteResponse]:
    require_role(OPERATOR)
    payload = body.model_dump(exclude_none=True)
    note = billing_documents_service().create_credit_note(invoice_id, payload, now=request_time())
    return json_response(201, CreditNoteResponse.of(note))


@router.get(
    "/v1/credit-notes",
    tags=["billing"],
    summary="Credit notes: the buyer's own (newest first), or every buyer's of a period of issue (operator)",
    openapi_extensions=roles("buyer", OPERATOR),
)
def list_credit_notes(
    period: Annotated[
        str | None, Query(max_length=7, description="Period of issue YYYY-MM; required for the operator")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
) -> Response[CreditNoteList]:
    caller = billing_caller("buyer", OPERATOR)
    notes, token = billing_documents_service().list_credit_notes(
        caller, period=Period.parse(period) if period else None, limit=limit, token=cursor
    )
    views = [CreditNoteResponse.of(n) for n in notes]
    return json_response(200, CreditNoteList(credit_notes=views, next_cursor=token))


@router.get(
    "/v1/credit-notes/<credit_note_id>.pdf",
    tags=["billing"],
    summary="One credit note as PDF; Accept: application/pdf",
    responses=PDF_RESPONSES,
    openapi_extensions=roles("buyer", OPERATOR),
)
def get_credit_note_pdf(credit_note_id: str) -> Response[str]:
    pdf = billing_documents_service().credit_note_pdf(billing_caller("buyer", OPERATOR), credit_note_id)
    require_pdf_accept()
    return pdf_response(pdf)


@router.get(
    "/v1/credit-notes/<credit_note_id>",
    tags=["billing"],
    summary="One credit note (JSON, or the PDF with Accept: application/pdf)",
    responses={
        200: {
            "description": "JSON by default; the PDF with `Accept: application/pdf`.",
            "content": {
                "application/json": {"model": CreditNoteResponse},
                PDF: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
    openapi_extensions=roles("buyer", OPERATOR),
)
def get_credit_note(credit_note_id: str) -> Response[CreditNoteResponse | str]:
    caller = billing_caller("buyer", OPERATOR)
    if wants_pdf():
        return pdf_response(billing_documents_service().credit_note_pdf(caller, credit_note_id))
    note = billing_documents_service().get_credit_note(caller, credit_note_id)
    return json_response(200, CreditNoteResponse.of(note))
