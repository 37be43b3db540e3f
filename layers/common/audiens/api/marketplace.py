"""Routes: data feeds and plans, access requests, discounts, subscriptions and the marketplace listings.

The models (also what builds the JSON bodies) are in :mod:`audiens.api.marketplace_models`.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from audiens.api.http import PAGE_MAX, Cursor, Limit, json_response, paginate, request_time, require_role, roles
from audiens.api.marketplace_models import (
    AccessList,
    AccessView,
    ChangePlanPriceRequest,
    CreateFeedRequest,
    DiscountList,
    DiscountRequest,
    DiscountView,
    FeedList,
    FeedView,
    ListingList,
    ListingView,
    MarketSegmentList,
    MarketSegmentView,
    PlanView,
    SubscribeRequest,
    SubscriptionList,
    SubscriptionView,
)
from audiens.services.marketplace import FeedDetail
from audiens.wiring import marketplace_service

router = APIGatewayRouter()

PROVIDER, BUYER = "provider", "buyer"


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
    return json_response(201, FeedView.of(detail))


@router.get(
    "/v1/feeds", tags=["marketplace"], summary="Provider: the account's data feeds", openapi_extensions=roles(PROVIDER)
)
def list_feeds(limit: Limit = PAGE_MAX, cursor: Cursor = None) -> Response[FeedList]:
    caller = require_role(PROVIDER)
    page, next_cursor = paginate(marketplace_service().list_feeds(caller), lambda d: d.feed.feed_id, limit, cursor)
    return json_response(200, FeedList(feeds=[FeedView.of(d) for d in page], next_cursor=next_cursor))


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
        return json_response(200, FeedView.of(found))
    return json_response(200, ListingView.of(found))


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
    return json_response(200, FeedView.of(found))


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
    return json_response(200, SubscriptionList(subscriptions=[SubscriptionView.of(s) for s in subs]))


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
    return json_response(201, AccessView.of(marketplace_service().request_access(caller, feed_id, request_time())))


@router.get(
    "/v1/feeds/<feed_id>/access-requests",
    tags=["marketplace"],
    summary="Provider: a feed's access requests",
    openapi_extensions=roles(PROVIDER),
)
def list_access(feed_id: str) -> Response[AccessList]:
    caller = require_role(PROVIDER)
    found = marketplace_service().list_access(caller, feed_id)
    return json_response(200, AccessList(access_requests=[AccessView.of(r) for r in found]))


@router.post(
    "/v1/feeds/<feed_id>/access-requests/<buyer_id>/approve",
    tags=["marketplace"],
    summary="Provider: approve a buyer's access request",
    openapi_extensions=roles(PROVIDER),
)
def approve_access(feed_id: str, buyer_id: str) -> Response[AccessView]:
    caller = require_role(PROVIDER)
    decided = marketplace_service().decide_access(caller, feed_id, buyer_id, approve=True, now=request_time())
    return json_response(200, AccessView.of(decided))


@router.post(
    "/v1/feeds/<feed_id>/access-requests/<buyer_id>/deny",
    tags=["marketplace"],
    summary="Provider: deny (or withdraw) a buyer's access; running subscriptions continue until ended",
    openapi_extensions=roles(PROVIDER),
)
def deny_access(feed_id: str, buyer_id: str) -> Response[AccessView]:
    caller = require_role(PROVIDER)
    decided = marketplace_service().decide_access(caller, feed_id, buyer_id, approve=False, now=request_time())
    return json_response(200, AccessView.of(decided))


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
    return json_response(200, PlanView.of(plan))


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
    return json_response(200, DiscountView.of(feed_id, buyer_id, pct))


@router.get(
    "/v1/feeds/<feed_id>/discounts",
    tags=["marketplace"],
    summary="Provider: a feed's buyer discounts",
    openapi_extensions=roles(PROVIDER),
)
def list_discounts(feed_id: str) -> Response[DiscountList]:
    caller = require_role(PROVIDER)
    found = marketplace_service().list_discounts(caller, feed_id)
    views = [DiscountView.of(feed_id, buyer, pct) for buyer, pct in sorted(found.items())]
    return json_response(200, DiscountList(discounts=views))


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
    return json_response(200, ListingList(feeds=[ListingView.of(x) for x in page], next_cursor=next_cursor))


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
    views = [MarketSegmentView.of(s, n) for s, n in page]
    return json_response(200, MarketSegmentList(segments=views, next_cursor=next_cursor))


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
    return json_response(201, SubscriptionView.of(sub))


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
    views = [SubscriptionView.of(s) for s in subs]
    return json_response(200, SubscriptionList(subscriptions=views, next_cursor=next_cursor))


@router.get(
    "/v1/subscriptions/<subscription_id>",
    tags=["marketplace"],
    summary="Buyer: one subscription",
    openapi_extensions=roles(BUYER),
)
def get_subscription(subscription_id: str) -> Response[SubscriptionView]:
    caller = require_role(BUYER)
    return json_response(200, SubscriptionView.of(marketplace_service().get_subscription(caller, subscription_id)))


@router.delete(
    "/v1/subscriptions/<subscription_id>",
    tags=["marketplace"],
    summary="Buyer: end a subscription today (its end_date, the last day billed)",
    openapi_extensions=roles(BUYER),
)
def end_subscription(subscription_id: str) -> Response[SubscriptionView]:
    caller = require_role(BUYER)
    ended = marketplace_service().end_subscription(caller, subscription_id, request_time())
    return json_response(200, SubscriptionView.of(ended))
