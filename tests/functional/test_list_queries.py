"""The account-wide views read in a fixed number of DynamoDB calls, whatever the number of sources or
destinations: the data points catalog and the usage views used to query once per source / destination."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import pytest

from tests.functional.onboarding_helpers import create_source, post_events
from tests.support.lambda_api import ApiClient


@contextmanager
def dynamodb_calls() -> Iterator[Counter[str]]:
    calls: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls[operation] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


@pytest.fixture
def account(make_account: Any) -> dict[str, Any]:
    return dict(make_account(["provider", "buyer"]))


def _add_source(api: ApiClient, key: str, n: int) -> str:
    source = create_source(api, key, name=f"s{n}")
    events = [{"user_id": f"u{i}", "data": {"interest": f"v{i % 3}", "age": str(20 + i % 2)}} for i in range(9)]
    assert post_events(api, key, source["source_id"], events).status == 202
    return str(source["source_id"])


def _count(api: ApiClient, key: str, path: str) -> tuple[int, Any]:
    api.call("GET", path, key=key)  # warm the caches a Lambda keeps between invocations
    with dynamodb_calls() as calls:
        result = api.call("GET", path, key=key)
    assert result.status == 200, result.body
    return sum(calls.values()), result.body


def test_the_data_points_catalog_costs_the_same_for_one_source_or_many(api: ApiClient, account: Any) -> None:
    key = account["api_key"]
    first = _add_source(api, key, 0)
    one, body = _count(api, key, "/v1/data-points")
    assert {d["source_id"] for d in body["data_points"]} == {first}
    others = [_add_source(api, key, n) for n in range(1, 7)]
    many, body = _count(api, key, "/v1/data-points")
    assert many == one <= 3
    # every source's keys and values, with their distinct users
    assert {d["source_id"] for d in body["data_points"]} == {first, *others}
    interest = next(d for d in body["data_points"] if d["source_id"] == first and d["key"] == "interest")
    assert interest["values"] == [{"value": "v0", "users": 3}, {"value": "v1", "users": 3}, {"value": "v2", "users": 3}]
    # one source's catalog only
    filtered = api.call("GET", "/v1/data-points", key=key, query={"source_id": others[0]}).body
    assert {d["source_id"] for d in filtered["data_points"]} == {others[0]}
    assert len(filtered["data_points"]) == 2


def test_the_usage_view_costs_the_same_for_one_destination_or_many(api: ApiClient, account: Any) -> None:
    key = account["api_key"]
    source_id = _add_source(api, key, 0)
    trait = api.call(
        "POST",
        "/v1/traits",
        {"name": "t", "source_id": source_id, "condition": {"key": "interest", "equals": "v1"}},
        key=key,
    ).body
    segment = api.call("POST", "/v1/segments", {"name": "S", "category": "c", "rule": trait["trait_id"]}, key=key)
    assert segment.status == 201, segment.body

    def add_destination(n: int) -> str:
        made = api.call("POST", "/v1/destinations", {"channel_id": "example_dsp", "name": f"d{n}"}, key=key)
        assert made.status == 201, made.body
        dest = str(made.body["destination_id"])
        mapped = api.call(
            "POST", f"/v1/destinations/{dest}/segments", {"segment_id": segment.body["segment_id"]}, key=key
        )
        assert mapped.status == 201, mapped.body
        return dest

    first = add_destination(0)
    one, body = _count(api, key, "/v1/usage/2026-11/segments")
    assert [r["destination_id"] for r in body["rows"]] == [first]
    others = [add_destination(n) for n in range(1, 6)]
    many, body = _count(api, key, "/v1/usage/2026-11/segments")
    assert many == one
    assert sorted(r["destination_id"] for r in body["rows"]) == sorted([first, *others])


def test_lists_page_with_a_cursor_and_default_to_everything(api: ApiClient, account: Any) -> None:
    key = account["api_key"]
    made = [create_source(api, key, name=f"s{n}")["source_id"] for n in range(5)]
    # By default a listing answers everything, as before pages existed
    everything = api.call("GET", "/v1/sources", key=key).body
    assert [s["source_id"] for s in everything["sources"]] == made and everything["next_cursor"] is None
    # Page by page, the cursor walks the same order without gaps or repeats
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.call("GET", "/v1/sources", key=key, query=query).body
        seen += [s["source_id"] for s in page["sources"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made and pages == 3
    assert everything["by_type"] == page["by_type"] == {"api": 5, "s3": 0, "pixel": 0}
    # A cursor that names nothing of this listing is a clear 422
    bad = api.call("GET", "/v1/sources", key=key, query={"cursor": "bm90LWFuLWlk"})
    assert bad.status == 422 and bad.body["error"]["code"] == "invalid_cursor"
    assert api.call("GET", "/v1/segments", key=key, query={"limit": "0"}).status == 422


@pytest.mark.parametrize(
    "path", ["/v1/api-keys", "/v1/traits", "/v1/segments", "/v1/destinations", "/v1/feeds", "/v1/marketplace/feeds"]
)
def test_every_list_answers_next_cursor(api: ApiClient, account: Any, path: str) -> None:
    result = api.call("GET", path, key=account["api_key"], query={"limit": "1"})
    assert result.status == 200, result.body
    assert "next_cursor" in result.body
