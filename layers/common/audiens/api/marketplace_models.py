"""Request and response models of the marketplace routes (feeds and plans, access requests, discounts,
subscriptions, the marketplace listings): the OpenAPI document is built from them.

Each response model is the one definition of its body: validated from the domain's objects (``Model.of``) with
the field types of :mod:`audiens.api.response_fields`, and the two below (discounts and days).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

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
