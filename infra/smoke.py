"""A short, self-cleaning story against any deployment of the API: `make smoke URL=https://… OPERATOR_KEY=…`.

It uses only the public API (the operator key creates the account it works with) and checks each answer:
an account created by the operator, an api source, a batch of events, a rule trait, an estimate, a private
segment mapped to a seamless destination, and segment usage reported when the period's reporting window
is open. Then it removes what the API can remove - the destination, the segment - and revokes the
account's API key (an account keeps one active key: its replacement's secret is never kept), so nothing it
made can be used or is listed afterwards. Sources,
accounts and usage rows (of zero impressions) have no delete in the API and stay, inert and named
"Smoke test …".

Exits 0 when every step behaved, 1 with the failing step otherwise. `make test` runs it against the local
runtime (tests/e2e/test_smoke.py).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local_client import Client, eventually


def previous_period(now: datetime) -> str:
    return f"{now.year - 1}-12" if now.month == 1 else f"{now.year}-{now.month - 1:02d}"


def retire_key(api: Client, key: str) -> None:
    """Revoke ``key``. An account keeps one active key, so a fresh one replaces it and its secret is dropped."""
    (current,) = api.get("/v1/api-keys", key=key, expect=200).body["api_keys"]
    replacement = api.post("/v1/api-keys", {"name": "retired by the smoke test"}, key=key, expect=201).body
    api.delete(f"/v1/api-keys/{current['key_id']}", key=replacement["api_key"], expect=200)


def run(
    url: str, operator_key: str, *, period: str | None = None, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """The story; raises on the first step that does not behave (UnexpectedStatusError, AssertionError).

    Returns the account it made (``account_id``, ``api_key`` - revoked by then).
    """
    api = Client(url, timeout=30.0)
    stamp = uuid.uuid4().hex[:10]
    cleanup: list[tuple[str, Callable[[], Any]]] = []
    try:
        account = api.post(
            "/v1/admin/accounts",
            {
                "company_name": f"Smoke test {stamp}",
                "email": f"smoke-{stamp}@example.com",
                "roles": ["provider", "buyer"],
            },
            key=operator_key,
            expect=201,
        ).body
        key = account["api_key"]
        say(f"ok  operator created account {account['account_id']}")
        cleanup.append(("revoke the API key", lambda: retire_key(api, key)))
        me = api.get("/v1/me", key=key, expect=200).body
        assert me["account_id"] == account["account_id"] and me["status"] == "active", me

        source = api.post("/v1/sources", {"name": f"Smoke {stamp}", "type": "api"}, key=key, expect=201).body
        say(f"ok  api source {source['source_id']}")
        events = [
            {"user_id": f"smoke-{stamp}-{n}", "data": {"interest": "sports" if n % 2 else "travel"}} for n in range(40)
        ]
        sent = api.post(f"/v1/sources/{source['source_id']}/events", {"events": events}, key=key, expect=202).body
        assert sent["accepted"] == 40 and not sent["rejected"], sent
        say("ok  40 events accepted")

        condition = {"key": "interest", "equals": "sports"}
        body = {"name": f"Smoke sports {stamp}", "source_id": source["source_id"], "condition": condition}
        trait = api.post("/v1/traits", body, key=key, expect=201).body
        population = eventually(
            lambda: api.get(f"/v1/traits/{trait['trait_id']}", key=key, expect=200).body["population"], timeout=30
        )
        assert population == 20, trait
        estimate = api.post("/v1/segments/estimate", {"rule": trait["trait_id"]}, key=key, expect=200).body
        assert estimate["lower_bound"] <= estimate["population"] == 20 <= estimate["upper_bound"], estimate
        say(f"ok  trait {trait['trait_id']}: 20 users; estimate {estimate['population']}")

        segment = api.post(
            "/v1/segments",
            {
                "name": f"Smoke segment {stamp}",
                "category": "Smoke test",
                "rule": trait["trait_id"],
                "expiration_days": 1,
                "visibility": "private",
            },
            key=key,
            expect=201,
        ).body
        cleanup.append(("delete the segment", lambda: api.delete(f"/v1/segments/{segment['segment_id']}", key=key)))
        destination = api.post(
            "/v1/destinations", {"channel_id": "example_dsp", "name": f"Smoke {stamp}"}, key=key, expect=201
        ).body
        destination_id = destination["destination_id"]
        cleanup.append(("delete the destination", lambda: api.delete(f"/v1/destinations/{destination_id}", key=key)))
        api.post(
            f"/v1/destinations/{destination_id}/segments", {"segment_id": segment["segment_id"]}, key=key, expect=201
        )
        say(f"ok  segment {segment['segment_id']} mapped to destination {destination_id}")

        usage_period = period or previous_period(datetime.now(UTC))
        usage = api.get(f"/v1/usage/{usage_period}/segments", key=key, expect=200).body
        if usage["window"]["state"] == "open":
            row = {"segment_id": segment["segment_id"], "destination_id": destination_id, "usage": 0}
            put = api.put(f"/v1/usage/{usage_period}/segments", {"rows": [row]}, key=key, expect=200).body
            assert put["updated"] == 1, put
            say(f"ok  usage for {usage_period} reported (0 impressions) in its open window")
        else:
            say(f"--  usage for {usage_period}: its window is {usage['window']['state']}; nothing reported")
        return dict(account)
    finally:
        for what, undo in reversed(cleanup):
            try:
                undo()
                say(f"ok  cleanup: {what}")
            except Exception as error:  # keep cleaning; the story's own failure is the one reported
                say(f"!!  cleanup: {what} failed: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True, help="base URL of the API, e.g. the stack's ApiUrl output")
    parser.add_argument("--operator-key", required=True, help="the operator API key of that stage")
    parser.add_argument("--period", help="usage period YYYY-MM (default: the previous month)")
    args = parser.parse_args(argv)
    if not args.url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        parser.error("--url must be https:// (plain http only for this machine)")
    try:
        run(args.url, args.operator_key, period=args.period)
    except Exception as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
