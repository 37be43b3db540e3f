"""Usage reporting on the local runtime, as a buyer does it: download the CSV template, fill it in, upload it
through the presigned URL or drop it into the usage bucket, and watch the upload end accepted (S3 → EventBridge
→ UsageIngestFunction, the event time set from the local clock), with the real marketplace behind the keys."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from tests.e2e.client import Client

PERIOD = "2026-10"  # the runtime's clock starts on 2026-11-03: October's window is open


def _mapped_segment(http: Client, key: str) -> tuple[str, str]:
    """Given a segment of the account's own trait, mapped to a seamless destination."""
    source = http.post("/v1/sources", {"name": "web", "type": "api"}, key=key).body
    events = [{"user_id": f"u{i}", "data": {"interest": "sports"}} for i in range(20)]
    assert http.post(f"/v1/sources/{source['source_id']}/events", {"events": events}, key=key).status == 202
    trait = http.post(
        "/v1/traits",
        {"name": "sports", "source_id": source["source_id"], "condition": {"key": "interest", "equals": "sports"}},
        key=key,
    ).body
    segment = http.post(
        "/v1/segments",
        {
            "name": "Sports fans",
            "category": "Interest",
            "rule": trait["trait_id"],
            "expiration_days": 30,
            "visibility": "private",
        },
        key=key,
    ).body
    destination = http.post("/v1/destinations", {"channel_id": "example_dsp", "name": "My DSP"}, key=key).body
    mapped = http.post(
        f"/v1/destinations/{destination['destination_id']}/segments", {"segment_id": segment["segment_id"]}, key=key
    )
    assert mapped.status == 201, mapped.body
    return segment["segment_id"], destination["destination_id"]


def _upload(http: Client, key: str, upload_id: str) -> dict[str, Any]:
    http.idle()  # S3 → EventBridge → UsageIngestFunction has run
    result: dict[str, Any] = http.get(f"/v1/usage/uploads/{upload_id}", key=key).body
    return result


def test_given_the_csv_template_when_filled_and_uploaded_or_dropped_then_accepted_and_reported(
    http: Client, runtime: Any, new_account: Any
) -> None:
    account = new_account(["provider", "buyer"])
    key = account["api_key"]
    segment_id, destination_id = _mapped_segment(http, key)

    # When the buyer downloads the template and fills in the impressions
    template = http.get(f"/v1/usage/{PERIOD}/segments.csv", key=key)
    assert template.status == 200 and template.headers["Content-Type"].startswith("text/csv")
    assert template.body == (
        "Segment ID,Segment Name,Destination ID,Destination Name,Usage\r\n"
        f"{segment_id},Sports fans,{destination_id},My DSP,\r\n"
    )
    filled = template.body.replace("My DSP,\r\n", "My DSP,1234567\r\n").encode()

    # ... and uploads it through a presigned URL
    ticket = http.post(f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=key).body
    request = urllib.request.Request(
        ticket["upload_url"], data=filled, method="PUT", headers={"Content-Type": "text/csv"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    upload = _upload(http, key, ticket["upload_id"])
    assert (upload["status"], upload["rows"], upload["changed"], upload["errors"]) == ("accepted", 1, 1, [])
    rows = http.get(f"/v1/usage/{PERIOD}/segments", key=key).body["rows"]
    assert [(r["segment_id"], r["destination_id"], r["usage"]) for r in rows] == [(segment_id, destination_id, 1234567)]

    # When the same file is dropped straight into the bucket under the buyer's prefix
    bucket = runtime.resource("UsageBucket")
    runtime.client("s3").put_object(
        Bucket=bucket, Key=f"{account['account_id']}/{PERIOD}/segments/again.csv", Body=filled
    )

    http.idle()
    listed = http.get(f"/v1/usage/uploads?period={PERIOD}", key=key).body["uploads"]
    duplicate = next(u for u in listed if u["key"].endswith("again.csv"))
    assert (duplicate["status"], duplicate["duplicate_of"], duplicate["origin"]) == (
        "duplicate",
        ticket["upload_id"],
        "drop",
    )


def test_given_a_file_with_problems_when_dropped_then_rejected_with_every_line(
    http: Client, runtime: Any, new_account: Any
) -> None:
    account = new_account(["provider", "buyer"])
    key = account["api_key"]
    segment_id, destination_id = _mapped_segment(http, key)
    body = (
        f"Segment ID,Destination ID,Usage\n{segment_id},{destination_id},1.5\nseg_unknown,{destination_id},10\n"
    ).encode()
    runtime.client("s3").put_object(
        Bucket=runtime.resource("UsageBucket"), Key=f"{account['account_id']}/{PERIOD}/segments/bad.csv", Body=body
    )

    http.idle()
    (upload,) = http.get("/v1/usage/uploads", key=key).body["uploads"]
    assert upload["status"] == "rejected"
    assert [(e["line"], e["code"]) for e in upload["errors"]] == [(2, "values_not_supported"), (3, "not_found")]
    assert http.get(f"/v1/usage/{PERIOD}/segments", key=key).body["rows"][0]["usage"] is None


def test_given_a_buyers_upload_url_when_re_aimed_at_another_buyers_prefix_then_s3_refuses_it(
    http: Client, runtime: Any, new_account: Any
) -> None:
    buyer, other = new_account(["buyer"]), new_account(["buyer"])
    ticket = http.post(f"/v1/usage/{PERIOD}/uploads", {"kind": "segments"}, key=buyer["api_key"]).body
    url = ticket["upload_url"]
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and buyer["account_id"] in url
    re_aimed = url.replace(buyer["account_id"], other["account_id"], 1)
    request = urllib.request.Request(re_aimed, data=b"x", method="PUT", headers={"Content-Type": "text/csv"})
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("the re-aimed URL was accepted")
    except urllib.error.HTTPError as error:
        assert error.code == 403 and b"SignatureDoesNotMatch" in error.read()
    listed = runtime.client("s3").list_objects_v2(Bucket=runtime.resource("UsageBucket"), Prefix=other["account_id"])
    assert listed.get("KeyCount", 0) == 0


def test_given_file_names_with_plus_and_percent_when_dropped_then_recorded_under_their_exact_keys(
    http: Client, runtime: Any, new_account: Any
) -> None:
    account = new_account(["provider", "buyer"])
    key = account["api_key"]
    segment_id, destination_id = _mapped_segment(http, key)
    body = f"Segment ID,Destination ID,Usage\n{segment_id},{destination_id},7\n".encode()
    names = ["a+b.csv", "q4 100%41.csv"]
    for name in names:
        runtime.client("s3").put_object(
            Bucket=runtime.resource("UsageBucket"), Key=f"{account['account_id']}/{PERIOD}/segments/{name}", Body=body
        )
    http.idle()
    uploads = http.get(f"/v1/usage/uploads?period={PERIOD}", key=key).body["uploads"]
    recorded = {u["key"].rsplit("/", 1)[-1]: u["status"] for u in uploads}
    assert set(recorded) == set(names), recorded
    assert sorted(recorded.values()) == ["accepted", "duplicate"]
