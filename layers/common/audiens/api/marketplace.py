"""Routes: data feeds and plans, access requests, discounts, subscriptions and the marketplace listings.

Each response model is the one definition of its body: validated from the domain's objects (``Model.of``) with
the field types of :mod:`audiens.api.response_fields`, and the two below (discounts and days).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Self

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from audiens.api.http import PAGE_MAX, Cursor, Limit, json_response, paginate, request_time, require_role, roles
from audiens.api.response_fields import Instant, OptionalInstant, OptionalPrice, Price, attributes_of
from audiens.domain.marketplace import (
    MAX_DESCRIPTION_LENGTH,
    AccessRequest,
    Plan,
    Subscription,
    format_discount,
    price_for,
)
from audiens.domain.segments import Segment
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


def _percent(value: object) -> object:
    """A discount in percent (Decimal) as the API writes it: ``"12.5"``, ``"10"``."""
    return format_discount(value) if isinstance(value, Decimal) else value


def _day(value: object) -> object:
    """A calendar day (a subscription's start or end) as ``YYYY-MM-DD``."""
    return value.isoformat() if isinstance(value, date) else value


Percent = Annotated[str, BeforeValidator(_percent)]
OptionalPercent = Annotated[str | None, BeforeValidator(_percent)]
Day = Annotated[str, BeforeValidator(_day)]
OptionalDay = Annotated[str | None, BeforeValidator(_day)]


class PlanView(BaseModel):
    plan_id: str
    use_cases: list[str]
    unit: str
    price: Price
    currency: str
    billing_cycle: str
    discount_pct: OptionalPercent = None
    discounted_price: OptionalPrice = None
    price_effective_from: OptionalInstant = Field(
        default=None, description="When the current price took effect, if it was changed after the plan was created"
    )

    @classmethod
    def of(cls, plan: Plan, discount_pct: Decimal | None = None) -> Self:
        """The plan at its list price, and at the price for a buyer with ``discount_pct`` when given."""
        values = {**attributes_of(plan, cls), "price_effective_from": plan.price_changed_at}
        if discount_pct is not None:
            values.update(discount_pct=discount_pct, discounted_price=price_for(plan, discount_pct))
        return cls.model_validate(values, context={"currency": plan.currency})


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
    created_at: Instant
    activated_at: OptionalInstant
    active_subscriptions: int | None = None

    @classmethod
    def of(cls, detail: FeedDetail) -> Self:
        """The feed as its provider sees it: its plans at their list prices."""
        return cls.model_validate(
            {
                **attributes_of(detail.feed, cls),
                "plans": [PlanView.of(p) for p in detail.plans],
                "active_subscriptions": detail.active_subscriptions,
            }
        )


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
    discount_pct: Percent
    subscriptions: list[str]

    @classmethod
    def of(cls, listing: FeedListing) -> Self:
        """The feed as a buyer sees it: every plan also at the buyer's discounted price, its subscriptions' ids."""
        return cls.model_validate(
            {
                **attributes_of(listing.feed, cls),
                **attributes_of(listing, cls),
                "plans": [PlanView.of(p, listing.discount_pct) for p in listing.plans],
                "subscriptions": [s.subscription_id for s in listing.subscriptions],
            },
            from_attributes=True,
        )


class ListingList(BaseModel):
    feeds: list[ListingView]
    next_cursor: str | None = None


class MarketSegmentView(BaseModel):
    segment_id: str
    provider_id: str
    provider_name: str
    name: str
    category: str
    cpm: OptionalPrice
    currency: str

    @classmethod
    def of(cls, segment: Segment, provider_name: str) -> Self:
        """A provider's public segment, offered at its CPM."""
        return cls.model_validate(
            {**attributes_of(segment, cls), "provider_id": segment.account_id, "provider_name": provider_name},
            context={"currency": segment.currency},
        )


class MarketSegmentList(BaseModel):
    segments: list[MarketSegmentView]
    next_cursor: str | None = None


class AccessView(BaseModel):
    feed_id: str
    buyer_id: str
    status: Literal["pending", "approved", "denied"]
    requested_at: Instant
    decided_at: OptionalInstant

    @classmethod
    def of(cls, request: AccessRequest) -> Self:
        return cls.model_validate(request, from_attributes=True)


class AccessList(BaseModel):
    access_requests: list[AccessView]


class DiscountRequest(Strict):
    discount_pct: Annotated[DecimalText, Field(examples=["10"])]


class DiscountView(BaseModel):
    feed_id: str
    buyer_id: str
    discount_pct: Percent

    @classmethod
    def of(cls, feed_id: str, buyer_id: str, discount_pct: Decimal) -> Self:
        return cls.model_validate({"feed_id": feed_id, "buyer_id": buyer_id, "discount_pct": discount_pct})


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
    start_date: Day
    end_date: OptionalDay
    status: Literal["active", "ended"]

    @classmethod
    def of(cls, sub: Subscription) -> Self:
        return cls.model_validate(sub, from_attributes=True)


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionView]
    next_cursor: str | None = None


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
