"""Usage CSV files through the S3 → EventBridge → UsageIngestFunction path: the shared samples and every bad input.

Each bad file is dropped into the usage bucket of a buyer who already has usage stored, and must end
``rejected`` with the right code at the right line, leaving the stored usage exactly as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.functional.usage_helpers import (
    UsageStack,
    stored,
    uploads,
)
from tests.support.lambda_api import ApiClient
from tests.support.usage import IN_WINDOW, PERIOD, SAMPLES, UsageDrops, sample

pytestmark = [pytest.mark.shared_stack, pytest.mark.usefixtures("usage_stack")]


HEADER = b"Segment ID,Segment Name,Destination ID,Destination Name,Usage\n"
BEFORE = {("seg_x", "dst_1"): 5}


@pytest.fixture
def reported(api: ApiClient, buyer: dict[str, Any]) -> dict[str, Any]:
    """Given the buyer already reported 5 impressions for (seg_x, dst_1)."""
    result = api.call(
        "PUT",
        f"/v1/usage/{PERIOD}/segments",
        {"rows": [{"segment_id": "seg_x", "destination_id": "dst_1", "usage": 5}]},
        key=buyer["api_key"],
        now=IN_WINDOW,
    )
    assert result.status == 200, result.body
    return buyer


def row(usage: str, segment: str = "seg_x", destination: str = "dst_1") -> bytes:
    return f"{segment},Sports fans,{destination},Example DSP,{usage}\n".encode()


def drop(drops: UsageDrops, account: dict[str, Any], body: bytes, name: str = "report", kind: str = "segments") -> Any:
    return drops.drop(f"{account['account_id']}/{PERIOD}/{kind}/{name}.csv", body)


def the_upload(api: ApiClient, account: dict[str, Any], upload_id: str) -> dict[str, Any]:
    result = api.call("GET", f"/v1/usage/uploads/{upload_id}", key=account["api_key"])
    assert result.status == 200, result.body
    return dict(result.body)


# ------------------------------------------------------------------------------------------ shared samples


def _expected(path: Path) -> str:
    return "accepted" if path.stem.endswith("_ok") else path.stem.split("_", 1)[1]


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.csv")), ids=lambda p: p.name)
def test_given_a_shared_sample_when_dropped_then_its_expected_outcome(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any], path: Path
) -> None:
    kind = "feeds" if path.name.startswith("feeds") else "segments"
    body = sample(path.name, seg_x="seg_x", seg_y="seg_y", seg_z="seg_z", dst_1="dst_1")
    outcome = drop(drops, buyer, body, name=path.stem, kind=kind)
    upload = the_upload(api, buyer, outcome["upload_id"])
    expected = _expected(path)
    if expected == "accepted":
        assert upload["status"] == "accepted" and upload["errors"] == [], upload
        assert upload["accepted_rows"] == upload["rows"] == 1
        assert stored(buyer["account_id"], kind) != {}
    else:
        assert upload["status"] == "rejected"
        assert upload["errors"] and {e["code"] for e in upload["errors"]} == {expected}, upload["errors"]
        assert upload["rejected_rows"] == upload["rows"] and upload["accepted_rows"] == 0
        assert stored(buyer["account_id"], kind) == {}


def test_given_the_ok_samples_when_dropped_then_exact_values_stored(drops: UsageDrops, buyer: dict[str, Any]) -> None:
    drop(drops, buyer, sample("segments_ok.csv", seg_x="seg_x", dst_1="dst_1"))
    drop(drops, buyer, sample("feeds_ok.csv"), kind="feeds")
    assert stored(buyer["account_id"]) == {("seg_x", "dst_1"): 1_000_000}
    assert stored(buyer["account_id"], "feeds") == {("feed_a", "activation"): 275_862}


def test_given_the_values_sample_when_dropped_then_every_bad_line_is_listed(
    api: ApiClient, drops: UsageDrops, buyer: dict[str, Any]
) -> None:
    body = sample("segments_values_not_supported.csv", seg_x="seg_x", seg_y="seg_y", seg_z="seg_z", dst_1="dst_1")
    upload = the_upload(api, buyer, drop(drops, buyer, body)["upload_id"])
    assert [(e["line"], e["code"]) for e in upload["errors"]] == [
        (2, "values_not_supported"),
        (3, "values_not_supported"),
        (4, "values_not_supported"),
    ]
    assert (upload["rows"], upload["accepted_rows"], upload["rejected_rows"]) == (3, 0, 3)


# ------------------------------------------------------------------------------------------ accepted variants


def test_given_a_bom_and_crlf_file_when_dropped_then_accepted(drops: UsageDrops, reported: dict[str, Any]) -> None:
    body = "\ufeffSegment ID,Segment Name,Destination ID,Destination Name,Usage\r\nseg_x,Sports,dst_1,DSP,12\r\n"
    assert drop(drops, reported, body.encode())["status"] == "accepted"
    assert stored(reported["account_id"]) == {("seg_x", "dst_1"): 12}


def test_given_empty_usage_cells_when_dropped_then_those_rows_leave_usage_unchanged(
    drops: UsageDrops, reported: dict[str, Any]
) -> None:
    outcome = drop(drops, reported, HEADER + row("") + row("3", segment="seg_y"))
    assert outcome["status"] == "accepted" and outcome["changed"] == 1
    assert stored(reported["account_id"]) == {("seg_x", "dst_1"): 5, ("seg_y", "dst_1"): 3}


# ------------------------------------------------------------------------------------------ every bad input

BAD_FILES: list[tuple[str, bytes, list[tuple[int, str]]]] = [
    ("non_utf8", HEADER + b"seg_x,Caf\xe9,dst_1,Example DSP,10\n", [(2, "invalid_input")]),
    ("utf16", HEADER.decode().encode("utf-16"), [(1, "invalid_input")]),
    (
        "wrong_delimiter",
        b"Segment ID;Segment Name;Destination ID;Destination Name;Usage\nseg_x;Sports;dst_1;DSP;10\n",
        [(1, "invalid_input")],
    ),
    ("empty", b"", [(1, "invalid_input")]),
    ("header_only", HEADER, [(1, "invalid_input")]),
    (
        "missing_column",
        b"Segment ID,Segment Name,Destination ID\nseg_x,Sports,dst_1\n",
        [(1, "mandatory_headers_missing")],
    ),
    ("renamed_column", b"Segment ID,Segment,Destination,Usage\nseg_x,S,dst_1,10\n", [(1, "mandatory_headers_missing")]),
    ("extra_column", b"Segment ID,Destination ID,Usage,Notes\nseg_x,dst_1,10,hi\n", [(1, "invalid_input")]),
    ("duplicated_column", b"Segment ID,Destination ID,Usage,Usage\nseg_x,dst_1,10,10\n", [(1, "invalid_input")]),
    (
        "ragged_rows",
        HEADER + row("10") + b"seg_y,Travel,dst_1,DSP\n" + b"seg_z,Autos,dst_1,DSP,1,2\n",
        [(3, "invalid_input"), (4, "invalid_input")],
    ),
    ("decimals", HEADER + row("1000.5"), [(2, "values_not_supported")]),
    ("decimal_comma", HEADER + row('"1000,5"'), [(2, "values_not_supported")]),
    ("negative", HEADER + row("-4"), [(2, "values_not_supported")]),
    ("thousands_separator", HEADER + row('"1,234,567"'), [(2, "values_not_supported")]),
    ("thousands_dots", HEADER + row("1.234.567"), [(2, "values_not_supported")]),
    ("unquoted_thousands", HEADER + row("1,234"), [(2, "invalid_input")]),  # the comma adds a column
    ("text", HEADER + row("abc"), [(2, "values_not_supported")]),
    ("formula_equals", HEADER + row("=1+1"), [(2, "values_not_supported")]),
    ("formula_plus", HEADER + row("+1000"), [(2, "values_not_supported")]),
    ("formula_minus", HEADER + row("-1+2"), [(2, "values_not_supported")]),
    ("formula_at", HEADER + row("@SUM(A1)"), [(2, "values_not_supported")]),
    ("overflow", HEADER + row(str(10**15 + 1)), [(2, "values_not_supported")]),
    ("another_accounts_segment", HEADER + row("10", segment="seg_other", destination="dst_other"), [(2, "not_found")]),
    ("unknown_segment", HEADER + row("10", segment="seg_unknown"), [(2, "not_found")]),
    ("unknown_destination", HEADER + row("10", destination="dst_unknown"), [(2, "not_found")]),
    ("duplicates_with_different_values", HEADER + row("10") + row("11"), [(3, "duplicate_records")]),
    (
        "one_bad_line_among_good_ones",
        HEADER + row("10", segment="seg_y") + row("x") + row("7", segment="seg_z"),
        [(3, "values_not_supported")],
    ),
]


@pytest.mark.parametrize(("name", "body", "errors"), BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_given_a_bad_file_when_dropped_then_rejected_at_its_line_with_its_code_and_nothing_changed(
    api: ApiClient,
    drops: UsageDrops,
    reported: dict[str, Any],
    other_buyers_segment: tuple[str, str],
    name: str,
    body: bytes,
    errors: list[tuple[int, str]],
) -> None:
    outcome = drop(drops, reported, body, name=name)
    upload = the_upload(api, reported, outcome["upload_id"])
    assert upload["status"] == "rejected"
    assert [(e["line"], e["code"]) for e in upload["errors"]] == errors, upload["errors"]
    assert all(e["message"] for e in upload["errors"])
    assert upload["accepted_rows"] == 0 and upload["rejected_rows"] == upload["rows"]
    assert stored(reported["account_id"]) == BEFORE


def test_given_a_file_larger_than_the_limit_when_the_event_arrives_then_rejected_without_reading_it(
    api: ApiClient, drops: UsageDrops, reported: dict[str, Any]
) -> None:
    from audiens.domain.usage_csv import DEFAULT_MAX_BYTES

    ev = drops.put(f"{reported['account_id']}/{PERIOD}/segments/huge.csv", HEADER + row("10"))
    ev["detail"]["object"]["size"] = DEFAULT_MAX_BYTES + 1  # what S3 reports; the object is never downloaded
    upload = the_upload(api, reported, drops.deliver(ev)["upload_id"])
    assert upload["status"] == "rejected"
    assert [(e["line"], e["code"]) for e in upload["errors"]] == [(0, "invalid_input")]
    assert "limit of 104,857,600 bytes" in upload["errors"][0]["message"]
    assert stored(reported["account_id"]) == BEFORE


def _service(usage_stack: UsageStack, **limits: int) -> Any:
    from audiens.config import UsageIngestSettings, load
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.usage import S3UsageObjects
    from audiens.services.usage import UsageService
    from audiens.wiring import usage_repository

    settings = load(UsageIngestSettings)
    return UsageService(
        usage_repository(),
        usage_stack.catalog,
        accounts=DynamoAccountRepository(settings.region),
        objects=S3UsageObjects(settings.region),
        bucket=settings.usage_bucket,
        **limits,
    )


def test_given_a_stream_growing_past_the_limit_when_read_then_rejected_invalid_input(
    api: ApiClient, drops: UsageDrops, reported: dict[str, Any], usage_stack: UsageStack
) -> None:
    # Given a limit of 1 KiB and a 2 KiB file whose event under-reports its size (the stream is the truth)
    body = HEADER + row("10", segment="seg_y") * 40
    ev = drops.put(f"{reported['account_id']}/{PERIOD}/segments/big.csv", body)
    ev["detail"]["object"]["size"] = 100
    outcome = drops.deliver(ev, service=_service(usage_stack, max_bytes=1024))
    upload = the_upload(api, reported, outcome["upload_id"])
    assert upload["status"] == "rejected" and {e["code"] for e in upload["errors"]} == {"invalid_input"}
    assert "larger than the limit of 1,024 bytes" in upload["errors"][-1]["message"]
    assert stored(reported["account_id"]) == BEFORE


def test_given_more_rows_than_the_limit_when_dropped_then_rejected_invalid_input(
    api: ApiClient, drops: UsageDrops, reported: dict[str, Any], usage_stack: UsageStack
) -> None:
    body = HEADER + row("1", segment="seg_y") + row("2", segment="seg_z") + row("3")
    ev = drops.put(f"{reported['account_id']}/{PERIOD}/segments/rows.csv", body)
    upload = the_upload(api, reported, drops.deliver(ev, service=_service(usage_stack, max_rows=2))["upload_id"])
    assert upload["status"] == "rejected"
    assert [(e["line"], e["code"]) for e in upload["errors"]] == [(0, "invalid_input")]
    assert (upload["rows"], upload["rejected_rows"]) == (3, 3)
    assert stored(reported["account_id"]) == BEFORE


def test_given_rejected_and_accepted_files_when_listed_then_every_file_is_terminal_and_rows_add_up(
    api: ApiClient, drops: UsageDrops, reported: dict[str, Any]
) -> None:
    drop(drops, reported, HEADER + row("1"), name="good")
    drop(drops, reported, HEADER + row("x"), name="bad")
    drop(drops, reported, b"", name="empty")
    listed = uploads(api, reported)
    assert sorted(u["status"] for u in listed) == ["accepted", "rejected", "rejected"]
    assert all(u["accepted_rows"] + u["rejected_rows"] == u["rows"] for u in listed)
