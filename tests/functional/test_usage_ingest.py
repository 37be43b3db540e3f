"""UsageIngestFunction behaviour around the file: the window by event time, duplicates, redelivery, crashes,
the write budget, key layout and ownership, the billing read API and the real catalog adapter."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.functional.usage_helpers import (
    UsageStack,
    stored,
    uploads,
)
from tests.support.lambda_api import ApiClient
from tests.support.usage import IN_WINDOW, PERIOD, InMemoryUsageCatalog, UsageDrops, WriteCounter

pytestmark = [pytest.mark.shared_stack, pytest.mark.usefixtures("usage_stack")]


HEADER = b"Segment ID,Segment Name,Destination ID,Destination Name,Usage\n"


def rows(count: int, usage: int | None = None) -> bytes:
    lines = [
        f"seg_{i:05d},Segment {i},dst_1,Example DSP,{usage if usage is not None else i * 10}\n" for i in range(count)
    ]
    return HEADER + "".join(lines).encode()


def many_segments(catalog: InMemoryUsageCatalog, buyer: dict[str, Any], count: int) -> None:
    for i in range(count):
        catalog.map_segment(buyer["account_id"], f"seg_{i:05d}", "dst_1", segment_name=f"Segment {i}")


def key(account: dict[str, Any], name: str = "report", kind: str = "segments", period: str = PERIOD) -> str:
    return f"{account['account_id']}/{period}/{kind}/{name}.csv"


def trail(account: dict[str, Any], segment: str, destination: str = "dst_1") -> list[dict[str, Any]]:
    from audiens.domain.periods import Period
    from audiens.wiring import usage_repository

    return usage_repository().audit_trail(
        account["account_id"], Period.parse(PERIOD), "segments", (segment, destination)
    )


# ------------------------------------------------------------------------------------------ the window


@pytest.mark.parametrize(
    ("time", "code"),
    [
        (datetime(2026, 10, 31, 23, 59, tzinfo=UTC), "reporting_window_not_open"),
        (datetime(2026, 11, 6, 0, 0, tzinfo=UTC), "reporting_window_closed"),
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), "reporting_window_closed"),
    ],
)
def test_given_an_event_time_outside_the_window_when_ingested_then_rejected_by_the_event_time(
    drops: UsageDrops, buyer: dict[str, Any], time: datetime, code: str
) -> None:
    outcome = drops.drop(key(buyer), HEADER + b"seg_x,S,dst_1,D,10\n", time=time)
    assert outcome["status"] == "rejected"
    from audiens.wiring import usage_repository

    record = usage_repository().get_upload(outcome["upload_id"])
    assert record is not None and [(e["line"], e["code"]) for e in record.errors] == [(0, code)]
    assert stored(buyer["account_id"]) == {}


def test_given_the_file_dropped_on_the_last_second_of_the_window_when_processed_later_then_accepted(
    drops: UsageDrops, buyer: dict[str, Any]
) -> None:
    # The event's time decides, not when the function happens to run.
    outcome = drops.drop(
        key(buyer), HEADER + b"seg_x,S,dst_1,D,10\n", time=datetime(2026, 11, 5, 23, 59, 59, tzinfo=UTC)
    )
    assert outcome["status"] == "accepted"


def test_given_the_close_has_begun_when_a_file_arrives_then_rejected_closed_with_the_next_period(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any], period_state: Any
) -> None:
    period_state(PERIOD, "CLOSING")
    outcome = drops.drop(key(buyer), HEADER + b"seg_x,S,dst_1,D,10\n")
    errors = api.call("GET", f"/v1/usage/uploads/{outcome['upload_id']}", key=buyer["api_key"]).body["errors"]
    assert [(e["line"], e["code"]) for e in errors] == [(0, "reporting_window_closed")]
    assert "Add these impressions to your report for 2026-11" in errors[0]["message"]
    assert stored(buyer["account_id"]) == {}


def test_given_the_close_begins_while_a_big_file_is_written_then_the_file_is_written_whole_and_the_freeze_waits(
    api: ApiClient,
    drops: UsageDrops,
    buyer: dict[str, Any],
    catalog: InMemoryUsageCatalog,
    period_state: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import audiens.dal.usage_writes as writes_module
    from audiens.domain.periods import Period
    from audiens.ports.usage import UsageLeaseHeldError
    from audiens.wiring import usage_repository

    many_segments(catalog, buyer, 150)
    original = writes_module.commit
    refused: list[float] = []

    def close_after_first(*args: Any, **kwargs: Any) -> int:
        result = original(*args, **kwargs)
        if not refused:
            period_state(PERIOD, "CLOSING")  # the monthly close begins between two transactions of the file
            try:
                usage_repository().freeze_buyer(buyer["account_id"], Period.parse(PERIOD))
            except UsageLeaseHeldError as held:
                refused.append(held.until)
        return result

    monkeypatch.setattr(writes_module, "commit", close_after_first)
    outcome = drops.drop(key(buyer), rows(150))
    # Then the buyer's freeze waited for the file's lease, and the file was written whole
    assert refused, "the freeze went through while the file held its lease"
    upload = api.call("GET", f"/v1/usage/uploads/{outcome['upload_id']}", key=buyer["api_key"]).body
    assert (upload["status"], upload["changed"], upload["accepted_rows"]) == ("accepted", 150, 150)
    assert len(stored(buyer["account_id"])) == 150
    # Once the file released its lease the freeze goes through, and nothing lands after it
    usage_repository().freeze_buyer(buyer["account_id"], Period.parse(PERIOD))
    late = drops.drop(key(buyer, "late"), rows(150, usage=5))
    assert late["status"] == "rejected"
    assert stored(buyer["account_id"]) == {(f"seg_{i:05d}", "dst_1"): i * 10 for i in range(150)}


def test_given_a_frozen_buyer_when_a_write_whose_pre_check_passed_arrives_then_the_guard_refuses_it_whole(
    api: ApiClient,
    buyer: dict[str, Any],
    catalog: InMemoryUsageCatalog,
    period_state: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from audiens.dal.usage import DynamoUsageRepository
    from audiens.domain.periods import Period
    from audiens.wiring import usage_repository

    many_segments(catalog, buyer, 150)
    first = [{"segment_id": "seg_00000", "destination_id": "dst_1", "usage": 1}]
    assert (
        api.call("PUT", f"/v1/usage/{PERIOD}/segments", {"rows": first}, key=buyer["api_key"], now=IN_WINDOW).status
        == 200
    )
    period_state(PERIOD, "CLOSING")
    usage_repository().freeze_buyer(buyer["account_id"], Period.parse(PERIOD))
    monkeypatch.setattr(DynamoUsageRepository, "period_state", lambda self, period: "OPEN")  # a stale pre-check
    for count in (1, 150):  # one transaction (guard check) and many (the lease is refused)
        body = {"rows": [{"segment_id": f"seg_{i:05d}", "destination_id": "dst_1", "usage": 7} for i in range(count)]}
        result = api.call("PUT", f"/v1/usage/{PERIOD}/segments", body, key=buyer["api_key"], now=IN_WINDOW)
        assert result.status == 409 and result.error_code == "reporting_window_closed", result.body
        assert "Nothing was saved" in result.body["error"]["message"]
    assert stored(buyer["account_id"]) == {("seg_00000", "dst_1"): 1}


# ------------------------------------------------------------------------------------------ duplicates, redelivery


def test_given_the_same_content_uploaded_twice_then_duplicate_and_no_change(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any]
) -> None:
    content = HEADER + b"seg_x,S,dst_1,D,10\n"
    first = drops.drop(key(buyer, "first"), content)
    # Given the value changed through the API meanwhile
    api.call(
        "PUT",
        f"/v1/usage/{PERIOD}/segments",
        {"rows": [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 99}]},
        key=buyer["api_key"],
        now=IN_WINDOW,
    )
    second = drops.drop(key(buyer, "second"), content)
    assert (first["status"], second["status"]) == ("accepted", "duplicate")
    upload = api.call("GET", f"/v1/usage/uploads/{second['upload_id']}", key=buyer["api_key"]).body
    assert upload["duplicate_of"] == first["upload_id"] and upload["errors"] == []
    assert upload["accepted_rows"] + upload["rejected_rows"] == upload["rows"] == 1
    assert stored(buyer["account_id"]) == {("seg_x", "dst_1"): 99}  # the old file did not overwrite the newer value


def test_given_the_same_content_for_another_period_kind_when_uploaded_then_not_a_duplicate(
    drops: UsageDrops, buyer: dict[str, Any], catalog: InMemoryUsageCatalog
) -> None:
    content = HEADER + b"seg_x,S,dst_1,D,10\n"
    assert drops.drop(key(buyer, "a"), content)["status"] == "accepted"
    november = drops.drop(key(buyer, "b", period="2026-11"), content, time=datetime(2026, 12, 1, tzinfo=UTC))
    assert november["status"] == "accepted"


def test_given_a_redelivered_event_when_ingested_again_then_nothing_is_written(
    drops: UsageDrops, buyer: dict[str, Any], writes: WriteCounter
) -> None:
    ev = drops.put(key(buyer), HEADER + b"seg_x,S,dst_1,D,10\n")
    first = drops.deliver(ev)
    writes.reset()
    again = drops.deliver(ev)
    assert again == first and again["status"] == "accepted"
    assert writes.total == 0
    assert len(trail(buyer, "seg_x")) == 1


def test_given_a_rejected_file_when_its_event_is_redelivered_then_still_one_rejected_upload(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any], writes: WriteCounter
) -> None:
    ev = drops.put(key(buyer), HEADER + b"seg_x,S,dst_1,D,abc\n")
    drops.deliver(ev)
    writes.reset()
    assert drops.deliver(ev)["status"] == "rejected"
    assert writes.total == 0 and len(uploads(api, buyer)) == 1


def test_given_a_crash_half_way_when_the_event_is_redelivered_then_values_converge_and_audits_are_not_doubled(
    api: ApiClient,
    drops: UsageDrops,
    buyer: dict[str, Any],
    catalog: InMemoryUsageCatalog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import audiens.dal.usage_writes as writes_module

    many_segments(catalog, buyer, 150)
    ev = drops.put(key(buyer), rows(150))
    original = writes_module.commit
    calls: list[int] = []

    def crash_on_second(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("Lambda timed out")
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(writes_module, "commit", crash_on_second)
        with pytest.raises(RuntimeError):
            drops.deliver(ev)
    # Then the file is visible as pending with one chunk applied
    [pending] = uploads(api, buyer)
    assert pending["status"] == "pending" and pending["origin"] == "drop"
    applied = len(stored(buyer["account_id"]))
    assert 0 < applied < 150
    # When the event is redelivered
    outcome = drops.deliver(ev)
    assert outcome["status"] == "accepted" and outcome["upload_id"] == pending["upload_id"]
    assert stored(buyer["account_id"]) == {(f"seg_{i:05d}", "dst_1"): i * 10 for i in range(150)}
    assert [(a["old"], a["new"]) for a in trail(buyer, "seg_00000")] == [(None, 0)]
    assert [(a["old"], a["new"]) for a in trail(buyer, "seg_00149")] == [(None, 1490)]
    assert outcome["changed"] == 150 - applied  # what the second run still had to write


def test_given_a_value_changed_between_read_and_write_then_the_audit_keeps_the_true_old_value(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.dal.usage import DynamoUsageRepository

    api.call(
        "PUT",
        f"/v1/usage/{PERIOD}/segments",
        {"rows": [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 5}]},
        key=buyer["api_key"],
        now=IN_WINDOW,
    )
    with monkeypatch.context() as patch:
        patch.setattr(DynamoUsageRepository, "stored_usage", lambda self, *a: {})  # a stale read: "nothing stored"
        assert drops.drop(key(buyer), HEADER + b"seg_x,S,dst_1,D,7\n")["status"] == "accepted"
    assert [(a["old"], a["new"]) for a in trail(buyer, "seg_x")] == [(None, 5), (5, 7)]
    assert stored(buyer["account_id"]) == {("seg_x", "dst_1"): 7}


def test_given_an_object_replaced_before_processing_then_the_old_event_is_rejected_and_the_new_one_accepted(
    drops: UsageDrops, buyer: dict[str, Any]
) -> None:
    old_event = drops.put(key(buyer), HEADER + b"seg_x,S,dst_1,D,10\n")
    new_event = drops.put(key(buyer), HEADER + b"seg_x,S,dst_1,D,20\n")
    assert drops.deliver(old_event)["status"] == "rejected"
    assert drops.deliver(new_event)["status"] == "accepted"
    assert stored(buyer["account_id"]) == {("seg_x", "dst_1"): 20}


# ------------------------------------------------------------------------------------------ the write budget


def test_given_a_thousand_row_file_then_writes_stay_within_one_plus_rows_over_25_and_none_per_row(
    drops: UsageDrops, buyer: dict[str, Any], catalog: InMemoryUsageCatalog, writes: WriteCounter
) -> None:
    from audiens.dal.usage_writes import CHANGES_PER_TRANSACTION

    many_segments(catalog, buyer, 1000)
    ev = drops.put(key(buyer), rows(1000))
    writes.reset()
    assert drops.deliver(ev)["status"] == "accepted"
    assert writes.total <= 1 + math.ceil(1000 / 25)
    # the values, the buyer's guard for the period (created once) and the final fenced record
    assert writes.calls["TransactWriteItems"] == math.ceil(1000 / CHANGES_PER_TRANSACTION) + 2
    assert writes.calls["PutItem"] <= 1  # the pending record, nothing per row
    assert writes.calls["UpdateItem"] == 2  # the lease on the buyer's usage, taken and released


def test_given_a_file_with_few_changes_then_only_the_changed_values_are_written_and_audited(
    drops: UsageDrops, buyer: dict[str, Any], catalog: InMemoryUsageCatalog, writes: WriteCounter
) -> None:
    many_segments(catalog, buyer, 300)
    drops.drop(key(buyer, "v1"), rows(300))
    changed = rows(300).replace(
        b"seg_00007,Segment 7,dst_1,Example DSP,70", b"seg_00007,Segment 7,dst_1,Example DSP,71"
    )
    ev = drops.put(key(buyer, "v2"), changed)
    writes.reset()
    outcome = drops.deliver(ev, time=IN_WINDOW.replace(hour=12))
    assert outcome["status"] == "accepted" and outcome["changed"] == 1 and outcome["accepted_rows"] == 300
    assert writes.total == 1  # one transaction: the value, its audit record, the content claim, the status
    assert [(a["old"], a["new"]) for a in trail(buyer, "seg_00007")] == [(None, 70), (70, 71)]
    assert len(trail(buyer, "seg_00008")) == 1


def test_given_a_small_file_then_one_write_call_in_all(
    drops: UsageDrops, buyer: dict[str, Any], writes: WriteCounter
) -> None:
    ev = drops.put(key(buyer), HEADER + b"seg_x,S,dst_1,D,10\nseg_y,T,dst_1,D,20\n")
    writes.reset()
    assert drops.deliver(ev)["status"] == "accepted"
    assert dict(writes.calls) == {"TransactWriteItems": 2}  # the buyer's guard for the period (once), the file
    ev = drops.put(key(buyer, "again"), HEADER + b"seg_x,S,dst_1,D,11\nseg_y,T,dst_1,D,20\n")
    writes.reset()
    assert drops.deliver(ev)["status"] == "accepted"
    assert dict(writes.calls) == {"TransactWriteItems": 1}


# ------------------------------------------------------------------------------------------ keys and ownership


def test_given_a_dropped_file_with_a_url_encoded_name_then_processed_and_listed_as_a_drop(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any]
) -> None:
    name = key(buyer, "october report (final)")
    outcome = drops.drop(name, HEADER + b"seg_x,S,dst_1,D,10\n")
    assert outcome["status"] == "accepted"
    [listed] = uploads(api, buyer)
    assert (listed["key"], listed["origin"], listed["period"], listed["kind"]) == (name, "drop", PERIOD, "segments")


@pytest.mark.parametrize(
    "suffix",
    [
        f"{PERIOD}/segments/report.txt",
        "2026-13/segments/report.csv",
        f"{PERIOD}/traits/report.csv",
        "report.csv",
        f"{PERIOD}/segments/deeper/report.csv",
    ],
)
def test_given_a_key_outside_the_layout_in_a_buyers_folder_then_a_rejected_upload_is_listed(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any], suffix: str
) -> None:
    outcome = drops.drop(f"{buyer['account_id']}/{suffix}", HEADER + b"seg_x,S,dst_1,D,10\n")
    assert outcome["status"] == "rejected"
    [listed] = uploads(api, buyer)
    assert [(e["line"], e["code"]) for e in listed["errors"]] == [(0, "invalid_input")]
    assert "<account_id>/<YYYY-MM>/<segments|feeds>/<name>.csv" in listed["errors"][0]["message"]
    assert stored(buyer["account_id"]) == {}


@pytest.mark.parametrize("owner", ["unknown", "provider"])
def test_given_a_folder_that_is_not_a_buyer_account_then_rejected_unattributed_and_logged(
    drops: UsageDrops, make_account: Any, caplog: pytest.LogCaptureFixture, owner: str
) -> None:
    from audiens.wiring import usage_repository

    account_id = "acc_doesnotexist" if owner == "unknown" else make_account(["provider"])["account_id"]
    outcome = drops.drop(f"{account_id}/{PERIOD}/segments/report.csv", HEADER + b"seg_x,S,dst_1,D,10\n")
    assert outcome["status"] == "rejected"
    record = usage_repository().get_upload(outcome["upload_id"])
    assert record is not None and record.origin == "unattributed" and record.account_id == ""
    assert "usage file outside any buyer's prefix" in caplog.messages


def test_given_an_upload_id_of_another_account_in_a_buyers_folder_then_processed_as_that_buyers_own_drop(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any], make_account: Any
) -> None:
    intruder = make_account(["buyer"])
    ticket = api.call("POST", f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=intruder["api_key"]).body
    outcome = drops.drop(key(buyer, ticket["upload_id"]), HEADER + b"seg_x,S,dst_1,D,10\n")
    assert outcome["upload_id"] != ticket["upload_id"]  # the intruder's upload record is left alone
    assert (
        api.call("GET", f"/v1/usage/uploads/{ticket['upload_id']}", key=intruder["api_key"]).body["status"] == "pending"
    )
    assert [u["origin"] for u in uploads(api, buyer)] == ["drop"]


# ------------------------------------------------------------------------------------------ the billing read API


def test_given_reported_usage_when_the_close_reads_it_then_rows_with_flags_and_buyers_to_invoice(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any], catalog: InMemoryUsageCatalog, make_account: Any
) -> None:
    from audiens.domain.periods import Period
    from audiens.ports.usage import FeedUsageRow, SegmentUsageRow
    from audiens.wiring import usage_ledger

    drops.drop(key(buyer), HEADER + b"seg_x,S,dst_1,D,100\nseg_x,S,dst_co,C,40\n")
    api.call(
        "PUT",
        f"/v1/usage/{PERIOD}/feeds",
        {
            "rows": [
                {"provider_name": "Data Provider A", "feed_name": "Data Feed A", "use_case": "modeling", "usage": 7}
            ]
        },
        key=buyer["api_key"],
        now=IN_WINDOW,
    )
    subscriber_only = make_account(["buyer"])
    catalog.subscribe(subscriber_only["account_id"], unit="flat_fee")

    usage = usage_ledger().buyer_usage(buyer["account_id"], Period.parse(PERIOD))
    assert usage.segments == (
        SegmentUsageRow("seg_x", "dst_1", 100, content_optimization=False),
        SegmentUsageRow("seg_x", "dst_co", 40, content_optimization=True),
    )
    assert usage.feeds == (FeedUsageRow("feed_a", "modeling", 7, "acc_provider_a", content_optimization=False),)
    invoiced = usage_ledger().buyers_to_invoice(Period.parse(PERIOD))
    assert {buyer["account_id"], subscriber_only["account_id"]} <= set(invoiced)
    assert invoiced == sorted(invoiced)


def test_given_the_real_marketplace_when_the_catalog_adapter_reads_it_then_mappings_and_cpm_subscriptions(
    usage_stack: UsageStack, make_account: Any
) -> None:
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.channels import DynamoChannelRepository
    from audiens.dal.marketplace import DynamoMarketplaceRepository
    from audiens.dal.usage_catalog import MarketplaceUsageCatalog
    from audiens.domain.destinations import Destination, SegmentMapping
    from audiens.domain.marketplace import Feed, Plan, Subscription
    from audiens.domain.periods import Period
    from audiens.domain.usage_reports import FeedUsageKey, SegmentUsageKey
    from audiens.wiring import marketplace_service

    marketplace_service()  # binds the marketplace tables
    buyer_id = make_account(["buyer"])["account_id"]
    provider = make_account(["provider"])
    market, channels = DynamoMarketplaceRepository("us-east-1"), DynamoChannelRepository()
    created = datetime(2026, 9, 1, tzinfo=UTC)
    feed = Feed(
        "feed_real",
        provider["account_id"],
        "Auto intenders",
        "",
        "public",
        "inactive",
        (),
        ("pl_cpm", "pl_ff"),
        created,
    )
    plans = [
        Plan("pl_cpm", "feed_real", ("segments_and_overlap", "activation"), "cpm", Decimal("1.5"), "USD"),
        Plan("pl_ff", "feed_real", ("modeling",), "flat_fee", Decimal("100"), "USD"),
    ]
    assert market.create_feed(feed, plans) is None
    market.activate_feed("feed_real", created)
    for plan, start, end in (("pl_cpm", date(2026, 9, 15), None), ("pl_ff", date(2026, 10, 1), None)):
        plan_obj = next(p for p in plans if p.plan_id == plan)
        market.subscribe(
            Subscription(
                f"sub_{plan}",
                buyer_id,
                plan,
                "feed_real",
                provider["account_id"],
                plan_obj.use_cases,
                plan_obj.unit,
                start,
                created,
                end,
            ),
            base_subscription_id=None,
            private_feed=False,
        )
    for dest, co in (("dst_real", False), ("dst_real_co", True)):
        channels.put_destination(
            Destination(dest, buyer_id, "audiens_marketplace", dest.upper(), {}, co, "active", created)
        )
        channels.save_mapping(
            SegmentMapping(
                f"map_{dest}",
                dest,
                buyer_id,
                "seg_real",
                provider["account_id"],
                "Auto intenders",
                "Auto",
                "upsert",
                1,
                "pushed",
                0,
                created,
                created,
            ),
            expected_version=None,
        )
    adapter = MarketplaceUsageCatalog(market, channels, DynamoAccountRepository("us-east-1"))
    period = Period.parse(PERIOD)
    assert sorted(adapter.segment_keys(buyer_id, period), key=lambda k: k.destination_id) == [
        SegmentUsageKey("seg_real", "Auto intenders", "dst_real", "DST_REAL", False),
        SegmentUsageKey("seg_real", "Auto intenders", "dst_real_co", "DST_REAL_CO", True),
    ]
    company = usage_stack.api.call("GET", "/v1/me", key=provider["api_key"]).body["company_name"]
    assert sorted(adapter.feed_keys(buyer_id, period), key=lambda k: k.use_case) == [
        FeedUsageKey(provider["account_id"], company, "feed_real", "Auto intenders", "activation", "cpm"),
        FeedUsageKey(provider["account_id"], company, "feed_real", "Auto intenders", "segments_and_overlap", "cpm"),
    ]
    assert buyer_id in adapter.subscribed_buyers(period)
    assert adapter.mapped_buyers() == [buyer_id]  # the reminders' candidates: whoever mapped a segment
    assert buyer_id not in adapter.subscribed_buyers(Period.parse("2026-08"))


def test_given_many_buyers_uploading_while_the_close_starts_then_every_file_is_whole_and_nothing_lands_after_it(
    drops: UsageDrops,
    catalog: InMemoryUsageCatalog,
    make_account: Any,
    period_state: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    import audiens.dal.usage_writes as writes_module
    from audiens.domain.periods import Period
    from audiens.wiring import usage_ledger
    from local_runtime import dynamodb_limits

    # Given 6 buyers, each dropping a 150-row file (two transactions at least: each takes a lease)
    buyers = [make_account(["buyer"]) for _ in range(6)]
    for account in buyers:
        many_segments(catalog, account, 150)
    events = [drops.put(key(account), rows(150)) for account in buyers]
    # And DynamoDB's limits (conflicts, throughput, sizes, 5 % transient faults) judging every call from now on
    engine = dynamodb_limits.Limits(fault_rate=0.05, seed="uploads-while-closing")
    engine.learn_tables(boto3.client("dynamodb", region_name="us-east-1"))
    previous = dynamodb_limits.use(engine)
    try:
        started = threading.Event()
        original = writes_module.commit

        def signalling(*args: Any, **kwargs: Any) -> int:
            result = original(*args, **kwargs)
            started.set()  # some file has written a transaction: the close begins now
            return result

        monkeypatch.setattr(writes_module, "commit", signalling)
        period = Period.parse(PERIOD)
        held: list[list[str]] = []

        def close() -> None:
            started.wait(60)
            period_state(PERIOD, "CLOSING")  # what the close does first, then the freeze
            held.append(usage_ledger().freeze_period(period))

        # When the files are ingested concurrently while the close starts
        with ThreadPoolExecutor(max_workers=7) as pool:
            closing = pool.submit(close)
            outcomes = list(pool.map(drops.deliver, events))
            closing.result()
        # Then every file is terminal and whole: accepted with all its values, or rejected with none of them
        assert {o["status"] for o in outcomes} <= {"accepted", "rejected"}
        assert any(o["status"] == "accepted" for o in outcomes)
        for account, outcome in zip(buyers, outcomes, strict=True):
            values = stored(account["account_id"])
            if outcome["status"] == "accepted":
                assert values == {(f"seg_{i:05d}", "dst_1"): i * 10 for i in range(150)}
            else:
                assert values == {} and outcome["changed"] == 0
        # And the close freezes every buyer once the files that began before it have released their leases
        assert usage_ledger().freeze_period(period) == []
        frozen = {a["account_id"]: stored(a["account_id"]) for a in buyers}
        late = [drops.drop(key(account, "late"), rows(150, usage=1)) for account in buyers[:2]]
        assert [o["status"] for o in late] == ["rejected", "rejected"]
        assert {a["account_id"]: stored(a["account_id"]) for a in buyers} == frozen
        assert engine.counters["requests"] > 0
    finally:
        dynamodb_limits.use(previous)
