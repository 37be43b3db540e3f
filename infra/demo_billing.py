"""The monthly close told as the demo's last chapter, plus a small marketplace to tell it standalone.

``billing_chapter`` takes the story's cast (buyers' and providers' API keys, the operator key): it lets the
local clock pass 00:00 UTC on the 6th so the schedule closes the month, waits for the run to complete,
prints each invoice, each payout and the providers' revenue by buyer and by channel, checks the books
balance, then closes the month again by hand and shows that nothing changed.

``python infra/demo_billing.py`` starts the local runtime, builds ``mini_marketplace`` (two providers, their
feeds and plans, two buyers with subscriptions, a discount, segments mapped to a destination, and October
usage reported in the window) and tells the chapter. ``make demo`` calls ``billing_chapter`` with its own cast.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "infra"), str(ROOT / "layers" / "common")]

from demo import DemoError, chapter, say, set_clock, wait_for  # noqa: E402
from local_client import Client  # noqa: E402

PERIOD = "2026-10"
CLOSE_TIME = "2026-11-06T00:00:00Z"  # the schedule fires at 00:00 UTC on the 6th
OPERATOR_KEY = "aud_operator_demo_key_0123456789abcdef"


@dataclass
class Cast:
    operator_key: str
    providers: dict[str, str] = field(default_factory=dict)  # name -> API key
    buyers: dict[str, str] = field(default_factory=dict)


def _money(value: str, currency: str) -> str:
    return f"{Decimal(value):>12,.{len(value.split('.')[1]) if '.' in value else 0}f} {currency}"


def _wait_for_run(api: Client, operator_key: str, period: str, timeout: float) -> dict[str, Any]:
    def completed() -> dict[str, Any] | None:
        reply = api.get(f"/v1/admin/billing-runs/{period}", key=operator_key)
        return reply.body if reply.status == 200 and reply.body["status"] == "completed" else None

    run: dict[str, Any] = wait_for(api, f"the close of {period} to complete", completed, timeout=timeout)
    return run


def billing_chapter(
    api: Client,
    *,
    operator_key: str,
    buyers: Mapping[str, str],
    providers: Mapping[str, str],
    period: str = PERIOD,
    number: str = "",
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Close ``period`` through the schedule and show every document; returns the completed run."""
    chapter(f"{number}The monthly close: the schedule freezes {period}, invoices and payouts fan out".strip())
    set_clock(api, CLOSE_TIME)
    say("   ... 00:00 UTC on the 6th: the reporting window closes and the monthly-close schedule fires")
    started = time.monotonic()
    run = _wait_for_run(api, operator_key, period, timeout)
    say(
        f"   run {run['run_id']}: {run['status']} in {time.monotonic() - started:.1f} s · period {run['period_state']}"
        f" · {run['invoices']} invoices (one job per buyer) · {run['payouts']} payouts (one job per provider)"
    )
    if run["failed_jobs"]:
        raise DemoError(f"the run reports failed jobs: {run['failed_jobs']}")
    totals = run["totals"]
    say(
        f"   books: invoiced {totals['invoiced']} = paid out {totals['paid_out']} + platform fees "
        f"{totals['platform_fees']} {run['currency']} -> {'balanced' if totals['balanced'] else 'UNBALANCED'}"
    )
    if not totals["balanced"]:
        raise DemoError("the books do not balance")

    for name, key in buyers.items():
        for invoice in api.get("/v1/invoices", key=key, expect=200).body["invoices"]:
            if invoice["period"] != period:
                continue
            currency = invoice["currency"]
            say(f"\n   Invoice {invoice['invoice_id']} · {name} · {invoice['status']}")
            for line in invoice["lines"]:
                what = line.get("feed_name") or line.get("segment_name") or "?"
                units = f"{line['impressions']:>11,} imp" if line.get("impressions") is not None else " " * 15
                say(
                    f"     {line['line_no']:>2}. {line['kind']:<8} {what[:22]:<22} {line['use_case'][:20]:<20}"
                    f" {units} x {line['unit_price']:>8} = {_money(line['amount'], currency)}"
                )
            say(f"     {'total':>72} = {_money(invoice['total'], currency)}")

    for name, key in providers.items():
        payouts = [p for p in api.get("/v1/payouts", key=key, expect=200).body["payouts"] if p["period"] == period]
        for payout in payouts:
            currency = payout["currency"]
            say(
                f"\n   Payout {payout['payout_id']} · {name} · share {payout['revenue_share']}: gross "
                f"{payout['gross']} -> paid {payout['amount']} + platform fee {payout['platform_fee']} {currency}"
            )
        for group_by in ("buyer", "channel"):
            revenue = api.get(f"/v1/revenue?period={period}&group_by={group_by}", key=key, expect=200).body
            groups = ", ".join(f"{g['name']} {g['amount']}" for g in revenue["groups"]) or "none"
            say(f"     revenue by {group_by:<7}: {groups} (total {revenue['total']} {revenue['currency']})")

    say("\n   The operator closes the same month again by hand:")
    invoices_before = {
        i["invoice_id"]: i["total"]
        for key in buyers.values()
        for i in api.get("/v1/invoices", key=key).body["invoices"]
    }
    again = api.post("/v1/admin/billing-runs", {"period": period}, key=operator_key, expect=202).body
    invoices_after = {
        i["invoice_id"]: i["total"]
        for key in buyers.values()
        for i in api.get("/v1/invoices", key=key).body["invoices"]
    }
    same = (again["run_id"], again["invoices"], again["payouts"]) == (run["run_id"], run["invoices"], run["payouts"])
    if not same or invoices_after != invoices_before or again["totals"] != run["totals"]:
        raise DemoError("closing the month again changed something")
    say(
        f"   POST /v1/admin/billing-runs {{period: {period}}} -> 202, the same run {again['run_id']}"
        f" ({again['status']}): {again['invoices']} invoices and {again['payouts']} payouts, identical to the cent"
    )
    late = api.put(f"/v1/usage/{period}/feeds", {"rows": []}, key=next(iter(buyers.values())))
    if late.status == 409:
        say(f"   usage for {period} now -> 409 {late.body['error']['code']}: a closed period never changes")
    return run


