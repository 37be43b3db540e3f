"""Routes: usage reporting (buyer) - usage by segment or feed, the CSV template, uploads (API.md "Usage reporting")."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field

from audiens.api.csv_render import csv_response
from audiens.api.http import PAGE_MAX, Cursor, Limit, app, json_response, paginate, request_time, require_role, roles
from audiens.api.response_fields import Instant, OptionalInstant, Text, attributes_of
from audiens.domain.usage_reports import MAX_API_ROWS
from audiens.services.usage_reporting import UploadTicket
from audiens.wiring import usage_service

router = APIGatewayRouter()

Kind = Literal["segments", "feeds"]
_PERIOD_DOC = "Reporting period, YYYY-MM"
_CSV_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "The current usage as the CSV template to fill in (header, one row per reportable key).",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    303: {
        "description": "A template too big for one response (over 5 MB): Location is a presigned link to it, valid "
        "15 minutes; the body repeats it as download_url.",
    },
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _View(BaseModel):
    """A response built from a service's result, whose attributes are its fields (nested objects' too)."""

    @classmethod
    def of(cls, source: object) -> Self:
        return cls.model_validate(source, from_attributes=True)


class Window(BaseModel):
    opens_at: Instant
    closes_at: Instant
    state: Literal["not_open", "open", "closed"]
    period_state: str = Field(description="OPEN, or CLOSING/CLOSED once the monthly close has begun")
    due_day: int


class SegmentUsageRow(BaseModel):
    segment_id: str
    segment_name: str
    destination_id: str
    destination_name: str
    content_optimization: bool
    usage: int | None = Field(description="Impressions; null when not reported")


class FeedUsageRow(BaseModel):
    provider_id: str | None
    provider_name: str
    feed_id: str
    feed_name: str
    use_case: str
    unit: str
    usage: int | None = Field(description="Impressions; null when not reported")


class _UsagePageView(_View):
    """A page of usage (a ``UsagePage``; its rows and cursor are the kind's)."""

    period: Text
    kind: str
    window: Window


class SegmentUsageView(_UsagePageView):
    rows: list[SegmentUsageRow]
    next_cursor: str | None


class FeedUsageView(_UsagePageView):
    rows: list[FeedUsageRow]
    next_cursor: str | None


class _Row(BaseModel):
    """Rows are checked by the service like CSV lines, so every problem is reported as ``{row, code, message}``
    with the codes of DOMAIN.md §7 (not as schema errors): the fields are typed loosely here on purpose."""

    model_config = ConfigDict(extra="allow")


class SegmentUsageRowIn(_Row):
    segment_id: Any = Field(default=None, json_schema_extra={"type": "string"})
    destination_id: Any = Field(default=None, json_schema_extra={"type": "string"})
    usage: Any = Field(
        default=None,
        json_schema_extra={"anyOf": [{"type": "integer", "minimum": 0, "maximum": 10**15}, {"type": "null"}]},
        description="Impressions (whole number, 0 to 10^15); null leaves the stored value unchanged",
    )


class FeedUsageRowIn(_Row):
    provider_name: Any = Field(default=None, json_schema_extra={"type": "string"})
    feed_name: Any = Field(default=None, json_schema_extra={"type": "string"})
    use_case: Any = Field(default=None, json_schema_extra={"type": "string"})
    usage: Any = Field(
        default=None,
        json_schema_extra={"anyOf": [{"type": "integer", "minimum": 0, "maximum": 10**15}, {"type": "null"}]},
        description="Impressions (whole number, 0 to 10^15); null leaves the stored value unchanged",
    )


class PutSegmentUsage(Strict):
    rows: list[SegmentUsageRowIn] = Field(description=f"At most {MAX_API_ROWS:,} rows; bigger reports go as CSV files")


class PutFeedUsage(Strict):
    rows: list[FeedUsageRowIn] = Field(description=f"At most {MAX_API_ROWS:,} rows; bigger reports go as CSV files")


class PutUsageResponse(_View):  # of a PutResult
    updated: int = Field(description="Values that changed (each with an audit record)")
    unchanged: int = Field(description="Rows equal to the stored value")


class CreateUpload(Strict):
    kind: Kind


class UploadError(BaseModel):
    line: int = Field(description="Line of the file (header = 1); 0 for a problem of the file as a whole")
    code: str
    message: str


class UploadView(_View):  # of an UploadRecord: API.md's fields first, then where the file is and its checksum
    upload_id: str
    period: str
    kind: str
    status: Literal["pending", "accepted", "rejected", "duplicate"]
    rows: int
    errors: list[UploadError]
    accepted_rows: int
    rejected_rows: int
    changed: int
    origin: str
    bucket: str
    key: str
    size: int | None
    sha256: str | None
    duplicate_of: str | None
    created_at: Instant
    received_at: OptionalInstant
    finished_at: OptionalInstant


class UploadCreated(BaseModel):
    upload_id: str
    upload_url: str
    bucket: str
    key: str
    period: str
    kind: str
    status: str
    expires_in: int

    @classmethod
    def of(cls, ticket: UploadTicket) -> Self:
        """The new upload and where to put its file."""
        return cls.model_validate({**attributes_of(ticket.record, cls), **attributes_of(ticket, cls)})


class TemplateLink(_View):
    """The body of a 303 (a ``Template`` too big for one response): where to download it."""

    download_url: str
    expires_in: int
    filename: str


class UploadList(BaseModel):
    uploads: list[UploadView]
    next_cursor: str | None = None


def _request_id() -> str:
    return str(app.current_event.request_context.request_id or "")


def _csv(period: str, kind: str) -> Response[Any]:
    caller = require_role("buyer")
    template = usage_service().template(caller, period, kind, now=request_time())
    if template.body is not None:
        return csv_response(template.body, template.filename)
    # Too big for one API response: a short-lived link to the same CSV in the usage bucket.
    assert template.download_url is not None
    return json_response(303, TemplateLink.of(template), headers={"Location": template.download_url})


# Upload routes first: their literal segment must win over the ``<period>`` routes.
@router.get(
    "/v1/usage/uploads", tags=["usage"], summary="List usage files with their status", openapi_extensions=roles("buyer")
)
def list_uploads(
    period: Annotated[str | None, Query(description=_PERIOD_DOC, max_length=7)] = None,
    limit: Limit = PAGE_MAX,
    cursor: Cursor = None,
) -> Response[UploadList]:
    caller = require_role("buyer")
    records, next_cursor = paginate(usage_service().list_uploads(caller, period), lambda r: r.upload_id, limit, cursor)
    return json_response(200, UploadList(uploads=[UploadView.of(r) for r in records], next_cursor=next_cursor))


@router.get(
    "/v1/usage/uploads/<upload_id>",
    tags=["usage"],
    summary="One usage file: status, rows and every error",
    openapi_extensions=roles("buyer"),
)
def get_upload(upload_id: str) -> Response[UploadView]:
    caller = require_role("buyer")
    return json_response(200, UploadView.of(usage_service().get_upload(caller, upload_id)))


@router.post(
    "/v1/usage/<period>/uploads",
    tags=["usage"],
    summary="Start a CSV upload: a presigned PUT URL into the usage bucket",
    openapi_extensions=roles("buyer"),
    status_code=201,
)
def create_upload(period: str, body: CreateUpload) -> Response[UploadCreated]:
    caller = require_role("buyer")
    ticket = usage_service().create_upload(caller, period, body.kind, now=request_time())
    return json_response(201, UploadCreated.of(ticket))


@router.get(
    "/v1/usage/<period>/segments.csv",
    tags=["usage"],
    summary="Segment-level usage as the CSV template",
    responses=_CSV_RESPONSES,
    openapi_extensions=roles("buyer"),
)
def segments_csv(period: str) -> Response[Any]:
    return _csv(period, "segments")


@router.get(
    "/v1/usage/<period>/feeds.csv",
    tags=["usage"],
    summary="Feed-level usage as the CSV template",
    responses=_CSV_RESPONSES,
    openapi_extensions=roles("buyer"),
)
def feeds_csv(period: str) -> Response[Any]:
    return _csv(period, "feeds")


@router.get(
    "/v1/usage/<period>/segments",
    tags=["usage"],
    summary="Segment-level usage of a period and its window",
    openapi_extensions=roles("buyer"),
)
def get_segment_usage(
    period: str,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Rows per page")] = 10_000,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
) -> Response[SegmentUsageView]:
    caller = require_role("buyer")
    page = usage_service().usage_view(caller, period, "segments", now=request_time(), limit=limit, cursor=cursor)
    return json_response(200, SegmentUsageView.of(page))


@router.put(
    "/v1/usage/<period>/segments",
    tags=["usage"],
    summary="Report segment-level usage (upsert of the rows)",
    openapi_extensions=roles("buyer"),
)
def put_segment_usage(period: str, body: PutSegmentUsage) -> Response[PutUsageResponse]:
    caller = require_role("buyer")
    rows = [row.model_dump(exclude_unset=True) for row in body.rows]
    result = usage_service().put_usage(caller, period, "segments", rows, now=request_time(), request_id=_request_id())
    return json_response(200, PutUsageResponse.of(result))


@router.get(
    "/v1/usage/<period>/feeds",
    tags=["usage"],
    summary="Feed-level usage of a period and its window",
    openapi_extensions=roles("buyer"),
)
def get_feed_usage(
    period: str,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Rows per page")] = 10_000,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
) -> Response[FeedUsageView]:
    caller = require_role("buyer")
    page = usage_service().usage_view(caller, period, "feeds", now=request_time(), limit=limit, cursor=cursor)
    return json_response(200, FeedUsageView.of(page))


@router.put(
    "/v1/usage/<period>/feeds",
    tags=["usage"],
    summary="Report feed-level usage (upsert of the rows)",
    openapi_extensions=roles("buyer"),
)
def put_feed_usage(period: str, body: PutFeedUsage) -> Response[PutUsageResponse]:
    caller = require_role("buyer")
    rows = [row.model_dump(exclude_unset=True) for row in body.rows]
    result = usage_service().put_usage(caller, period, "feeds", rows, now=request_time(), request_id=_request_id())
    return json_response(200, PutUsageResponse.of(result))
