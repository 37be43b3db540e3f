"""Routes: data feeds and plans, access requests, discounts, subscriptions and the marketplace listings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field

from audiens.api.http import PAGE_MAX, Cursor, Limit, json_response, paginate, request_time, require_role, roles
from audiens.domain.marketplace import MAX_DESCRIPTION_LENGTH, AccessRequest, Subscription, format_discount
from audiens.domain.money import format_price
from audiens.domain.segments import Segment
from audiens.domain.time import optional_rfc3339, rfc3339
from audiens.services.marketplace import FeedDetail, FeedListing
from audiens.wiring import marketplace_service

router = APIGatewayRouter()

PROVIDER, BUYER = "provider", "buyer"
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
Id = Annotated[str, Field(min_length=1, max_length=100)]
DecimalText = Annotated[
    str | int | float,
    Field(description='A decimal string such as "2.50" (numbers are refused: money travels as strings)'),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanRequest(Strict):
    use_cases: Annotated[
        list[str],
        Field(min_length=1, max_length=4, examples=[["segments_and_overlap"]]),
    ]
    unit: Annotated[str, Field(examples=["cpm"], description="cpm | flat_fee")]
    price: DecimalText
    currency: Annotated[str | None, Field(default=None, examples=["USD"])] = None


class CreateFeedRequest(Strict):
    name: Name
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH)] = ""
    trait_ids: Annotated[list[Id], Field(min_length=1, max_length=80)]
    visibility: Literal["public", "private"] = "public"
    plans: Annotated[list[PlanRequest], Field(min_length=1, max_length=10)]


class PlanView(BaseModel):
    plan_id: str
    use_cases: list[str]
    unit: str
    price: str
    currency: str
    billing_cycle: str
    discount_pct: str | None = None
    discounted_price: str | None = None
    price_effective_from: str | None = Field(
        default=None, description="When the current price took effect, if it was changed after the plan was created"
    )


class ChangePlanPriceRequest(Strict):
    price: DecimalText


class FeedView(BaseModel):
    feed_id: str
    provider_id: str
    name: str
    description: str
    visibility: str
    status: Literal["inactive", "active"]
    trait_ids: list[str]
    plans: list[PlanView]
    created_at: str
    activated_at: str | None
    active_subscriptions: int | None = None


class FeedList(BaseModel):
    feeds: list[FeedView]
    next_cursor: str | None = None


class FeedTraitView(BaseModel):
    trait_id: str
    name: str


class ListingView(BaseModel):
    feed_id: str
    provider_id: str
    provider_name: str
    name: str
    description: str
    visibility: str
    status: str
    access: Literal["public", "approved"]
    traits: list[FeedTraitView]
    plans: list[PlanView]
    discount_pct: str
    subscriptions: list[str]


class ListingList(BaseModel):
    feeds: list[ListingView]
    next_cursor: str | None = None


class MarketSegmentView(BaseModel):
    segment_id: str
    provider_id: str
    provider_name: str
    name: str
    category: str
    cpm: str | None
    currency: str


class MarketSegmentList(BaseModel):
    segments: list[MarketSegmentView]
    next_cursor: str | None = None


class AccessView(BaseModel):
    feed_id: str
    buyer_id: str
    status: Literal["pending", "approved", "denied"]
    requested_at: str
    decided_at: str | None


class AccessList(BaseModel):
    access_requests: list[AccessView]


class DiscountRequest(Strict):
    discount_pct: Annotated[DecimalText, Field(examples=["10"])]


class DiscountView(BaseModel):
    feed_id: str
    buyer_id: str
    discount_pct: str


class DiscountList(BaseModel):
    discounts: list[DiscountView]


class SubscribeRequest(Strict):
    plan_id: Id


class SubscriptionView(BaseModel):
    subscription_id: str
    plan_id: str
    feed_id: str
    provider_id: str
    buyer_id: str
    use_cases: list[str]
    unit: str
    start_date: str
    end_date: str | None
    status: Literal["active", "ended"]


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionView]
    next_cursor: str | None = None


def _feed_view(detail: FeedDetail) -> dict[str, Any]:
    feed = detail.feed
    return {
        "feed_id": feed.feed_id,
        "provider_id": feed.provider_id,
        "name": feed.name,
        "description": feed.description,
        "visibility": feed.visibility,
        "status": feed.status,
        "trait_ids": list(feed.trait_ids),
        "plans": [p.as_json() for p in detail.plans],
        "created_at": rfc3339(feed.created_at),
        "activated_at": optional_rfc3339(feed.activated_at),
        "active_subscriptions": detail.active_subscriptions,
    }


def _listing_view(listing: FeedListing) -> dict[str, Any]:
    feed = listing.feed
    return {
        "feed_id": feed.feed_id,
        "provider_id": feed.provider_id,
        "provider_name": listing.provider_name,
        "name": feed.name,
        "description": feed.description,
        "visibility": feed.visibility,
        "status": feed.status,
        "access": listing.access,
        "traits": [{"trait_id": t.trait_id, "name": t.name} for t in listing.traits],
        "plans": [p.as_json(listing.discount_pct) for p in listing.plans],
        "discount_pct": format_discount(listing.discount_pct),
        "subscriptions": [s.subscription_id for s in listing.subscriptions],
    }


def _market_segment_view(segment: Segment, provider_name: str) -> dict[str, Any]:
    return {
        "segment_id": segment.segment_id,
        "provider_id": segment.account_id,
        "provider_name": provider_name,
        "name": segment.name,
        "category": segment.category,
        "cpm": format_price(segment.cpm, segment.currency) if segment.cpm is not None else None,
        "currency": segment.currency,
    }


def _access_view(request: AccessRequest) -> dict[str, Any]:
    return {
        "feed_id": request.feed_id,
        "buyer_id": request.buyer_id,
        "status": request.status,
        "requested_at": rfc3339(request.requested_at),
        "decided_at": optional_rfc3339(request.decided_at),
    }


def _subscription_view(sub: Subscription) -> dict[str, Any]:
    return {**sub.as_json(), "buyer_id": sub.buyer_id}


# --------------------------------------------------------------------------------------------------- feeds


@router.post(
    "/v1/feeds",
    tags=["marketplace"],
    summary="Provider: create a data feed with its plans (inactive)",
    openapi_extensions=roles(PROVIDER),
    status_code=201,
)
def create_feed(body: CreateFeedRequest) -> Response[FeedView]:
    caller = require_role(PROVIDER)
    detail = marketplace_service().create_feed(
        caller,
        name=body.name,
        description=body.description,
        trait_ids=body.trait_ids,
        visibility=body.visibility,
        plans=[p.model_dump() for p in body.plans],
        now=request_time(),
    )
    return json_response(201, _feed_view(detail))


@router.get(
    "/v1/feeds", tags=["marketplace"], summary="Provider: the account's data feeds", openapi_extensions=roles(PROVIDER)
)
def list_feeds(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[FeedList]:
    caller = require_role(PROVIDER)
    page, next_cursor = paginate(marketplace_service().list_feeds(caller), lambda d: d.feed.feed_id, limit, cursor)
    return json_response(200, {"feeds": [_feed_view(d) for d in page], "next_cursor": next_cursor})


@router.get(
    "/v1/feeds/<feed_id>",
    tags=["marketplace"],
    summary="A feed: the provider's full view, or the marketplace view for a buyer allowed to see it",
    openapi_extensions=roles(PROVIDER, BUYER),
)
def get_feed(feed_id: str) -> Response[FeedView | ListingView]:
    caller = require_role(PROVIDER, BUYER)
    found = marketplace_service().get_feed(caller, feed_id)
    if isinstance(found, FeedDetail):
        return json_response(200, _feed_view(found))
    return json_response(200, _listing_view(found))


@router.post(
    "/v1/feeds/<feed_id>/activate",
    tags=["marketplace"],
    summary="Provider: activate (list) a feed",
    openapi_extensions=roles(PROVIDER),
)
def activate_feed(feed_id: str) -> Response[FeedView]:
    caller = require_role(PROVIDER)
    service = marketplace_service()
    service.activate_feed(caller, feed_id, request_time())
    found = service.get_feed(caller, feed_id)
    assert isinstance(found, FeedDetail)
    return json_response(200, _feed_view(found))


@router.delete(
    "/v1/feeds/<feed_id>",
    tags=["marketplace"],
    summary="Provider: delete a feed (409 while it is active with subscribers); its traits are released",
    openapi_extensions=roles(PROVIDER),
    status_code=204,
)
def delete_feed(feed_id: str) -> Response[None]:
    caller = require_role(PROVIDER)
    marketplace_service().delete_feed(caller, feed_id, request_time())
    return Response(status_code=204)


@router.get(
    "/v1/feeds/<feed_id>/subscriptions",
    tags=["marketplace"],
    summary="Provider: a feed's subscriptions",
    openapi_extensions=roles(PROVIDER),
)
def feed_subscriptions(feed_id: str) -> Response[SubscriptionList]:
    caller = require_role(PROVIDER)
    subs = marketplace_service().feed_subscriptions(caller, feed_id)
    return json_response(200, {"subscriptions": [_subscription_view(s) for s in subs]})


# -------------------------------------------------------------------------------------------------- access


@router.post(
    "/v1/feeds/<feed_id>/access-requests",
    tags=["marketplace"],
    summary="Buyer: ask for access to a private feed",
    openapi_extensions=roles(BUYER),
    status_code=201,
)
def request_access(feed_id: str) -> Response[AccessView]:
    caller = require_role(BUYER)
    return json_response(201, _access_view(marketplace_service().request_access(caller, feed_id, request_time())))


@router.get(
    "/v1/feeds/<feed_id>/access-requests",
    tags=["marketplace"],
    summary="Provider: a feed's access requests",
    openapi_extensions=roles(PROVIDER),
)
def list_access(feed_id: str) -> Response[AccessList]:
    caller = require_role(PROVIDER)
    found = marketplace_service().list_access(caller, feed_id)
    return json_response(200, {"access_requests": [_access_view(r) for r in found]})


@router.post(
    "/v1/feeds/<feed_id>/access-requests/<buyer_id>/approve",
    tags=["marketplace"],
    summary="Provider: approve a buyer's access request",
    openapi_extensions=roles(PROVIDER),
)
def approve_access(feed_id: str, buyer_id: str) -> Response[AccessView]:
    caller = require_role(PROVIDER)
    decided = marketplace_service().decide_access(caller, feed_id, buyer_id, approve=True, now=request_time())
    return json_response(200, _access_view(decided))


@router.post(
    "/v1/feeds/<feed_id>/access-requests/<buyer_id>/deny",
    tags=["marketplace"],
    summary="Provider: deny (or withdraw) a buyer's access; running subscriptions continue until ended",
    openapi_extensions=roles(PROVIDER),
)
def deny_access(feed_id: str, buyer_id: str) -> Response[AccessView]:
    caller = require_role(PROVIDER)
    decided = marketplace_service().decide_access(caller, feed_id, buyer_id, approve=False, now=request_time())
    return json_response(200, _access_view(decided))


# --------------------------------------------------------------------------------------------------- plans


@router.patch(
    "/v1/feeds/<feed_id>/plans/<plan_id>",
    tags=["marketplace"],
    summary="Provider: change a plan's list price from now on (ended periods keep the price in force at their end)",
    openapi_extensions=roles(PROVIDER),
)
def change_plan_price(feed_id: str, plan_id: str, body: ChangePlanPriceRequest) -> Response[PlanView]:
    caller = require_role(PROVIDER)
    plan = marketplace_service().change_plan_price(caller, feed_id, plan_id, body.price, request_time())
    return json_response(200, plan.as_json())


# ----------------------------------------------------------------------------------------------- discounts


@router.put(
    "/v1/feeds/<feed_id>/discounts/<buyer_id>",
    tags=["marketplace"],
    summary='Provider: a buyer\'s discount in percent on every plan of the feed ("0" removes it)',
    openapi_extensions=roles(PROVIDER),
)
def put_discount(feed_id: str, buyer_id: str, body: DiscountRequest) -> Response[DiscountView]:
    caller = require_role(PROVIDER)
    pct = marketplace_service().put_discount(caller, feed_id, buyer_id, body.discount_pct, request_time())
    return json_response(200, {"feed_id": feed_id, "buyer_id": buyer_id, "discount_pct": format_discount(pct)})


@router.get(
    "/v1/feeds/<feed_id>/discounts",
    tags=["marketplace"],
    summary="Provider: a feed's buyer discounts",
    openapi_extensions=roles(PROVIDER),
)
def list_discounts(feed_id: str) -> Response[DiscountList]:
    caller = require_role(PROVIDER)
    found = marketplace_service().list_discounts(caller, feed_id)
    views = [{"feed_id": feed_id, "buyer_id": b, "discount_pct": format_discount(p)} for b, p in sorted(found.items())]
    return json_response(200, {"discounts": views})


# --------------------------------------------------------------------------------------------- marketplace


@router.get(
    "/v1/marketplace/feeds",
    tags=["marketplace"],
    summary="Active feeds the caller may see (public, or private with approved access), with its prices",
    openapi_extensions=roles(PROVIDER, BUYER),
)
def market_feeds(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[ListingList]:
    caller = require_role(PROVIDER, BUYER)
    found = marketplace_service().market_feeds(caller)
    page, next_cursor = paginate(found, lambda x: x.feed.feed_id, limit, cursor)
    return json_response(200, {"feeds": [_listing_view(x) for x in page], "next_cursor": next_cursor})


@router.get(
    "/v1/marketplace/segments",
    tags=["marketplace"],
    summary="Public provider segments with their CPM: map one to a destination like an own segment",
    openapi_extensions=roles(PROVIDER, BUYER),
)
def market_segments(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[MarketSegmentList]:
    caller = require_role(PROVIDER, BUYER)
    found = marketplace_service().market_segments(caller)
    page, next_cursor = paginate(found, lambda sn: sn[0].segment_id, limit, cursor)
    return json_response(200, {"segments": [_market_segment_view(s, n) for s, n in page], "next_cursor": next_cursor})


# ------------------------------------------------------------------------------------------- subscriptions


@router.post(
    "/v1/subscriptions",
    tags=["marketplace"],
    summary="Buyer: subscribe to a plan (starts today, UTC; other plans need a segments_and_overlap one first)",
    openapi_extensions=roles(BUYER),
    status_code=201,
)
def subscribe(body: SubscribeRequest) -> Response[SubscriptionView]:
    caller = require_role(BUYER)
    sub = marketplace_service().subscribe(caller, body.plan_id, request_time())
    return json_response(201, _subscription_view(sub))


@router.get(
    "/v1/subscriptions",
    tags=["marketplace"],
    summary="Buyer: the account's subscriptions",
    openapi_extensions=roles(BUYER),
)
def list_subscriptions(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[SubscriptionList]:
    caller = require_role(BUYER)
    subs, next_cursor = paginate(
        marketplace_service().list_subscriptions(caller), lambda s: s.subscription_id, limit, cursor
    )
    return json_response(200, {"subscriptions": [_subscription_view(s) for s in subs], "next_cursor": next_cursor})


@router.get(
    "/v1/subscriptions/<subscription_id>",
    tags=["marketplace"],
    summary="Buyer: one subscription",
    openapi_extensions=roles(BUYER),
)
def get_subscription(subscription_id: str) -> Response[SubscriptionView]:
    caller = require_role(BUYER)
    return json_response(200, _subscription_view(marketplace_service().get_subscription(caller, subscription_id)))


@router.delete(
    "/v1/subscriptions/<subscription_id>",
    tags=["marketplace"],
    summary="Buyer: end a subscription today (its end_date, the last day billed)",
    openapi_extensions=roles(BUYER),
)
def end_subscription(subscription_id: str) -> Response[SubscriptionView]:
    caller = require_role(BUYER)
    ended = marketplace_service().end_subscription(caller, subscription_id, request_time())
    return json_response(200, _subscription_view(ended))
