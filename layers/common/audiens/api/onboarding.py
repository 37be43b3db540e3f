"""Routes: sources, event batches, the pixel, activity, files, the data points catalog and traits."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field

from audiens.api.http import PAGE_MAX, Cursor, Limit, app, json_response, paginate, request_time, require_role, roles
from audiens.domain.events import Source
from audiens.domain.segments import TraitDef
from audiens.domain.sketches import Estimate
from audiens.domain.source_files import FileRecord
from audiens.domain.time import optional_rfc3339, rfc3339
from audiens.errors import ValidationError
from audiens.observability import logger
from audiens.wiring import audience_service, ingest_service, lookalike_service, pixel_service

router = APIGatewayRouter()

PROVIDER = "provider"
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]

# The smallest transparent GIF, base64 as API Gateway wants a binary body: what a browser tag gets back.
PIXEL_GIF_BASE64 = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateSourceRequest(Strict):
    name: Name
    type: Literal["api", "s3", "pixel"]


class SourceView(BaseModel):
    source_id: str
    name: str
    type: str
    created_at: str
    events_accepted: int
    events_rejected: int
    last_event_at: str | None
    ingest: dict[str, Any]


class CreatedSourceView(SourceView):
    ingest_key: str | None = None
    pixel_token: str | None = None


class SourceList(BaseModel):
    sources: list[SourceView]
    by_type: dict[str, int]
    next_cursor: str | None = None


class EventsRequest(Strict):
    events: Annotated[list[Any], Field(description="Up to 1,000 events {user_id, timestamp?, data}; 1 MB at most.")]


class RejectedEvent(BaseModel):
    index: int
    code: str
    message: str


class EventsAccepted(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]
    duplicate: bool


class MinuteCount(BaseModel):
    minute: str
    count: int


class Activity(BaseModel):
    events: list[dict[str, Any]]
    per_minute: list[MinuteCount]


class FileError(BaseModel):
    line: int
    code: str
    message: str


class FileView(BaseModel):
    file_id: str
    key: str
    status: str
    received_at: str
    finished_at: str | None
    rows: int
    accepted: int
    rejected: int
    errors: list[FileError]
    errors_truncated: int


class FileList(BaseModel):
    files: list[FileView]


class UploadUrlRequest(Strict):
    file_name: Annotated[str, Field(min_length=1, max_length=200)]


class UploadUrl(BaseModel):
    bucket: str
    key: str
    upload_url: str


class ValueCount(BaseModel):
    value: str
    users: int


class DataPoint(BaseModel):
    source_id: str
    key: str
    values: list[ValueCount]


class DataPoints(BaseModel):
    data_points: list[DataPoint]


class Condition(Strict):
    key: Annotated[str, Field(min_length=1, max_length=64)]
    equals: str | int | float | bool | None = None
    in_: Annotated[list[str | int | float | bool] | None, Field(alias="in")] = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CreateTraitRequest(Strict):
    name: Name
    kind: Literal["rule", "algorithmic"] = "rule"
    source_id: str | None = None
    condition: Condition | None = None
    seed_trait_id: str | None = None
    modeled_on_feed_ids: list[str] | None = None


class TraitView(BaseModel):
    trait_id: str
    name: str
    kind: str
    source_id: str | None
    condition: dict[str, Any] | None
    population: int
    lower_bound: int
    upper_bound: int
    created_at: str
    feed_id: str | None = None
    modeled_on_feed_ids: list[str] | None = None
    seed_trait_id: str | None = None
    modeled_trait_ids: list[str] | None = None


class TraitList(BaseModel):
    traits: list[TraitView]
    next_cursor: str | None = None


def _source_view(source: Source) -> dict[str, Any]:
    return {
        "source_id": source.source_id,
        "name": source.name,
        "type": source.type,
        "created_at": rfc3339(source.created_at),
        "events_accepted": source.events_accepted,
        "events_rejected": source.events_rejected,
        "last_event_at": optional_rfc3339(source.last_event_at),
        "ingest": ingest_service().ingest_details(source),
    }


def _file_view(record: FileRecord) -> dict[str, Any]:
    return {
        "file_id": record.file_id,
        "key": record.key,
        "status": record.status,
        "received_at": rfc3339(record.received_at),
        "finished_at": optional_rfc3339(record.finished_at),
        "rows": record.rows,
        "accepted": record.accepted,
        "rejected": record.rejected,
        "errors": record.errors,
        "errors_truncated": record.errors_truncated,
    }


def trait_view(trait: TraitDef, estimate: Estimate) -> dict[str, Any]:
    return {
        "trait_id": trait.trait_id,
        "name": trait.name,
        "kind": trait.kind,
        "source_id": trait.source_id,
        "condition": trait.condition.as_json() if trait.condition else None,
        "population": estimate.population,
        "lower_bound": estimate.lower_bound,
        "upper_bound": estimate.upper_bound,
        "created_at": rfc3339(trait.created_at),
        "feed_id": trait.feed_id,
        "modeled_on_feed_ids": list(trait.modeled_on_feed_ids) if trait.kind == "algorithmic" else None,
        "seed_trait_id": trait.seed_trait_id,
        "modeled_trait_ids": list(trait.modeled_trait_ids) if trait.kind == "algorithmic" else None,
    }


def _body_bytes() -> int:
    body = app.current_event.body or ""
    return len(body.encode()) if isinstance(body, str) else len(body)


# ------------------------------------------------------------------------------------------------ sources


@router.post(
    "/v1/sources",
    tags=["sources"],
    summary="Create a source (api, s3 or pixel) with its ingest credentials",
    openapi_extensions=roles(PROVIDER),
    status_code=201,
)
def create_source(body: CreateSourceRequest) -> Response[CreatedSourceView]:
    caller = require_role(PROVIDER)
    created = ingest_service().create_source(caller, name=body.name, type=body.type, now=request_time())
    view = _source_view(created.source)
    if created.source.type == "api":
        view["ingest_key"] = created.secret
    elif created.source.type == "pixel":
        view["pixel_token"] = created.secret
    return json_response(201, view)


@router.get(
    "/v1/sources",
    tags=["sources"],
    summary="The integration center: every source of the account",
    openapi_extensions=roles(PROVIDER),
)
def list_sources(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[SourceList]:
    caller = require_role(PROVIDER)
    sources = ingest_service().list_sources(caller)
    by_type = {kind: sum(1 for s in sources if s.type == kind) for kind in ("api", "s3", "pixel")}
    page, next_cursor = paginate(sources, lambda s: s.source_id, limit, cursor)
    return json_response(
        200, {"sources": [_source_view(s) for s in page], "by_type": by_type, "next_cursor": next_cursor}
    )


@router.get("/v1/sources/<source_id>", tags=["sources"], summary="One source", openapi_extensions=roles(PROVIDER))
def get_source(source_id: str) -> Response[SourceView]:
    caller = require_role(PROVIDER)
    return json_response(200, _source_view(ingest_service().get_source(caller, source_id)))


@router.post(
    "/v1/sources/<source_id>/events",
    tags=["sources"],
    summary="Send a batch of events (at most 1,000 events and 1 MB; bad events are rejected one by one)",
    openapi_extensions=roles(PROVIDER),
    status_code=202,
)
def post_events(source_id: str, body: EventsRequest) -> Response[EventsAccepted]:
    caller = require_role(PROVIDER)
    result = ingest_service().post_events(caller, source_id, body.events, body_bytes=_body_bytes(), now=request_time())
    return json_response(202, result.as_json())


@router.post(
    "/v1/ingest/<source_id>/events",
    tags=["sources"],
    summary="Send a batch with the source's own ingest key (header X-Ingest-Key), no account API key",
    status_code=202,
)
def post_events_with_key(source_id: str, body: EventsRequest) -> Response[EventsAccepted]:
    key = app.current_event.headers.get("x-ingest-key") or app.current_event.headers.get("X-Ingest-Key") or ""
    result = ingest_service().post_events_with_key(
        source_id, key, body.events, body_bytes=_body_bytes(), now=request_time()
    )
    return json_response(202, result.as_json())


@router.get(
    "/v1/pixel/<source_id>",
    tags=["sources"],
    summary="Browser pixel: t=<pixel token>, uid=<user id>, other parameters are data points; a 1x1 GIF once queued",
)
def pixel(source_id: str) -> Response[str]:
    """A hit for a live pixel source is queued (counted by PixelIngestFunction: a bad event is counted as
    rejected there); any other hit is logged and answered the GIF all the same. A hit that cannot be queued
    is not swallowed: it fails the request (the error body of API.md) and is logged."""
    params = dict(app.current_event.query_string_parameters or {})
    queued = pixel_service().hit(
        source_id,
        params,
        request_id=app.current_event.request_context.request_id or "",
        now=request_time(),
    )
    if not queued:
        logger.info("pixel hit ignored: unknown source or bad token", extra={"source_id": source_id[:64]})
    gif: Response[str] = Response(
        status_code=200,
        content_type="image/gif",
        body=PIXEL_GIF_BASE64,
        headers={"Cache-Control": "no-store, max-age=0"},
    )
    gif.base64_encoded = True  # already encoded: a str body passes the resolver's response validation untouched
    return gif


@router.get(
    "/v1/sources/<source_id>/activity",
    tags=["sources"],
    summary="Latest events and per-minute counts",
    openapi_extensions=roles(PROVIDER),
)
def activity(
    source_id: str, minutes: Annotated[int, Query(ge=1, le=2880, description="Minutes of per-minute counts")] = 60
) -> Response[Activity]:
    caller = require_role(PROVIDER)
    events, series = ingest_service().activity(caller, source_id, now=request_time(), minutes=minutes)
    return json_response(200, {"events": events, "per_minute": [{"minute": m, "count": c} for m, c in series]})


@router.get(
    "/v1/sources/<source_id>/files",
    tags=["sources"],
    summary="Files dropped for an s3 source and their outcome",
    openapi_extensions=roles(PROVIDER),
)
def list_files(source_id: str) -> Response[FileList]:
    caller = require_role(PROVIDER)
    return json_response(200, {"files": [_file_view(f) for f in ingest_service().list_files(caller, source_id)]})


@router.post(
    "/v1/sources/<source_id>/upload-url",
    tags=["sources"],
    summary="A presigned PUT URL for an s3 source file",
    openapi_extensions=roles(PROVIDER),
    status_code=201,
)
def upload_url(source_id: str, body: UploadUrlRequest) -> Response[UploadUrl]:
    caller = require_role(PROVIDER)
    bucket, key, url = ingest_service().upload_url(caller, source_id, body.file_name)
    return json_response(201, {"bucket": bucket, "key": key, "upload_url": url})


@router.get(
    "/v1/data-points",
    tags=["traits"],
    summary="The data points catalog: keys, values, distinct users",
    openapi_extensions=roles(PROVIDER),
)
def data_points(source_id: Annotated[str | None, Query(max_length=100)] = None) -> Response[DataPoints]:
    caller = require_role(PROVIDER)
    found = ingest_service().data_points(caller, source_id)
    return json_response(
        200,
        {
            "data_points": [
                {"source_id": sid, "key": dp.key, "values": [{"value": v, "users": u} for v, u in dp.values]}
                for sid, dp in found
            ]
        },
    )


# ------------------------------------------------------------------------------------------------- traits


@router.post(
    "/v1/traits",
    tags=["traits"],
    summary="Create a rule trait: a condition on a source's data points",
    openapi_extensions=roles(PROVIDER, "buyer"),
    status_code=201,
)
def create_trait(body: CreateTraitRequest) -> Response[TraitView]:
    if body.kind == "algorithmic":  # a look-alike, by a buyer (or provider): services/lookalike.py
        modeler = require_role(PROVIDER, "buyer")
        modeled, _ = lookalike_service().create(
            modeler,
            name=body.name,
            seed_trait_id=body.seed_trait_id,
            modeled_on_feed_ids=body.modeled_on_feed_ids,
            now=request_time(),
        )
        return json_response(201, trait_view(modeled, audience_service().trait_estimate(modeled)))
    caller = require_role(PROVIDER)
    if body.source_id is None or body.condition is None:
        raise ValidationError(
            "A rule trait needs source_id and condition {key, equals | in}.",
            code="validation_error",
            details=[{"field": "source_id" if body.source_id is None else "condition"}],
        )
    condition = body.condition.model_dump(by_alias=True, exclude_none=True)
    service = audience_service()
    trait = service.create_trait(
        caller, name=body.name, source_id=body.source_id, condition=condition, now=request_time()
    )
    return json_response(201, trait_view(trait, service.trait_estimate(trait)))


@router.get(
    "/v1/traits",
    tags=["traits"],
    summary="The account's traits with their populations",
    openapi_extensions=roles(PROVIDER, "buyer"),
)
def list_traits(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[TraitList]:
    caller = require_role(PROVIDER, "buyer")
    page, next_cursor = paginate(audience_service().list_traits(caller), lambda te: te[0].trait_id, limit, cursor)
    return json_response(200, {"traits": [trait_view(t, e) for t, e in page], "next_cursor": next_cursor})


@router.get(
    "/v1/traits/<trait_id>",
    tags=["traits"],
    summary="One trait and its population",
    openapi_extensions=roles(PROVIDER, "buyer"),
)
def get_trait(trait_id: str) -> Response[TraitView]:
    caller = require_role(PROVIDER, "buyer")
    return json_response(200, trait_view(*audience_service().get_trait(caller, trait_id)))
