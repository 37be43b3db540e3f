"""Fixtures of the usage reporting tests (imported by test_usage_*.py).

Building the template's resources in moto costs ~0.6 s, and the bad-input matrix alone has dozens of
cases, so each usage test module shares one stack (``usage_stack``, module scope) and every test makes
its own buyer account: tests never see each other's data (usage, uploads and content hashes are all
per account). The one global item, a period's close state, is reset by the ``period_state`` fixture.
moto's O(table) transaction and query costs are removed (``local_runtime.moto_patches.fast_moto``: moto's own
transaction code with a per-item backup), semantics unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_runtime.moto_patches import fast_moto
from tests.support.aws import create_stack
from tests.support.lambda_api import OPERATOR_KEY, OPERATOR_KEY_HASH, ApiClient, function_environment
from tests.support.usage import IN_WINDOW, PERIOD, InMemoryUsageCatalog, UsageDrops, WriteCounter

_numbers = itertools.count()


@dataclass
class UsageStack:
    physical: dict[str, str]
    api: ApiClient
    catalog: InMemoryUsageCatalog
    drops: UsageDrops

    def account(self, roles: list[str]) -> dict[str, Any]:
        n = next(_numbers)
        result = self.api.call(
            "POST",
            "/v1/admin/accounts",
            {"company_name": f"Usage buyer {n}", "email": f"usage{n}@example.com", "roles": roles},
            key=OPERATOR_KEY,
        )
        assert result.status == 201, result.body
        return dict(result.body)


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


@pytest.fixture(scope="module")
def usage_stack() -> Iterator[UsageStack]:
    """Given the template's resources in moto, the functions' environment, and the marketplace seen through an
    in-memory ``UsageCatalog`` (the port usage reporting is built on)."""
    from audiens import wiring

    patch = pytest.MonkeyPatch()
    with fast_moto(), mock_aws():
        physical = create_stack()
        env = function_environment(physical, {"Stage": "test", "OperatorKeyHash": OPERATOR_KEY_HASH})
        for name, value in env.items():
            patch.setenv(name, value)
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=env["SENDER_EMAIL"])
        _clear_caches()
        fake = InMemoryUsageCatalog()
        patch.setattr(wiring, "usage_catalog", lambda: fake)
        try:
            yield UsageStack(physical, ApiClient(now=IN_WINDOW), fake, UsageDrops(physical["UsageBucket"]))
        finally:
            _clear_caches()
            patch.undo()


@pytest.fixture
def api(usage_stack: UsageStack) -> ApiClient:
    return usage_stack.api


@pytest.fixture
def catalog(usage_stack: UsageStack) -> InMemoryUsageCatalog:
    return usage_stack.catalog


@pytest.fixture
def drops(usage_stack: UsageStack) -> UsageDrops:
    return usage_stack.drops


@pytest.fixture
def make_account(usage_stack: UsageStack) -> Callable[[list[str]], dict[str, Any]]:
    return usage_stack.account


@pytest.fixture
def buyer(usage_stack: UsageStack) -> dict[str, Any]:
    """Given a buyer with three segments on one destination, one on a content-optimization destination, and a
    CPM feed (Data Provider A / Data Feed A) subscribed for activation and modeling."""
    account = usage_stack.account(["buyer"])
    buyer_id = account["account_id"]
    catalog = usage_stack.catalog
    catalog.map_segment(buyer_id, "seg_x", "dst_1", segment_name="Sports fans")
    catalog.map_segment(buyer_id, "seg_y", "dst_1", segment_name="Travel")
    catalog.map_segment(buyer_id, "seg_z", "dst_1", segment_name="Autos")
    catalog.map_segment(buyer_id, "seg_x", "dst_co", destination_name="Content optimizer", content_optimization=True)
    catalog.subscribe(buyer_id)
    catalog.subscribe(buyer_id, use_case="modeling")
    return account


@pytest.fixture
def other_buyer(usage_stack: UsageStack) -> dict[str, Any]:
    """Given another buyer account, with a segment of its own mapped to its own destination."""
    account = usage_stack.account(["buyer"])
    usage_stack.catalog.map_segment(account["account_id"], "seg_other", "dst_other")
    return account


@pytest.fixture
def other_buyers_segment(usage_stack: UsageStack) -> tuple[str, str]:
    """Given another buyer's (segment, destination) in the marketplace (no API key needed)."""
    other = f"acc_other_{next(_numbers)}"
    usage_stack.catalog.map_segment(other, "seg_other", "dst_other")
    return ("seg_other", "dst_other")


@pytest.fixture
def writes(usage_stack: UsageStack, monkeypatch: pytest.MonkeyPatch) -> WriteCounter:
    return WriteCounter().install(monkeypatch)


@pytest.fixture
def period_state(usage_stack: UsageStack) -> Iterator[Callable[[str, str], None]]:
    """Sets a period's close state (as the monthly close does) and removes it after the test."""
    from datetime import UTC, datetime

    from audiens.dal.period_models import PeriodStateItem
    from audiens.wiring import usage_repository

    usage_repository()  # binds the tables
    touched: list[str] = []

    def set_state(period: str, state: str) -> None:
        touched.append(period)
        PeriodStateItem(
            *PeriodStateItem.key(period), period=period, state=state, changed_at=datetime(2026, 11, 6, tzinfo=UTC)
        ).save()

    yield set_state
    for period in touched:
        PeriodStateItem(*PeriodStateItem.key(period)).delete()


def stored(buyer_id: str, kind: str = "segments", period: str = PERIOD) -> dict[tuple[str, str], int]:
    from audiens.domain.periods import Period
    from audiens.wiring import usage_repository

    return usage_repository().stored_usage(buyer_id, Period.parse(period), kind)  # type: ignore[arg-type]


def uploads(api: ApiClient, account: dict[str, Any]) -> list[dict[str, Any]]:
    result = api.call("GET", "/v1/usage/uploads", key=account["api_key"])
    assert result.status == 200, result.body
    return list(result.body["uploads"])


FIXTURES = [
    "api",
    "buyer",
    "catalog",
    "drops",
    "make_account",
    "other_buyer",
    "other_buyers_segment",
    "period_state",
    "usage_stack",
    "writes",
]
