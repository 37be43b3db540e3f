"""Pure rules of usage reporting around the CSV format: API rows, the bucket layout, the diff, upload records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel

from audiens.api.usage import FeedUsageRow, SegmentUsageRow, UploadView
from audiens.domain.periods import Period
from audiens.domain.usage_reports import (
    FeedUsageKey,
    FeedUsageLine,
    SegmentUsageKey,
    SegmentUsageLine,
    UploadRecord,
    UsageLine,
    check_api_rows,
    diff_usage,
    parse_upload_key,
    upload_key,
)
from audiens.errors import ValidationError
from audiens.services.usage_reporting import json_chars

SEG = SegmentUsageKey("seg_x", "Sports fans", "dst_1", "DSP")
CO = SegmentUsageKey("seg_x", "Sports fans", "dst_co", "Optimizer", content_optimization=True)
FEED = FeedUsageKey("acc_p", "Data Provider A", "feed_a", "Data Feed A", "activation")
KNOWN_SEGMENTS: dict[tuple[str, ...], Any] = {k.csv_key: k for k in (SEG, CO)}
KNOWN_FEEDS: dict[tuple[str, ...], Any] = {FEED.csv_key: FEED}


def seg_row(usage: Any, segment: str = "seg_x", destination: str = "dst_1", **extra: Any) -> dict[str, Any]:
    return {"segment_id": segment, "destination_id": destination, "usage": usage, **extra}


def codes(rows: list[Any], kind: str = "segments") -> list[tuple[int, str]]:
    known = KNOWN_SEGMENTS if kind == "segments" else KNOWN_FEEDS
    _, problems = check_api_rows(kind, rows, known)  # type: ignore[arg-type]
    return [(p.row, p.code) for p in problems]


def test_given_valid_rows_when_checked_then_values_by_stored_key_with_their_catalog_entry() -> None:
    values, problems = check_api_rows("segments", [seg_row(10), seg_row(0, destination="dst_co")], KNOWN_SEGMENTS)
    assert problems == []
    assert values == {("seg_x", "dst_1"): (SEG, 10), ("seg_x", "dst_co"): (CO, 0)}


def test_given_null_usage_when_checked_then_valid_and_not_reported() -> None:
    values, problems = check_api_rows("segments", [seg_row(None)], KNOWN_SEGMENTS)
    assert (values, problems) == ({}, [])


def test_given_the_fields_a_get_returns_when_checked_then_accepted() -> None:
    row = seg_row(5, segment_name="Sports fans", destination_name="DSP", content_optimization=False)
    assert codes([row]) == []


@pytest.mark.parametrize(
    ("usage", "fragment"),
    [
        (-1, "negative"),
        (1.5, "not a whole number"),
        (2.0, "not a whole number"),
        (-2.5, "negative"),
        ("12", "is a string"),
        ("1,234", "thousands separator"),
        ("=A1", "formula"),
        ("abc", "not a number"),
        (True, "not a number"),
        ([1], "JSON integer"),
        (10**15 + 1, "maximum"),
    ],
)
def test_given_an_unsupported_usage_when_checked_then_values_not_supported_saying_why(
    usage: Any, fragment: str
) -> None:
    _, problems = check_api_rows("segments", [seg_row(usage)], KNOWN_SEGMENTS)
    assert [(p.row, p.code) for p in problems] == [(0, "values_not_supported")]
    assert fragment in problems[0].message


def test_given_the_largest_usage_when_checked_then_accepted() -> None:
    assert codes([seg_row(10**15)]) == []


@pytest.mark.parametrize(
    "row",
    [
        "not an object",
        {"segment_id": "seg_x", "usage": 1},
        {"segment_id": "seg_x", "destination_id": "dst_1"},
        {"segment_id": "", "destination_id": "dst_1", "usage": 1},
        {"segment_id": None, "destination_id": "dst_1", "usage": 1},
    ],
)
def test_given_a_malformed_row_when_checked_then_invalid_input(row: Any) -> None:
    assert codes([row]) == [(0, "invalid_input")]


def test_given_an_unknown_field_when_checked_then_invalid_input_but_the_row_is_still_checked() -> None:
    assert codes([seg_row(-1, notes="x")]) == [(0, "invalid_input"), (0, "values_not_supported")]


def test_given_unknown_keys_when_checked_then_not_found_per_row() -> None:
    assert codes([seg_row(1, segment="seg_nope"), seg_row(1, destination="dst_nope"), seg_row(1)]) == [
        (0, "not_found"),
        (1, "not_found"),
    ]


def test_given_a_key_twice_when_checked_then_same_value_once_and_a_different_value_is_a_duplicate() -> None:
    values, problems = check_api_rows("segments", [seg_row(3), seg_row(3)], KNOWN_SEGMENTS)
    assert (values, problems) == ({("seg_x", "dst_1"): (SEG, 3)}, [])
    assert codes([seg_row(3), seg_row(4), seg_row(3)]) == [(1, "duplicate_records")]


def test_given_feed_rows_when_checked_then_names_match_ignoring_case_and_spaces() -> None:
    row = {"provider_name": " DATA provider a ", "feed_name": "data feed a", "use_case": "Activation", "usage": 9}
    values, problems = check_api_rows("feeds", [row], KNOWN_FEEDS)
    assert problems == [] and values == {("feed_a", "activation"): (FEED, 9)}


def test_given_a_feed_use_case_not_subscribed_when_checked_then_not_found() -> None:
    row = {"provider_name": "Data Provider A", "feed_name": "Data Feed A", "use_case": "modeling", "usage": 9}
    assert codes([row], "feeds") == [(0, "not_found")]


def test_given_stored_and_new_values_when_diffed_then_only_changes_with_their_old_value() -> None:
    values = {("a", "1"): 5, ("b", "1"): 0, ("c", "1"): 7}
    stored = {("a", "1"): 5, ("b", "1"): 3}
    assert sorted(diff_usage(values, stored)) == [(("b", "1"), 3, 0), (("c", "1"), None, 7)]


def test_given_a_content_optimization_feed_use_case_then_flagged() -> None:
    assert FeedUsageKey("p", "P", "f", "F", "content_optimization").content_optimization
    assert not FEED.content_optimization


# ------------------------------------------------------------------------------------------ upload keys


def test_given_an_upload_key_when_parsed_then_its_parts_and_the_api_upload_id() -> None:
    key = upload_key("acc_1", Period(2026, 10), "segments", "upl_0123456789abcdef0123")
    assert key == "acc_1/2026-10/segments/upl_0123456789abcdef0123.csv"
    location = parse_upload_key(key)
    assert (location.account_id, str(location.period), location.kind) == ("acc_1", "2026-10", "segments")
    assert location.upload_id == "upl_0123456789abcdef0123"


def test_given_a_dropped_file_name_when_parsed_then_no_upload_id() -> None:
    location = parse_upload_key("acc_1/2026-10/feeds/October report (v2).CSV")
    assert location.kind == "feeds" and location.name == "October report (v2)" and location.upload_id is None


@pytest.mark.parametrize(
    "key",
    [
        "acc_1/2026-10/segments/report.txt",
        "acc_1/2026-10/segments/.csv",
        "acc_1/2026-13/segments/report.csv",
        "acc_1/26-10/segments/report.csv",
        "acc_1/2026-10/traits/report.csv",
        "acc_1/2026-10/report.csv",
        "acc_1/2026-10/segments/sub/report.csv",
        "/2026-10/segments/report.csv",
        "",
    ],
)
def test_given_a_key_outside_the_layout_when_parsed_then_invalid_input_naming_the_layout(key: str) -> None:
    with pytest.raises(ValidationError) as error:
        parse_upload_key(key)
    assert error.value.code == "invalid_input"
    assert "<account_id>/<YYYY-MM>/<segments|feeds>/<name>.csv" in error.value.message


def test_given_a_file_name_too_long_when_parsed_then_the_error_names_the_length_not_the_extension() -> None:
    with pytest.raises(ValidationError) as error:
        parse_upload_key("acc_1/2026-10/segments/" + "n" * 996 + ".csv")
    assert "996 characters" in error.value.message and "at most 200" in error.value.message
    assert "must end in .csv" not in error.value.message


def upload_record(**fields: Any) -> UploadRecord:
    base: dict[str, Any] = {
        "upload_id": "upl_1",
        "account_id": "acc_1",
        "period": "2026-10",
        "kind": "segments",
        "status": "rejected",
        "origin": "drop",
        "bucket": "b",
        "key": "acc_1/2026-10/segments/x.csv",
        "created_at": datetime(2026, 11, 3, 10, tzinfo=UTC),
    }
    return UploadRecord(**{**base, **fields})


def test_given_an_upload_record_when_serialised_then_the_api_fields() -> None:
    record = upload_record(rows=2, rejected_rows=2, errors=[{"line": 2, "code": "not_found", "message": "m"}])
    body = UploadView.of(record).model_dump(mode="json")
    assert {k: body[k] for k in ("upload_id", "period", "kind", "status", "rows", "errors")} == {
        "upload_id": "upl_1",
        "period": "2026-10",
        "kind": "segments",
        "status": "rejected",
        "rows": 2,
        "errors": [{"line": 2, "code": "not_found", "message": "m"}],
    }
    assert body["created_at"] == "2026-11-03T10:00:00Z" and body["finished_at"] is None
    assert record.terminal


def test_given_a_finished_upload_record_when_serialised_then_every_field_in_order_timestamps_in_whole_utc_seconds() -> (
    None
):
    record = upload_record(
        upload_id="upl_2",
        kind="feeds",
        status="duplicate",
        origin="api",
        key="acc_1/2026-10/feeds/upl_2.csv",
        created_at=datetime(2026, 11, 3, 10, 0, 0, 250_000, tzinfo=UTC),
        requested_by="key_1",
        etag="e",
        size=42,
        received_at=datetime(2026, 11, 3, 12, 5, 7, tzinfo=timezone(timedelta(hours=2))),
        finished_at=datetime(2026, 11, 3, 10, 5, 9, tzinfo=UTC),
        rows=1,
        accepted_rows=1,
        sha256="ab" * 32,
        duplicate_of="upl_1",
    )
    body = UploadView.of(record).model_dump(mode="json")
    assert list(body.items()) == [
        ("upload_id", "upl_2"),
        ("period", "2026-10"),
        ("kind", "feeds"),
        ("status", "duplicate"),
        ("rows", 1),
        ("errors", []),
        ("accepted_rows", 1),
        ("rejected_rows", 0),
        ("changed", 0),
        ("origin", "api"),
        ("bucket", "b"),
        ("key", "acc_1/2026-10/feeds/upl_2.csv"),
        ("size", 42),
        ("sha256", "ab" * 32),
        ("duplicate_of", "upl_1"),
        ("created_at", "2026-11-03T10:00:00Z"),
        ("received_at", "2026-11-03T10:05:07Z"),
        ("finished_at", "2026-11-03T10:05:09Z"),
    ]
    # and the body validates against its model again unchanged (as the API re-validates what a route returns)
    assert UploadView.model_validate(body).model_dump(mode="json") == body


@pytest.mark.parametrize(
    ("line", "model"),
    [
        (SegmentUsageLine("seg_x", "Sports fans", "dst_1", "DSP", False, None), SegmentUsageRow),
        (SegmentUsageLine("seg_é", 'Ünïcode "quoted"', "dst_1", "", True, 10**15), SegmentUsageRow),
        (FeedUsageLine("acc_p", "Data Provider A", "feed_a", "Data Feed A", "activation", "cpm", 7), FeedUsageRow),
        (FeedUsageLine(None, "", "feed_b", "", "modeling", "cpm", None), FeedUsageRow),
    ],
)
def test_given_a_usage_line_when_measured_then_the_json_of_its_response_row_and_a_separator(
    line: UsageLine, model: type[BaseModel]
) -> None:
    row = model.model_validate(line, from_attributes=True).model_dump(mode="json")
    assert json_chars(line) == len(json.dumps(row)) + 2
