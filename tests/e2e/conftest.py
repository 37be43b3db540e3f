"""End-to-end: the local runtime started for real from template.yaml, driven over HTTP like a user would."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.client import Client
from tests.support.limits import apply_suite_defaults, engine_for

apply_suite_defaults()

OPERATOR_KEY = "aud_operator_e2e_key_0123456789abcdef"


@pytest.fixture(scope="module")
def runtime(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One runtime per test module (moto's state is process-wide, so runtimes never overlap).

    DynamoDB's limits and transient faults are on (AUDIENS_DYNAMODB_LIMITS, the suite's default), seeded
    with the module's name.
    """
    from local_runtime import LocalRuntime

    os.environ["AUDIENS_OPERATOR_KEY"] = OPERATOR_KEY
    with LocalRuntime(
        template="template.yaml",
        api_port=0,
        aws_port=0,
        clock="2026-11-03T10:00:00Z",
        parameters={"OperatorKeyHash": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()},
        dynamodb_limits=engine_for(request.node.nodeid) or False,
    ) as rt:
        yield rt


@pytest.fixture(scope="module")
def http(runtime: Any) -> Client:
    return Client(runtime.api_url)


@pytest.fixture(scope="module")
def operator_key() -> str:
    return OPERATOR_KEY


@pytest.fixture
def new_account(http: Client, operator_key: str) -> Any:
    counter = iter(range(10**6))

    def make(roles: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        n = f"{os.getpid()}-{next(counter)}-{id(make)}"
        reply = http.post(
            "/v1/admin/accounts",
            {"company_name": f"E2E {n}", "email": f"e2e{n}@example.com", "roles": roles or ["buyer"], **extra},
            key=operator_key,
        )
        assert reply.status == 201, reply.body
        return dict(reply.body)

    return make
