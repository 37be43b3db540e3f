"""Accounts, activation, API keys and the authorizer through the real handlers on moto."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from tests.support.aws import drain
from tests.support.lambda_api import ApiClient, FakeContext, event, load_handler


def _send_queued_emails(stack: dict[str, str]) -> list[dict[str, Any]]:
    worker = load_handler("EmailWorkerFunction")
    messages = drain(stack["EmailQueue"])
    records = []
    for m in messages:
        rec = event("sqs_email.json")["Records"][0]
        rec.update(messageId=m["MessageId"], receiptHandle=m["ReceiptHandle"], body=m["Body"])
        records.append(rec)
    if records:
        result = worker({"Records": records}, FakeContext())
        assert result == {"batchItemFailures": []}
    return records


def _sent_emails() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def _token_from_outbox() -> str:
    body = _sent_emails()[-1].body
    match = re.search(r"token=([A-Za-z0-9_\-]+)", body)
    assert match, body
    return match.group(1)


def test_sign_up_then_activate_returns_a_working_key(api: ApiClient, stack: dict[str, str]) -> None:
    # Given a sign-up
    signed = api.call(
        "POST", "/v1/accounts", {"company_name": "Acme Data", "email": "ops@acme.example", "roles": ["provider"]}
    )
    assert signed.status == 201 and signed.body["status"] == "pending"
    # When the queued email is sent and its token used
    assert len(_send_queued_emails(stack)) == 1
    token = _token_from_outbox()
    activated = api.call("POST", "/v1/accounts/activate", {"token": token})
    # Then the account is active and the key authenticates
    assert activated.status == 200, activated.body
    key = activated.body["api_key"]
    me = api.call("GET", "/v1/me", key=key)
    assert me.status == 200
    assert me.body["account_id"] == signed.body["account_id"]
    assert me.body["status"] == "active" and me.body["roles"] == ["provider"]
    assert me.body["revenue_share"] is None or me.body["revenue_share"] == "0.80"
    # And the token is single use
    again = api.call("POST", "/v1/accounts/activate", {"token": token})
    assert again.status == 409 and again.error_code == "token_already_used"


def test_pending_account_key_cannot_exist_and_expired_token_is_refused(api: ApiClient, stack: dict[str, str]) -> None:
    api.call("POST", "/v1/accounts", {"company_name": "Late Co", "email": "late@example.com", "roles": ["buyer"]})
    _send_queued_emails(stack)
    token = _token_from_outbox()
    later = api.now + timedelta(days=8)
    result = api.call("POST", "/v1/accounts/activate", {"token": token}, now=later)
    assert result.status == 409 and result.error_code == "token_expired"


def test_unknown_token_is_422(api: ApiClient) -> None:
    result = api.call("POST", "/v1/accounts/activate", {"token": "nope"})
    assert result.status == 422 and result.error_code == "invalid_token"


def test_email_is_unique_across_live_accounts(api: ApiClient) -> None:
    body = {"company_name": "Dup", "email": "dup@example.com", "roles": ["buyer"]}
    assert api.call("POST", "/v1/accounts", body).status == 201
    second = api.call("POST", "/v1/accounts", {**body, "email": "DUP@Example.com"})
    assert second.status == 409 and second.error_code == "email_already_registered"


def test_daily_schedule_expires_unactivated_accounts_and_frees_the_email(api: ApiClient, stack: dict[str, str]) -> None:
    # Given a pending account created on Nov 3
    api.call("POST", "/v1/accounts", {"company_name": "Slow", "email": "slow@example.com", "roles": ["buyer"]})
    _send_queued_emails(stack)
    token = _token_from_outbox()
    daily = load_handler("DailyMaintenanceFunction")
    # When the daily job runs 6 days later nothing expires; 8 days later it does
    ev = event("schedule_daily.json")
    ev["time"] = "2026-11-09T03:00:00Z"
    assert daily(ev, FakeContext())["expired_accounts"] == 0
    ev["time"] = "2026-11-11T03:00:00Z"
    assert daily(ev, FakeContext())["expired_accounts"] == 1
    assert daily(ev, FakeContext())["expired_accounts"] == 0  # re-run changes nothing
    # Then the token no longer works and the email can sign up again
    late = datetime(2026, 11, 5, tzinfo=UTC)
    assert api.call("POST", "/v1/accounts/activate", {"token": token}, now=late).error_code == "account_not_pending"
    again = api.call("POST", "/v1/accounts", {"company_name": "Slow", "email": "slow@example.com", "roles": ["buyer"]})
    assert again.status == 201


def test_operator_creates_active_accounts_with_revenue_share(api: ApiClient, operator_key: str) -> None:
    made = api.call(
        "POST",
        "/v1/admin/accounts",
        {"company_name": "Prov", "email": "p@example.com", "roles": ["provider"], "revenue_share": "0.75"},
        key=operator_key,
    )
    assert made.status == 201 and made.body["status"] == "active"
    me = api.call("GET", "/v1/me", key=made.body["api_key"])
    assert me.body["revenue_share"] == "0.75"
    bad = api.call(
        "POST",
        "/v1/admin/accounts",
        {"company_name": "Prov", "email": "p2@example.com", "roles": ["provider"], "revenue_share": "1.5"},
        key=operator_key,
    )
    assert bad.status == 422 and bad.error_code == "invalid_revenue_share"


def test_admin_route_needs_the_operator_role(api: ApiClient, make_account: Any) -> None:
    buyer = make_account(["buyer"])
    result = api.call(
        "POST",
        "/v1/admin/accounts",
        {"company_name": "X", "email": "x@example.com", "roles": ["buyer"]},
        key=buyer["api_key"],
    )
    assert result.status == 403 and result.error_code == "forbidden"


def test_api_keys_create_list_revoke(api: ApiClient, make_account: Any) -> None:
    acct = make_account(["buyer"])
    first = acct["api_key"]
    # Given a second key
    created = api.call("POST", "/v1/api-keys", {"name": "ci"}, key=first)
    assert created.status == 201 and created.body["api_key"].startswith("aud_")
    second = created.body["api_key"]
    assert api.call("GET", "/v1/me", key=second).status == 200
    listed = api.call("GET", "/v1/api-keys", key=first).body["api_keys"]
    assert len(listed) == 2 and all("api_key" not in k for k in listed)
    # When it is revoked
    revoked = api.call("DELETE", f"/v1/api-keys/{created.body['key_id']}", key=first)
    assert revoked.status == 200 and revoked.body["status"] == "revoked"
    # Then it no longer authenticates, and the last active key cannot be revoked
    assert api.call("GET", "/v1/me", key=second).status == 401
    first_id = next(k["key_id"] for k in listed if k["key_id"] != created.body["key_id"])
    last = api.call("DELETE", f"/v1/api-keys/{first_id}", key=first)
    assert last.status == 409 and last.error_code == "last_active_key"


def test_keys_of_another_account_are_404(api: ApiClient, make_account: Any) -> None:
    a, b = make_account(["buyer"]), make_account(["buyer"])
    b_keys = api.call("GET", "/v1/api-keys", key=b["api_key"]).body["api_keys"]
    result = api.call("DELETE", f"/v1/api-keys/{b_keys[0]['key_id']}", key=a["api_key"])
    assert result.status == 404


def test_keys_are_stored_only_as_hashes(api: ApiClient, make_account: Any, stack: dict[str, str]) -> None:
    acct = make_account(["buyer"])
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=stack["AccountsTable"])["Items"]
    assert acct["api_key"] not in json.dumps(items)


def test_email_worker_redelivery_sends_once_and_poison_is_reported(api: ApiClient, stack: dict[str, str]) -> None:
    api.call("POST", "/v1/accounts", {"company_name": "Once", "email": "once@example.com", "roles": ["buyer"]})
    messages = drain(stack["EmailQueue"])
    worker = load_handler("EmailWorkerFunction")
    rec = event("sqs_email.json")["Records"][0]
    rec.update(messageId="m1", body=messages[0]["Body"])
    poison = dict(rec, messageId="m2", body='{"email_id": "eml_missing"}')
    garbage = dict(rec, messageId="m3", body="not json")
    # When the same message arrives twice in a batch with a poison one
    result = worker({"Records": [rec, dict(rec, messageId="m1b"), poison, garbage]}, FakeContext())
    # Then the email is sent once and only the poison items fail (they go back to the queue, then the DLQ)
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m2", "m3"]
    assert len(_sent_emails()) == 1
