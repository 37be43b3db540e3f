"""Billing rules made exact (DOMAIN.md §6 and §9), through the real handlers and the production inputs:

* a ``cpm`` plan for ``content_optimization`` is refused at creation and can never be subscribed; a stored one
  (data from before the rule) is closed without a crash and its reported usage is not flagged "no usage";
* the billing report's no-usage flag means exactly "this CPM subscriber reported nothing for the feed and the
  plan's use cases", whichever plan charged it (flat fee wins over CPM in the same period);
* the terms in force at the period's last instant are billed: discounts and plan prices are read from their
  history, so a change after the period never touches it (a hypothesis property over the real DAL).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functional.marketplace_helpers import SNO, create_feed, make_provider, plan, plan_id, subscribe
from tests.support.billing import deliver
from tests.support.lambda_api import ApiClient, load_handler

SUBSCRIBED = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
IN_WINDOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
CLOSE = datetime(2026, 11, 6, 0, 0, tzinfo=UTC)
OCTOBER_END = datetime(2026, 11, 1, tzinfo=UTC)


def _ok(result: Any, status: int = 200) -> dict[str, Any]:
    assert result.status == status, result.body
    return dict(result.body)


def _close_october(api: ApiClient, stack: dict[str, str], operator_key: str) -> None:
    _ok(api.call("POST", "/v1/admin/billing-runs", {"period": "2026-10"}, key=operator_key, now=CLOSE), 202)
    deliver(stack["InvoiceJobsQueue"], load_handler("InvoiceWorkerFunction"))
    deliver(stack["PayoutJobsQueue"], load_handler("PayoutWorkerFunction"))
    run = _ok(api.call("GET", "/v1/admin/billing-runs/2026-10", key=operator_key, now=CLOSE))
    assert (run["status"], run["failed_jobs"], run["totals"]["balanced"]) == ("completed", [], True)


def _october_invoice(api: ApiClient, key: str) -> dict[str, Any]:
    invoices = _ok(api.call("GET", "/v1/invoices", key=key, query={"period": "2026-10"}))["invoices"]
    assert len(invoices) == 1
    return dict(invoices[0])


def _report_rows(api: ApiClient, provider_key: str) -> dict[str, dict[str, Any]]:
    report = _ok(api.call("GET", "/v1/reports/billing", key=provider_key, query={"period": "2026-10"}))
    return {"+".join(r["use_cases"]) + "/" + r["unit"]: r for r in report["rows"]}


def _feed_row(provider_name: str, feed_name: str, use_case: str, usage: int) -> dict[str, Any]:
    return {"provider_name": provider_name, "feed_name": feed_name, "use_case": use_case, "usage": usage}


def _company(api: ApiClient, key: str) -> str:
    return str(_ok(api.call("GET", "/v1/me", key=key))["company_name"])


def _sports_feed(api: ApiClient, make_account: Any, *plans: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A provider whose source saw ten sports fans, and its active feed "Sports fans" with these plans."""
    provider = make_provider(api, make_account, {"sports": range(0, 10)})
    return provider, create_feed(api, provider, [provider.traits["sports"]], plans=list(plans))


# --------------------------------------------------------------------------- defect 1: content optimization


def test_given_a_cpm_plan_for_content_optimization_when_a_feed_is_created_then_422_names_the_plan_and_nothing_exists(
    api: ApiClient, make_account: Any
) -> None:
    provider = make_provider(api, make_account, {"sports": range(0, 10)})
    for bad in (["content_optimization"], ["activation", "content_optimization"]):
        body = {
            "name": "Sports",
            "trait_ids": [provider.traits["sports"]],
            "plans": [plan(SNO, "flat_fee", "10"), plan(bad, "cpm", "1.00")],
        }
        refused = api.call("POST", "/v1/feeds", body, key=provider.key)
        assert refused.status == 422, refused.body
        assert refused.error_code == "invalid_plan"
        assert "Plan 2 (plans.1)" in refused.body["error"]["message"]
        assert refused.body["error"]["details"] == [
            {
                "field": "plans.1.unit",
                "code": "cpm_content_optimization",
                "message": refused.body["error"]["details"][0]["message"],
            }
        ]
        assert _ok(api.call("GET", "/v1/feeds", key=provider.key))["feeds"] == []
    # A flat fee for content optimization is the way to sell it
    ok = create_feed(
        api,
        provider,
        [provider.traits["sports"]],
        plans=[plan(SNO, "flat_fee", "10"), plan(["content_optimization"], "flat_fee", "5")],
    )
    assert [p["unit"] for p in ok["plans"]] == ["flat_fee", "flat_fee"]


