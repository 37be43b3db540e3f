"""The request gate: media types, bounded JSON, Unicode, roles before bodies, bodies on body-less routes.

Every refused request answers the error body of API.md with a 4xx and changes nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from audiens.api.gate import MAX_DEPTH, MAX_ITEMS, MAX_STRING_CHARS
from tests.functional.onboarding_helpers import create_source, object_created_event, put_source_file, run_ingest
from tests.support.lambda_api import ApiClient, FakeContext, event, load_handler
from tests.support.template import load

FEED = {
    "name": "Sports fans",
    "description": "People into sports",
    "trait_ids": ["trt_missing"],
    "visibility": "public",
    "plans": [{"use_cases": ["targeting"], "unit": "cpm", "price": "1.00"}],
}


@pytest.fixture
def provider(make_account: Any) -> dict[str, Any]:
    return dict(make_account(["provider"]))


@pytest.fixture
def buyer(make_account: Any) -> dict[str, Any]:
    return dict(make_account(["buyer"]))


def _sources(api: ApiClient, key: str) -> list[Any]:
    return list(api.call("GET", "/v1/sources", key=key).body["sources"])


def _assert_error(result: Any, status: int, code: str) -> None:
    assert result.status == status, result.body
    assert set(result.body["error"]) == {"code", "message", "details"}
    assert result.body["error"]["code"] == code, result.body


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/xml", "multipart/form-data", "image/png"],
)
def test_a_body_that_is_not_json_is_refused_with_415_on_public_and_private_routes(
    api: ApiClient, provider: dict[str, Any], content_type: str
) -> None:
    # Given a JSON text sent under another media type (what fetch() does with a string body)
    body = json.dumps({"name": "web", "type": "api"})
    headers = {"Content-Type": content_type}
    # When it is posted to a private and to the public sign-up route
    private = api.call("POST", "/v1/sources", raw_body=body, headers=headers, key=provider["api_key"])
    sign_up = {"company_name": "Acme", "email": "ops@acme.example", "roles": ["buyer"]}
    public = api.call("POST", "/v1/accounts", raw_body=json.dumps(sign_up), headers=headers)
    # Then both answer 415 and nothing was created
    _assert_error(private, 415, "unsupported_media_type")
    _assert_error(public, 415, "unsupported_media_type")
    assert _sources(api, provider["api_key"]) == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/vnd.audiens+json"]
)
def test_json_and_plus_json_media_types_are_accepted(
    api: ApiClient, provider: dict[str, Any], content_type: str
) -> None:
    result = api.call(
        "POST",
        "/v1/sources",
        raw_body=json.dumps({"name": "web", "type": "api"}),
        headers={"Content-Type": content_type},
        key=provider["api_key"],
    )
    assert result.status == 201, result.body


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 100_000])
def test_deeply_nested_json_is_refused_with_400(api: ApiClient, provider: dict[str, Any], depth: int) -> None:
    nested = "[" * depth + "]" * depth
    result = api.call("POST", "/v1/sources", raw_body=f'{{"name": {nested}}}', key=provider["api_key"])
    _assert_error(result, 400, "too_deeply_nested")
    assert _sources(api, provider["api_key"]) == []


def test_long_strings_and_big_arrays_are_refused_with_413(api: ApiClient, provider: dict[str, Any]) -> None:
    long_string = api.call(
        "POST", "/v1/sources", {"name": "x" * (MAX_STRING_CHARS + 1), "type": "api"}, key=provider["api_key"]
    )
    big_array = api.call(
        "POST", "/v1/traits", {"name": "t", "source_id": "s", "tags": [0] * (MAX_ITEMS + 1)}, key=provider["api_key"]
    )
    _assert_error(long_string, 413, "value_too_large")
    _assert_error(big_array, 413, "value_too_large")
    assert _sources(api, provider["api_key"]) == []


def test_nan_and_malformed_json_are_400(api: ApiClient, provider: dict[str, Any]) -> None:
    for raw in ('{"name": NaN, "type": "api"}', '{"name": "web",', "\x00"):
        _assert_error(api.call("POST", "/v1/sources", raw_body=raw, key=provider["api_key"]), 400, "malformed_json")


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/v1/sources", '{"name": "web\\ud800", "type": "api"}'),
        ("/v1/traits", '{"name": "t", "source_id": "src_1", "condition": {"key": "k", "equals": "\\udfff"}}'),
        ("/v1/traits", '{"name": "t", "source_id": "src_1", "condition": {"key": "k", "in": ["a", "\\ud800b"]}}'),
        ("/v1/segments", '{"name": "s", "category": "c", "rule": "trt_1", "\\ud800": 1}'),
    ],
)
def test_lone_surrogates_are_refused_with_422_before_any_write(
    api: ApiClient, provider: dict[str, Any], path: str, raw: str
) -> None:
    result = api.call("POST", path, raw_body=raw, key=provider["api_key"])
    _assert_error(result, 422, "invalid_unicode")
    assert _sources(api, provider["api_key"]) == []


def test_an_event_batch_with_a_lone_surrogate_changes_nothing(api: ApiClient, provider: dict[str, Any]) -> None:
    # Given an api source
    source = create_source(api, provider["api_key"])
    sid = source["source_id"]
    # When a batch carries a lone surrogate in a user id, a timestamp or a data value
    for bad in (
        '{"user_id": "u\\ud800"}',
        '{"user_id": "u1", "timestamp": "\\ud800"}',
        '{"user_id": "u1", "data": {"k": "\\udc00"}}',
    ):
        result = api.call(
            "POST", f"/v1/sources/{sid}/events", raw_body=f'{{"events": [{bad}]}}', key=provider["api_key"]
        )
        _assert_error(result, 422, "invalid_unicode")
    # Then the source, its activity and the catalog still answer, empty
    key = provider["api_key"]
    assert api.call("GET", f"/v1/sources/{sid}", key=key).body["events_accepted"] == 0
    assert api.call("GET", f"/v1/sources/{sid}/activity", key=key).body["events"] == []
    assert api.call("GET", "/v1/data-points", key=key).body["data_points"] == []


def test_a_source_file_with_lone_surrogates_rejects_those_lines_only(
    api: ApiClient, stack: dict[str, str], provider: dict[str, Any]
) -> None:
    # Given an s3 source and a file whose second and third lines hold lone surrogates
    source = create_source(api, provider["api_key"], "s3")
    lines = [
        '{"user_id": "u1", "data": {"k": "good"}}',
        '{"user_id": "u2", "data": {"k": "\\ud800"}}',
        '{"user_id": "\\udfff", "data": {"k": "good"}}',
    ]
    key = source["ingest"]["prefix"] + "events.ndjson"
    meta = put_source_file(stack["SourceBucket"], key, ("\n".join(lines) + "\n").encode())
    # When the file is ingested
    assert (
        run_ingest(
            object_created_event(stack["SourceBucket"], key, meta["etag"], meta["size"], "2026-11-03T10:05:00Z")
        )["status"]
        == "failed"  # a file with rejected lines is reported failed; its good lines count
    )
    # Then the good line counts, the two others are rejected as invalid_unicode, and every view answers
    pkey = provider["api_key"]
    files = api.call("GET", f"/v1/sources/{source['source_id']}/files", key=pkey).body["files"]
    assert (files[0]["accepted"], files[0]["rejected"]) == (1, 2)
    assert {e["code"] for e in files[0]["errors"]} == {"invalid_unicode"}
    points = api.call("GET", "/v1/data-points", key=pkey).body["data_points"]
    assert [(d["key"], [v["value"] for v in d["values"]]) for d in points] == [("k", ["good"])]
    assert api.call("GET", f"/v1/sources/{source['source_id']}/activity", key=pkey).status == 200


def test_role_is_checked_before_the_body(api: ApiClient, buyer: dict[str, Any]) -> None:
    # A buyer's invalid feed: 403, not 422 (the body's shape is none of a buyer's business)
    _assert_error(api.call("POST", "/v1/feeds", {"nonsense": True}, key=buyer["api_key"]), 403, "forbidden")
    _assert_error(api.call("POST", "/v1/feeds", raw_body="{not json", key=buyer["api_key"]), 403, "forbidden")
    _assert_error(api.call("POST", "/v1/feeds", FEED, key=buyer["api_key"]), 403, "forbidden")


def test_a_body_on_a_body_less_route_is_refused(api: ApiClient, provider: dict[str, Any]) -> None:
    key = provider["api_key"]
    _assert_error(api.call("GET", "/v1/me", raw_body='{"x": 1}', key=key), 400, "unexpected_body")
    _assert_error(api.call("POST", "/v1/feeds/fd_1/activate", {"anything": 1}, key=key), 400, "unexpected_body")
    _assert_error(api.call("DELETE", "/v1/api-keys/key_1", raw_body="garbage", key=key), 400, "unexpected_body")
    # An empty body is no body
    assert api.call("POST", "/v1/feeds/fd_missing/activate", raw_body="", key=key).status == 404


def test_a_control_character_in_the_path_is_404(api: ApiClient, make_account: Any, operator_key: str) -> None:
    buyer = make_account(["buyer"])
    result = api.call("GET", "/v1/invoices/\n", key=buyer["api_key"])
    _assert_error(result, 404, "not_found")
    _assert_error(api.call("GET", "/v1/invoices/\x00", key=operator_key), 404, "not_found")


def test_expiration_days_must_be_a_number_not_a_boolean(api: ApiClient, provider: dict[str, Any]) -> None:
    body = {"name": "s", "category": "c", "rule": "trt_1", "expiration_days": True}
    result = api.call("POST", "/v1/segments", body, key=provider["api_key"])
    assert result.status == 422, result.body
    assert result.body["error"]["details"][0]["field"] == "expiration_days"


def test_bearer_is_case_insensitive(api: ApiClient, provider: dict[str, Any]) -> None:
    # The gateway's validation expression admits any case of the scheme...
    resources = load()["Resources"]
    api_props = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::Serverless::Api")
    authorizers = api_props["Auth"]["Authorizers"]
    expression = next(iter(authorizers.values()))["Identity"]["ValidationExpression"]
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        assert re.fullmatch(expression, f"{scheme} {provider['api_key']}"), scheme
    assert not re.fullmatch(expression, f"Basic {provider['api_key']}")
    # ...and so does the authorizer function
    token_event = event("authorizer_token.json")
    token_event["authorizationToken"] = f"bearer {provider['api_key']}"
    policy = load_handler("AuthorizerFunction")(token_event, FakeContext(function_name="authorizer"))
    assert policy["principalId"] == provider["account_id"]
