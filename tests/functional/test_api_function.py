"""The ApiFunction entry point freezes what its execution environment keeps (see functions/api/app.py)."""

from __future__ import annotations

import gc
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ENTRY = Path(__file__).resolve().parents[2] / "functions" / "api" / "app.py"


def test_the_entry_point_freezes_after_init_the_first_invocations_and_module_loads(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    freezes: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))
    spec = importlib.util.spec_from_file_location("api_function_entry", ENTRY)
    assert spec is not None and spec.loader is not None
    entry: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    assert len(freezes) == 1  # after the init

    calls: list[Any] = []
    monkeypatch.setattr(entry, "handle", lambda event, context: calls.append(event) or {"statusCode": 200})
    for n in range(entry.WARM_UP_INVOCATIONS + 5):
        assert entry.lambda_handler({"n": n}, None) == {"statusCode": 200}
    assert len(calls) == entry.WARM_UP_INVOCATIONS + 5
    assert len(freezes) == 1 + entry.WARM_UP_INVOCATIONS  # not after every request

    monkeypatch.setitem(sys.modules, "a_module_loaded_on_first_use", object())
    entry.lambda_handler({}, None)
    entry.lambda_handler({}, None)
    assert len(freezes) == 2 + entry.WARM_UP_INVOCATIONS  # once after the invocation that loaded it
