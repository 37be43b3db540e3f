"""Routes: segments (CRUD), the audience builder's estimate, and segment analytics."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field

from audiens.api.http import PAGE_MAX, Cursor, Limit, json_response, paginate, request_time, require_role, roles
from audiens.api.response_fields import Instant, OptionalInstant, OptionalText, attributes_of
from audiens.domain.rules import MAX_RULE_LENGTH
from audiens.domain.segments import DEFAULT_EXPIRATION_DAYS, MAX_EXPIRATION_DAYS, Segment
from audiens.domain.sketches import NUM_STD_DEVS, Estimate
from audiens.wiring import audience_service

router = APIGatewayRouter()

ROLES = ("provider", "buyer")
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
RuleText = Annotated[
    str, Field(min_length=1, max_length=MAX_RULE_LENGTH, examples=["trt_a1 AND (trt_b2 OR NOT trt_c3)"])
]
Days = Annotated[int, Field(ge=1, le=MAX_EXPIRATION_DAYS, strict=True)]
Price = Annotated[str, Field(max_length=24, examples=["2.50"], description="Decimal string, in `currency` (USD)")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateSegmentRequest(Strict):
    name: Text
    category: Text
    rule: RuleText
    expiration_days: Days = DEFAULT_EXPIRATION_DAYS
    visibility: Literal["public", "private"] = "private"
    cpm: Price | None = None


class PatchSegmentRequest(Strict):
    name: Text | None = None
    category: Text | None = None
    rule: RuleText | None = None
    expiration_days: Days | None = None
    visibility: Literal["public", "private"] | None = None
    cpm: Price | None = None


class SegmentView(BaseModel):
    segment_id: str
    name: str
    category: str
    rule: str
    expiration_days: int
    visibility: str
    cpm: OptionalText
    currency: str
    status: Literal["active", "expired"]
    created_at: Instant
    changed_at: Instant
    expires_at: Instant
    expired_at: OptionalInstant
    population: int | None = None
    lower_bound: int | None = None
    upper_bound: int | None = None

    @classmethod
    def of(cls, segment: Segment, estimate: Estimate | None = None) -> Self:
        """The segment, and its population's estimate when given (its three fields are null otherwise)."""
        estimated = attributes_of(estimate, cls) if estimate is not None else {}
        return cls.model_validate({**attributes_of(segment, cls), **estimated, "expires_at": segment.expires_at()})


class SegmentList(BaseModel):
    segments: list[SegmentView]
    next_cursor: str | None = None


class EstimateRequest(Strict):
    rule: RuleText


class TraitShare(BaseModel):
    trait_id: str
    population: int
    share: float


class EstimateView(BaseModel):
    population: int
    lower_bound: int
    upper_bound: int
    exact: bool
    confidence: float
    traits: list[TraitShare]


class SeriesPoint(BaseModel):
    date: str
    population: int
    lower_bound: int
    upper_bound: int


class Analytics(BaseModel):
    segment_id: str
    series: list[SeriesPoint]


# The order matters: the literal /estimate must not be taken for a segment id.
@router.post(
    "/v1/segments/estimate",
    tags=["segments"],
    summary="The audience builder: population, bounds (2 standard deviations, ~95 %) and trait composition",
    openapi_extensions=roles(*ROLES),
)
def estimate(body: EstimateRequest) -> Response[EstimateView]:
    caller = require_role(*ROLES)
    result = audience_service().estimate(caller, body.rule, now=request_time())
    found = result.estimate
    return json_response(
        200,
        {
            "population": found.population,
            "lower_bound": found.lower_bound,
            "upper_bound": found.upper_bound,
            "exact": found.exact,
            "confidence": 0.954 if NUM_STD_DEVS == 2 else 0.0,
            "traits": [{"trait_id": c.trait_id, "population": c.population, "share": c.share} for c in result.traits],
        },
    )


@router.post(
    "/v1/segments",
    tags=["segments"],
    summary="Save a segment (a rule over traits + taxonomy and price)",
    openapi_extensions=roles(*ROLES),
    status_code=201,
)
def create_segment(body: CreateSegmentRequest) -> Response[SegmentView]:
    caller = require_role(*ROLES)
    segment = audience_service().create_segment(
        caller,
        name=body.name,
        category=body.category,
        rule=body.rule,
        expiration_days=body.expiration_days,
        visibility=body.visibility,
        cpm=body.cpm,
        now=request_time(),
    )
    return json_response(201, SegmentView.of(segment))


@router.get("/v1/segments", tags=["segments"], summary="The account's segments", openapi_extensions=roles(*ROLES))
def list_segments(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[SegmentList]:
    caller = require_role(*ROLES)
    page, next_cursor = paginate(audience_service().list_segments(caller), lambda s: s.segment_id, limit, cursor)
    return json_response(200, SegmentList(segments=[SegmentView.of(s) for s in page], next_cursor=next_cursor))


@router.get(
    "/v1/segments/<segment_id>",
    tags=["segments"],
    summary="One segment with its current population",
    openapi_extensions=roles(*ROLES),
)
def get_segment(segment_id: str) -> Response[SegmentView]:
    caller = require_role(*ROLES)
    service = audience_service()
    segment = service.get_segment(caller, segment_id)
    return json_response(200, SegmentView.of(segment, service.segment_population(segment)))


@router.patch(
    "/v1/segments/<segment_id>",
    tags=["segments"],
    summary="Change a segment (restarts its expiration)",
    openapi_extensions=roles(*ROLES),
)
def patch_segment(segment_id: str, body: PatchSegmentRequest) -> Response[SegmentView]:
    caller = require_role(*ROLES)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    segment = audience_service().update_segment(caller, segment_id, now=request_time(), **changes)
    return json_response(200, SegmentView.of(segment))


@router.delete(
    "/v1/segments/<segment_id>",
    tags=["segments"],
    summary="Delete a segment (it leaves every channel)",
    openapi_extensions=roles(*ROLES),
    status_code=204,
)
def delete_segment(segment_id: str) -> Response[None]:
    caller = require_role(*ROLES)
    audience_service().delete_segment(caller, segment_id, now=request_time())
    return Response(status_code=204, body=None)


@router.get(
    "/v1/segments/<segment_id>/analytics",
    tags=["segments"],
    summary="Cumulative population, one point per day",
    openapi_extensions=roles(*ROLES),
)
def analytics(segment_id: str) -> Response[Analytics]:
    caller = require_role(*ROLES)
    segment, snapshots = audience_service().analytics(caller, segment_id)
    return json_response(
        200,
        {
            "segment_id": segment.segment_id,
            "series": [
                {
                    "date": s.day.isoformat(),
                    "population": s.population,
                    "lower_bound": s.lower_bound,
                    "upper_bound": s.upper_bound,
                }
                for s in snapshots
            ],
        },
    )
