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
from tests.support.timestamps import misformatted_timestamps

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


def _json_or_none(response: Any) -> Any:
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


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
            misformatted = misformatted_timestamps(_json_or_none(response))
            if misformatted:  # every timestamp field of every response: RFC 3339 UTC, whole seconds
                failures.append(f"{operation.label} -> {response.status_code}: timestamps {misformatted[:5]}")

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


# ------------------------------------------------------------------------------------- cross-tenant matrix

# Path parameters that name a tenant's resource, and the role that owns it
OWNED = {
    "source_id": "provider",
    "trait_id": "provider",
    "segment_id": "provider",
    "feed_id": "provider",
    "plan_id": "provider",
    "destination_id": "provider",
    "key_id": "provider",
    "buyer_id": "buyer",
    "subscription_id": "buyer",
    "upload_id": "buyer",
    "invoice_id": "buyer",
    "payout_id": "provider",
}
# Valid bodies, so a refusal can only come from the lookup (a new body route must add one here)
BODIES: dict[str, Any] = {
    "POST /v1/destinations/{destination_id}/segments": {"segment_id": "seg_00000000000000000000"},
    "PUT /v1/feeds/{feed_id}/discounts/{buyer_id}": {"discount_pct": "10"},
    "PATCH /v1/feeds/{feed_id}/plans/{plan_id}": {"price": "12.00"},
    "POST /v1/invoices/{invoice_id}/void": {"reason": "issued twice"},
    "PATCH /v1/segments/{segment_id}": {"name": "renamed"},
    "POST /v1/sources/{source_id}/events": {"events": [{"user_id": "u1"}]},
    "POST /v1/sources/{source_id}/upload-url": {"file_name": "events.ndjson"},
    "PUT /v1/usage/{period}/feeds": {"rows": []},
    "PUT /v1/usage/{period}/segments": {"rows": []},
    "POST /v1/usage/{period}/uploads": {"kind": "segments"},
}
ROLE_ORDER = ("provider", "buyer", "operator")


def _tenant(http: Client, new_account: Any) -> dict[str, Any]:
    provider, buyer = new_account(["provider"]), new_account(["buyer"])
    keys = {"provider": provider["api_key"], "buyer": buyer["api_key"], "buyer_id": buyer["account_id"]}
    ids = _seed(http, keys)
    # The listed feed is public by design: the matrix uses a second one, never activated
    trait = http.post(
        "/v1/traits",
        {"name": "news", "source_id": ids["source_id"], "condition": {"key": "interest", "equals": "news"}},
        key=provider["api_key"],
        expect=201,
    ).body
    draft = {
        "name": "Draft",
        "description": "Not listed yet",
        "trait_ids": [trait["trait_id"]],
        "visibility": "private",
        "plans": [{"use_cases": ["segments_and_overlap"], "unit": "flat_fee", "price": "10.00"}],
    }
    created = http.post("/v1/feeds", draft, key=provider["api_key"], expect=201).body
    ids["feed_id"], ids["plan_id"] = created["feed_id"], created["plans"][0]["plan_id"]
    ids["key_id"] = http.get("/v1/api-keys", key=provider["api_key"], expect=200).body["api_keys"][0]["key_id"]
    upload = http.post("/v1/usage/2026-11/uploads", {"kind": "segments"}, key=buyer["api_key"])
    ids["upload_id"] = upload.body["upload_id"] if upload.status == 201 else "upl_00000000000000000000"
    ids["invoice_id"] = "inv_00000000000000000001"  # none exists before a monthly close: the made-up check stands
    ids["payout_id"] = "pay_00000000000000000001"
    return {"keys": keys, "ids": ids}


def _made_up(value: str) -> str:
    prefix, _, rest = value.rpartition("_")
    return f"{prefix}_{'f' * len(rest)}" if prefix else "f" * len(value)


def _path(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def test_cross_tenant_matrix_from_the_openapi_document(http: Client, new_account: Any, operator_key: str) -> None:
    # Given two tenants, each a provider and a buyer with the same kinds of resources
    owner, other = _tenant(http, new_account), _tenant(http, new_account)
    owner["keys"]["operator"] = other["keys"]["operator"] = operator_key
    raw = json.loads((ROOT / "docs" / "openapi.json").read_text())
    checked: Counter[str] = Counter()
    problems: list[str] = []

    operations = [
        (method.upper(), path, op)
        for path, ops in raw["paths"].items()
        for method, op in ops.items()
        if "{" in path and op.get("x-roles") is not None
    ]
    operations.sort(key=lambda item: item[0] == "DELETE")  # deletions last: the resources stay for the rest
    for method, path, op in operations:
        label = f"{method} {path}"
        roles = op["x-roles"]
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        values = {n: owner["ids"].get(n, "x") for n in names}
        body = BODIES.get(label)
        if "requestBody" in op:
            assert body is not None, f"{label}: add a valid body to BODIES"

        def call(
            key: str | None, path_values: dict[str, str], method: str = method, path: str = path, body: Any = body
        ) -> Any:
            return http.request(method, _path(path, path_values), body, key=key)

        # No key: 401 from the gateway
        if (reply := call(None, values)).status != 401:
            problems.append(f"{label} without a key answered {reply.status}")
        checked["401"] += 1
        # A role the route does not admit: 403
        wrong = next((r for r in ROLE_ORDER if r not in roles), None)
        if wrong is not None:
            if (reply := call(owner["keys"][wrong], values)).status != 403:
                problems.append(f"{label} with a {wrong} key answered {reply.status}: {reply.body}")
            checked["403"] += 1
        # Another tenant's key of the owning role: 404, exactly as for an id that exists nowhere
        tenant_ids = [n for n in names if n in OWNED]
        if not tenant_ids:
            continue
        role = OWNED[tenant_ids[0]]
        if role not in roles:
            continue  # e.g. a buyer asking access to a provider's listed feed: public by design
        intruder = call(other["keys"][role], values)
        made_up = call(other["keys"][role], {**values, **{n: _made_up(values[n]) for n in tenant_ids}})
        if intruder.status != 404:
            problems.append(f"{label}: another tenant's {role} answered {intruder.status}: {intruder.body}")
        elif made_up.status != 404 or made_up.code != intruder.code:
            problems.append(f"{label}: another tenant got {intruder.body}, a made-up id {made_up.body}")
        else:
            shown = intruder.body["error"]["message"]
            for n in tenant_ids:
                shown = shown.replace(values[n], "<id>")
            hidden = made_up.body["error"]["message"]
            for n in tenant_ids:
                hidden = hidden.replace(_made_up(values[n]), "<id>")
            if shown != hidden:
                problems.append(f"{label}: messages differ: {shown!r} vs {hidden!r}")
        checked["404"] += 1

    # Then every refusal is the expected one, and the owner's resources are untouched
    for name, path in [
        ("source_id", "/v1/sources/{source_id}"),
        ("segment_id", "/v1/segments/{segment_id}"),
        ("destination_id", "/v1/destinations/{destination_id}"),
        ("trait_id", "/v1/traits/{trait_id}"),
    ]:
        assert http.get(_path(path, owner["ids"]), key=owner["keys"]["provider"]).status == 200, name
    sub = _path("/v1/subscriptions/{subscription_id}", owner["ids"])
    assert http.get(sub, key=owner["keys"]["buyer"]).status == 200
    print(f"\ncross-tenant matrix: {len(operations)} operations, checks {dict(checked)}")
    assert checked["404"] >= 25 and checked["403"] >= 25
    assert not problems, "\n".join(problems)
