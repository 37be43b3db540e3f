"""The OpenAPI document is the contract: Schemathesis fuzzes every operation of docs/openapi.json against the
local runtime and every answer must be documented, schema-conformant and never a 5xx.

Each operation is called with a key of a role it admits (``x-roles``): a provider's, a buyer's or the
operator's. Three passes per operation: data the schema allows, data it forbids, and — where the path
names ids — the ids of resources that exist, so success bodies are checked too. ``AUDIENS_FUZZ_EXAMPLES``
sets the examples per pass (``make test`` keeps it small; ``make fuzz`` runs deeper).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.e2e.client import Client

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("AUDIENS_FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _seed(http: Client, keys: dict[str, str]) -> dict[str, str]:
    """Resources that exist, so operations on real ids answer their success bodies too."""
    provider, buyer = keys["provider"], keys["buyer"]
    ids: dict[str, str] = {}
    source = http.post("/v1/sources", {"name": "web", "type": "api"}, key=provider, expect=201).body
    ids["source_id"] = source["source_id"]
    sent = http.post(
        f"/v1/sources/{source['source_id']}/events",
        {"events": [{"user_id": f"u{i}", "data": {"interest": "sports"}} for i in range(20)]},
        key=provider,
    )
    assert sent.status == 202, sent.body
    trait = http.post(
        "/v1/traits",
        {"name": "sports", "source_id": source["source_id"], "condition": {"key": "interest", "equals": "sports"}},
        key=provider,
        expect=201,
    ).body
    ids["trait_id"] = trait["trait_id"]
    segment = http.post(
        "/v1/segments", {"name": "Sports", "category": "Interest", "rule": trait["trait_id"]}, key=provider
    ).body
    ids["segment_id"] = segment["segment_id"]
    feed = http.post(
        "/v1/feeds",
        {
            "name": "Sports",
            "description": "Sports fans",
            "trait_ids": [trait["trait_id"]],
            "visibility": "public",
            "plans": [{"use_cases": ["segments_and_overlap"], "unit": "flat_fee", "price": "100.00"}],
        },
        key=provider,
        expect=201,
    ).body
    ids["feed_id"] = feed["feed_id"]
    http.post(f"/v1/feeds/{feed['feed_id']}/activate", key=provider, expect=200)
    channels = http.get("/v1/channels", key=provider, expect=200).body
    seamless = next(c for c in channels["channels"] if c["setup"] == "seamless")
    ids["channel_id"] = seamless["channel_id"]
    destination = http.post(
        "/v1/destinations", {"channel_id": seamless["channel_id"], "name": "DSP"}, key=provider
    ).body
    ids["destination_id"] = destination["destination_id"]
    subscription = http.post("/v1/subscriptions", {"plan_id": feed["plans"][0]["plan_id"]}, key=buyer, expect=201).body
    ids["subscription_id"] = subscription["subscription_id"]
    ids["buyer_id"] = keys["buyer_id"]
    ids["period"] = "2026-10"
    return ids


def _summary(failure: BaseException) -> str:
    inner = getattr(failure, "exceptions", None) or [failure]
    return "; ".join(" ".join(str(e).split())[:300] for e in inner)


def _key_for(operation: Any, keys: dict[str, str]) -> dict[str, str]:
    roles = operation.definition.raw.get("x-roles")
    if roles is None:
        return {}
    role = next(r for r in ("provider", "buyer", "operator") if r in roles)
    return {"Authorization": f"Bearer {keys[role]}"}


def test_every_answer_is_documented_conformant_and_never_a_server_error(
    http: Client, runtime: Any, new_account: Any, operator_key: str
) -> None:
    # Given a provider, a buyer, the operator, and a few resources that exist
    provider, buyer = new_account(["provider"]), new_account(["buyer"])
    keys = {
        "provider": provider["api_key"],
        "buyer": buyer["api_key"],
        "operator": operator_key,
        "buyer_id": buyer["account_id"],
    }
    ids = _seed(http, keys)
    raw = json.loads((ROOT / "docs" / "openapi.json").read_text())
    schema = schemathesis.openapi.from_dict(raw)
    session = requests.Session()
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    calls = 0
    skipped: list[str] = []
    started = time.monotonic()

    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, so the other operations still find the seeded resources
    operations.sort(key=lambda op: op.method.upper() == "DELETE")

    def exercise(operation: Any, strategy: Any, headers: dict[str, str] | None = None) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            nonlocal calls
            response = case.call(base_url=runtime.api_url, session=session, headers=headers, timeout=30)
            calls += 1
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as failure:  # collected: one run reports every finding
                label = f"{operation.label} -> {response.status_code}"
                failures.append(f"{label}: {_summary(failure)}\n  {case.as_curl_command()[:400]}")

        try:
            run()
        except Unsatisfiable:  # nothing of this operation can be made invalid (no parameters, no body)
            skipped.append(operation.label)

    # When every operation is called with allowed data and the right key, with forbidden data (keys
    # included), and with the ids of resources that exist
    for operation in operations:
        key = _key_for(operation, keys)
        exercise(operation, operation.as_strategy(GenerationMode.POSITIVE), key)
        exercise(operation, operation.as_strategy(GenerationMode.NEGATIVE))
        names = [p.name for p in operation.path_parameters]
        if names and all(n in ids for n in names):
            known = {n: ids[n] for n in names}
            exercise(operation, operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known), key)

    # Then nothing failed: no 5xx, no undocumented status, no body off its schema
    elapsed = time.monotonic() - started
    print(
        f"\nschemathesis: {len(operations)} operations, {calls} calls in {elapsed:.0f} s, "
        f"statuses {dict(sorted(statuses.items()))}; "
        f"{len(skipped)} passes with nothing to negate"
    )
    assert calls >= len(operations) * 2
    assert not failures, f"{len(failures)} finding(s):\n" + "\n".join(sorted(set(failures))[:40])
