"""Helpers of the usage reporting tests (their fixtures are in conftest.py).

Building the template's resources in moto costs ~0.6 s, and the bad-input matrix alone has dozens of
cases, so each usage test module shares one stack (``shared_stack``, with ``usage_stack``) and every test
makes its own buyer account: tests never see each other's data (usage, uploads and content hashes are all
per account). The one global item, a period's close state, is reset by the ``period_state`` fixture.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.support.lambda_api import OPERATOR_KEY, ApiClient
from tests.support.usage import PERIOD, InMemoryUsageCatalog, UsageDrops


@dataclass
class UsageStack:
    physical: dict[str, str]
    api: ApiClient
    catalog: InMemoryUsageCatalog
    drops: UsageDrops

    def account(self, roles: list[str]) -> dict[str, Any]:
        n = uuid.uuid4().hex[:12]
        result = self.api.call(
            "POST",
            "/v1/admin/accounts",
            {"company_name": f"Usage buyer {n}", "email": f"usage{n}@example.com", "roles": roles},
            key=OPERATOR_KEY,
        )
        assert result.status == 201, result.body
        return dict(result.body)


def stored(buyer_id: str, kind: str = "segments", period: str = PERIOD) -> dict[tuple[str, str], int]:
    from audiens.domain.periods import Period
    from audiens.wiring import usage_repository

    return usage_repository().stored_usage(buyer_id, Period.parse(period), kind)  # type: ignore[arg-type]


def uploads(api: ApiClient, account: dict[str, Any]) -> list[dict[str, Any]]:
    result = api.call("GET", "/v1/usage/uploads", key=account["api_key"])
    assert result.status == 200, result.body
    return list(result.body["uploads"])