def _make_legacy_cpm_content_optimization(plan_ids: list[str], subscription_ids: list[str]) -> None:
    """Turn stored flat-fee content-optimization plans (and subscriptions) into the kind stored before the rule."""
    from audiens.dal.marketplace_models import PlanItem, SubscriptionItem

    for pid in plan_ids:
        PlanItem(f"PLAN#{pid}", "META").update(actions=[PlanItem.unit.set("cpm")])
    for sid in subscription_ids:
        SubscriptionItem(f"SUB#{sid}", "META").update(actions=[SubscriptionItem.unit.set("cpm")])


def test_given_a_stored_cpm_content_optimization_plan_then_nobody_can_subscribe_and_the_close_bills_it_nothing(
    api: ApiClient, make_account: Any, operator_key: str, stack: dict[str, str]
) -> None:
    provider, feed = _sports_feed(
        api, make_account, plan(SNO, "flat_fee", "10"), plan(["content_optimization"], "flat_fee", "5")
    )
    co_plan = plan_id(feed, "content_optimization")
    holder, newcomer = make_account(["buyer"]), make_account(["buyer"])
    _ok(subscribe(api, holder["api_key"], plan_id(feed, "segments_and_overlap"), now=SUBSCRIBED), 201)
    held = _ok(subscribe(api, holder["api_key"], co_plan, now=SUBSCRIBED), 201)
    _ok(subscribe(api, newcomer["api_key"], plan_id(feed, "segments_and_overlap"), now=SUBSCRIBED), 201)
    # Given the plan (and the holder's subscription) stored as cpm, as data from before the rule could be
    _make_legacy_cpm_content_optimization([co_plan], [held["subscription_id"]])

    # When another buyer subscribes to it: refused with 422, nothing written
    refused = subscribe(api, newcomer["api_key"], co_plan, now=SUBSCRIBED)
    assert (refused.status, refused.error_code) == (422, "cpm_content_optimization")
    mine = _ok(api.call("GET", "/v1/subscriptions", key=newcomer["api_key"]))["subscriptions"]
    assert [s["plan_id"] for s in mine] == [plan_id(feed, "segments_and_overlap")]

    # When the holder reports 10,000 content-optimization impressions and October closes
    row = _feed_row(_company(api, provider.key), "Sports fans", "content_optimization", 10_000)
    _ok(api.call("PUT", "/v1/usage/2026-10/feeds", {"rows": [row]}, key=holder["api_key"], now=IN_WINDOW))
    _close_october(api, stack, operator_key)

    # Then the close completed, the impressions are listed as uncharged (never billed at CPM)
    invoice = _october_invoice(api, holder["api_key"])
    assert [(line["kind"], line["use_case"]) for line in invoice["lines"]] == [("flat_fee", "segments_and_overlap")]
    # And the billing report does not claim that nothing was reported
    rows = _report_rows(api, provider.key)
    assert (rows["content_optimization/cpm"]["no_usage_reported"], rows["content_optimization/cpm"]["units"]) == (0, 0)


# ---------------------------------------------------------------------------------- defect 2: no-usage flag


