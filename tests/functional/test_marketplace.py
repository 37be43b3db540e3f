"""Data feeds, plans, access requests, discounts, subscriptions and listings (DOMAIN.md §6) through the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.functional.marketplace_helpers import (
    NOW,
    SNO,
    Provider,
    create_feed,
    make_provider,
    plan,
    plan_id,
    subscribe,
)
from tests.support.lambda_api import ApiClient

pytestmark = pytest.mark.shared_stack  # one stack per module: every test makes its own accounts

DAY = timedelta(days=1)


@pytest.fixture
def provider(api: ApiClient, make_account: Any) -> Provider:
    return make_provider(api, make_account, {"sports": range(0, 40), "news": range(20, 60), "golf": range(0, 10)})


@pytest.fixture
def buyer(make_account: Any) -> dict[str, Any]:
    return dict(make_account(["buyer"]))


def _market_ids(api: ApiClient, key: str) -> set[str]:
    result = api.call("GET", "/v1/marketplace/feeds", key=key)
    assert result.status == 200, result.body
    return {f["feed_id"] for f in result.body["feeds"]}


def test_a_feed_starts_inactive_and_buyers_see_it_only_once_activated(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    # Given a provider's feed bundling two of its traits, just created
    feed = create_feed(api, provider, [provider.traits["sports"], provider.traits["news"]], activate=False)
    assert feed["status"] == "inactive"
    assert [p["price"] for p in feed["plans"]] == ["100.00", "2.50", "1.50"]
    assert {p["currency"] for p in feed["plans"]} == {"USD"}
    # Then buyers neither see it listed nor by id, and cannot subscribe to its plans
    assert feed["feed_id"] not in _market_ids(api, buyer["api_key"])
    assert api.call("GET", f"/v1/feeds/{feed['feed_id']}", key=buyer["api_key"]).status == 404
    assert subscribe(api, buyer["api_key"], plan_id(feed, "segments_and_overlap")).status == 404
    # And the traits record their feed (attribution finds it there)
    trait = api.call("GET", f"/v1/traits/{provider.traits['sports']}", key=provider.key).body
    assert trait["feed_id"] == feed["feed_id"]

    # When the provider activates it
    activated = api.call("POST", f"/v1/feeds/{feed['feed_id']}/activate", key=provider.key)
    assert (activated.status, activated.body["status"]) == (200, "active")

    # Then it is listed with its traits, plans and the provider's name
    listing = api.call("GET", "/v1/marketplace/feeds", key=buyer["api_key"]).body["feeds"]
    mine = next(f for f in listing if f["feed_id"] == feed["feed_id"])
    assert {t["trait_id"] for t in mine["traits"]} == {provider.traits["sports"], provider.traits["news"]}
    assert mine["provider_name"].startswith("Company ")
    assert mine["access"] == "public"
    assert api.call("GET", f"/v1/feeds/{feed['feed_id']}", key=buyer["api_key"]).body["feed_id"] == feed["feed_id"]
    own = api.call("GET", "/v1/feeds", key=provider.key).body["feeds"]
    assert [f["feed_id"] for f in own] == [feed["feed_id"]]
    # Activating twice is harmless
    assert api.call("POST", f"/v1/feeds/{feed['feed_id']}/activate", key=provider.key).status == 200


BAD_PLANS: list[tuple[list[dict[str, Any]], str, str]] = [
    ([plan(["activation"]), plan(["modeling"])], "segments_and_overlap_plan_required", "plans"),
    ([plan(SNO, price="abc")], "invalid_plan", "plans.0.price"),
    ([plan(SNO, price=1.5)], "invalid_plan", "plans.0.price"),
    ([plan(SNO, price="-1")], "invalid_plan", "plans.0.price"),
    ([plan(SNO, price="1.1234567")], "invalid_plan", "plans.0.price"),
    ([plan(SNO, price="1e3")], "invalid_plan", "plans.0.price"),
    ([plan(SNO), plan(["resale"])], "invalid_plan", "plans.1.use_cases"),
    ([plan(SNO, unit="per_click")], "invalid_plan", "plans.0.unit"),
    ([plan(SNO, currency="XXX")], "invalid_plan", "plans.0.currency"),
    ([plan(SNO, currency="EUR"), plan(["activation"])], "mixed_currencies", "plans"),
    ([plan(SNO + SNO)], "invalid_plan", "plans.0.use_cases"),
]


def test_bad_plans_are_refused_with_the_field_named(api: ApiClient, provider: Provider) -> None:
    for plans, code, field in BAD_PLANS:
        # When a provider creates a feed with a bad plan
        body = {"name": "x", "trait_ids": [provider.traits["sports"]], "plans": plans}
        result = api.call("POST", "/v1/feeds", body, key=provider.key)
        # Then it is a 422 naming the field
        assert (result.status, result.error_code) == (422, code), (plans, result.body)
        assert field in [d["field"] for d in result.body["error"]["details"]], (plans, result.body)
    # And nothing was written: the trait is still free, the provider has no feed
    assert api.call("GET", f"/v1/traits/{provider.traits['sports']}", key=provider.key).body["feed_id"] is None
    assert api.call("GET", "/v1/feeds", key=provider.key).body["feeds"] == []


def test_feed_traits_must_be_the_providers_own_and_in_no_other_feed(
    api: ApiClient, provider: Provider, make_account: Any, buyer: dict[str, Any]
) -> None:
    other = make_provider(api, make_account, {"cars": range(5)})
    body = {"name": "x", "trait_ids": [provider.traits["sports"], other.traits["cars"]], "plans": [plan(SNO)]}
    # Another account's trait (or an unknown one) → 422 unknown_trait, and nothing is written
    result = api.call("POST", "/v1/feeds", body, key=provider.key)
    assert (result.status, result.error_code) == (422, "unknown_trait")
    assert result.body["error"]["details"] == [{"field": "trait_ids", "trait_id": other.traits["cars"]}]
    assert api.call("GET", f"/v1/traits/{provider.traits['sports']}", key=provider.key).body["feed_id"] is None
    # A trait already in a feed → 409
    create_feed(api, provider, [provider.traits["sports"]], activate=False)
    again = api.call(
        "POST",
        "/v1/feeds",
        {"name": "y", "trait_ids": [provider.traits["sports"]], "plans": [plan(SNO)]},
        key=provider.key,
    )
    assert (again.status, again.error_code) == (409, "trait_in_another_feed")
    # Buyers cannot create feeds; unknown fields are refused
    assert api.call("POST", "/v1/feeds", {**body, "trait_ids": ["t"]}, key=buyer["api_key"]).status == 403
    extra = api.call("POST", "/v1/feeds", {**body, "price": "1"}, key=provider.key)
    assert (extra.status, extra.error_code) == (422, "validation_error")


def test_another_accounts_feed_is_not_found(api: ApiClient, provider: Provider, make_account: Any) -> None:
    # Given provider A's feed, inactive and so invisible to everyone else
    feed = create_feed(api, provider, [provider.traits["sports"]], activate=False)
    fid = feed["feed_id"]
    intruder = make_account(["provider", "buyer"])["api_key"]
    # Then another provider cannot read, activate, delete, price or administer it
    assert api.call("GET", f"/v1/feeds/{fid}", key=intruder).status == 404
    assert api.call("POST", f"/v1/feeds/{fid}/activate", key=intruder).status == 404
    assert api.call("DELETE", f"/v1/feeds/{fid}", key=intruder).status == 404
    assert api.call("PUT", f"/v1/feeds/{fid}/discounts/acc_x", {"discount_pct": "5"}, key=intruder).status == 404
    assert api.call("GET", f"/v1/feeds/{fid}/access-requests", key=intruder).status == 404
    assert api.call("GET", f"/v1/feeds/{fid}/subscriptions", key=intruder).status == 404
    assert api.call("GET", "/v1/feeds/feed_nope", key=provider.key).status == 404


def test_subscriptions_need_segments_and_overlap_first_and_cannot_be_doubled(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    feed = create_feed(api, provider, [provider.traits["sports"]])
    key = buyer["api_key"]
    # A modeling plan without a segments_and_overlap subscription → 422 with a clear message
    refused = subscribe(api, key, plan_id(feed, "modeling"))
    assert (refused.status, refused.error_code) == (422, "segments_and_overlap_subscription_required")
    assert "segments_and_overlap" in refused.body["error"]["message"]
    # The segments_and_overlap plan starts on the request's UTC date
    late = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    base = subscribe(api, key, plan_id(feed, "segments_and_overlap"), now=late)
    assert base.status == 201, base.body
    assert (base.body["start_date"], base.body["end_date"], base.body["status"]) == ("2026-11-30", None, "active")
    # Twice the same plan → 409
    twice = subscribe(api, key, plan_id(feed, "segments_and_overlap"))
    assert (twice.status, twice.error_code) == (409, "already_subscribed")
    # Now the modeling plan is allowed
    modeling = subscribe(api, key, plan_id(feed, "modeling"))
    assert modeling.status == 201, modeling.body
    # The base cannot end while the modeling one depends on it
    blocked = api.call("DELETE", f"/v1/subscriptions/{base.body['subscription_id']}", key=key)
    assert (blocked.status, blocked.error_code) == (409, "dependent_subscriptions")
    assert modeling.body["subscription_id"] in blocked.body["error"]["message"]
    # Ending the modeling one, then the base, sets their end dates (the request's UTC date)
    end_day = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    ended = api.call("DELETE", f"/v1/subscriptions/{modeling.body['subscription_id']}", key=key, now=end_day)
    assert (ended.status, ended.body["end_date"], ended.body["status"]) == (200, "2026-12-02", "ended")
    assert api.call("DELETE", f"/v1/subscriptions/{base.body['subscription_id']}", key=key, now=end_day).status == 200
    again = api.call("DELETE", f"/v1/subscriptions/{base.body['subscription_id']}", key=key)
    assert (again.status, again.error_code) == (409, "subscription_ended")
    listed = api.call("GET", "/v1/subscriptions", key=key).body["subscriptions"]
    assert {s["status"] for s in listed} == {"ended"} and len(listed) == 2
    # And after ending, the same plan can be subscribed again
    assert subscribe(api, key, plan_id(feed, "segments_and_overlap"), now=end_day).status == 201
    # Unknown plans → 404; a provider key → 403
    assert subscribe(api, key, "pln_nope").status == 404
    assert subscribe(api, provider.key, plan_id(feed, "segments_and_overlap")).status == 403


def test_a_plan_covering_a_subscribed_use_case_is_refused(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    # Given a feed with two plans that both include activation
    plans = [plan([*SNO, "activation"], "cpm", "3"), plan(["activation"], "flat_fee", "50")]
    feed = create_feed(api, provider, [provider.traits["news"]], plans=plans)
    assert subscribe(api, buyer["api_key"], feed["plans"][0]["plan_id"]).status == 201
    # When the buyer subscribes to the other activation plan, one use case would be charged twice → 409
    result = subscribe(api, buyer["api_key"], feed["plans"][1]["plan_id"])
    assert (result.status, result.error_code) == (409, "use_case_already_subscribed")


def test_other_buyers_subscriptions_are_not_found_and_own_feeds_cannot_be_bought(
    api: ApiClient, provider: Provider, buyer: dict[str, Any], make_account: Any
) -> None:
    feed = create_feed(api, provider, [provider.traits["sports"]])
    sub = subscribe(api, buyer["api_key"], plan_id(feed, "segments_and_overlap")).body
    other = make_account(["buyer"])["api_key"]
    assert api.call("GET", f"/v1/subscriptions/{sub['subscription_id']}", key=other).status == 404
    assert api.call("DELETE", f"/v1/subscriptions/{sub['subscription_id']}", key=other).status == 404
    # An account that is both provider and buyer cannot subscribe to its own feed
    both = make_account(["provider", "buyer"])
    own = make_provider(api, lambda roles: both, {"x": range(3)})
    own_feed = create_feed(api, own, [own.traits["x"]])
    result = subscribe(api, both["api_key"], plan_id(own_feed, "segments_and_overlap"))
    assert (result.status, result.error_code) == (422, "own_feed")
    # The provider sees who subscribes to its feed
    subs = api.call("GET", f"/v1/feeds/{feed['feed_id']}/subscriptions", key=provider.key).body["subscriptions"]
    assert [s["buyer_id"] for s in subs] == [buyer["account_id"]]


def test_an_active_feed_with_subscribers_cannot_be_deleted(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    feed = create_feed(api, provider, [provider.traits["sports"]])
    sub = subscribe(api, buyer["api_key"], plan_id(feed, "segments_and_overlap")).body
    # When the provider deletes it while a buyer subscribes → 409, nothing changes
    blocked = api.call("DELETE", f"/v1/feeds/{feed['feed_id']}", key=provider.key)
    assert (blocked.status, blocked.error_code) == (409, "feed_has_subscribers")
    assert feed["feed_id"] in _market_ids(api, buyer["api_key"])
    # After the subscription ends it can be deleted: unlisted, gone, its traits free for another feed
    assert api.call("DELETE", f"/v1/subscriptions/{sub['subscription_id']}", key=buyer["api_key"]).status == 200
    assert api.call("DELETE", f"/v1/feeds/{feed['feed_id']}", key=provider.key).status == 204
    assert feed["feed_id"] not in _market_ids(api, buyer["api_key"])
    assert api.call("GET", f"/v1/feeds/{feed['feed_id']}", key=provider.key).status == 404
    assert api.call("GET", f"/v1/traits/{provider.traits['sports']}", key=provider.key).body["feed_id"] is None
    create_feed(api, provider, [provider.traits["sports"]], name="Sports v2", activate=False)


def test_private_feeds_need_an_approved_access_request(
    api: ApiClient, provider: Provider, buyer: dict[str, Any], make_account: Any
) -> None:
    feed = create_feed(api, provider, [provider.traits["golf"]], visibility="private")
    fid, key = feed["feed_id"], buyer["api_key"]
    # Given a private active feed: not listed, not readable, not subscribable
    assert fid not in _market_ids(api, key)
    assert api.call("GET", f"/v1/feeds/{fid}", key=key).status == 404
    assert subscribe(api, key, plan_id(feed, "segments_and_overlap")).status == 404
    # The buyer asks for access (once)
    asked = api.call("POST", f"/v1/feeds/{fid}/access-requests", key=key)
    assert (asked.status, asked.body["status"]) == (201, "pending")
    assert api.call("POST", f"/v1/feeds/{fid}/access-requests", key=key).error_code == "access_already_requested"
    requests = api.call("GET", f"/v1/feeds/{fid}/access-requests", key=provider.key).body["access_requests"]
    assert [(r["buyer_id"], r["status"]) for r in requests] == [(buyer["account_id"], "pending")]
    # Denied: still nothing
    denied = api.call("POST", f"/v1/feeds/{fid}/access-requests/{buyer['account_id']}/deny", key=provider.key)
    assert (denied.status, denied.body["status"]) == (200, "denied")
    assert subscribe(api, key, plan_id(feed, "segments_and_overlap")).status == 404
    # It may ask again; once approved it sees and subscribes
    assert api.call("POST", f"/v1/feeds/{fid}/access-requests", key=key).status == 201
    approved = api.call("POST", f"/v1/feeds/{fid}/access-requests/{buyer['account_id']}/approve", key=provider.key)
    assert (approved.status, approved.body["status"]) == (200, "approved")
    assert fid in _market_ids(api, key)
    listing = api.call("GET", f"/v1/feeds/{fid}", key=key).body
    assert listing["access"] == "approved"
    assert subscribe(api, key, plan_id(feed, "segments_and_overlap")).status == 201
    # Other buyers still see nothing; unknown buyers cannot be approved; public feeds need no request
    assert fid not in _market_ids(api, make_account(["buyer"])["api_key"])
    assert api.call("POST", f"/v1/feeds/{fid}/access-requests/acc_nope/approve", key=provider.key).status == 404
    public = create_feed(api, provider, [provider.traits["news"]])
    on_public = api.call("POST", f"/v1/feeds/{public['feed_id']}/access-requests", key=key)
    assert (on_public.status, on_public.error_code) == (422, "feed_is_public")
    assert api.call("POST", f"/v1/feeds/{fid}/access-requests", key=provider.key).status == 403


def test_discounts_out_of_range_or_not_decimal_strings_are_refused(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    feed = create_feed(api, provider, [provider.traits["sports"]], activate=False)
    url = f"/v1/feeds/{feed['feed_id']}/discounts/{buyer['account_id']}"
    for bad in ["101", "-5", "abc", "10.1234567", 10, "1e1", ""]:
        result = api.call("PUT", url, {"discount_pct": bad}, key=provider.key)
        assert (result.status, result.error_code) == (422, "invalid_discount"), (bad, result.body)
    assert api.call("GET", f"/v1/feeds/{feed['feed_id']}/discounts", key=provider.key).body["discounts"] == []


def test_a_discount_applies_to_every_plan_price_for_that_buyer_only(
    api: ApiClient, provider: Provider, buyer: dict[str, Any], make_account: Any
) -> None:
    feed = create_feed(api, provider, [provider.traits["sports"]])
    url = f"/v1/feeds/{feed['feed_id']}/discounts/{buyer['account_id']}"
    # When the provider gives the buyer 12.5 %
    result = api.call("PUT", url, {"discount_pct": "12.5"}, key=provider.key)
    assert result.body == {"feed_id": feed["feed_id"], "buyer_id": buyer["account_id"], "discount_pct": "12.5"}
    # Then the buyer sees every plan's discounted price (exact, not rounded), another buyer the list price
    mine = api.call("GET", f"/v1/feeds/{feed['feed_id']}", key=buyer["api_key"]).body
    assert [(p["price"], p["discounted_price"]) for p in mine["plans"]] == [
        ("100.00", "87.50"),
        ("2.50", "2.1875"),
        ("1.50", "1.3125"),
    ]
    other = api.call("GET", f"/v1/feeds/{feed['feed_id']}", key=make_account(["buyer"])["api_key"]).body
    assert {p["discounted_price"] for p in other["plans"]} == {"100.00", "2.50", "1.50"}
    listed = api.call("GET", f"/v1/feeds/{feed['feed_id']}/discounts", key=provider.key).body["discounts"]
    assert listed == [{"feed_id": feed["feed_id"], "buyer_id": buyer["account_id"], "discount_pct": "12.5"}]
    # Unknown buyers → 404; replacing with "0" removes it
    assert (
        api.call("PUT", url.replace(buyer["account_id"], "acc_nope"), {"discount_pct": "5"}, key=provider.key).status
        == 404
    )
    assert api.call("PUT", url, {"discount_pct": "0"}, key=provider.key).body["discount_pct"] == "0"


def test_subscribed_buyers_may_use_the_feeds_traits_in_segments_and_estimates(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    feed = create_feed(api, provider, [provider.traits["sports"], provider.traits["news"]])
    rule = f"{provider.traits['sports']} AND {provider.traits['news']}"
    key = buyer["api_key"]
    # Without a subscription the traits are unknown to the buyer
    assert api.call("POST", "/v1/segments/estimate", {"rule": rule}, key=key).error_code == "unknown_trait"
    assert api.call("GET", f"/v1/traits/{provider.traits['sports']}", key=key).status == 404
    # With one, estimates and segments work on them (sports 0-39 ∩ news 20-59 = 20 users)
    sub = subscribe(api, key, plan_id(feed, "segments_and_overlap")).body
    estimate = api.call("POST", "/v1/segments/estimate", {"rule": rule}, key=key)
    assert (estimate.status, estimate.body["population"]) == (200, 20)
    segment = api.call("POST", "/v1/segments", {"name": "sporty news", "category": "interest", "rule": rule}, key=key)
    assert segment.status == 201, segment.body
    assert api.call("GET", f"/v1/traits/{provider.traits['sports']}", key=key).body["population"] == 40
    # The provider's trait not in the feed stays private
    golf = api.call("POST", "/v1/segments/estimate", {"rule": provider.traits["golf"]}, key=key)
    assert golf.error_code == "unknown_trait"
    # Once the subscription ends, the entitlement ends
    api.call("DELETE", f"/v1/subscriptions/{sub['subscription_id']}", key=key)
    assert api.call("POST", "/v1/segments/estimate", {"rule": rule}, key=key).error_code == "unknown_trait"


def test_billing_read_api_lists_subscriptions_active_at_any_moment_of_the_period(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    from audiens.domain.periods import Period
    from audiens.wiring import marketplace_service

    feed = create_feed(api, provider, [provider.traits["sports"]])
    key = buyer["api_key"]
    url = f"/v1/feeds/{feed['feed_id']}/discounts/{buyer['account_id']}"
    api.call("PUT", url, {"discount_pct": "10"}, key=provider.key, now=datetime(2026, 10, 1, tzinfo=UTC))
    # Given a flat-fee base from 15 Oct and a cpm activation plan from 20 Oct ended on 1 Nov
    base = subscribe(api, key, plan_id(feed, "segments_and_overlap"), now=datetime(2026, 10, 15, tzinfo=UTC)).body
    act = subscribe(api, key, plan_id(feed, "activation"), now=datetime(2026, 10, 20, tzinfo=UTC)).body
    api.call("DELETE", f"/v1/subscriptions/{act['subscription_id']}", key=key, now=datetime(2026, 11, 1, 9, tzinfo=UTC))
    service = marketplace_service()
    # Then October and November bill both (the end date is the last day), December only the base
    october = service.billable_subscriptions(buyer["account_id"], Period(2026, 10))
    assert [s.subscription_id for s in october] == [base["subscription_id"], act["subscription_id"]]
    first = october[0]
    assert (first.unit, first.list_price, first.currency, first.discount_pct) == ("flat_fee", Decimal("100"), "USD", 10)
    assert (first.feed_id, first.feed_name, first.provider_id) == (feed["feed_id"], "Sports fans", provider.account_id)
    assert first.provider_name.startswith("Company ") and first.use_cases == ("segments_and_overlap",)
    assert (october[1].start_date, october[1].end_date) == (date(2026, 10, 20), date(2026, 11, 1))
    assert len(service.billable_subscriptions(buyer["account_id"], Period(2026, 11))) == 2
    assert [s.unit for s in service.billable_subscriptions(buyer["account_id"], Period(2026, 12))] == ["flat_fee"]
    assert service.billable_subscriptions(buyer["account_id"], Period(2026, 9)) == []
    assert buyer["account_id"] in service.buyers_with_subscriptions(Period(2026, 10))
    assert buyer["account_id"] not in service.buyers_with_subscriptions(Period(2026, 9))
    # Feed-level usage keys: only cpm plans are reportable (flat fees report nothing)
    keys = service.feed_usage_keys(buyer["account_id"], Period(2026, 10))
    assert [(k.feed_name, k.use_case, k.unit) for k in keys] == [("Sports fans", "activation", "cpm")]
    assert service.feed_usage_keys(buyer["account_id"], Period(2026, 12)) == []


def test_public_provider_segments_are_listed_with_their_cpm(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    rule = provider.traits["sports"]
    public = api.call(
        "POST",
        "/v1/segments",
        {"name": "Sports lovers", "category": "interest", "rule": rule, "visibility": "public", "cpm": "1.2"},
        key=provider.key,
    ).body
    private = api.call(
        "POST", "/v1/segments", {"name": "Hidden", "category": "interest", "rule": rule}, key=provider.key
    ).body
    listed = api.call("GET", "/v1/marketplace/segments", key=buyer["api_key"]).body["segments"]
    mine = [s for s in listed if s["provider_id"] == provider.account_id]
    assert [(s["segment_id"], s["cpm"], s["currency"]) for s in mine] == [(public["segment_id"], "1.20", "USD")]
    assert private["segment_id"] not in {s["segment_id"] for s in listed}
    # The provider does not see its own segments as marketplace offers
    own = api.call("GET", "/v1/marketplace/segments", key=provider.key).body["segments"]
    assert public["segment_id"] not in {s["segment_id"] for s in own}


def test_buyers_build_look_alike_traits_on_feeds_they_subscribe_to_for_modeling(
    api: ApiClient, make_account: Any, buyer: dict[str, Any]
) -> None:
    # Given feed A holding the seed (users 0-99) and feed B whose traits overlap it differently:
    # golf 0-49 (100 % in the seed), tennis 99-148 (1 of 50 users: 2 %), cooking 5000-5009 (none)
    seller_a = make_provider(api, make_account, {"sports": range(0, 100)})
    seller_b = make_provider(
        api, make_account, {"golf": range(0, 50), "tennis": range(99, 149), "cooking": range(5000, 5010)}
    )
    feed_a = create_feed(api, seller_a, [seller_a.traits["sports"]], name="A")
    feed_b = create_feed(api, seller_b, list(seller_b.traits.values()), name="B")
    key = buyer["api_key"]
    body = {"name": "look-alike", "kind": "algorithmic", "seed_trait_id": seller_a.traits["sports"]}
    # The seed must be usable by the buyer
    unusable = api.call("POST", "/v1/traits", {**body, "modeled_on_feed_ids": [feed_b["feed_id"]]}, key=key)
    assert (unusable.status, unusable.error_code) == (422, "unknown_trait")
    assert subscribe(api, key, plan_id(feed_a, "segments_and_overlap")).status == 201
    # Each modeled-on feed needs a modeling subscription
    no_modeling = api.call("POST", "/v1/traits", {**body, "modeled_on_feed_ids": [feed_b["feed_id"]]}, key=key)
    assert (no_modeling.status, no_modeling.error_code) == (422, "modeling_subscription_required")
    assert feed_b["feed_id"] in no_modeling.body["error"]["message"]
    assert subscribe(api, key, plan_id(feed_b, "segments_and_overlap")).status == 201
    assert subscribe(api, key, plan_id(feed_b, "modeling")).status == 201

    # When the buyer creates the look-alike modeled on B
    created = api.call("POST", "/v1/traits", {**body, "modeled_on_feed_ids": [feed_b["feed_id"]]}, key=key)

    # Then only golf passes the 5 % affinity threshold: the trait is golf's 50 users
    assert created.status == 201, created.body
    trait = created.body
    assert (trait["kind"], trait["modeled_on_feed_ids"], trait["population"]) == (
        "algorithmic",
        [feed_b["feed_id"]],
        50,
    )
    assert trait["modeled_trait_ids"] == [seller_b.traits["golf"]]
    assert trait["seed_trait_id"] == seller_a.traits["sports"]
    shown = api.call("GET", f"/v1/traits/{trait['trait_id']}", key=key).body
    assert (shown["kind"], shown["modeled_on_feed_ids"], shown["population"]) == (
        "algorithmic",
        [feed_b["feed_id"]],
        50,
    )
    # And it is the buyer's own trait for its segments
    estimate = api.call("POST", "/v1/segments/estimate", {"rule": trait["trait_id"]}, key=key)
    assert (estimate.status, estimate.body["population"]) == (200, 50)
    # Modeled on a feed not subscribed for modeling (A) → refused
    on_a = api.call("POST", "/v1/traits", {**body, "modeled_on_feed_ids": [feed_a["feed_id"]]}, key=key)
    assert on_a.error_code == "modeling_subscription_required"
    # Once the modeling subscription ends, the model may no longer be used (the owner still sees it)
    modeling_sub = next(
        s["subscription_id"]
        for s in api.call("GET", "/v1/subscriptions", key=key).body["subscriptions"]
        if s["use_cases"] == ["modeling"]
    )
    assert api.call("DELETE", f"/v1/subscriptions/{modeling_sub}", key=key).status == 200
    lapsed = api.call("POST", "/v1/segments/estimate", {"rule": trait["trait_id"]}, key=key)
    assert (lapsed.status, lapsed.error_code) == (422, "unknown_trait")
    assert api.call("GET", f"/v1/traits/{trait['trait_id']}", key=key).status == 200


def test_a_look_alike_with_no_trait_over_the_threshold_keeps_the_top_overlaps(
    api: ApiClient, make_account: Any, buyer: dict[str, Any]
) -> None:
    seller = make_provider(api, make_account, {"seed": range(0, 100), "wide": range(99, 149), "far": range(9000, 9010)})
    seed_feed = create_feed(api, seller, [seller.traits["seed"]], name="seed")
    model_feed = create_feed(api, seller, [seller.traits["wide"], seller.traits["far"]], name="model")
    key = buyer["api_key"]
    for feed in (seed_feed, model_feed):
        assert subscribe(api, key, plan_id(feed, "segments_and_overlap")).status == 201
    assert subscribe(api, key, plan_id(model_feed, "modeling")).status == 201
    body = {
        "name": "wide look-alike",
        "kind": "algorithmic",
        "seed_trait_id": seller.traits["seed"],
        "modeled_on_feed_ids": [model_feed["feed_id"]],
    }
    created = api.call("POST", "/v1/traits", body, key=key)
    # wide overlaps the seed on 1 user of 50 (2 % < 5 %): kept as the best overlap; far shares no one
    assert created.status == 201, created.body
    assert created.body["modeled_trait_ids"] == [seller.traits["wide"]]
    assert created.body["population"] == 50


def test_subscription_times_use_the_request_time_not_the_clock(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    feed = create_feed(api, provider, [provider.traits["golf"]])
    when = NOW + timedelta(days=400)
    result = subscribe(api, buyer["api_key"], plan_id(feed, "segments_and_overlap"), now=when)
    assert result.body["start_date"] == when.date().isoformat()


def test_marketplace_bodies_hold_exactly_their_fields_in_the_api_formats(
    api: ApiClient, provider: Provider, buyer: dict[str, Any]
) -> None:
    feed = create_feed(api, provider, [provider.traits["sports"]], plans=[plan(SNO, "flat_fee", "100")])
    fid, pid, bid, key = feed["feed_id"], plan_id(feed, "segments_and_overlap"), buyer["account_id"], buyer["api_key"]
    listed_plan = {
        "plan_id": pid,
        "use_cases": SNO,
        "unit": "flat_fee",
        "price": "100.00",
        "currency": "USD",
        "billing_cycle": "monthly_in_arrears",
        "discount_pct": None,
        "discounted_price": None,
        "price_effective_from": None,
    }
    assert feed["plans"] == [listed_plan]
    # Given a 12.5 % discount ("12.50" is written "12.5") and the price changed a day later
    put = api.call("PUT", f"/v1/feeds/{fid}/discounts/{bid}", {"discount_pct": "12.50"}, key=provider.key)
    assert put.body == {"feed_id": fid, "buyer_id": bid, "discount_pct": "12.5"}
    changed = api.call("PATCH", f"/v1/feeds/{fid}/plans/{pid}", {"price": "3"}, key=provider.key, now=NOW + DAY)
    repriced = {**listed_plan, "price": "3.00", "price_effective_from": "2026-11-04T10:00:00Z"}
    assert (changed.status, changed.body) == (200, repriced)
    # Then the provider sees the list price, the buyer its discounted price too (exact: 3.00 x 0.875)
    own = api.call("GET", f"/v1/feeds/{fid}", key=provider.key).body
    assert (own["plans"], own["activated_at"], own["active_subscriptions"]) == ([repriced], "2026-11-03T10:00:00Z", 0)
    seen = api.call("GET", f"/v1/feeds/{fid}", key=key).body
    assert seen["plans"] == [{**repriced, "discount_pct": "12.5", "discounted_price": "2.625"}]
    assert (seen["discount_pct"], seen["access"], seen["subscriptions"]) == ("12.5", "public", [])

    # A subscription: its days as YYYY-MM-DD, no end date while active
    sub = subscribe(api, key, pid).body
    expected = {
        "subscription_id": sub["subscription_id"],
        "plan_id": pid,
        "feed_id": fid,
        "provider_id": provider.account_id,
        "buyer_id": bid,
        "use_cases": SNO,
        "unit": "flat_fee",
        "start_date": "2026-11-03",
        "end_date": None,
        "status": "active",
    }
    assert sub == expected
    ended = api.call("DELETE", f"/v1/subscriptions/{sub['subscription_id']}", key=key, now=NOW + DAY).body
    assert ended == {**expected, "end_date": "2026-11-04", "status": "ended"}
    assert api.call("GET", f"/v1/feeds/{fid}/subscriptions", key=provider.key).body["subscriptions"] == [ended]

    # An access request: decided_at null while pending, the decision's time once decided
    private = create_feed(api, provider, [provider.traits["golf"]], visibility="private", name="Golf")
    url = f"/v1/feeds/{private['feed_id']}/access-requests"
    pending = {
        "feed_id": private["feed_id"],
        "buyer_id": bid,
        "status": "pending",
        "requested_at": "2026-11-03T10:00:00Z",
        "decided_at": None,
    }
    assert api.call("POST", url, key=key).body == pending
    assert api.call("GET", url, key=provider.key).body == {"access_requests": [pending]}
    approved = api.call("POST", f"{url}/{bid}/approve", key=provider.key, now=NOW + DAY).body
    assert approved == {**pending, "status": "approved", "decided_at": "2026-11-04T10:00:00Z"}

    # A public segment without a CPM is offered with cpm null
    rule = provider.traits["news"]
    segment = {"name": "News", "category": "interest", "rule": rule, "visibility": "public"}
    created = api.call("POST", "/v1/segments", segment, key=provider.key).body
    offers = api.call("GET", "/v1/marketplace/segments", key=key).body["segments"]
    assert [s for s in offers if s["segment_id"] == created["segment_id"]] == [
        {
            "segment_id": created["segment_id"],
            "provider_id": provider.account_id,
            "provider_name": seen["provider_name"],
            "name": "News",
            "category": "interest",
            "cpm": None,
            "currency": "USD",
        }
    ]
