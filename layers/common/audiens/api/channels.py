"""Routes: the channel catalog, destinations (seamless or wizard-configured) and segment mappings with push status.

Each response is built from its model (``View.of(domain object)``), the one definition of its fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field

from audiens.api.http import PAGE_MAX, Cursor, Limit, json_response, paginate, request_time, require_role, roles
from audiens.api.response_fields import Instant, OptionalInstant, attributes_of
from audiens.domain import channels as catalog
from audiens.domain.channels import Channel
from audiens.domain.destinations import Destination, SegmentMapping
from audiens.errors import NotFoundError
from audiens.wiring import channel_service

router = APIGatewayRouter()

ROLES = ("provider", "buyer")
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
Id = Annotated[str, Field(min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepFieldView(BaseModel):
    name: str
    type: str
    required: bool
    secret: bool
    description: str


class StepView(BaseModel):
    step: str
    title: str
    fields: list[StepFieldView]


class ChannelView(BaseModel):
    channel_id: str
    name: str
    setup: Literal["seamless", "wizard"]
    description: str
    steps: list[StepView] | None = None  # wizard channels only

    @classmethod
    def of(cls, channel: Channel) -> Self:
        """The channel; its wizard's steps and their fields in the catalog's order (a seamless one has none)."""
        steps = channel.steps if channel.setup == "wizard" else None
        return cls.model_validate({**attributes_of(channel, cls), "steps": steps}, from_attributes=True)


class ChannelList(BaseModel):
    channels: list[ChannelView]


class CreateDestinationRequest(Strict):
    channel_id: Id
    name: Name
    config: Annotated[
        dict[str, Any] | None,
        Field(
            default=None,
            description='Wizard channels only: the fields of every step, e.g. {"url": ..., "secret": ...}',
            examples=[{"url": "https://hooks.example.com/audiens", "secret": "a-long-shared-secret"}],
        ),
    ] = None
    content_optimization: Annotated[
        bool, Field(description="Usage on this destination does not count toward CPM totals")
    ] = False


class DestinationView(BaseModel):
    destination_id: str
    channel_id: str
    channel_name: str
    name: str
    status: str
    content_optimization: bool
    config: dict[str, Any]
    created_at: Instant

    @classmethod
    def of(cls, destination: Destination) -> Self:
        """The destination with its config as the API shows it (secrets masked), never the stored config."""
        return cls.model_validate({**attributes_of(destination, cls), "config": destination.shown_config})


class DestinationList(BaseModel):
    destinations: list[DestinationView]
    next_cursor: str | None = None


class MapSegmentRequest(Strict):
    segment_id: Id


class MappingView(BaseModel):
    mapping_id: str
    destination_id: str
    segment_id: str
    segment_owner_id: str
    marketplace: bool
    name: str
    category: str
    action: Literal["upsert", "remove"]
    version: int
    push_status: Literal["queued", "pushed", "failed", "dead_lettered", "removed"]
    attempts: int
    last_error: str | None
    last_attempt_at: OptionalInstant
    pushed_at: OptionalInstant
    mapped_at: Instant

    @classmethod
    def of(cls, mapping: SegmentMapping) -> Self:
        return cls.model_validate(
            {**attributes_of(mapping, cls), "push_status": mapping.status, "mapped_at": mapping.created_at}
        )


class MappingList(BaseModel):
    destination_id: str
    segments: list[MappingView]


@router.get(
    "/v1/channels",
    tags=["channels"],
    summary="The channel catalog: seamless channels and wizard steps",
    openapi_extensions=roles(*ROLES),
)
def list_channels() -> Response[ChannelList]:
    require_role(*ROLES)
    return json_response(200, ChannelList(channels=[ChannelView.of(c) for c in channel_service().catalog()]))


@router.get(
    "/v1/channels/<channel_id>",
    tags=["channels"],
    summary="One channel and its wizard steps",
    openapi_extensions=roles(*ROLES),
)
def get_channel(channel_id: str) -> Response[ChannelView]:
    require_role(*ROLES)
    found = next((c for c in catalog.CATALOG if c.channel_id == channel_id), None)
    if found is None:
        raise NotFoundError(f"Channel {channel_id} not found.")
    return json_response(200, ChannelView.of(found))


@router.post(
    "/v1/destinations",
    tags=["channels"],
    summary="Configure a channel as a destination (wizard config checked step by step; 422 names the step)",
    openapi_extensions=roles(*ROLES),
    status_code=201,
)
def create_destination(body: CreateDestinationRequest) -> Response[DestinationView]:
    caller = require_role(*ROLES)
    destination = channel_service().create_destination(
        caller,
        channel_id=body.channel_id,
        name=body.name,
        config=body.config,
        content_optimization=body.content_optimization,
        now=request_time(),
    )
    return json_response(201, DestinationView.of(destination))


@router.get(
    "/v1/destinations",
    tags=["channels"],
    summary="The account's destinations with their status",
    openapi_extensions=roles(*ROLES),
)
def list_destinations(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[DestinationList]:
    caller = require_role(*ROLES)
    found = channel_service().list_destinations(caller)
    page, next_cursor = paginate(found, lambda d: d.destination_id, limit, cursor)
    views = [DestinationView.of(d) for d in page]
    return json_response(200, DestinationList(destinations=views, next_cursor=next_cursor))


@router.get(
    "/v1/destinations/<destination_id>", tags=["channels"], summary="One destination", openapi_extensions=roles(*ROLES)
)
def get_destination(destination_id: str) -> Response[DestinationView]:
    caller = require_role(*ROLES)
    return json_response(200, DestinationView.of(channel_service().get_destination(caller, destination_id)))


@router.delete(
    "/v1/destinations/<destination_id>",
    tags=["channels"],
    summary="Delete a destination: every segment on it is removed from the channel first (queued)",
    openapi_extensions=roles(*ROLES),
    status_code=204,
)
def delete_destination(destination_id: str) -> Response[None]:
    caller = require_role(*ROLES)
    channel_service().delete_destination(caller, destination_id, request_time())
    return Response(status_code=204)


@router.post(
    "/v1/destinations/<destination_id>/segments",
    tags=["channels"],
    summary="Map a segment (own, or a marketplace public segment) to the destination; its taxonomy push is queued",
    openapi_extensions=roles(*ROLES),
    status_code=201,
)
def map_segment(destination_id: str, body: MapSegmentRequest) -> Response[MappingView]:
    caller = require_role(*ROLES)
    mapping = channel_service().map_segment(caller, destination_id, body.segment_id, request_time())
    return json_response(201, MappingView.of(mapping))


@router.get(
    "/v1/destinations/<destination_id>/segments",
    tags=["channels"],
    summary="Segments mapped to the destination with their push status, attempts and last error",
    openapi_extensions=roles(*ROLES),
)
def list_mappings(destination_id: str) -> Response[MappingList]:
    caller = require_role(*ROLES)
    found = channel_service().list_mappings(caller, destination_id)
    return json_response(200, MappingList(destination_id=destination_id, segments=[MappingView.of(m) for m in found]))


@router.delete(
    "/v1/destinations/<destination_id>/segments/<segment_id>",
    tags=["channels"],
    summary="Unmap a segment: a remove is pushed to the channel",
    openapi_extensions=roles(*ROLES),
)
def unmap_segment(destination_id: str, segment_id: str) -> Response[MappingView]:
    caller = require_role(*ROLES)
    return json_response(
        200, MappingView.of(channel_service().unmap_segment(caller, destination_id, segment_id, request_time()))
    )


@router.post(
    "/v1/destinations/<destination_id>/segments/<segment_id>/push",
    tags=["channels"],
    summary="Queue the mapping's taxonomy again (e.g. after it was dead-lettered)",
    openapi_extensions=roles(*ROLES),
    status_code=202,
)
def repush(destination_id: str, segment_id: str) -> Response[MappingView]:
    caller = require_role(*ROLES)
    return json_response(
        202, MappingView.of(channel_service().repush(caller, destination_id, segment_id, request_time()))
    )