def test_given_usage_covered_by_a_flat_fee_then_the_cpm_row_is_not_flagged_no_usage_and_silence_is(
    api: ApiClient, make_account: Any, operator_key: str, stack: dict[str, str]
) -> None:
    provider, feed = _sports_feed(
        api,
        make_account,
        plan(SNO, "flat_fee", "10"),
        plan(["activation"], "cpm", "2.00"),
        plan(["activation"], "flat_fee", "30"),
        plan(["modeling"], "cpm", "3.00"),
    )
    buyer = make_account(["buyer"])
    key = buyer["api_key"]
    cpm_activation = next(
        p["plan_id"] for p in feed["plans"] if p["use_cases"] == ["activation"] and p["unit"] == "cpm"
    )
    flat_activation = next(
        p["plan_id"] for p in feed["plans"] if p["use_cases"] == ["activation"] and p["unit"] == "flat_fee"
    )
    _ok(subscribe(api, key, plan_id(feed, "segments_and_overlap"), now=SUBSCRIBED), 201)
    _ok(subscribe(api, key, plan_id(feed, "modeling"), now=SUBSCRIBED), 201)
    # Given a cpm activation plan from 5 Oct, ended on 10 Oct, then a flat-fee activation plan from 11 Oct
    cpm_sub = _ok(subscribe(api, key, cpm_activation, now=SUBSCRIBED), 201)
    ended = datetime(2026, 10, 10, 12, tzinfo=UTC)
    _ok(api.call("DELETE", f"/v1/subscriptions/{cpm_sub['subscription_id']}", key=key, now=ended))
    _ok(subscribe(api, key, flat_activation, now=datetime(2026, 10, 11, 9, tzinfo=UTC)), 201)
    # And 10,000 activation impressions reported (feed level), nothing for modeling
    row = _feed_row(_company(api, provider.key), "Sports fans", "activation", 10_000)
    _ok(api.call("PUT", "/v1/usage/2026-10/feeds", {"rows": [row]}, key=key, now=IN_WINDOW))
    _close_october(api, stack, operator_key)

    # Then the flat fee wins: no CPM activation line
    invoice = _october_invoice(api, key)
    assert sorted((line["use_case"], line["unit"], line["amount"]) for line in invoice["lines"]) == [
        ("activation", "flat_fee", "30.00"),
        ("segments_and_overlap", "flat_fee", "10.00"),
    ]
    # And the report: the cpm activation row was reported on (flag 0, nothing charged by it), modeling was not
    rows = _report_rows(api, provider.key)
    assert (rows["activation/cpm"]["no_usage_reported"], rows["activation/cpm"]["units"]) == (0, 0)
    assert rows["activation/cpm"]["subscription_end"] == "2026-10-10"
    assert (rows["modeling/cpm"]["no_usage_reported"], rows["modeling/cpm"]["units"]) == (1, None)
    assert (rows["activation/flat_fee"]["no_usage_reported"], rows["activation/flat_fee"]["units"]) == (0, 1)


# ---------------------------------------------------------------------------- defect 3: terms at period end


def test_given_terms_changed_during_and_after_october_then_october_bills_those_of_its_last_instant(
    api: ApiClient, make_account: Any, operator_key: str, stack: dict[str, str]
) -> None:
    provider, feed = _sports_feed(
        api,
        make_account,
        plan(SNO, "flat_fee", "100"),
        plan(["activation"], "cpm", "2.00"),
        plan(["modeling"], "cpm", "3.00"),
    )
    buyer = make_account(["buyer"])
    key = buyer["api_key"]
    for use in ("segments_and_overlap", "activation", "modeling"):
        _ok(subscribe(api, key, plan_id(feed, use), now=SUBSCRIBED), 201)
    discount = f"/v1/feeds/{feed['feed_id']}/discounts/{buyer['account_id']}"

    def change_price(use: str, price: str, at: datetime) -> dict[str, Any]:
        url = f"/v1/feeds/{feed['feed_id']}/plans/{plan_id(feed, use)}"
        return _ok(api.call("PATCH", url, {"price": price}, key=provider.key, now=at))

    last_instant = OCTOBER_END - timedelta(seconds=1)
    # Given a 10 % discount from 5 Oct, 20 % from 31 Oct 23:59:59, then 50 % from 1 Nov 00:00:00 and 2 Nov
    _ok(api.call("PUT", discount, {"discount_pct": "10"}, key=provider.key, now=SUBSCRIBED))
    _ok(api.call("PUT", discount, {"discount_pct": "20"}, key=provider.key, now=last_instant))
    _ok(api.call("PUT", discount, {"discount_pct": "50"}, key=provider.key, now=OCTOBER_END))
    _ok(api.call("PUT", discount, {"discount_pct": "60"}, key=provider.key, now=datetime(2026, 11, 2, tzinfo=UTC)))
    # And activation repriced to 4.00 on 20 Oct, then 9.00 on 2 Nov; modeling repriced only on 1 Nov
    assert change_price("activation", "4.00", datetime(2026, 10, 20, tzinfo=UTC))["price"] == "4.00"
    changed = change_price("activation", "9.00", datetime(2026, 11, 2, tzinfo=UTC))
    assert (changed["price"], changed["price_effective_from"]) == ("9.00", "2026-11-02T00:00:00Z")
    change_price("modeling", "7.00", OCTOBER_END)
    # And the marketplace shows the buyer today's terms
    listing = _ok(api.call("GET", f"/v1/feeds/{feed['feed_id']}", key=key))
    shown = {p["use_cases"][0]: (p["price"], p["discounted_price"]) for p in listing["plans"]}
    assert shown["activation"] == ("9.00", "3.60")
    row = _feed_row(_company(api, provider.key), "Sports fans", "activation", 10_000)
    modeling = _feed_row(_company(api, provider.key), "Sports fans", "modeling", 1_000)
    _ok(api.call("PUT", "/v1/usage/2026-10/feeds", {"rows": [row, modeling]}, key=key, now=IN_WINDOW))
    _close_october(api, stack, operator_key)

    # Then October is billed at 20 % off, activation 4.00 and modeling 3.00: what stood at 31 Oct 23:59:59
    invoice = _october_invoice(api, key)
    lines = {line["use_case"]: line for line in invoice["lines"]}
    assert (lines["activation"]["list_price"], lines["activation"]["unit_price"], lines["activation"]["amount"]) == (
        "4.00",
        "3.20",
        "32.00",
    )
    assert (lines["modeling"]["list_price"], lines["modeling"]["unit_price"], lines["modeling"]["amount"]) == (
        "3.00",
        "2.40",
        "2.40",
    )
    assert lines["segments_and_overlap"]["amount"] == "80.00"
    assert invoice["total"] == "114.40"


