"""A restart of the local runtime on the same state folder (what ``make up`` does) keeps the accounts."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.client import Client

OPERATOR_KEY = "aud_operator_e2e_restart_0123456789abcdef"


def test_given_accounts_and_keys_when_the_runtime_restarts_on_its_state_then_they_still_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local_runtime import LocalRuntime

    monkeypatch.setenv("AUDIENS_OPERATOR_KEY", OPERATOR_KEY)
    monkeypatch.delenv("AUDIENS_CLOCK", raising=False)
    options: dict[str, Any] = {
        "template": "template.yaml",
        "api_port": 0,
        "aws_port": 0,
        "parameters": {"OperatorKeyHash": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()},
        "state_dir": tmp_path / "state",
    }
    # Given an operator-made account and a self-service sign-up whose email was sent
    with LocalRuntime(clock="2026-11-03T10:00:00Z", **options) as first:
        http = Client(first.api_url)
        account = http.post(
            "/v1/admin/accounts",
            {"company_name": "Kept Co", "email": "kept@restart.example", "roles": ["buyer"]},
            key=OPERATOR_KEY,
            expect=201,
        ).body
        http.post(
            "/v1/accounts",
            {"company_name": "Pending Co", "email": "pending@restart.example", "roles": ["buyer"]},
            expect=201,
        )
        http.idle()
    # When the runtime stops and starts again on the same folder
    with LocalRuntime(**options) as second:
        http = Client(second.api_url)
        # Then the key still works, the account is the same, the email is still in the outbox
        me = http.get("/v1/me", key=account["api_key"], expect=200).body
        assert me["account_id"] == account["account_id"] and me["company_name"] == "Kept Co"
        emails = http.get("/_local/outbox", expect=200).body["emails"]
        assert any("pending@restart.example" in str(e["to"]) for e in emails)
        # and the pending sign-up still holds its email address
        again = {"company_name": "Pending Co", "email": "pending@restart.example", "roles": ["buyer"]}
        assert http.post("/v1/accounts", again).status == 409
        # and the local clock resumed where it was, not at today's date
        assert http.get("/_local/clock").body["now"].startswith("2026-11-03")