# ------------------------------------------------------------------------------------------ standalone
def _ok(reply: Any, status: int = 200) -> Any:
    if reply.status != status:
        raise DemoError(f"expected {status}, got {reply.status}: {reply.body}")
    return reply.body


def _account(api: Client, operator_key: str, name: str, roles: list[str], share: str | None = None) -> dict[str, Any]:
    email = f"{hashlib.sha256(name.encode()).hexdigest()[:10]}@demo.example"
    body: dict[str, Any] = {"company_name": name, "email": email, "roles": roles}
    if share:
        body["revenue_share"] = share
    return dict(_ok(api.post("/v1/admin/accounts", body, key=operator_key), 201))


def mini_marketplace(api: Client, operator_key: str) -> Cast:
    """Two providers with a feed each, two buyers, a discount, segments on a DSP, October usage."""
    cast = Cast(operator_key)
    set_clock(api, "2026-10-05T09:00:00Z")
    feeds: dict[str, dict[str, Any]] = {}
    traits: dict[str, str] = {}
    for name, share, interest, users, plans in (
        ("Northwind Audiences", "0.80", "sports", range(0, 400), [("flat_fee", "100.00"), ("cpm", "2.50")]),
        ("Contoso Signals", "0.70", "music", range(300, 450), [("flat_fee", "50.00"), ("cpm", "4.00")]),
    ):
        provider = _account(api, operator_key, name, ["provider"], share)
        key = provider["api_key"]
        cast.providers[name] = key
        source = _ok(api.post("/v1/sources", {"name": "web", "type": "api"}, key=key), 201)
        events = [{"user_id": f"u{i}", "data": {"interest": interest}} for i in users]
        _ok(api.post(f"/v1/sources/{source['source_id']}/events", {"events": events}, key=key), 202)
        trait = _ok(
            api.post(
                "/v1/traits",
                {
                    "name": interest,
                    "source_id": source["source_id"],
                    "condition": {"key": "interest", "equals": interest},
                },
                key=key,
            ),
            201,
        )
        traits[interest] = trait["trait_id"]
        body = {
            "name": interest.title(),
            "description": f"People into {interest}",
            "trait_ids": [trait["trait_id"]],
            "visibility": "public",
            "plans": [
                {"use_cases": ["segments_and_overlap"], "unit": plans[0][0], "price": plans[0][1]},
                {"use_cases": ["activation"], "unit": plans[1][0], "price": plans[1][1]},
            ],
        }
        feed = _ok(api.post("/v1/feeds", body, key=key), 201)
        _ok(api.post(f"/v1/feeds/{feed['feed_id']}/activate", key=key))
        feeds[name] = feed
    for name in ("Fabrikam Media", "Litware Agency"):
        buyer = _account(api, operator_key, name, ["buyer"])
        cast.buyers[name] = buyer["api_key"]
        for feed in feeds.values():
            for plan in feed["plans"]:
                _ok(api.post("/v1/subscriptions", {"plan_id": plan["plan_id"]}, key=buyer["api_key"]), 201)
        if name == "Fabrikam Media":
            north = cast.providers["Northwind Audiences"]
            discount = {"discount_pct": "10"}
            _ok(
                api.put(
                    f"/v1/feeds/{feeds['Northwind Audiences']['feed_id']}/discounts/{buyer['account_id']}",
                    discount,
                    key=north,
                )
            )
    set_clock(api, "2026-10-06T09:00:00Z")
    mapped: dict[str, tuple[str, str]] = {}
    for name, key in cast.buyers.items():
        rule = f"{traits['sports']} OR {traits['music']}"
        segment = _ok(api.post("/v1/segments", {"name": "Fans", "category": "interest", "rule": rule}, key=key), 201)
        dsp = _ok(api.post("/v1/destinations", {"channel_id": "example_dsp", "name": "DSP"}, key=key), 201)
        _ok(
            api.post(
                f"/v1/destinations/{dsp['destination_id']}/segments", {"segment_id": segment["segment_id"]}, key=key
            ),
            201,
        )
        mapped[name] = (segment["segment_id"], dsp["destination_id"])
    set_clock(api, "2026-11-03T10:00:00Z")
    for (name, key), usage in zip(cast.buyers.items(), (1_000_000, 250_000), strict=True):
        segment_id, destination_id = mapped[name]
        rows = [{"segment_id": segment_id, "destination_id": destination_id, "usage": usage}]
        _ok(api.put(f"/v1/usage/{PERIOD}/segments", {"rows": rows}, key=key))
        say(f"   {name} reports {usage:,} October impressions on its segment (window open until 2026-11-06)")
    return cast


def main() -> int:
    from local_runtime import LocalRuntime

    os.environ["AUDIENS_OPERATOR_KEY"] = OPERATOR_KEY
    parameters = {"OperatorKeyHash": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()}
    with LocalRuntime(
        template=str(ROOT / "template.yaml"),
        api_port=0,
        aws_port=0,
        clock="2026-10-01T09:00:00Z",
        parameters=parameters,
    ) as runtime:
        api = Client(runtime.api_url)
        try:
            chapter("A small marketplace: two providers, two buyers, October usage")
            cast = mini_marketplace(api, OPERATOR_KEY)
            billing_chapter(api, operator_key=OPERATOR_KEY, buyers=cast.buyers, providers=cast.providers)
        except DemoError as error:
            say(f"\nDEMO FAILED: {error}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
