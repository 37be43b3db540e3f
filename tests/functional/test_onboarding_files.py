"""S3 sources: files dropped under the source's prefix, streamed by EventIngestFunction (S3 → EventBridge)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.functional.onboarding_helpers import (
    create_source,
    object_created_event,
    put_source_file,
    run_ingest,
)
from tests.support.lambda_api import ApiClient

pytestmark = pytest.mark.shared_stack  # one stack per module: every test makes its own accounts

WHEN = "2026-11-03T10:05:00Z"


@pytest.fixture
def provider(make_account: Any) -> dict[str, Any]:
    return dict(make_account(["provider"]))


def _drop(stack: dict[str, str], source: dict[str, Any], name: str, body: bytes) -> dict[str, Any]:
    bucket = stack["SourceBucket"]
    key = source["ingest"]["prefix"] + name
    meta = put_source_file(bucket, key, body)
    return object_created_event(bucket, key, meta["etag"], meta["size"], WHEN)


def _files(api: ApiClient, key: str, source_id: str) -> list[dict[str, Any]]:
    result = api.call("GET", f"/v1/sources/{source_id}/files", key=key)
    assert result.status == 200, result.body
    return list(result.body["files"])


def _catalog(api: ApiClient, key: str, source_id: str) -> dict[str, dict[str, int]]:
    points = api.call("GET", "/v1/data-points", key=key, query={"source_id": source_id}).body["data_points"]
    return {d["key"]: {v["value"]: v["users"] for v in d["values"]} for d in points}


def test_an_ndjson_file_is_streamed_into_the_sources_populations(
    api: ApiClient, stack: dict[str, str], provider: dict[str, Any]
) -> None:
    source = create_source(api, provider["api_key"], "s3")
    lines = [json.dumps({"user_id": f"u{i}", "data": {"interest": "sports" if i % 2 else "news"}}) for i in range(10)]
    # A key with characters S3 URL-encodes in the event ("=" and a space)
    ev = _drop(stack, source, "day=2026-11-03/events 1.ndjson", ("\n".join(lines) + "\n").encode())

    assert run_ingest(ev)["status"] == "processed"

    files = _files(api, provider["api_key"], source["source_id"])
    assert len(files) == 1
    assert files[0]["key"].endswith("day=2026-11-03/events 1.ndjson")
    assert (files[0]["status"], files[0]["rows"], files[0]["accepted"], files[0]["rejected"]) == (
        "processed",
        10,
        10,
        0,
    )
    assert files[0]["received_at"] == WHEN
    assert _catalog(api, provider["api_key"], source["source_id"]) == {"interest": {"news": 5, "sports": 5}}


def test_a_malformed_csv_file_fails_listing_every_bad_line_and_keeps_the_good_ones(
    api: ApiClient, stack: dict[str, str], provider: dict[str, Any]
) -> None:
    source = create_source(api, provider["api_key"], "s3")
    body = (
        b"user_id,timestamp,interest,age\r\n"
        b"u1,2026-11-03T09:00:00Z,sports,25-34\r\n"
        b",2026-11-03T09:00:00Z,news,\r\n"  # line 3: no user id
        b"u3,not-a-time,news,\r\n"  # line 4: bad timestamp
        b"u4,,news\r\n"  # line 5: too few cells
        b"\r\n"  # blank lines are skipped
        b"u5,,,35-44\r\n"
        b'"u6",,"sports, outdoor",\r\n'
    )
    ev = _drop(stack, source, "upload.csv", body)

    result = run_ingest(ev)

    assert result["status"] == "failed"
    [record] = _files(api, provider["api_key"], source["source_id"])
    assert (record["status"], record["rows"], record["accepted"], record["rejected"]) == ("failed", 6, 3, 3)
    assert [(e["line"], e["code"]) for e in record["errors"]] == [
        (3, "missing_user_id"),
        (4, "invalid_timestamp"),
        (5, "invalid_csv"),
    ]
    assert _catalog(api, provider["api_key"], source["source_id"]) == {
        "interest": {"sports": 1, "sports, outdoor": 1},
        "age": {"25-34": 1, "35-44": 1},
    }


def test_a_redelivered_file_changes_nothing(api: ApiClient, stack: dict[str, str], provider: dict[str, Any]) -> None:
    source = create_source(api, provider["api_key"], "s3")
    ev = _drop(stack, source, "a.jsonl", b'{"user_id": "u1", "data": {"k": "v"}}\n{"user_id": "u2"}\n')
    run_ingest(ev)
    before = api.call("GET", f"/v1/sources/{source['source_id']}", key=provider["api_key"]).body

    again = run_ingest(ev)

    assert again["status"] == "processed"
    after = api.call("GET", f"/v1/sources/{source['source_id']}", key=provider["api_key"]).body
    assert after["events_accepted"] == before["events_accepted"] == 2
    assert len(_files(api, provider["api_key"], source["source_id"])) == 1
    assert _catalog(api, provider["api_key"], source["source_id"]) == {"k": {"v": 1}}


def test_a_crashed_delivery_is_finished_by_the_retry_without_double_counting(
    api: ApiClient, stack: dict[str, str], provider: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.domain import source_files

    # Given a file processed in chunks of 2 lines, and a delivery that dies after its first chunk
    monkeypatch.setattr(source_files, "FILE_CHUNK_EVENTS", 2)
    source = create_source(api, provider["api_key"], "s3")
    body = "".join(json.dumps({"user_id": f"u{i}", "data": {"k": "v"}}) + "\n" for i in range(5)).encode()
    ev = _drop(stack, source, "crash.ndjson", body)
    from audiens.wiring import ingest_service
    from tests.support.lambda_api import running_as

    with running_as("EventIngestFunction"):  # the service EventIngestFunction's invocations use
        service = ingest_service()
    real = service.ingest_batch
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("Lambda timed out")
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "ingest_batch", dying)
    with pytest.raises(RuntimeError):
        run_ingest(ev)
    monkeypatch.setattr(service, "ingest_batch", real)

    # When EventBridge retries the delivery
    assert run_ingest(ev)["status"] == "processed"

    # Then every line is counted once
    stored = api.call("GET", f"/v1/sources/{source['source_id']}", key=provider["api_key"]).body
    assert stored["events_accepted"] == 5
    [record] = _files(api, provider["api_key"], source["source_id"])
    assert (record["rows"], record["accepted"]) == (5, 5)


def test_unreadable_files_fail_whole_and_files_outside_a_source_are_ignored(
    api: ApiClient, stack: dict[str, str], provider: dict[str, Any], make_account: Any
) -> None:
    source = create_source(api, provider["api_key"], "s3")
    bad_header = _drop(stack, source, "x.csv", b"uid,interest\nu1,sports\n")
    assert run_ingest(bad_header)["status"] == "failed"
    unknown_format = _drop(stack, source, "x.parquet", b"PAR1")
    assert run_ingest(unknown_format)["status"] == "failed"
    records = {f["key"].rsplit("/", 1)[1]: f for f in _files(api, provider["api_key"], source["source_id"])}
    assert records["x.csv"]["errors"][0]["code"] == "invalid_header"
    assert records["x.parquet"]["errors"][0]["code"] == "unsupported_format"
    assert records["x.csv"]["accepted"] == 0

    # A file under another account's prefix, or under an api source, is not ingested
    other = make_account(["provider"])
    api_source = create_source(api, provider["api_key"], "api")
    bucket = stack["SourceBucket"]
    for key in (
        f"{other['account_id']}/{source['source_id']}/f.ndjson",
        f"{provider['account_id']}/{api_source['source_id']}/f.ndjson",
        "loose.ndjson",
    ):
        meta = put_source_file(bucket, key, b'{"user_id": "u1"}\n')
        assert run_ingest(object_created_event(bucket, key, meta["etag"], meta["size"], WHEN))["status"] == "ignored"


def test_moto_delivers_the_object_created_event_through_eventbridge_in_a_shape_the_function_reads(
    api: ApiClient, stack: dict[str, str], provider: dict[str, Any]
) -> None:
    # Given the template's rule pattern routed to a queue, as the local runtime does (moto's CloudFormation
    # does not apply the bucket's EventBridgeConfiguration, so it is switched on here as the template says)
    boto3.client("s3", region_name="us-east-1").put_bucket_notification_configuration(
        Bucket=stack["SourceBucket"], NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="capture")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [stack["SourceBucket"]]}},
    }
    events.put_rule(Name="capture", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="capture", Targets=[{"Id": "q", "Arn": arn}])
    source = create_source(api, provider["api_key"], "s3")

    # When a provider drops a file
    put_source_file(stack["SourceBucket"], source["ingest"]["prefix"] + "drop=1.ndjson", b'{"user_id": "u1"}\n')
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])

    # Then the delivered event is ingested as it is
    delivered = [json.loads(m["Body"]) for m in messages]
    ours = [e for e in delivered if e["detail"]["object"]["key"].endswith("drop=1.ndjson")]
    assert ours, f"moto delivered no EventBridge event for the file: {delivered}"
    result = run_ingest(ours[0])
    assert result["status"] == "processed" and result["accepted"] == 1


def test_a_file_with_more_bad_lines_than_listed_counts_the_rest(
    api: ApiClient, stack: dict[str, str], provider: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.domain import source_files

    monkeypatch.setattr(source_files, "MAX_FILE_ERRORS_LISTED", 3)
    source = create_source(api, provider["api_key"], "s3")
    ev = _drop(stack, source, "many.ndjson", b"{not json}\n" * 7 + b'{"user_id": "u1"}\n')
    run_ingest(ev)
    [record] = _files(api, provider["api_key"], source["source_id"])
    assert (record["status"], record["rows"], record["accepted"], record["rejected"]) == ("failed", 8, 1, 7)
    assert [e["line"] for e in record["errors"]] == [1, 2, 3] and record["errors_truncated"] == 4
    assert record["errors"][0]["code"] == "invalid_json"


def test_an_s3_source_hands_out_presigned_upload_urls_under_its_prefix(
    api: ApiClient, stack: dict[str, str], provider: dict[str, Any]
) -> None:
    source = create_source(api, provider["api_key"], "s3")
    result = api.call(
        "POST", f"/v1/sources/{source['source_id']}/upload-url", {"file_name": "day 1.csv"}, key=provider["api_key"]
    )
    assert result.status == 201, result.body
    assert result.body["bucket"] == stack["SourceBucket"]
    assert result.body["key"] == source["ingest"]["prefix"] + "day 1.csv"
    assert "X-Amz-Signature=" in result.body["upload_url"]
    # SigV4: buckets created since June 2020 refuse SigV2 presigned URLs (moto accepts both)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in result.body["upload_url"]
    assert "AWSAccessKeyId=" not in result.body["upload_url"]

    bad = api.call(
        "POST", f"/v1/sources/{source['source_id']}/upload-url", {"file_name": "a.xlsx"}, key=provider["api_key"]
    )
    assert (bad.status, bad.error_code) == (422, "unsupported_format")
    nested = api.call(
        "POST", f"/v1/sources/{source['source_id']}/upload-url", {"file_name": "x/a.csv"}, key=provider["api_key"]
    )
    assert nested.error_code == "invalid_file_name"
    api_source = create_source(api, provider["api_key"], "api")
    wrong = api.call(
        "POST", f"/v1/sources/{api_source['source_id']}/upload-url", {"file_name": "a.csv"}, key=provider["api_key"]
    )
    assert wrong.error_code == "not_an_s3_source"


def test_a_file_with_thousands_of_long_errors_finishes_with_every_listed_error_in_a_bounded_record(
    api: ApiClient, stack: dict[str, str], provider: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key that takes one value, and a file of 2,500 lines each bringing a new 60-character value:
    # 2,500 errors of ~230 bytes, ~480 KB of JSON - more than DynamoDB's 400 KB item limit
    import zlib

    import boto3

    from audiens.domain import events, source_files

    monkeypatch.setattr(events, "MAX_VALUES_PER_KEY", 1)
    source = create_source(api, provider["api_key"], "s3")
    lines = [json.dumps({"user_id": f"u{i}", "data": {"interest": f"{i:05d}" + "x" * 55}}) for i in range(2_501)]
    ev = _drop(stack, source, "long-errors.ndjson", ("\n".join(lines) + "\n").encode())
    # When it is ingested (the limits engine refuses any item over 400 KB)
    run_ingest(ev)
    # Then it finished: every listed error is reported, the rest counted, and the stored record is bounded
    [record] = _files(api, provider["api_key"], source["source_id"])
    assert (record["rows"], record["accepted"], record["rejected"]) == (2_501, 1, 2_500)
    assert len(record["errors"]) == source_files.MAX_FILE_ERRORS_LISTED
    assert record["errors_truncated"] == 2_500 - source_files.MAX_FILE_ERRORS_LISTED
    assert {e["code"] for e in record["errors"]} == {"too_many_values"}
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(stack["OnboardingTable"])
    items = table.scan()["Items"]
    [item] = [i for i in items if str(i["sk"]).startswith("FILE#") and source["source_id"] in str(i["pk"])]
    stored = bytes(item["errors_z"].value)
    assert len(stored) < 100 * 1024 and len(json.loads(zlib.decompress(stored))) == source_files.MAX_FILE_ERRORS_LISTED
