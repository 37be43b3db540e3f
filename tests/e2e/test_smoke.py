"""`make smoke` against the local runtime: the same story a deployed stack is checked with."""

from __future__ import annotations

from typing import Any

import smoke
from tests.e2e.client import Client


def test_the_smoke_story_passes_and_cleans_up_after_itself(runtime: Any, http: Client, operator_key: str) -> None:
    lines: list[str] = []
    # Given the local clock in the open window of 2026-10 (the fixture starts it at 2026-11-03)
    account = smoke.run(runtime.api_url, operator_key, period="2026-10", say=lines.append)
    # Then every step passed, usage was reported in the open window and every cleanup step ran
    assert not [line for line in lines if line.startswith("!!")], lines
    assert any("usage for 2026-10 reported" in line for line in lines), lines
    assert [line for line in lines if "cleanup" in line] == [
        "ok  cleanup: delete the destination",
        "ok  cleanup: delete the segment",
        "ok  cleanup: revoke the API key",
    ]
    # And the account it made can no longer call the API
    assert http.get("/v1/me", key=account["api_key"]).status == 401


def test_the_smoke_command_fails_with_a_wrong_operator_key(runtime: Any) -> None:
    assert smoke.main(["--url", runtime.api_url, "--operator-key", "aud_not_the_operator_key_000000"]) == 1
