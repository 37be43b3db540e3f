"""Per-account quotas: one more than the limit answers 409 quota_exceeded naming the limit, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from audiens.domain import quotas
from tests.functional.onboarding_helpers import create_source, post_events
from tests.support.lambda_api import ApiClient


def _assert_quota(result: Any, limit: int) -> None:
    assert result.status == 409, result.body
    error = result.body["error"]
    assert error["code"] == "quota_exceeded"
    assert f"at most {limit} " in error["message"]
    assert error["details"][0]["limit"] == limit


def test_api_keys_stop_at_their_quota_and_a_revoked_key_frees_a_slot(api: ApiClient, make_account: Any) -> None:
    # Given an account holding its first key plus keys up to the quota
    account = make_account(["buyer"])
    key = account["api_key"]
    limit = quotas.QUOTAS["api_keys"]
    created = [api.call("POST", "/v1/api-keys", {"name": f"k{i}"}, key=key) for i in range(limit - 1)]
    assert all(r.status == 201 for r in created)
    # When one more is asked for
    over = api.call("POST", "/v1/api-keys", {"name": "one too many"}, key=key)
    # Then 409 names the limit and no key was added
    _assert_quota(over, limit)
    assert len(api.call("GET", "/v1/api-keys", key=key).body["api_keys"]) == limit
    # And revoking one frees a slot
    assert api.call("DELETE", f"/v1/api-keys/{created[0].body['key_id']}", key=key).status == 200
    assert api.call("POST", "/v1/api-keys", {"name": "again"}, key=key).status == 201


@pytest.mark.parametrize("kind", ["sources", "segments", "destinations", "feeds"])
def test_each_quota_refuses_one_more(
    api: ApiClient, make_account: Any, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # Given a small quota (the mechanism is the same at the documented limit) and a provider at it
    monkeypatch.setitem(quotas.QUOTAS, kind, 2)
    provider = make_account(["provider"])
    key = provider["api_key"]
    source = create_source(api, key) if kind != "sources" else None
    trait_ids: list[str] = []
    if source is not None:
        post_events(api, key, source["source_id"], [{"user_id": f"u{i}", "data": {"k": f"v{i}"}} for i in range(4)])
        for i in range(3):
            trait = api.call(
                "POST",
                "/v1/traits",
                {"name": f"t{i}", "source_id": source["source_id"], "condition": {"key": "k", "equals": f"v{i}"}},
                key=key,
            )
            assert trait.status == 201, trait.body
            trait_ids.append(trait.body["trait_id"])

    def create(i: int) -> Any:
        if kind == "sources":
            return api.call("POST", "/v1/sources", {"name": f"s{i}", "type": "api"}, key=key)
        if kind == "segments":
            return api.call("POST", "/v1/segments", {"name": f"s{i}", "category": "c", "rule": trait_ids[0]}, key=key)
        if kind == "destinations":
            return api.call("POST", "/v1/destinations", {"channel_id": "example_dsp", "name": f"d{i}"}, key=key)
        plans = [{"use_cases": ["segments_and_overlap"], "unit": "flat_fee", "price": "10.00"}]
        body = {"name": f"f{i}", "description": "d", "trait_ids": [trait_ids[i]], "visibility": "public"}
        return api.call("POST", "/v1/feeds", {**body, "plans": plans}, key=key)

    # When it creates up to the quota and one more
    for i in range(2):
        result = create(i)
        assert result.status == 201, result.body
    over = create(2)
    # Then the third is refused with the limit in the message
    _assert_quota(over, 2)
