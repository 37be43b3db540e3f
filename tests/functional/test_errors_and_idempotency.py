"""API.md conventions: every bad input gets the documented status and error body, and changes nothing."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from audiens.api import accounts as accounts_api
from tests.support.lambda_api import ApiClient

SIGN_UP = {"company_name": "Acme", "email": "a@example.com", "roles": ["buyer"]}


def _items(stack: dict[str, str]) -> int:
    return int(boto3.client("dynamodb", region_name="us-east-1").scan(TableName=stack["AccountsTable"])["Count"])


def _assert_error_body(body: Any) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"] and isinstance(body["error"]["details"], list)


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        ("{not json", 400, "malformed_json"),
        ('{"company_name": "A", "email": "a@example.com", "roles": "buyer"}', 422, "validation_error"),
        ('{"company_name": "A", "email": "a@example.com", "roles": ["buyer"], "x": 1}', 422, "validation_error"),
        (
            '{"company_name": "' + "A" * 201 + '", "email": "a@example.com", "roles": ["buyer"]}',
            422,
            "validation_error",
        ),
        ('{"company_name": "A", "email": "not-an-email", "roles": ["buyer"]}', 422, "invalid_email"),
        ('{"company_name": "A", "email": "a@example.com", "roles": ["operator"]}', 422, "validation_error"),
        ('{"company_name": "A", "email": "a@example.com", "roles": []}', 422, "validation_error"),
        ("[]", 422, "validation_error"),
        ("", 422, "validation_error"),
    ],
)
def test_bad_sign_up_bodies(api: ApiClient, stack: dict[str, str], raw: str, status: int, code: str) -> None:
    before = _items(stack)
    result = api.call("POST", "/v1/accounts", raw_body=raw)
    assert (result.status, result.error_code) == (status, code), result.body
    _assert_error_body(result.body)
    assert _items(stack) == before


def test_validation_details_name_the_field(api: ApiClient) -> None:
    result = api.call("POST", "/v1/accounts", {"company_name": "A", "email": "a@example.com", "roles": ["x"]})
    assert any(d["field"].startswith("roles") for d in result.body["error"]["details"])


def test_body_over_6_mb_is_413(api: ApiClient, stack: dict[str, str]) -> None:
    result = api.call("POST", "/v1/accounts", raw_body='{"company_name": "' + "x" * (6 * 1024 * 1024) + '"}')
    assert result.status == 413 and result.error_code == "payload_too_large"
    _assert_error_body(result.body)


def test_unknown_route_is_404_and_wrong_method_is_405(api: ApiClient, make_account: Any) -> None:
    key = make_account()["api_key"]
    missing = api.call("GET", "/v1/nothing-here", key=key)
    assert missing.status == 404 and missing.error_code == "not_found"
    _assert_error_body(missing.body)
    wrong = api.call("DELETE", "/v1/me", key=key)
    assert wrong.status == 405 and wrong.error_code == "method_not_allowed"
    assert "GET" in wrong.headers.get("Allow", "")


def test_unknown_and_missing_keys_are_401(api: ApiClient) -> None:
    assert api.call("GET", "/v1/me", key="aud_" + "x" * 40).status == 401
    assert api.call("GET", "/v1/me").status == 401


def test_idempotent_retry_returns_the_first_response(api: ApiClient, stack: dict[str, str]) -> None:
    headers = {"Idempotency-Key": "signup-1"}
    first = api.call("POST", "/v1/accounts", SIGN_UP, headers=headers)
    count = _items(stack)
    retry = api.call("POST", "/v1/accounts", SIGN_UP, headers=headers)
    assert retry.status == first.status == 201
    assert retry.body == first.body
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert _items(stack) == count  # nothing created twice


def test_same_idempotency_key_with_another_body_is_422(api: ApiClient, stack: dict[str, str]) -> None:
    headers = {"Idempotency-Key": "signup-2"}
    assert api.call("POST", "/v1/accounts", SIGN_UP, headers=headers).status == 201
    count = _items(stack)
    other = api.call("POST", "/v1/accounts", {**SIGN_UP, "email": "b@example.com"}, headers=headers)
    assert other.status == 422 and other.error_code == "idempotency_key_reused"
    assert _items(stack) == count


def test_failed_requests_are_not_recorded_under_the_key(api: ApiClient) -> None:
    headers = {"Idempotency-Key": "signup-3"}
    assert api.call("POST", "/v1/accounts", SIGN_UP).status == 201
    conflict = api.call("POST", "/v1/accounts", SIGN_UP, headers=headers)
    assert conflict.status == 409
    # the retry runs again (and fails again the same way) rather than replaying a stored error
    assert api.call("POST", "/v1/accounts", SIGN_UP, headers=headers).status == 409


def test_idempotency_keys_are_scoped_per_account(api: ApiClient, make_account: Any) -> None:
    a, b = make_account(), make_account()
    h = {"Idempotency-Key": "k"}
    ka = api.call("POST", "/v1/api-keys", {"name": "x"}, key=a["api_key"], headers=h)
    kb = api.call("POST", "/v1/api-keys", {"name": "x"}, key=b["api_key"], headers=h)
    assert ka.status == kb.status == 201 and ka.body["key_id"] != kb.body["key_id"]


def test_request_time_comes_from_the_gateway_stamp(api: ApiClient, make_account: Any) -> None:
    from datetime import UTC, datetime

    key = make_account()["api_key"]
    made = api.call("POST", "/v1/api-keys", {"name": "t"}, key=key, now=datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert made.body["created_at"] == "2031-01-02T03:04:05Z"


def test_an_idempotency_record_whose_answer_was_lost_is_this_requests_own(
    api: ApiClient, stack: dict[str, str], limits: Any
) -> None:
    if limits is None:
        pytest.skip("lost answers come from the DynamoDB limits (AUDIENS_DYNAMODB_LIMITS=real)")
    headers = {"Idempotency-Key": "signup-lost"}
    # Given the request's in-progress record committed and its answer lost (the SDK sends the put again, whose
    # condition then fails on the record this very request wrote)
    limits.inject("LostAnswer", "PutItem", where=stack["IdempotencyTable"])
    first = api.call("POST", "/v1/accounts", SIGN_UP, headers=headers)

    # Then the request goes on as the record's owner (not 409 "in progress"), and a retry replays it
    assert limits.pending_injections() == 0
    assert first.status == 201, first.body
    retry = api.call("POST", "/v1/accounts", SIGN_UP, headers=headers)
    assert (retry.status, retry.body, retry.headers.get("Idempotent-Replayed")) == (201, first.body, "true")


def test_a_response_that_does_not_match_its_model_is_a_logged_500_not_the_clients_422(
    api: ApiClient, make_account: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a route whose body lacks a field of its response model (a programming error, not bad input)
    account = make_account(["buyer"])
    monkeypatch.setattr(
        accounts_api.MeResponse, "of", classmethod(lambda cls, found: {"account_id": "x", "email": "secret@x.io"})
    )
    # When the client calls it
    result = api.call("GET", "/v1/me", key=account["api_key"])
    # Then 500 with the documented error body (nothing of the internals), and the mismatch is logged
    assert (result.status, result.error_code) == (500, "internal_error")
    _assert_error_body(result.body)
    assert "a response does not match its model" in caplog.text
    [logged] = [r for r in caplog.records if r.getMessage() == "a response does not match its model"]
    problems = str(logged.problems)  # type: ignore[attr-defined]
    assert "company_name" in problems and "secret@x.io" not in problems  # where and why, never the body
