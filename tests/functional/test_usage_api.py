"""Usage reporting through the API (DOMAIN.md §7, API.md "Usage reporting"): window, upserts, audit, CSV, uploads."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from tests.functional.usage_helpers import (
    UsageStack,
    stored,
    uploads,
)
from tests.support.lambda_api import ApiClient
from tests.support.usage import IN_WINDOW, PERIOD, InMemoryUsageCatalog, UsageDrops, WriteCounter, object_created

pytestmark = [pytest.mark.shared_stack, pytest.mark.usefixtures("usage_stack")]


SEGMENTS = f"/v1/usage/{PERIOD}/segments"
FEEDS = f"/v1/usage/{PERIOD}/feeds"


def put(
    api: ApiClient, key: str, rows: list[dict[str, Any]], *, path: str = SEGMENTS, now: datetime = IN_WINDOW
) -> Any:
    return api.call("PUT", path, {"rows": rows}, key=key, now=now)


def put_file(drops: UsageDrops, ticket: dict[str, Any], content: bytes, *, time: datetime = IN_WINDOW) -> Any:
    """Puts a file through the upload's presigned URL (moto serves it) and delivers S3's event: the outcome."""
    assert requests.put(ticket["upload_url"], data=content, timeout=5).status_code == 200
    etag = drops.s3.head_object(Bucket=ticket["bucket"], Key=ticket["key"])["ETag"].strip('"')
    return drops.deliver(object_created(ticket["bucket"], ticket["key"], content, time=time, etag=etag))


# ------------------------------------------------------------------------------------------ reading


def test_given_mapped_segments_when_get_usage_then_every_key_with_null_usage_and_the_open_window(
    api: ApiClient, buyer: dict[str, Any]
) -> None:
    result = api.call("GET", SEGMENTS, key=buyer["api_key"], now=IN_WINDOW)
    assert result.status == 200, result.body
    assert result.body["window"] == {
        "opens_at": "2026-11-01T00:00:00Z",
        "closes_at": "2026-11-06T00:00:00Z",
        "state": "open",
        "period_state": "OPEN",
        "due_day": 5,
    }
    keys = [(r["segment_id"], r["destination_id"], r["usage"]) for r in result.body["rows"]]
    assert keys == [
        ("seg_x", "dst_1", None),
        ("seg_x", "dst_co", None),
        ("seg_y", "dst_1", None),
        ("seg_z", "dst_1", None),
    ]
    assert [r["content_optimization"] for r in result.body["rows"]] == [False, True, False, False]


def test_given_reported_usage_when_get_usage_then_the_whole_body_field_by_field(
    api: ApiClient, buyer: dict[str, Any]
) -> None:
    put(api, buyer["api_key"], [{"segment_id": "seg_y", "destination_id": "dst_1", "usage": 1_250}])
    put(
        api,
        buyer["api_key"],
        [{"provider_name": "Data Provider A", "feed_name": "Data Feed A", "use_case": "modeling", "usage": 7}],
        path=FEEDS,
    )
    window = {
        "opens_at": "2026-11-01T00:00:00Z",
        "closes_at": "2026-11-06T00:00:00Z",
        "state": "open",
        "period_state": "OPEN",
        "due_day": 5,
    }

    segments = api.call("GET", SEGMENTS, key=buyer["api_key"], query={"limit": "2"}, now=IN_WINDOW)
    assert segments.status == 200, segments.body
    expected_segments = {
        "period": PERIOD,
        "kind": "segments",
        "window": window,
        "rows": [
            {
                "segment_id": "seg_x",
                "segment_name": "Sports fans",
                "destination_id": "dst_1",
                "destination_name": "Example DSP",
                "content_optimization": False,
                "usage": None,
            },
            {
                "segment_id": "seg_x",
                "segment_name": "Sports fans",
                "destination_id": "dst_co",
                "destination_name": "Content optimizer",
                "content_optimization": True,
                "usage": None,
            },
        ],
        "next_cursor": "seg_x|dst_co",
    }
    assert json.dumps(segments.body) == json.dumps(expected_segments)  # the fields in this order too
    rest = api.call("GET", SEGMENTS, key=buyer["api_key"], query={"cursor": "seg_x|dst_co"}, now=IN_WINDOW).body
    assert [(r["segment_id"], r["usage"]) for r in rest["rows"]] == [("seg_y", 1_250), ("seg_z", None)]
    assert rest["next_cursor"] is None

    feeds = api.call("GET", FEEDS, key=buyer["api_key"], now=IN_WINDOW)
    assert feeds.status == 200, feeds.body
    feed = {
        "provider_id": "acc_provider_a",
        "provider_name": "Data Provider A",
        "feed_id": "feed_a",
        "feed_name": "Data Feed A",
    }
    expected_feeds = {
        "period": PERIOD,
        "kind": "feeds",
        "window": window,
        "rows": [
            {**feed, "use_case": "activation", "unit": "cpm", "usage": None},
            {**feed, "use_case": "modeling", "unit": "cpm", "usage": 7},
        ],
        "next_cursor": None,
    }
    assert json.dumps(feeds.body) == json.dumps(expected_feeds)


def test_given_a_provider_key_when_reading_usage_then_403(api: ApiClient, make_account: Any) -> None:
    provider = make_account(["provider"])
    assert api.call("GET", SEGMENTS, key=provider["api_key"]).status == 403


def test_given_a_malformed_period_when_reading_then_422_invalid_period(api: ApiClient, buyer: dict[str, Any]) -> None:
    result = api.call("GET", "/v1/usage/2026-13/segments", key=buyer["api_key"])
    assert result.status == 422 and result.error_code == "invalid_period"


# ------------------------------------------------------------------------------------------ PUT


def test_given_rows_when_put_then_upserted_counted_and_read_back(api: ApiClient, buyer: dict[str, Any]) -> None:
    # When two values are reported
    first = put(
        api,
        buyer["api_key"],
        [
            {"segment_id": "seg_x", "destination_id": "dst_1", "usage": 1_000_000},
            {"segment_id": "seg_y", "destination_id": "dst_1", "usage": 0},
        ],
    )
    assert first.status == 200 and first.body == {"updated": 2, "unchanged": 0}
    # Then one changed, one equal and one absent row: only the changed value is written, the absent one is kept
    second = put(
        api,
        buyer["api_key"],
        [
            {"segment_id": "seg_x", "destination_id": "dst_1", "usage": 1_200_000},
            {"segment_id": "seg_y", "destination_id": "dst_1", "usage": 0},
        ],
    )
    assert second.body == {"updated": 1, "unchanged": 1}
    assert stored(buyer["account_id"]) == {("seg_x", "dst_1"): 1_200_000, ("seg_y", "dst_1"): 0}
    rows = api.call("GET", SEGMENTS, key=buyer["api_key"], now=IN_WINDOW).body["rows"]
    assert {(r["segment_id"], r["destination_id"]): r["usage"] for r in rows} == {
        ("seg_x", "dst_1"): 1_200_000,
        ("seg_x", "dst_co"): None,
        ("seg_y", "dst_1"): 0,
        ("seg_z", "dst_1"): None,
    }


def test_given_a_get_response_when_put_back_unchanged_then_nothing_is_written(
    api: ApiClient, buyer: dict[str, Any], writes: WriteCounter
) -> None:
    put(api, buyer["api_key"], [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 5}])
    rows = api.call("GET", SEGMENTS, key=buyer["api_key"], now=IN_WINDOW).body["rows"]
    writes.reset()
    result = put(api, buyer["api_key"], rows)  # names, flags and null usages included
    assert result.status == 200 and result.body == {"updated": 0, "unchanged": 1}
    assert writes.total == 0


def test_given_changes_when_put_then_each_keeps_an_audit_record(api: ApiClient, buyer: dict[str, Any]) -> None:
    from audiens.domain.periods import Period
    from audiens.wiring import usage_repository

    put(api, buyer["api_key"], [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 100}])
    later = IN_WINDOW.replace(hour=11)
    put(api, buyer["api_key"], [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 250}], now=later)
    trail = usage_repository().audit_trail(buyer["account_id"], Period.parse(PERIOD), "segments", ("seg_x", "dst_1"))
    assert [(a["old"], a["new"], a["at"], a["source"], a["account_id"]) for a in trail] == [
        (None, 100, IN_WINDOW, "api", buyer["account_id"]),
        (100, 250, later, "api", buyer["account_id"]),
    ]
    assert all(a["key_id"] and a["key_id"].startswith("key_") for a in trail)  # who: the API key used


def test_given_feed_rows_with_names_in_another_case_when_put_then_matched_and_listed(
    api: ApiClient, buyer: dict[str, Any]
) -> None:
    result = put(
        api,
        buyer["api_key"],
        [{"provider_name": " data provider a", "feed_name": "DATA FEED A", "use_case": "activation", "usage": 275_862}],
        path=FEEDS,
    )
    assert result.status == 200 and result.body["updated"] == 1
    rows = api.call("GET", FEEDS, key=buyer["api_key"], now=IN_WINDOW).body["rows"]
    assert [(r["feed_id"], r["use_case"], r["usage"]) for r in rows] == [
        ("feed_a", "activation", 275_862),
        ("feed_a", "modeling", None),
    ]
    assert rows[0]["provider_name"] == "Data Provider A" and rows[0]["unit"] == "cpm"


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ({"segment_id": "seg_nope", "destination_id": "dst_1", "usage": 1}, "not_found"),  # unknown segment
        ({"segment_id": "seg_x", "destination_id": "dst_nope", "usage": 1}, "not_found"),  # unknown destination
        ({"segment_id": "seg_other", "destination_id": "dst_other", "usage": 1}, "not_found"),  # another account's
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": 1000.5}, "values_not_supported"),
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": 1000.0}, "values_not_supported"),
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": -4}, "values_not_supported"),
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": "abc"}, "values_not_supported"),
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": "1,234,567"}, "values_not_supported"),
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": "=1+1"}, "values_not_supported"),
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": "1000"}, "values_not_supported"),
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": True}, "values_not_supported"),
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": 10**15 + 1}, "values_not_supported"),
        ({"segment_id": "seg_x", "usage": 1}, "invalid_input"),  # missing field
        ({"segment_id": "seg_x", "destination_id": "dst_1", "usage": 1, "notes": "x"}, "invalid_input"),
        ({"segment_id": 7, "destination_id": "dst_1", "usage": 1}, "invalid_input"),
    ],
)
def test_given_a_bad_row_when_put_then_422_with_its_row_and_code_and_nothing_written(
    api: ApiClient, buyer: dict[str, Any], other_buyers_segment: tuple[str, str], row: dict[str, Any], code: str
) -> None:
    good = {"segment_id": "seg_y", "destination_id": "dst_1", "usage": 10}
    result = put(api, buyer["api_key"], [good, row])
    assert result.status == 422 and result.error_code == "usage_rejected", result.body
    assert [(d["row"], d["code"]) for d in result.body["error"]["details"]] == [(1, code)]
    assert stored(buyer["account_id"]) == {}  # the good row was not written either


def test_given_the_same_key_twice_when_put_then_same_value_accepted_once_different_values_refused(
    api: ApiClient, buyer: dict[str, Any]
) -> None:
    row = {"segment_id": "seg_x", "destination_id": "dst_1", "usage": 7}
    assert put(api, buyer["api_key"], [row, dict(row)]).body == {"updated": 1, "unchanged": 0}
    refused = put(api, buyer["api_key"], [{**row, "usage": 8}, {**row, "usage": 9}])
    assert refused.status == 422
    assert [(d["row"], d["code"]) for d in refused.body["error"]["details"]] == [(1, "duplicate_records")]
    assert stored(buyer["account_id"]) == {("seg_x", "dst_1"): 7}


def test_given_several_bad_rows_when_put_then_every_problem_is_listed(api: ApiClient, buyer: dict[str, Any]) -> None:
    rows = [
        {"segment_id": "seg_x", "destination_id": "dst_1", "usage": -1},
        {"segment_id": "nope", "destination_id": "dst_1", "usage": 1},
        {"segment_id": "seg_y", "destination_id": "dst_1", "usage": 1.5},
    ]
    details = put(api, buyer["api_key"], rows).body["error"]["details"]
    assert [(d["row"], d["code"]) for d in details] == [
        (0, "values_not_supported"),
        (1, "not_found"),
        (2, "values_not_supported"),
    ]
    assert all(d["message"] for d in details)


# ------------------------------------------------------------------------------------------ the window


@pytest.mark.parametrize(
    ("period", "now", "code"),
    [
        ("2026-11", IN_WINDOW, "reporting_window_not_open"),  # November is reported in December
        ("2026-10", datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), "reporting_window_not_open"),
        ("2026-10", datetime(2026, 11, 6, 0, 0, tzinfo=UTC), "reporting_window_closed"),  # 00:00 on the 6th
        ("2026-09", IN_WINDOW, "reporting_window_closed"),
    ],
)
def test_given_a_period_outside_its_window_when_put_then_409_and_nothing_written(
    api: ApiClient, buyer: dict[str, Any], period: str, now: datetime, code: str
) -> None:
    result = put(
        api,
        buyer["api_key"],
        [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 1}],
        path=f"/v1/usage/{period}/segments",
        now=now,
    )
    assert result.status == 409 and result.error_code == code
    assert stored(buyer["account_id"], period=period) == {}


def test_given_a_closed_window_when_put_then_the_message_says_to_report_in_the_next_period(
    api: ApiClient, buyer: dict[str, Any]
) -> None:
    result = put(
        api,
        buyer["api_key"],
        [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 1}],
        path="/v1/usage/2026-09/segments",
    )
    assert "Add these impressions to your report for 2026-10" in result.body["error"]["message"]


@pytest.mark.parametrize("state", ["CLOSING", "CLOSED"])
def test_given_the_close_has_begun_when_put_inside_the_dates_then_409_closed_and_get_shows_closed(
    api: ApiClient, buyer: dict[str, Any], period_state: Any, state: str
) -> None:
    period_state(PERIOD, state)
    result = put(api, buyer["api_key"], [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 1}])
    assert result.status == 409 and result.error_code == "reporting_window_closed"
    assert "2026-11" in result.body["error"]["message"]
    assert stored(buyer["account_id"]) == {}
    window = api.call("GET", SEGMENTS, key=buyer["api_key"], now=IN_WINDOW).body["window"]
    assert window["state"] == "closed" and window["period_state"] == state


def test_given_the_close_begins_after_the_pre_check_when_put_then_the_transaction_guard_refuses_it(
    api: ApiClient, buyer: dict[str, Any], period_state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the period still OPEN when the service checks it, CLOSING by the time the write happens
    from audiens.dal.usage import DynamoUsageRepository

    monkeypatch.setattr(DynamoUsageRepository, "period_state", lambda self, period: "OPEN")
    period_state(PERIOD, "CLOSING")
    result = put(api, buyer["api_key"], [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 1}])
    assert result.status == 409 and result.error_code == "reporting_window_closed"
    assert "Nothing was saved" in result.body["error"]["message"]
    assert stored(buyer["account_id"]) == {}


# ------------------------------------------------------------------------------------------ CSV template


def test_given_current_usage_when_csv_downloaded_then_text_csv_template_with_every_key(
    api: ApiClient, buyer: dict[str, Any]
) -> None:
    put(api, buyer["api_key"], [{"segment_id": "seg_y", "destination_id": "dst_1", "usage": 42}])
    result = api.call("GET", f"{SEGMENTS}.csv", key=buyer["api_key"], now=IN_WINDOW)
    assert result.status == 200
    assert result.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in result.headers["Content-Disposition"]
    lines = result.body.split("\r\n")
    assert lines[0] == "Segment ID,Segment Name,Destination ID,Destination Name,Usage"
    assert lines[1:-1] == [
        "seg_x,Sports fans,dst_1,Example DSP,",
        "seg_x,Sports fans,dst_co,Content optimizer,",
        "seg_y,Travel,dst_1,Example DSP,42",
        "seg_z,Autos,dst_1,Example DSP,",
    ]


def test_given_feeds_when_csv_downloaded_then_feed_template(api: ApiClient, buyer: dict[str, Any]) -> None:
    result = api.call("GET", f"{FEEDS}.csv", key=buyer["api_key"], now=IN_WINDOW)
    assert result.status == 200 and result.headers["Content-Type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(result.body))) == [
        ["Data Provider Name", "Data Feed Name", "Use Case", "Unit of Measure", "Usage"],
        ["Data Provider A", "Data Feed A", "activation", "CPM", ""],
        ["Data Provider A", "Data Feed A", "modeling", "CPM", ""],
    ]


def test_given_names_that_look_like_formulas_when_csv_downloaded_then_escaped_and_accepted_back(
    api: ApiClient, buyer: dict[str, Any], catalog: InMemoryUsageCatalog, drops: UsageDrops
) -> None:
    catalog.map_segment(buyer["account_id"], "seg_f", "dst_1", segment_name='=HYPERLINK("x")')
    body = api.call("GET", f"{SEGMENTS}.csv", key=buyer["api_key"], now=IN_WINDOW).body
    assert "'=HYPERLINK" in body
    filled = body.replace(
        'seg_f,"\'=HYPERLINK(""x"")",dst_1,Example DSP,', 'seg_f,"\'=HYPERLINK(""x"")",dst_1,Example DSP,9'
    )
    assert filled != body
    outcome = drops.drop(f"{buyer['account_id']}/{PERIOD}/segments/filled.csv", filled.encode())
    assert outcome["status"] == "accepted"
    assert stored(buyer["account_id"]) == {("seg_f", "dst_1"): 9}


# ------------------------------------------------------------------------------------------ uploads


def test_given_an_upload_when_created_then_a_presigned_put_into_the_buyer_prefix(
    api: ApiClient, buyer: dict[str, Any], usage_stack: UsageStack
) -> None:
    result = api.call("POST", f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=buyer["api_key"], now=IN_WINDOW)
    assert result.status == 201, result.body
    body = result.body
    assert body["bucket"] == usage_stack.physical["UsageBucket"]
    assert body["key"] == f"{buyer['account_id']}/{PERIOD}/segments/{body['upload_id']}.csv"
    assert body["status"] == "pending" and body["upload_url"].startswith("https://")
    # SigV4: buckets created since June 2020 refuse SigV2 presigned URLs (moto accepts both)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in body["upload_url"] and "AWSAccessKeyId=" not in body["upload_url"]
    listed = api.call("GET", "/v1/usage/uploads", key=buyer["api_key"], query={"period": PERIOD}).body["uploads"]
    assert [(u["upload_id"], u["status"], u["origin"]) for u in listed] == [(body["upload_id"], "pending", "api")]


def test_given_a_presigned_upload_when_the_file_is_put_and_ingested_then_the_upload_is_accepted(
    api: ApiClient, buyer: dict[str, Any], drops: UsageDrops
) -> None:
    ticket = api.call("POST", f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=buyer["api_key"]).body
    outcome = put_file(drops, ticket, b"Segment ID,Destination ID,Usage\nseg_x,dst_1,1000000\n")
    assert outcome["status"] == "accepted" and outcome["upload_id"] == ticket["upload_id"]
    upload = api.call("GET", f"/v1/usage/uploads/{ticket['upload_id']}", key=buyer["api_key"]).body
    assert (upload["status"], upload["rows"], upload["accepted_rows"], upload["rejected_rows"], upload["errors"]) == (
        "accepted",
        1,
        1,
        0,
        [],
    )
    assert stored(buyer["account_id"]) == {("seg_x", "dst_1"): 1_000_000}


def test_given_a_rejected_upload_when_read_then_every_field_of_its_body(
    api: ApiClient, buyer: dict[str, Any], drops: UsageDrops
) -> None:
    created = api.call("POST", f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=buyer["api_key"], now=IN_WINDOW)
    assert created.status == 201, created.body
    ticket = created.body
    assert list(ticket) == ["upload_id", "upload_url", "bucket", "key", "period", "kind", "status", "expires_in"]
    assert (ticket["period"], ticket["kind"], ticket["status"], ticket["expires_in"]) == (
        PERIOD,
        "segments",
        "pending",
        3600,
    )
    content = b"Segment ID,Destination ID,Usage\nseg_nope,dst_1,5\n"
    put_file(drops, ticket, content, time=datetime(2026, 11, 3, 11, 30, 5, tzinfo=UTC))

    result = api.call("GET", f"/v1/usage/uploads/{ticket['upload_id']}", key=buyer["api_key"])
    assert result.status == 200, result.body
    body = result.body
    expected = {
        "upload_id": ticket["upload_id"],
        "period": PERIOD,
        "kind": "segments",
        "status": "rejected",
        "rows": 1,
        "errors": [{"line": 2, "code": "not_found", "message": body["errors"][0]["message"]}],
        "accepted_rows": 0,
        "rejected_rows": 1,
        "changed": 0,
        "origin": "api",
        "bucket": ticket["bucket"],
        "key": ticket["key"],
        "size": len(content),
        "sha256": None,  # a rejected file has no checksum: only valid files are checked for duplicates
        "duplicate_of": None,
        "created_at": "2026-11-03T10:00:00Z",
        "received_at": "2026-11-03T11:30:05Z",
        "finished_at": "2026-11-03T11:30:05Z",
    }
    assert json.dumps(body) == json.dumps(expected)  # the fields in this order too
    assert "seg_nope" in body["errors"][0]["message"]
    listed = api.call("GET", "/v1/usage/uploads", key=buyer["api_key"]).body
    assert listed == {"uploads": [expected], "next_cursor": None}


def test_given_a_closed_window_when_an_upload_is_created_then_409(api: ApiClient, buyer: dict[str, Any]) -> None:
    result = api.call("POST", "/v1/usage/2026-09/uploads", {"kind": "feeds"}, key=buyer["api_key"], now=IN_WINDOW)
    assert result.status == 409 and result.error_code == "reporting_window_closed"


def test_given_a_bad_kind_when_an_upload_is_created_then_422(api: ApiClient, buyer: dict[str, Any]) -> None:
    result = api.call("POST", f"/v1/usage/{PERIOD}/uploads", {"kind": "traits"}, key=buyer["api_key"])
    assert result.status == 422


def test_given_another_accounts_upload_when_read_then_404(
    api: ApiClient, buyer: dict[str, Any], other_buyer: dict[str, Any]
) -> None:
    ticket = api.call("POST", f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=buyer["api_key"]).body
    assert api.call("GET", f"/v1/usage/uploads/{ticket['upload_id']}", key=other_buyer["api_key"]).status == 404
    assert uploads(api, other_buyer) == []


def test_given_an_idempotency_key_when_an_upload_is_created_twice_then_one_upload(
    api: ApiClient, buyer: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": "upload-1"}
    first = api.call("POST", f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=buyer["api_key"], headers=headers)
    again = api.call("POST", f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=buyer["api_key"], headers=headers)
    assert first.body["upload_id"] == again.body["upload_id"]
    assert len(uploads(api, buyer)) == 1


def test_given_a_presigned_url_used_again_after_its_file_finished_then_the_new_file_is_a_new_upload(
    api: ApiClient, buyer: dict[str, Any], drops: UsageDrops
) -> None:
    ticket = api.call("POST", f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=buyer["api_key"]).body
    outcomes = []
    for usage in (10, 20):
        outcomes.append(put_file(drops, ticket, f"Segment ID,Destination ID,Usage\nseg_x,dst_1,{usage}\n".encode()))
    assert [o["status"] for o in outcomes] == ["accepted", "accepted"]
    assert outcomes[0]["upload_id"] == ticket["upload_id"] != outcomes[1]["upload_id"]
    assert sorted(u["origin"] for u in uploads(api, buyer)) == ["api", "api"]
    assert stored(buyer["account_id"]) == {("seg_x", "dst_1"): 20}


def test_given_more_rows_than_a_page_when_listed_then_pages_follow_the_cursor(
    api: ApiClient, buyer: dict[str, Any]
) -> None:
    first = api.call("GET", SEGMENTS, key=buyer["api_key"], query={"limit": "3"})
    assert [(r["segment_id"], r["destination_id"]) for r in first.body["rows"]] == [
        ("seg_x", "dst_1"),
        ("seg_x", "dst_co"),
        ("seg_y", "dst_1"),
    ]
    cursor = first.body["next_cursor"]
    second = api.call("GET", SEGMENTS, key=buyer["api_key"], query={"limit": "3", "cursor": cursor})
    assert [r["segment_id"] for r in second.body["rows"]] == ["seg_z"] and second.body["next_cursor"] is None
    bad = api.call("GET", SEGMENTS, key=buyer["api_key"], query={"cursor": "nope|nope"})
    assert bad.status == 422 and bad.error_code == "invalid_cursor"


def test_given_rows_too_big_for_one_response_when_listed_then_the_page_stops_early_and_the_cursor_follows(
    api: ApiClient, buyer: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.wiring import usage_service

    # Given a page budget of two rows' JSON (it stands for Lambda's 6 MB response limit)
    whole = api.call("GET", SEGMENTS, key=buyer["api_key"]).body["rows"]
    budget = sum(len(json.dumps(row)) + 2 for row in whole[:2])
    monkeypatch.setattr(usage_service(), "_page_json_chars", budget)
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(len(whole)):
        query = {"cursor": cursor} if cursor else {}
        page = api.call("GET", SEGMENTS, key=buyer["api_key"], query=query).body
        assert 1 <= len(page["rows"]) <= 2
        seen += page["rows"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Then following the cursor yields every row once, in order
    assert seen == whole


def test_given_a_template_too_big_for_one_response_when_downloaded_then_303_to_a_presigned_copy(
    api: ApiClient, buyer: dict[str, Any], drops: UsageDrops, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.wiring import usage_service

    monkeypatch.setattr(usage_service(), "_inline_csv_chars", 100)  # stands for Lambda's 6 MB response limit
    inline = api.call("GET", f"{SEGMENTS}.csv", key=buyer["api_key"])
    assert inline.status == 303, inline.body
    location = inline.headers["Location"]
    assert inline.body["download_url"] == location and inline.body["filename"] == f"usage-{PERIOD}-segments.csv"
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in location and "AWSAccessKeyId=" not in location  # SigV4
    downloaded = requests.get(location, timeout=5)  # moto serves the presigned URL
    assert downloaded.status_code == 200
    assert downloaded.text.startswith("Segment ID,Segment Name,Destination ID,Destination Name,Usage\r\nseg_x,")
    # and the copy in the bucket is not taken for a usage report
    path = urlparse(location).path
    assert "/downloads/" in path
    key = path[path.index("downloads/") :]
    assert drops.deliver(object_created(drops.bucket, key, b"x", time=IN_WINDOW)) == {"status": "ignored", "key": key}
