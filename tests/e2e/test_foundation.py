"""Issue 2 end to end: accounts, keys, the authorizer, errors, idempotency, email, schedules, docs."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.client import Client


def _email_to(http: Client, address: str) -> dict[str, Any]:
    http.idle()  # the email worker has run: the outbox is complete, no polling
    emails = http.get("/_local/outbox").body["emails"]
    email: dict[str, Any] = next(e for e in reversed(emails) if address in str(e["to"]))
    return email


def test_sign_up_activation_email_and_first_key(http: Client) -> None:
    # Given a sign-up through the public API
    signed = http.post(
        "/v1/accounts", {"company_name": "E2E Data", "email": "first@e2e.example", "roles": ["provider"]}
    )
    assert signed.status == 201 and signed.body["status"] == "pending"
    # When the email worker has sent the activation email (SQS → worker → SES → outbox)
    email = _email_to(http, "first@e2e.example")
    token = re.search(r"token=([A-Za-z0-9_\-]+)", email["body"]).group(1)  # type: ignore[union-attr]
    # Then the token activates the account and returns a working key
    activated = http.post("/v1/accounts/activate", {"token": token})
    assert activated.status == 200
    me = http.get("/v1/me", key=activated.body["api_key"])
    assert me.status == 200 and me.body["account_id"] == signed.body["account_id"]
    assert http.post("/v1/accounts/activate", {"token": token}).code == "token_already_used"


def test_gateway_rejects_missing_malformed_and_unknown_keys(http: Client) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer " + "x" * 40}):
        reply = http.get("/v1/me", headers=headers)
        assert reply.status == 401, headers
        assert reply.code == "unauthorized" and set(reply.body["error"]) == {"code", "message", "details"}


def test_revoked_key_stops_working_at_once_despite_the_authorizer_cache(http: Client, new_account: Any) -> None:
    first = new_account()["api_key"]
    created = http.post("/v1/api-keys", {"name": "temp"}, key=first).body
    second = created["api_key"]
    assert http.get("/v1/me", key=second).status == 200  # now cached by the gateway
    assert http.delete(f"/v1/api-keys/{created['key_id']}", key=first).status == 200
    assert http.get("/v1/me", key=second).status == 401
    assert http.get("/v1/me", key=first).status == 200


def test_roles_are_enforced(http: Client, new_account: Any) -> None:
    buyer = new_account(["buyer"])["api_key"]
    reply = http.post(
        "/v1/admin/accounts", {"company_name": "X", "email": "x@e2e.example", "roles": ["buyer"]}, key=buyer
    )
    assert reply.status == 403 and reply.code == "forbidden"


def test_error_statuses_through_the_gateway(http: Client, new_account: Any) -> None:
    key = new_account()["api_key"]
    assert http.post("/v1/accounts", b"{nope").status == 400
    assert http.post("/v1/accounts", {"company_name": "A"}).status == 422
    assert http.get("/v1/does-not-exist", key=key).status == 404
    assert http.request("PUT", "/v1/me", {}, key=key).status == 405
    big = http.post("/v1/accounts", b'{"x": "' + b"a" * (6 * 1024 * 1024 + 10) + b'"}')
    assert big.status == 413 and big.code == "payload_too_large"


def test_idempotency_key_over_http(http: Client) -> None:
    body = {"company_name": "Idem", "email": "idem@e2e.example", "roles": ["buyer"]}
    first = http.post("/v1/accounts", body, headers={"Idempotency-Key": "e2e-1"})
    again = http.post("/v1/accounts", body, headers={"Idempotency-Key": "e2e-1"})
    assert first.status == again.status == 201 and first.body == again.body
    other = http.post("/v1/accounts", {**body, "email": "other@e2e.example"}, headers={"Idempotency-Key": "e2e-1"})
    assert other.status == 422 and other.code == "idempotency_key_reused"


def test_clock_stamps_requests_and_fires_the_daily_schedule(http: Client, runtime: Any) -> None:
    # Given a pending account created at the current local time
    http.post("/_local/clock", {"now": "2026-11-03T10:00:00Z"})
    body = {"company_name": "Never", "email": "never@e2e.example", "roles": ["buyer"]}
    assert http.post("/v1/accounts", body).status == 201
    assert http.post("/v1/accounts", body).status == 409
    # When the clock passes 03:00 UTC more than 7 days later (and the daily schedule it fires has run)
    moved = http.post("/_local/clock", {"now": "2026-11-11T03:00:00Z", "wait": True})
    assert moved.status == 200 and moved.body["idle"] is True
    # Then the account expired and the email is free again
    assert http.post("/v1/accounts", body).status == 201


def test_local_endpoints_and_docs(http: Client) -> None:
    assert http.get("/_local/clock").body["now"].endswith("Z")
    assert http.post("/_local/clock", {"now": "yesterday"}).status in (400, 422)
    docs = http.get("/docs", headers={"Accept": "text/html"})
    assert docs.status == 200 and "swagger" in str(docs.body).lower()
    spec = http.get("/openapi.json")
    assert spec.status == 200 and "/v1/me" in spec.body["paths"]
    run = http.post("/_local/schedules/DailyMaintenanceFunction.Daily/run")
    assert run.status in (200, 202)
    idle = http.post("/_local/idle", {"timeout": 30})
    assert idle.status == 200 and idle.body["idle"] is True
    assert http.post("/_local/idle", {"timeout": "x"}).code == "validation_error"