def test_changing_a_plan_price_is_the_providers_alone_and_validated(api: ApiClient, make_account: Any) -> None:
    provider = make_provider(api, make_account, {"sports": range(0, 10)})
    feed = create_feed(api, provider, [provider.traits["sports"]], plans=[plan(SNO, "flat_fee", "100")])
    url = f"/v1/feeds/{feed['feed_id']}/plans/{feed['plans'][0]['plan_id']}"
    other = make_account(["provider"])
    assert api.call("PATCH", url, {"price": "5"}, key=other["api_key"]).status == 404
    assert api.call("PATCH", url, {"price": "5"}, key=make_account(["buyer"])["api_key"]).status == 403
    bad = api.call("PATCH", url, {"price": "-1"}, key=provider.key)
    assert bad.status == 422 and bad.body["error"]["details"] == [{"field": "price"}]
    missing = f"/v1/feeds/{feed['feed_id']}/plans/pln_missing"
    assert api.call("PATCH", missing, {"price": "5"}, key=provider.key).status == 404
    assert _ok(api.call("GET", f"/v1/feeds/{feed['feed_id']}", key=provider.key))["plans"][0]["price"] == "100.00"


# ------------------------------------------------------------- property: changes after the period change nothing

_CHANGE = st.tuples(
    st.sampled_from(["discount", "price"]),
    st.integers(min_value=0, max_value=100),  # discount percent, or price in tenths
    st.integers(min_value=-40 * 24 * 60, max_value=40 * 24 * 60),  # minutes from the period's end
)


def _world(changes: list[tuple[str, int, int]]) -> tuple[Any, str]:
    """A buyer holding a flat-fee and a cpm plan of a fresh feed since 1 Oct, and the changes applied in order."""
    from audiens.config import current
    from audiens.dal.marketplace import DynamoMarketplaceRepository
    from audiens.domain.marketplace import Feed, Plan, Subscription
    from audiens.wiring import bind

    bind(current())  # the models' physical table names, as the composition root sets them
    repo = DynamoMarketplaceRepository("us-east-1")
    n = uuid.uuid4().hex[:12]
    feed_id, buyer_id, provider_id = f"feed_p{n}", f"acc_b{n}", f"acc_p{n}"
    plans = [
        Plan(f"pln_f{n}", feed_id, ("segments_and_overlap",), "flat_fee", Decimal("100"), "USD"),
        Plan(f"pln_c{n}", feed_id, ("activation",), "cpm", Decimal("2.5"), "USD"),
    ]
    created = datetime(2026, 9, 1, tzinfo=UTC)
    feed = Feed(feed_id, provider_id, "Feed", "", "public", "inactive", (), tuple(p.plan_id for p in plans), created)
    assert repo.create_feed(feed, plans) is None
    repo.activate_feed(feed_id, created)
    for p in plans:
        sub = Subscription(
            f"sub_{p.plan_id}",
            buyer_id,
            p.plan_id,
            feed_id,
            provider_id,
            p.use_cases,
            p.unit,
            date(2026, 10, 1),
            created,
        )
        repo.subscribe(sub, base_subscription_id=None, private_feed=False)
    for kind, value, minutes in sorted(changes, key=lambda c: c[2]):
        at = OCTOBER_END + timedelta(minutes=minutes)
        if kind == "discount":
            repo.put_discount(feed_id, buyer_id, Decimal(value), at)
        else:
            current = repo.get_plan(plans[1].plan_id)
            assert current is not None
            if current.price != Decimal(value) / 10:
                assert repo.change_plan_price(current, Decimal(value) / 10, at)
    return repo, buyer_id


