"""Routes: sources, event batches, the pixel, activity, files, the data points catalog and traits."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from audiens.api.http import PAGE_MAX, Cursor, Limit, app, json_response, paginate, request_time, require_role, roles
from audiens.api.response_fields import Instant, OptionalInstant, attributes_of
from audiens.domain.events import Source
from audiens.domain.segments import Condition as RuleCondition
from audiens.domain.segments import TraitDef
from audiens.domain.sketches import Estimate
from audiens.errors import ValidationError
from audiens.observability import logger
from audiens.services.ingest import BatchResult, CreatedSource
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
    created_at: Instant
    events_accepted: int
    events_rejected: int
    last_event_at: OptionalInstant
    ingest: dict[str, Any]

    @classmethod
    def of(cls, source: Source) -> Self:
        """The source and what a provider needs to send it data (never its secret)."""
        return cls.model_validate({**attributes_of(source, cls), "ingest": ingest_service().ingest_details(source)})


class CreatedSourceView(SourceView):
    ingest_key: str | None = None
    pixel_token: str | None = None

    @classmethod
    def created(cls, created: CreatedSource) -> Self:
        """A new source with its secret, shown once: the ingest key of an api source, the token of a pixel."""
        secret = {"api": "ingest_key", "pixel": "pixel_token"}.get(created.source.type)
        return cls.of(created.source).model_copy(update={secret: created.secret} if secret else {})


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

    @classmethod
    def of(cls, result: BatchResult) -> Self:
        return cls.model_validate(result, from_attributes=True)


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
    received_at: Instant
    finished_at: OptionalInstant
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


def _condition_body(condition: object) -> object:
    """A rule's condition as the API writes it: ``{key, equals}`` or ``{key, in}``."""
    if not isinstance(condition, RuleCondition):
        return condition
    if condition.operator == "equals":
        return {"key": condition.key, "equals": condition.values[0]}
    return {"key": condition.key, "in": list(condition.values)}


class TraitView(BaseModel):
    trait_id: str
    name: str
    kind: str
    source_id: str | None
    condition: Annotated[dict[str, Any] | None, BeforeValidator(_condition_body)]
    population: int
    lower_bound: int
    upper_bound: int
    created_at: Instant
    feed_id: str | None = None
    modeled_on_feed_ids: list[str] | None = Field(default=None, description="An algorithmic trait's feeds")
    seed_trait_id: str | None = None
    modeled_trait_ids: list[str] | None = Field(default=None, description="An algorithmic trait's feed traits")

    @classmethod
    def of(cls, trait: TraitDef, estimate: Estimate) -> Self:
        """The trait and its population's estimate (the modeled ids only on an algorithmic trait)."""
        values = {**attributes_of(trait, cls), **attributes_of(estimate, cls)}
        if trait.kind != "algorithmic":
            values.update(modeled_on_feed_ids=None, modeled_trait_ids=None)
        return cls.model_validate(values)


class TraitList(BaseModel):
    traits: list[TraitView]
    next_cursor: str | None = None


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
    return json_response(201, CreatedSourceView.created(created))


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
    views = [SourceView.of(s) for s in page]
    return json_response(200, SourceList(sources=views, by_type=by_type, next_cursor=next_cursor))


@router.get("/v1/sources/<source_id>", tags=["sources"], summary="One source", openapi_extensions=roles(PROVIDER))
def get_source(source_id: str) -> Response[SourceView]:
    caller = require_role(PROVIDER)
    return json_response(200, SourceView.of(ingest_service().get_source(caller, source_id)))


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
    return json_response(202, EventsAccepted.of(result))


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
    return json_response(202, EventsAccepted.of(result))


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
    files = ingest_service().list_files(caller, source_id)
    return json_response(200, FileList(files=[FileView.model_validate(f, from_attributes=True) for f in files]))


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
        return json_response(201, TraitView.of(modeled, audience_service().trait_estimate(modeled)))
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
    return json_response(201, TraitView.of(trait, service.trait_estimate(trait)))


@router.get(
    "/v1/traits",
    tags=["traits"],
    summary="The account's traits with their populations",
    openapi_extensions=roles(PROVIDER, "buyer"),
)
def list_traits(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[TraitList]:
    caller = require_role(PROVIDER, "buyer")
    page, next_cursor = paginate(audience_service().list_traits(caller), lambda te: te[0].trait_id, limit, cursor)
    return json_response(200, TraitList(traits=[TraitView.of(t, e) for t, e in page], next_cursor=next_cursor))


@router.get(
    "/v1/traits/<trait_id>",
    tags=["traits"],
    summary="One trait and its population",
    openapi_extensions=roles(PROVIDER, "buyer"),
)
def get_trait(trait_id: str) -> Response[TraitView]:
    caller = require_role(PROVIDER, "buyer")
    return json_response(200, TraitView.of(*audience_service().get_trait(caller, trait_id)))
