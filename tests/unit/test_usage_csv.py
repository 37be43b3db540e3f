"""Bulk usage CSV: the published sample files, one test per kind of bad input, streaming, and
property tests (valid files are accepted with their exact values; a single corruption is rejected
at its line with its code)."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiens.domain.usage_csv import CsvProblem, UsageCsvReport, validate_usage_csv
from audiens.domain.usage_schema import (
    DUPLICATE_RECORDS,
    INVALID_INPUT,
    MANDATORY_HEADERS_MISSING,
    MAX_USAGE,
    NOT_FOUND,
    VALUES_NOT_SUPPORTED,
    csv_safe_cell,
    feed_key,
    parse_usage_cell,
    segment_key,
)
from audiens.domain.usage_template import render_usage_csv
from audiens.errors import ValidationError


def _testdata_dir() -> Path:
    shared = os.environ.get("AUDIENS_SHARED_DIR")
    return (Path(shared) if shared else Path(__file__).resolve().parents[3] / "shared") / "testdata"


SAMPLES_DIR = _testdata_dir() / "usage_csv"
SAMPLE_FILES = sorted(SAMPLES_DIR.glob("*.csv"))
PLACEHOLDER = re.compile(r"\{(\w+)\}")

SEGMENT_HEADER = "Segment ID,Segment Name,Destination ID,Destination Name,Usage"
FEED_HEADER = "Data Provider Name,Data Feed Name,Use Case,Unit of Measure,Usage"
SEGMENTS_KNOWN = {segment_key(f"seg_{n}", f"dst_{d}") for n in "xyz" for d in "12"}
FEEDS_KNOWN = {
    feed_key("Data Provider A", "Data Feed A", "activation"),
    feed_key("Data Provider A", "Data Feed A", "modeling"),
    feed_key("Data Provider B", "Data Feed B", "activation"),
}


def validate(
    text: str | bytes,
    kind: str = "segments",
    known: set[tuple[str, ...]] | None = None,
    *,
    chunk_size: int | None = None,
    max_bytes: int | None = None,
    max_problems: int = 10_000,
) -> UsageCsvReport:
    data = text.encode("utf-8") if isinstance(text, str) else text
    chunks = [data] if chunk_size is None else [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    if known is None:
        known = SEGMENTS_KNOWN if kind == "segments" else FEEDS_KNOWN
    if max_bytes is None:
        return validate_usage_csv(chunks, kind, known, max_problems=max_problems)
    return validate_usage_csv(chunks, kind, known, max_bytes=max_bytes, max_problems=max_problems)


def segments_file(*rows: str, header: str = SEGMENT_HEADER, eol: str = "\n") -> str:
    return eol.join((header, *rows)) + eol


def found(report: UsageCsvReport) -> list[tuple[int, str]]:
    return [(problem.line, problem.code) for problem in report.problems]


# --- the published sample files ---------------------------------------------------------------------


def _sample_text(path: Path) -> str:
    # Every placeholder becomes the id of the same name ({seg_x} -> seg_x), which SEGMENTS_KNOWN holds.
    return PLACEHOLDER.sub(lambda match: match.group(1), path.read_text(encoding="utf-8"))


def test_given_the_samples_directory_then_it_has_files_for_every_code() -> None:
    names = {path.stem for path in SAMPLE_FILES}
    assert {"segments_ok", "feeds_ok", "segments_not_found", "segments_invalid_input"} <= names


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: path.stem)
def test_given_published_sample_when_validated_then_exactly_its_code(path: Path) -> None:
    # Given a published sample whose name says the outcome
    kind, _, expected = path.stem.partition("_")
    # When it is validated
    report = validate(_sample_text(path), kind)
    # Then an _ok file is accepted and any other file is rejected with exactly its code
    if expected == "ok":
        assert report.accepted, report.problems
        assert report.values and report.rows == len(report.values)
    else:
        assert not report.accepted
        assert {problem.code for problem in report.problems} == {expected}


def test_given_values_sample_when_validated_then_every_bad_row_is_listed() -> None:
    report = validate(_sample_text(SAMPLES_DIR / "segments_values_not_supported.csv"))
    assert found(report) == [(2, VALUES_NOT_SUPPORTED), (3, VALUES_NOT_SUPPORTED), (4, VALUES_NOT_SUPPORTED)]
    assert report.rows == 3


def test_given_ok_samples_when_validated_then_exact_values_by_key() -> None:
    assert validate(_sample_text(SAMPLES_DIR / "segments_ok.csv")).values == {("seg_x", "dst_1"): 1_000_000}
    feeds = validate(_sample_text(SAMPLES_DIR / "feeds_ok.csv"), "feeds")
    assert feeds.values == {feed_key("Data Provider A", "Data Feed A", "activation"): 275_862}


# --- accepted shapes --------------------------------------------------------------------------------


def test_given_bom_and_crlf_when_validated_then_accepted() -> None:
    # Given what Excel writes for "CSV UTF-8": a BOM and CRLF line endings
    data = (
        b"\xef\xbb\xbf" + segments_file("seg_x,Sports,dst_1,DSP,1000", "seg_y,Travel,dst_1,DSP,0", eol="\r\n").encode()
    )
    # When validated, streamed in tiny chunks that split the BOM and the CRLFs
    report = validate(data, chunk_size=2)
    # Then it is accepted with the exact values
    assert report.accepted, report.problems
    assert report.values == {("seg_x", "dst_1"): 1000, ("seg_y", "dst_1"): 0}


def test_given_columns_in_another_order_without_optional_ones_when_validated_then_accepted() -> None:
    report = validate("Usage,Destination ID,Segment ID\n12,dst_2,seg_z\n")
    assert report.accepted and report.values == {("seg_z", "dst_2"): 12}


def test_given_empty_usage_cells_when_validated_then_rows_accepted_and_left_unchanged() -> None:
    # Given the downloaded template with only one row filled in
    report = validate(segments_file("seg_x,Sports,dst_1,DSP,", "seg_y,Travel,dst_1,DSP,5", "seg_z,Autos,dst_1,DSP,  "))
    # Then the file is accepted, every row counted, and only the filled row carries a value
    assert report.accepted
    assert report.rows == 3
    assert report.values == {("seg_y", "dst_1"): 5}


def test_given_blank_lines_and_comma_only_rows_when_validated_then_skipped_but_lines_still_counted() -> None:
    report = validate(segments_file("", "seg_x,Sports,dst_1,DSP,1", ",,,,", "   ", "seg_y,Travel,dst_1,DSP,1.5"))
    assert found(report) == [(6, VALUES_NOT_SUPPORTED)]
    assert report.rows == 2


def test_given_spaces_around_cells_when_validated_then_trimmed() -> None:
    report = validate(segments_file(" seg_x ,Sports, dst_1 ,DSP, 42 "))
    assert report.accepted and report.values == {("seg_x", "dst_1"): 42}


def test_given_quoted_cell_spanning_lines_when_validated_then_later_rows_keep_physical_line_numbers() -> None:
    report = validate(segments_file('seg_x,"Sports\nand\nmore",dst_1,DSP,1', "seg_y,Travel,dst_1,DSP,abc"))
    assert found(report) == [(5, VALUES_NOT_SUPPORTED)]


def test_given_same_key_twice_with_same_usage_when_validated_then_accepted_once() -> None:
    report = validate(segments_file("seg_x,Sports,dst_1,DSP,7", "seg_x,Sports,dst_1,DSP,7", "seg_x,,dst_1,,"))
    assert report.accepted and report.values == {("seg_x", "dst_1"): 7}


def test_given_feed_names_in_another_case_when_validated_then_matched() -> None:
    report = validate(f"{FEED_HEADER}\n data provider a ,DATA FEED A,Modeling,CPM,10\n", "feeds")
    assert report.accepted and report.values == {("data provider a", "data feed a", "modeling"): 10}


def test_given_the_usage_maximum_and_leading_zeros_when_validated_then_accepted() -> None:
    report = validate(segments_file(f"seg_x,,dst_1,,{MAX_USAGE}", "seg_y,,dst_1,,00000000000000000000042"))
    assert report.accepted and report.values == {("seg_x", "dst_1"): MAX_USAGE, ("seg_y", "dst_1"): 42}


# --- unreadable or restructured files (invalid_input / mandatory_headers_missing) -------------------


def test_given_non_utf8_bytes_when_validated_then_invalid_input_at_their_line() -> None:
    # Given a file saved as Latin-1 with an accented name on line 3 (and a bad value on line 2)
    data = segments_file("seg_x,Sports,dst_1,DSP,x", "seg_y,Caf\xe9,dst_1,DSP,1").encode("latin-1")
    report = validate(data, chunk_size=7)
    # Then the rows before are still checked and the unreadable line is reported, then validation stops
    assert found(report) == [(2, VALUES_NOT_SUPPORTED), (3, INVALID_INPUT)]
    assert "UTF-8" in report.problems[-1].message
    assert report.rows == 1  # only the rows that could be read are counted


def test_given_file_cut_inside_a_utf8_character_when_validated_then_invalid_input_at_last_line() -> None:
    data = segments_file("seg_x,Sports,dst_1,DSP,1").encode() + "seg_y,Caf\u00e9".encode()[:-1]
    assert found(validate(data, chunk_size=5)) == [(3, INVALID_INPUT)]


def test_given_utf16_file_when_validated_then_invalid_input_line_1() -> None:
    report = validate(segments_file("seg_x,Sports,dst_1,DSP,1").encode("utf-16"))
    assert found(report) == [(1, INVALID_INPUT)]


@pytest.mark.parametrize("separator", [";", "\t"])
def test_given_wrong_delimiter_when_validated_then_single_invalid_input(separator: str) -> None:
    text = segments_file(
        separator.join(["seg_x", "Sports", "dst_1", "DSP", "1"]), header=SEGMENT_HEADER.replace(",", separator)
    )
    report = validate(text)
    assert found(report) == [(1, INVALID_INPUT)]
    assert "comma" in report.problems[0].message


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\r\n\n"], ids=["no-bytes", "bom-only", "blank-lines"])
def test_given_empty_file_when_validated_then_invalid_input_line_1(data: bytes) -> None:
    report = validate(data)
    assert found(report) == [(1, INVALID_INPUT)]
    assert report.rows == 0


@pytest.mark.parametrize("text", [SEGMENT_HEADER, SEGMENT_HEADER + "\r\n", SEGMENT_HEADER + "\n\n,,,,\n"])
def test_given_header_only_file_when_validated_then_invalid_input_line_1(text: str) -> None:
    report = validate(text)
    assert found(report) == [(1, INVALID_INPUT)]
    assert "no data rows" in report.problems[0].message


def test_given_mandatory_headers_missing_when_validated_then_one_problem_each_and_rows_not_interpreted() -> None:
    # Given a file without Destination ID and Usage (and rows that would be wrong in any case)
    report = validate("Segment ID,Segment Name\nseg_nope,x\nseg_nope,y\n")
    # Then each missing mandatory header is reported on line 1, and nothing else
    assert found(report) == [(1, MANDATORY_HEADERS_MISSING), (1, MANDATORY_HEADERS_MISSING)]
    assert ["Destination ID" in report.problems[0].message, "Usage" in report.problems[1].message] == [True, True]
    assert report.rows == 2


def test_given_renamed_mandatory_column_when_validated_then_only_missing_header_naming_the_rename() -> None:
    report = validate("Segment ID,Segment Name,Destination,Usage\nseg_x,Sports,dst_1,1000\n")
    assert found(report) == [(1, MANDATORY_HEADERS_MISSING)]
    assert "'Destination'" in report.problems[0].message


def test_given_extra_column_when_validated_then_invalid_input_line_1() -> None:
    report = validate(segments_file("seg_x,Sports,dst_1,DSP,1,hello", header=SEGMENT_HEADER + ",Notes"))
    assert found(report) == [(1, INVALID_INPUT)]
    assert "'Notes'" in report.problems[0].message


def test_given_unnamed_trailing_column_when_validated_then_invalid_input() -> None:
    report = validate(segments_file("seg_x,Sports,dst_1,DSP,1,", header=SEGMENT_HEADER + ","))
    assert found(report) == [(1, INVALID_INPUT)]
    assert "no name" in report.problems[0].message


def test_given_repeated_column_when_validated_then_invalid_input_line_1() -> None:
    report = validate(segments_file("seg_x,Sports,dst_1,DSP,1,2", header=SEGMENT_HEADER + ",Usage"))
    assert found(report) == [(1, INVALID_INPUT)]
    assert "more than once" in report.problems[0].message


def test_given_ragged_rows_when_validated_then_invalid_input_at_each_line() -> None:
    report = validate(
        segments_file(
            "seg_x,Sports,dst_1,DSP,1", "seg_y,Travel,dst_1,1", "seg_z,Autos,dst_1,DSP,1,extra", "seg_x,,dst_2,,3"
        )
    )
    assert found(report) == [(3, INVALID_INPUT), (4, INVALID_INPUT)]
    assert report.rows == 4


def test_given_broken_quoting_when_validated_then_invalid_input_and_later_rows_still_checked() -> None:
    report = validate(segments_file('seg_x,"Sports"x,dst_1,DSP,1', "seg_y,Travel,dst_1,DSP,-1"))
    assert found(report) == [(2, INVALID_INPUT), (3, VALUES_NOT_SUPPORTED)]


def test_given_oversized_file_when_validated_then_invalid_input() -> None:
    text = segments_file(*["seg_x,Sports,dst_1,DSP,1"] * 50)
    assert validate(text, max_bytes=len(text.encode())).accepted
    report = validate(text, max_bytes=len(text.encode()) - 1, chunk_size=64)
    assert [code for _, code in found(report)] == [INVALID_INPUT]
    assert "larger than the limit" in report.problems[0].message


def test_given_a_file_without_line_breaks_when_validated_then_rejected_without_buffering_it_all() -> None:
    report = validate(b"x" * (3 << 20), chunk_size=1 << 16)
    assert found(report) == [(1, INVALID_INPUT)]


# --- usage values (values_not_supported) ------------------------------------------------------------


@pytest.mark.parametrize("usage", ["1000.5", "12,5", "1000.0", "1e6", ".5"])
def test_given_decimal_usage_when_validated_then_values_not_supported(usage: str) -> None:
    report = validate(segments_file(f'seg_x,Sports,dst_1,DSP,"{usage}"'))
    assert found(report) == [(2, VALUES_NOT_SUPPORTED)]


@pytest.mark.parametrize("usage", ["-4", "-0", "- 10"])
def test_given_negative_usage_when_validated_then_values_not_supported(usage: str) -> None:
    report = validate(segments_file(f"seg_x,Sports,dst_1,DSP,{usage}"))
    assert found(report) == [(2, VALUES_NOT_SUPPORTED)]
    assert "negative" in report.problems[0].message


@pytest.mark.parametrize("usage", ["1,234", "1.234.567", "1 234 567", "1'234"])
def test_given_thousands_separators_when_validated_then_values_not_supported(usage: str) -> None:
    report = validate(segments_file(f'seg_x,Sports,dst_1,DSP,"{usage}"'))
    assert found(report) == [(2, VALUES_NOT_SUPPORTED)]
    assert "separator" in report.problems[0].message


def test_given_unquoted_thousands_separator_when_validated_then_the_row_has_too_many_columns() -> None:
    assert found(validate(segments_file("seg_x,Sports,dst_1,DSP,1,234"))) == [(2, INVALID_INPUT)]


@pytest.mark.parametrize("usage", ["abc", "n/a", "1000 impressions", "١٢٣", "²"])
def test_given_text_usage_when_validated_then_values_not_supported(usage: str) -> None:
    assert found(validate(segments_file(f"seg_x,Sports,dst_1,DSP,{usage}"))) == [(2, VALUES_NOT_SUPPORTED)]


@pytest.mark.parametrize("usage", ["=1+1", "+1000", "@SUM(A1)", '=HYPERLINK(""http://x"")', "-1+2"])
def test_given_formula_like_usage_when_validated_then_values_not_supported(usage: str) -> None:
    report = validate(segments_file(f'seg_x,Sports,dst_1,DSP,"{usage}"'))
    assert found(report) == [(2, VALUES_NOT_SUPPORTED)]
    assert "formula" in report.problems[0].message


@pytest.mark.parametrize("usage", [str(MAX_USAGE + 1), "9" * 40])
def test_given_usage_over_10_to_the_15_when_validated_then_values_not_supported(usage: str) -> None:
    report = validate(segments_file(f"seg_x,Sports,dst_1,DSP,{usage}"))
    assert found(report) == [(2, VALUES_NOT_SUPPORTED)]
    assert "maximum" in report.problems[0].message


def test_given_usage_cells_when_parsed_alone_then_int_none_or_error() -> None:
    assert parse_usage_cell(" 12 ") == 12
    assert parse_usage_cell("") is None
    with pytest.raises(ValidationError) as caught:
        parse_usage_cell("1.5")
    assert caught.value.code == VALUES_NOT_SUPPORTED


# --- keys (not_found, duplicate_records) ------------------------------------------------------------


def test_given_unknown_keys_when_validated_then_not_found_at_each_line() -> None:
    # Given an unknown segment, a known segment on an unmapped destination and an empty segment id
    report = validate(segments_file("seg_nope,x,dst_1,y,1", "seg_x,Sports,dst_9,DSP,1", ",Sports,dst_1,DSP,1"))
    assert found(report) == [(2, NOT_FOUND), (3, NOT_FOUND), (4, NOT_FOUND)]
    assert "'seg_nope'" in report.problems[0].message
    assert "Segment ID is empty" in report.problems[2].message


def test_given_unknown_feed_use_case_when_validated_then_not_found() -> None:
    report = validate(f"{FEED_HEADER}\nData Provider A,Data Feed A,content_optimization,CPM,1\n", "feeds")
    assert found(report) == [(2, NOT_FOUND)]


def test_given_row_with_several_problems_when_validated_then_each_is_listed() -> None:
    assert found(validate(segments_file("seg_nope,x,dst_1,y,-1"))) == [(2, VALUES_NOT_SUPPORTED), (2, NOT_FOUND)]


def test_given_duplicate_keys_with_different_usage_when_validated_then_reported_at_later_lines() -> None:
    # Given the same (segment, destination) three times with different usage, once with spaces around the id
    report = validate(
        segments_file("seg_x,a,dst_1,b,10", "seg_y,a,dst_1,b,1", " seg_x,a,dst_1,b,11", "seg_x,a,dst_1,b,12")
    )
    # Then each later conflicting row is reported and points at the first one
    assert found(report) == [(4, DUPLICATE_RECORDS), (5, DUPLICATE_RECORDS)]
    assert all("line 2" in problem.message for problem in report.problems)


# --- reporting limits -------------------------------------------------------------------------------


def test_given_more_problems_than_the_cap_when_validated_then_capped_with_a_count_of_the_rest() -> None:
    report = validate(segments_file(*["seg_x,a,dst_1,b,x"] * 30), max_problems=10)
    assert len(report.problems) == 11
    assert [problem.line for problem in report.problems] == list(range(2, 13))
    assert "19 more problems" in report.problems[-1].message
    assert report.rows == 30


def test_given_whole_file_as_one_bytes_object_when_validated_then_read_as_one_chunk() -> None:
    report = validate_usage_csv(segments_file("seg_x,Sports,dst_1,DSP,3").encode(), "segments", SEGMENTS_KNOWN)
    assert report.accepted and report.values == {("seg_x", "dst_1"): 3}


def test_given_unknown_kind_when_validated_then_invalid_kind() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_usage_csv([b""], "traits", set())
    assert caught.value.code == "invalid_kind"


def test_given_problem_when_serialised_then_api_error_item() -> None:
    assert CsvProblem(3, NOT_FOUND, "m").to_dict() == {"line": 3, "code": NOT_FOUND, "message": "m"}


# --- the template -----------------------------------------------------------------------------------


def test_given_current_usage_when_rendered_then_documented_header_crlf_and_empty_unreported() -> None:
    text = render_usage_csv(
        "segments", [("seg_x", "Sports", "dst_1", "DSP", 1000), ("seg_y", "Travel", "dst_1", "DSP", None)]
    )
    assert text == f"{SEGMENT_HEADER}\r\nseg_x,Sports,dst_1,DSP,1000\r\nseg_y,Travel,dst_1,DSP,\r\n"
    assert render_usage_csv("feeds", [], line_terminator="\n") == FEED_HEADER + "\n"


def test_given_names_that_look_like_formulas_when_rendered_then_escaped_and_still_accepted_back() -> None:
    # Given provider and feed names a spreadsheet would execute
    provider, feed = "=cmd|' /C calc'!A0", "@Data Feed"
    text = render_usage_csv("feeds", [(provider, feed, "activation", "CPM", 5)])
    # Then the rendered cells are neutralised with an apostrophe
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[:2] == ["'" + provider, "'" + feed]
    # And uploading the template unchanged matches the original names
    report = validate(text, "feeds", {feed_key(provider, feed, "activation")})
    assert report.accepted and report.values == {feed_key(provider, feed, "activation"): 5}


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_given_text_cell_when_made_csv_safe_then_formula_starts_are_escaped(text: str, safe: str) -> None:
    assert csv_safe_cell(text) == safe


def test_given_bad_template_rows_when_rendered_then_refused() -> None:
    with pytest.raises(ValueError):
        render_usage_csv("segments", [("seg_x", "Sports", "dst_1", "DSP")])
    with pytest.raises(ValueError):
        render_usage_csv("segments", [("seg_x", "Sports", "dst_1", "DSP", -1)])


# --- properties -------------------------------------------------------------------------------------

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)
names = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=15)
usages = st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_USAGE))
segment_rows = st.lists(
    st.tuples(ids, names, ids, names, usages), min_size=1, max_size=25, unique_by=lambda r: (r[0], r[2])
)


def _chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    start = 0
    for size in sizes:
        yield data[start : start + size]
        start += size
    yield data[start:]


@given(segment_rows, st.sampled_from(["\r\n", "\n"]), st.booleans(), st.lists(st.integers(1, 40), max_size=30))
def test_property_valid_template_files_are_accepted_with_exact_values(
    rows: list[tuple[str, str, str, str, int | None]], eol: str, bom: bool, sizes: list[int]
) -> None:
    # Given a template rendered for known keys, with either line ending, with or without BOM
    data = render_usage_csv("segments", rows, line_terminator=eol, bom=bom).encode("utf-8")
    known = {segment_key(seg, dst) for seg, _, dst, _, _ in rows}
    # When validated from arbitrarily cut chunks (splitting UTF-8 sequences and line endings)
    report = validate_usage_csv(_chunks(data, sizes), "segments", known)
    # Then it is accepted with exactly the reported usage
    assert report.accepted, report.problems
    assert report.rows == len(rows)
    assert report.values == {(seg, dst): usage for seg, _, dst, _, usage in rows if usage is not None}


CORRUPTIONS = {
    "decimal": VALUES_NOT_SUPPORTED,
    "negative": VALUES_NOT_SUPPORTED,
    "text": VALUES_NOT_SUPPORTED,
    "thousands": VALUES_NOT_SUPPORTED,
    "formula": VALUES_NOT_SUPPORTED,
    "overflow": VALUES_NOT_SUPPORTED,
    "extra_cell": INVALID_INPUT,
    "missing_cell": INVALID_INPUT,
    "unknown_key": NOT_FOUND,
    "conflicting_duplicate": DUPLICATE_RECORDS,
}


def _line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


@given(segment_rows, st.data(), st.sampled_from(sorted(CORRUPTIONS)), st.sampled_from(["\r\n", "\n"]))
def test_property_a_single_corruption_is_rejected_at_its_line_with_its_code(
    rows: list[tuple[str, str, str, str, int | None]], data: st.DataObject, corruption: str, eol: str
) -> None:
    # Given a valid file (with blank lines sprinkled in) for known keys
    known = {segment_key(seg, dst) for seg, _, dst, _, _ in rows}
    records: list[list[str] | None] = [
        [seg, name, dst, dname, "" if u is None else str(u)] for seg, name, dst, dname, u in rows
    ]
    for _ in range(data.draw(st.integers(0, 3))):
        records.insert(data.draw(st.integers(0, len(records))), None)
    # When exactly one row is corrupted
    row_positions = [i for i, record in enumerate(records) if record is not None]
    target = data.draw(st.sampled_from(row_positions))
    cells = records[target]
    assert cells is not None
    bad_usage = {"decimal": "12.5", "negative": "-7", "text": "many", "thousands": "1,234", "formula": "=A1*2",
                 "overflow": str(MAX_USAGE + 1)}  # fmt: skip
    if corruption in bad_usage:
        cells[4] = bad_usage[corruption]
    elif corruption == "extra_cell":
        cells.append("x")
    elif corruption == "missing_cell":
        cells.pop(1)
    elif corruption == "unknown_key":
        cells[0] = "unknown-" + cells[0]
    else:  # a later copy of the row with another usage
        cells[4] = cells[4] or "1"
        usage = int(cells[4])
        copy = [*cells[:4], str(usage + 1 if usage < MAX_USAGE else usage - 1)]  # another valid usage
        target = data.draw(st.integers(target + 1, len(records)))
        records.insert(target, copy)
    text = eol.join([SEGMENT_HEADER, *("" if record is None else _line(record) for record in records)]) + eol
    report = validate(text, known=known)
    # Then the file is rejected with that one problem, on the physical line of the corrupted row
    assert found(report) == [(target + 2, CORRUPTIONS[corruption])]