def _october_terms(buyer_id: str, usage: int) -> Any:
    from audiens.domain.invoicing import FeedUsage, InvoiceInputs, Subscription, build_invoice
    from audiens.domain.periods import Period
    from audiens.wiring import marketplace_service

    october = Period(2026, 10)
    subs = [
        Subscription(
            "sub_" + s.unit,
            "feed",
            "Feed",
            "provider",
            "plan_" + s.unit,
            s.use_cases,
            "cpm" if s.unit == "cpm" else "flat_fee",
            s.list_price,
            s.start_date,
            s.discount_pct,
            s.end_date,
        )
        for s in marketplace_service().billable_subscriptions(buyer_id, october)
    ]
    inputs = InvoiceInputs("buyer", "Buyer", october, "USD", subs, feed_usage=[FeedUsage("feed", "activation", usage)])
    invoice = build_invoice(inputs)
    return invoice.lines, invoice.total, invoice.report_rows


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(_CHANGE, max_size=6), usage=st.integers(min_value=0, max_value=10**8))
def test_property_an_invoice_with_terms_changed_after_the_period_equals_the_one_without_the_change(
    stack: dict[str, str], changes: list[tuple[str, int, int]], usage: int
) -> None:
    # Given the same history up to the period's end, once followed by later changes and once not
    before = [c for c in changes if c[2] < 0]
    _, with_later = _world(changes)
    _, without_later = _world(before)
    # Then October's invoice is the same to the cent, line by line
    assert _october_terms(with_later, usage) == _october_terms(without_later, usage)
    # And it carries the last discount and price set before the end (or the defaults)
    lines, _, _ = _october_terms(with_later, usage)
    discounts = [Decimal(v) for k, v, m in sorted(before, key=lambda c: c[2]) if k == "discount"]
    prices = [Decimal(v) / 10 for k, v, m in sorted(before, key=lambda c: c[2]) if k == "price"]
    flat = next(line for line in lines if line.unit == "flat_fee")
    assert flat.discount_pct == (discounts[-1] if discounts else Decimal(0))
    cpm = [line for line in lines if line.unit == "cpm"]
    if cpm:
        assert cpm[0].list_price == (prices[-1] if prices else Decimal("2.5"))


# ------------------------------------------------------------------------- clarifications through the close


