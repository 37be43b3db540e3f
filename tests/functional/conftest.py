from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_NAMESPACE="Audiens",
    POWERTOOLS_LOG_LEVEL="WARNING",
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws

from local_runtime import dynamodb_limits
from tests.support.aws import create_stack
from tests.support.lambda_api import OPERATOR_KEY, OPERATOR_KEY_HASH, ApiClient, function_environment
from tests.support.limits import apply_suite_defaults, engine_for

apply_suite_defaults()
dynamodb_limits.install_botocore_hooks()  # before any botocore session exists; inert until an engine is used


def _clear_caches() -> None:
    from audiens import wiring
    from audiens.api import idempotency
    from audiens.config import get_settings

    get_settings.cache_clear()
    idempotency._store.cache_clear()
    for name in dir(wiring):
        fn = getattr(wiring, name)
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()


@contextlib.contextmanager
def fresh_stack(
    monkeypatch: pytest.MonkeyPatch, engine: Callable[[Any], dynamodb_limits.Limits | None]
) -> Iterator[dict[str, str]]:
    """The template's resources in a fresh moto, the functions' environment set, ``engine(client)`` judging
    every DynamoDB call (None: moto as it is)."""
    with mock_aws():
        physical = create_stack()
        env = function_environment(physical, {"Stage": "test", "OperatorKeyHash": OPERATOR_KEY_HASH})
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=env["SENDER_EMAIL"])
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        judge = engine(dynamodb)
        if judge is not None:
            judge.describe = lambda name: dynamodb.describe_table(TableName=name)["Table"]
            judge.learn_tables(dynamodb)
        previous = dynamodb_limits.use(judge)
        _clear_caches()
        try:
            yield physical
        finally:
            dynamodb_limits.use(previous)
            _clear_caches()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Given the template's tables, queues and buckets in moto, and the functions' environment set.

    DynamoDB's limits (conflicts, throughput, sizes, transient faults) judge every call made in the test
    when AUDIENS_DYNAMODB_LIMITS=real (the suite's default), faults seeded with the test's id; ``limits``
    is that engine.
    """
    with fresh_stack(monkeypatch, lambda _: engine_for(request.node.nodeid)) as physical:
        yield physical


@pytest.fixture
def limits(stack: dict[str, str]) -> dynamodb_limits.Limits | None:
    """The DynamoDB limits engine judging this test's calls (None when AUDIENS_DYNAMODB_LIMITS is off)."""
    return dynamodb_limits.current()


@pytest.fixture
def api(stack: dict[str, str]) -> ApiClient:
    return ApiClient()


@pytest.fixture
def operator_key() -> str:
    return OPERATOR_KEY


@pytest.fixture
def make_account(api: ApiClient, operator_key: str) -> Any:
    counter = iter(range(1_000_000))

    def make(roles: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        n = next(counter)
        result = api.call(
            "POST",
            "/v1/admin/accounts",
            {"company_name": f"Company {n}", "email": f"user{n}@example.com", "roles": roles or ["buyer"], **extra},
            key=operator_key,
        )
        assert result.status == 201, result.body
        return dict(result.body)

    return make