def test_given_a_buyer_whose_usage_charges_nothing_then_it_gets_no_invoice_and_zero_lines_are_left_out(
    api: ApiClient, make_account: Any, operator_key: str, stack: dict[str, str]
) -> None:
    provider, feed = _sports_feed(api, make_account, plan(SNO, "cpm", "1.00"), plan(["activation"], "cpm", "2.00"))
    silent, payer = make_account(["buyer"]), make_account(["buyer"])
    for buyer in (silent, payer):
        for use in ("segments_and_overlap", "activation"):
            _ok(subscribe(api, buyer["api_key"], plan_id(feed, use), now=SUBSCRIBED), 201)
    name = _company(api, provider.key)
    # Given one buyer reporting 0 everywhere and another 0 for activation and 5,000 for segments and overlap
    zero = [_feed_row(name, "Sports fans", use, 0) for use in ("segments_and_overlap", "activation")]
    _ok(api.call("PUT", "/v1/usage/2026-10/feeds", {"rows": zero}, key=silent["api_key"], now=IN_WINDOW))
    rows = [
        _feed_row(name, "Sports fans", "segments_and_overlap", 5000),
        _feed_row(name, "Sports fans", "activation", 0),
    ]
    _ok(api.call("PUT", "/v1/usage/2026-10/feeds", {"rows": rows}, key=payer["api_key"], now=IN_WINDOW))
    _close_october(api, stack, operator_key)
    # Then the silent buyer has no invoice at all, the other one line (no 0-impression line)
    assert _ok(api.call("GET", "/v1/invoices", key=silent["api_key"], query={"period": "2026-10"}))["invoices"] == []
    invoice = _october_invoice(api, payer["api_key"])
    assert [(line["use_case"], line["impressions"], line["amount"]) for line in invoice["lines"]] == [
        ("segments_and_overlap", 5000, "5.00")
    ]
    listed = _ok(api.call("GET", "/v1/invoices", key=operator_key, query={"period": "2026-10"}))["invoices"]
    assert [i["buyer_id"] for i in listed] == [payer["account_id"]]


def test_given_not_under_an_or_across_two_sources_then_it_is_weighed_against_every_user_of_the_rules_sources(
    api: ApiClient, make_account: Any, operator_key: str, stack: dict[str, str]
) -> None:
    from tests.functional.marketplace_helpers import make_trait
    from tests.functional.onboarding_helpers import create_source, post_events

    # Given a provider whose web source saw u0-u99 (music: u50-u99) and whose app source saw u0-u29 and u200-u219
    # (sports: all 50 of them): the same id in both sources is one user, so the two sources have 120 users
    provider = make_provider(api, make_account, {"music": range(50, 100), "other": range(0, 50)})
    app = create_source(api, provider.key, name="app")["source_id"]
    app_users = [*range(0, 30), *range(200, 220)]
    events = [{"user_id": f"u{i}", "data": {"interest": "sports"}} for i in app_users]
    assert post_events(api, provider.key, app, events, now=SUBSCRIBED).status == 202
    sports = make_trait(api, provider.key, app, "sports")
    music_feed = create_feed(
        api,
        provider,
        [provider.traits["music"]],
        name="Music",
        plans=[plan(SNO, "cpm", "1.00"), plan(["activation"], "cpm", "1.00")],
    )
    sports_feed = create_feed(
        api, provider, [sports], name="Sports", plans=[plan(SNO, "cpm", "1.00"), plan(["activation"], "cpm", "1.00")]
    )
    buyer = make_account(["buyer"])
    key = buyer["api_key"]
    for feed in (music_feed, sports_feed):
        for use in ("segments_and_overlap", "activation"):
            _ok(subscribe(api, key, plan_id(feed, use), now=SUBSCRIBED), 201)
    # And the buyer's segment "sports OR NOT music", whose estimate the audience builder shows as 120 - 50 + 0
    rule = f"{sports} OR NOT {provider.traits['music']}"
    estimate = _ok(api.call("POST", "/v1/segments/estimate", {"rule": rule}, key=key, now=SUBSCRIBED))
    assert estimate["population"] == 70  # u0-u49 and u200-u219: everyone of both sources but the music fans
    segment = _ok(
        api.call("POST", "/v1/segments", {"name": "S", "category": "c", "rule": rule}, key=key, now=SUBSCRIBED), 201
    )
    dsp = _ok(api.call("POST", "/v1/destinations", {"channel_id": "example_dsp", "name": "DSP"}, key=key), 201)
    mapping = {"segment_id": segment["segment_id"]}
    _ok(api.call("POST", f"/v1/destinations/{dsp['destination_id']}/segments", mapping, key=key), 201)
    row = {"segment_id": segment["segment_id"], "destination_id": dsp["destination_id"], "usage": 1200}
    _ok(api.call("PUT", "/v1/usage/2026-10/segments", {"rows": [row]}, key=key, now=IN_WINDOW))
    _close_october(api, stack, operator_key)
    # Then the OR splits 1,200 by sports (50) : NOT music (120 - 50 = 70), not by the web source's 100 - 50 = 50
    invoice = _october_invoice(api, key)
    impressions = {line["feed_name"]: line["impressions"] for line in invoice["lines"]}
    assert impressions == {"Sports": 500, "Music": 700}
