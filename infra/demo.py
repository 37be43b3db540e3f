"""``make demo``: the whole product on the local runtime, told as a story, then a clean stop.

Everything goes through the public contract a real user has: HTTP on 127.0.0.1, the outbox of sent
emails, files dropped in S3, and the local clock that drives the schedules. It exits non-zero if any
step does not behave as the story says, so it doubles as a smoke test.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "infra"), str(ROOT / "layers" / "common")]

from demo_console import console_links, print_links  # noqa: E402
from local_client import Client  # noqa: E402

STORY_STARTS = "2026-10-01T09:00:00Z"


class DemoError(RuntimeError):
    pass


def say(text: str = "") -> None:
    print(text, flush=True)


def chapter(title: str) -> None:
    say()
    say(f"== {title} " + "=" * max(0, 70 - len(title)))


IDLE_STEP_S = 50  # one /_local/idle wait, under the client's 60 s read timeout


def settle(api: Client, timeout: float = 60.0) -> None:
    """Return once the work already triggered (queues, S3 events, schedules, emails) is done: /_local/idle."""
    deadline = time.monotonic() + timeout
    while True:
        step = max(1.0, min(IDLE_STEP_S, deadline - time.monotonic()))
        reply = api.post("/_local/idle", {"timeout": step}, expect=(200, 504))
        if reply.status == 200:
            return
        if time.monotonic() >= deadline:
            raise DemoError(f"the local runtime is still busy after {timeout:g} s: {reply.body['error']['details']}")


def set_clock(api: Client, now: str) -> None:
    """Move the local clock and return once the schedules it passed, and what they triggered, are done."""
    reply = api.post("/_local/clock", {"now": now, "wait": True, "timeout": IDLE_STEP_S}, expect=(200, 504)).body
    if "error" in reply:
        settle(api)
    say(f"   [clock] {now}")


def wait_for(api: Client, what: str, check: Any, timeout: float = 60.0) -> Any:
    """What ``check`` finds once the runtime is idle; a DemoError if the work did not produce it."""
    settle(api, timeout)
    found = check()
    if not found:
        raise DemoError(f"{what}: not there once the local runtime was idle")
    return found


# ---------------------------------------------------------------------------------------------- chapters
def accounts_chapter(api: Client) -> dict[str, str]:
    chapter("1. Sign-up, activation email, first API key")
    signed = api.post(
        "/v1/accounts",
        {"company_name": "Northwind Audiences", "email": "data@northwind.example", "roles": ["provider"]},
        expect=201,
    ).body
    say(f"   POST /v1/accounts -> 201 {signed}")

    def activation_email() -> dict[str, Any] | None:
        emails = api.get("/_local/outbox", expect=200).body["emails"]
        return next((e for e in emails if "data@northwind.example" in json.dumps(e["to"])), None)

    email = wait_for(api, "the activation email", activation_email)
    token = re.search(r"token=([A-Za-z0-9_\-]+)", email["body"])
    if not token:
        raise DemoError("no activation link in the email")
    say(f"   outbox: '{email['subject']}' to {email['to']} (link with a single-use token)")
    activated = api.post("/v1/accounts/activate", {"token": token.group(1)}, expect=200).body
    key = activated["api_key"]
    say(f"   POST /v1/accounts/activate -> api_key {key[:10]}… (shown once, stored only as a hash)")
    me = api.get("/v1/me", key=key, expect=200).body
    say(f"   GET /v1/me -> {me['company_name']} · roles {me['roles']} · {me['status']}")
    reused = api.post("/v1/accounts/activate", {"token": token.group(1)}, expect=409).body
    say(f"   the link again -> 409 {reused['error']['code']}")
    no_key = api.get("/v1/me", expect=401).body
    say(f"   GET /v1/me without a key -> 401 {no_key['error']['code']}")

    chapter("2. The daily schedule expires accounts never activated within 7 days")
    api.post(
        "/v1/accounts",
        {"company_name": "Forgotten Co", "email": "later@forgotten.example", "roles": ["buyer"]},
        expect=201,
    )
    say("   Forgotten Co signs up on 2026-10-01 and never clicks the link")
    retry = {"company_name": "Forgotten Co", "email": "later@forgotten.example", "roles": ["buyer"]}
    taken = api.post("/v1/accounts", retry, expect=409).body
    say(f"   signing up again with that email on 2026-10-01 -> 409 {taken['error']['code']}")
    set_clock(api, "2026-10-09T03:00:00Z")
    say("   ... the clock passes 03:00 UTC, when the daily maintenance schedule fires")
    wait_for(api, "the daily run to expire the account", lambda: api.post("/v1/accounts", retry).status == 201)
    say("   the pending account expired and its email is free again: sign-up -> 201")
    return {"provider_key": key}


# ---------------------------------------------------------------------------------------------- helpers
class WebhookReceiver:
    """A destination's endpoint on 127.0.0.1 that checks every push's HMAC signature."""

    def __init__(self, secret: str) -> None:
        import hashlib
        import hmac
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(expected, self.headers.get("X-Audiens-Signature", ""))
                receiver.received.append({"body": json.loads(raw), "signature_valid": signed})
                self.send_response(200 if signed else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/audiens-hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def operator_account(
    api: Client, operator: str, name: str, email: str, roles: list[str], **extra: Any
) -> dict[str, Any]:
    body = {"company_name": name, "email": email, "roles": roles, **extra}
    return dict(api.post("/v1/admin/accounts", body, key=operator, expect=201).body)


def stream_events(api: Client, key: str, source_id: str, users: int) -> None:
    interests = ["sports", "travel", "autos", "cooking"]
    ages = ["18-24", "25-34", "35-44", "45-54"]
    for start in range(0, users, 1000):
        events = [
            {
                "user_id": f"u{n:05d}",
                "timestamp": "2026-10-09T12:00:00Z",
                "data": {"interest": interests[(n * 7) % 4] if n % 5 else "sports", "age": ages[n % 4]},
            }
            for n in range(start, min(start + 1000, users))
        ]
        if start == 0:
            events[-1] = {"timestamp": "2026-10-09T12:00:00Z", "data": {"interest": "sports"}}  # no user id
        reply = api.post(f"/v1/sources/{source_id}/events", {"events": events}, key=key, expect=202).body
        if start == 0:
            say(
                f"   batch 1: accepted {reply['accepted']}, "
                f"rejected {[(r['index'], r['code']) for r in reply['rejected']]}"
            )
    say(f"   streamed {users} users' events through POST /v1/sources/{source_id}/events in batches of 1,000")


def trait(api: Client, key: str, source_id: str, name: str, condition: dict[str, Any]) -> dict[str, Any]:
    body = {"name": name, "source_id": source_id, "condition": condition}
    return dict(api.post("/v1/traits", body, key=key, expect=201).body)


def money_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = (cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in pairs)
        say("   " + "  ".join(cells))


# ---------------------------------------------------------------------------------------------- the story
def onboarding_chapter(api: Client, cast: dict[str, Any]) -> None:
    chapter("3. Data onboarding and the audience builder")
    key = cast["northwind"]
    source = api.post("/v1/sources", {"name": "Web events", "type": "api"}, key=key, expect=201).body
    say(f"   Northwind creates an api source {source['source_id']}")
    stream_events(api, key, source["source_id"], 3000)
    activity = api.get(f"/v1/sources/{source['source_id']}/activity", key=key, expect=200).body
    say(f"   activity stream: {len(activity['events'])} latest events, per-minute counts {activity['per_minute'][:2]}")
    sports = trait(api, key, source["source_id"], "Sports fans", {"key": "interest", "equals": "sports"})
    travel = trait(api, key, source["source_id"], "Travellers", {"key": "interest", "equals": "travel"})
    young = trait(api, key, source["source_id"], "Under 35", {"key": "age", "in": ["18-24", "25-34"]})
    for t in (sports, travel, young):
        say(f"   trait {t['trait_id']} {t['name']!r}: population {t['population']}")
    rule = f"({sports['trait_id']} OR {travel['trait_id']}) AND NOT {young['trait_id']}"
    estimate = api.post("/v1/segments/estimate", {"rule": rule}, key=key, expect=200).body
    say(f"   estimate of {rule}:")
    say(f"     population {estimate['population']} [{estimate['lower_bound']}, {estimate['upper_bound']}]")
    for part in estimate["traits"]:
        say(f"     {part['trait_id']}: {part['population']} users, share {part['share']}")
    public = api.post(
        "/v1/segments",
        {
            "name": "Active sports fans",
            "category": "Interest > Sports",
            "rule": sports["trait_id"],
            "expiration_days": 90,
            "visibility": "public",
            "cpm": "1.50",
        },
        key=key,
        expect=201,
    ).body
    refused = api.post(
        "/v1/segments",
        {
            "name": "Private priced",
            "category": "X",
            "rule": sports["trait_id"],
            "expiration_days": 30,
            "visibility": "private",
            "cpm": "1.00",
        },
        key=key,
        expect=422,
    ).body
    say(f"   public segment {public['segment_id']} at CPM 1.50; a priced private one -> 422 {refused['error']['code']}")
    cast.update(sports=sports["trait_id"], travel=travel["trait_id"], public_segment=public["segment_id"])

    meridian = cast["meridian"]
    msrc = api.post("/v1/sources", {"name": "CRM sync", "type": "api"}, key=meridian, expect=201).body
    events = [
        {"user_id": f"u{n:05d}", "timestamp": "2026-10-09T12:00:00Z", "data": {"intent": "autos" if n % 3 else "none"}}
        for n in range(1500, 2400)
    ]
    api.post(f"/v1/sources/{msrc['source_id']}/events", {"events": events}, key=meridian, expect=202)
    autos = trait(api, meridian, msrc["source_id"], "Auto intenders", {"key": "intent", "equals": "autos"})
    say(f"   Meridian Data onboards 900 users; trait {autos['trait_id']} 'Auto intenders': {autos['population']}")
    cast["autos"] = autos["trait_id"]


def marketplace_chapter(api: Client, cast: dict[str, Any]) -> WebhookReceiver:
    chapter("4. The marketplace, subscriptions, destinations and taxonomy push")
    plans = [
        {"use_cases": ["segments_and_overlap"], "unit": "flat_fee", "price": "500.00"},
        {"use_cases": ["activation"], "unit": "cpm", "price": "2.00"},
        {"use_cases": ["modeling"], "unit": "cpm", "price": "1.00"},
    ]
    feed = api.post(
        "/v1/feeds",
        {
            "name": "Northwind Interests",
            "description": "Sports and travel interest from first-party web data.",
            "trait_ids": [cast["sports"], cast["travel"]],
            "visibility": "public",
            "plans": plans,
        },
        key=cast["northwind"],
        expect=201,
    ).body
    api.post(f"/v1/feeds/{feed['feed_id']}/activate", key=cast["northwind"], expect=200)
    mfeed = api.post(
        "/v1/feeds",
        {
            "name": "Meridian Autos",
            "description": "In-market auto intenders.",
            "trait_ids": [cast["autos"]],
            "visibility": "public",
            "plans": [
                {"use_cases": ["segments_and_overlap"], "unit": "flat_fee", "price": "250.00"},
                {"use_cases": ["activation"], "unit": "cpm", "price": "4.00"},
            ],
        },
        key=cast["meridian"],
        expect=201,
    ).body
    api.post(f"/v1/feeds/{mfeed['feed_id']}/activate", key=cast["meridian"], expect=200)
    listed = api.get("/v1/marketplace/feeds", key=cast["acme"], expect=200).body
    names = [f["name"] for f in listed.get("feeds", listed if isinstance(listed, list) else [])]
    say(f"   two providers publish feeds; Acme Agency sees {names} in the marketplace")
    api.put(
        f"/v1/feeds/{feed['feed_id']}/discounts/{cast['acme_id']}",
        {"discount_pct": "10"},
        key=cast["northwind"],
        expect=200,
    )
    say("   Northwind gives Acme a 10 % discount on every plan of its feed")
    for f in (feed, mfeed):
        by_use = {p["use_cases"][0]: p["plan_id"] for p in f["plans"]}
        for use in ("segments_and_overlap", "activation"):
            sub = api.post("/v1/subscriptions", {"plan_id": by_use[use]}, key=cast["acme"], expect=201).body
            say(f"   Acme subscribes to {f['name']} / {use}: {sub['subscription_id']} from {sub['start_date']}")
    rule = f"{cast['sports']} OR {cast['autos']}"
    segment = api.post(
        "/v1/segments",
        {
            "name": "Sports or autos",
            "category": "Campaign > Q4",
            "rule": rule,
            "expiration_days": 60,
            "visibility": "private",
        },
        key=cast["acme"],
        expect=201,
    ).body
    say(f"   Acme builds segment {segment['segment_id']} = {rule} from the feeds' traits")

    secret = "demo-webhook-secret-0123456789"
    receiver = WebhookReceiver(secret)
    hook = api.post(
        "/v1/destinations",
        {"channel_id": "webhook", "name": "Acme DSP webhook", "config": {"url": receiver.url, "secret": secret}},
        key=cast["acme"],
        expect=201,
    ).body
    dsp = api.post(
        "/v1/destinations", {"channel_id": "example_dsp", "name": "Example DSP"}, key=cast["acme"], expect=201
    ).body
    bad = api.post(
        "/v1/destinations",
        {"channel_id": "webhook", "name": "bad", "config": {"url": "ftp://x"}},
        key=cast["acme"],
        expect=422,
    ).body
    say(
        f"   destinations: webhook {hook['destination_id']}, seamless {dsp['destination_id']}; "
        f"a bad wizard config -> 422 ({bad['error']['message'][:60]}…)"
    )
    api.post(
        f"/v1/destinations/{hook['destination_id']}/segments",
        {"segment_id": segment["segment_id"]},
        key=cast["acme"],
        expect=201,
    )
    api.post(
        f"/v1/destinations/{dsp['destination_id']}/segments",
        {"segment_id": segment["segment_id"]},
        key=cast["acme"],
        expect=201,
    )
    api.post(
        f"/v1/destinations/{dsp['destination_id']}/segments",
        {"segment_id": cast["public_segment"]},
        key=cast["acme"],
        expect=201,
    )
    push = wait_for(api, "the webhook push", lambda: receiver.received[:1])[0]
    body = push["body"]
    say(
        f"   webhook received {body.get('action')} {body.get('name')!r} / {body.get('category')!r}, "
        f"signature valid: {push['signature_valid']}"
    )
    cast.update(segment=segment["segment_id"], hook=hook["destination_id"], dsp=dsp["destination_id"])
    return receiver


def usage_chapter(api: Client, runtime: Any, cast: dict[str, Any]) -> None:
    chapter("5. Usage reporting: the CSV template, filled and dropped in S3")
    early = api.put("/v1/usage/2026-10/segments", {"rows": []}, key=cast["acme"], expect=409).body
    say(f"   reporting October on 2026-10-09 -> 409 {early['error']['code']}")
    set_clock(api, "2026-11-02T10:00:00Z")
    template = api.get(
        "/v1/usage/2026-10/segments.csv", key=cast["acme"], headers={"Accept": "text/csv"}, expect=200
    ).body
    lines = template.strip().splitlines()
    say(f"   GET /v1/usage/2026-10/segments.csv -> {len(lines) - 1} rows to fill:")
    for line in lines:
        say(f"     {line}")
    usage = {cast["hook"]: 1_000_000, cast["dsp"]: 400_000}
    filled = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        impressions = 250_000 if cells[0] == cast["public_segment"] else usage[cells[2]]
        filled.append(",".join([*cells[:4], str(impressions)]))
    bucket = runtime.resource("UsageBucket")
    s3 = runtime.client("s3")
    bad = lines[0] + "\r\n" + lines[1].rsplit(",", 1)[0] + ",12.5\r\n"
    s3.put_object(Bucket=bucket, Key=f"{cast['acme_id']}/2026-10/segments/typo.csv", Body=bad.encode())
    s3.put_object(
        Bucket=bucket,
        Key=f"{cast['acme_id']}/2026-10/segments/october.csv",
        Body=("\r\n".join(filled) + "\r\n").encode(),
    )
    say(f"   dropped typo.csv and october.csv into s3://{bucket}/{cast['acme_id']}/2026-10/segments/")

    def terminal() -> Any:
        uploads = api.get("/v1/usage/uploads?period=2026-10", key=cast["acme"], expect=200).body["uploads"]
        done = [u for u in uploads if u["status"] != "pending"]
        return uploads if len(done) >= 2 else None

    for upload in wait_for(api, "both uploads to finish", terminal):
        errors = [(e["line"], e["code"]) for e in upload.get("errors", [])]
        say(f"   upload {upload['upload_id']}: {upload['status']} ({upload['rows']} rows) {errors or ''}")
    current = api.get("/v1/usage/2026-10/segments", key=cast["acme"], expect=200).body
    for row in current["rows"]:
        say(f"     {row['segment_name']} @ {row['destination_name']}: {row['usage']:,}")


def close_chapter(api: Client, cast: dict[str, Any]) -> None:
    chapter("6. The monthly close: invoices, payouts and revenue")
    set_clock(api, "2026-11-06T00:00:00Z")
    say("   ... 00:00 UTC on the 6th: the EventBridge Scheduler schedule closes October")
    operator = cast["operator"]

    def completed() -> Any:
        reply = api.get("/v1/admin/billing-runs/2026-10", key=operator)
        return reply.body if reply.status == 200 and reply.body["status"] == "completed" else None

    run = wait_for(api, "the billing run to complete", completed, timeout=120)
    say(f"   billing run {run['run_id']}: {run['status']} · trigger {run['trigger']} · period {run['period_state']}")
    invoices = api.get("/v1/invoices?period=2026-10", key=operator, expect=200).body["invoices"]
    for invoice in invoices:
        say(f"   invoice {invoice['invoice_id']} for {invoice['buyer_name']} ({invoice['status']}):")
        rows = [("line", "impressions", "unit price", "amount")]
        for line in invoice["lines"]:
            label = (
                f"{line.get('feed_name') or line.get('segment_name') or ''} / {line.get('use_case') or line['kind']}"
            )
            imps = line.get("impressions")
            rows.append((label, f"{imps:,}" if imps is not None else "-", line["unit_price"], line["amount"]))
        rows.append(("total " + invoice["currency"], "", "", invoice["total"]))
        money_table(rows)
    payouts = api.get("/v1/payouts?period=2026-10", key=operator, expect=200).body["payouts"]
    for payout in payouts:
        say(
            f"   payout to {payout['provider_name']}: gross {payout['gross']}, share {payout['revenue_share']} -> "
            f"{payout['amount']} (platform fee {payout['platform_fee']})"
        )
    totals = run.get("totals") or {}
    say(
        f"   Σ invoices {totals.get('invoiced')} = Σ payouts {totals.get('paid_out')} + Σ fees "
        f"{totals.get('platform_fees')}: {totals.get('balanced')}"
    )
    for group in ("buyer", "channel"):
        revenue = api.get(f"/v1/revenue?period=2026-10&group_by={group}", key=cast["northwind"], expect=200).body
        parts = ", ".join(f"{g['name'] or g['key']}: {g['amount']}" for g in revenue["groups"])
        say(f"   Northwind revenue by {group}: {parts} (total {revenue['total']})")

    chapter("7. Re-running the close changes nothing; late usage is refused")
    again = api.post("/v1/admin/billing-runs", {"period": "2026-10"}, key=operator, expect=(200, 202)).body
    after = api.get("/v1/invoices?period=2026-10", key=operator, expect=200).body["invoices"]
    same = [(i["invoice_id"], i["total"]) for i in after] == [(i["invoice_id"], i["total"]) for i in invoices]
    say(
        f"   POST /v1/admin/billing-runs {{period: 2026-10}} -> {again['run_id']} ({again['status']}); "
        f"invoices identical: {same}"
    )
    if not same or again["run_id"] != run["run_id"]:
        raise DemoError("re-running the close changed the documents")
    late = api.put(
        "/v1/usage/2026-10/segments",
        {"rows": [{"segment_id": cast["segment"], "destination_id": cast["dsp"], "usage": 5}]},
        key=cast["acme"],
        expect=409,
    ).body
    say(f"   late October usage -> 409 {late['error']['code']}: {late['error']['message']}")


def console_chapter(api: Client, base_url: str, cast: dict[str, Any]) -> None:
    chapter("9. The story's documents in the web console")
    links = console_links(
        api,
        base_url,
        "2026-10",
        operator=cast["operator"],
        buyers={"Acme Agency": cast["acme"]},
        providers={"Northwind Audiences": cast["northwind"], "Meridian Data": cast["meridian"]},
    )
    keys = {"the operator": cast["operator"], "Acme Agency": cast["acme"], "Northwind Audiences": cast["northwind"]}
    keys["Meridian Data"] = cast["meridian"]
    print_links(links, keys, say)
    if os.environ.get("AUDIENS_DEMO_STAY"):
        say(f"\n   The console stays up at {base_url}/ until Ctrl-C (AUDIENS_DEMO_STAY is set).")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            say("   stopping")
    else:
        say("   The runtime stops with the demo: `AUDIENS_DEMO_STAY=1 make demo` keeps it up to open these links.")


def main() -> int:
    from demo_documents import documents_chapter
    from local_runtime import LocalRuntime

    started = time.monotonic()
    api_port = int(os.environ.get("AUDIENS_DEMO_API_PORT", "0"))
    function_log = ROOT / ".audiens" / "demo-functions.log"
    function_log.parent.mkdir(exist_ok=True)
    function_log.write_text("")
    with LocalRuntime(
        template=str(ROOT / "template.yaml"),
        api_port=api_port,
        aws_port=0,
        clock=STORY_STARTS,
        function_log=function_log,
    ) as runtime:
        say(
            f"Local runtime up in {time.monotonic() - started:.1f} s: "
            f"API {runtime.api_url} · AWS (moto) {runtime.aws_endpoint}"
        )
        say(f"The web console is served at {runtime.api_url}/")
        api = Client(runtime.api_url)
        receiver: WebhookReceiver | None = None
        try:
            cast: dict[str, Any] = accounts_chapter(api)
            cast["northwind"] = cast["provider_key"]
            cast["operator"] = os.environ.get("AUDIENS_OPERATOR_KEY", "aud_operator_local_development_key")
            meridian = operator_account(
                api, cast["operator"], "Meridian Data", "ops@meridian.example", ["provider"], revenue_share="0.75"
            )
            acme = operator_account(api, cast["operator"], "Acme Agency", "media@acme.example", ["buyer"])
            cast.update(meridian=meridian["api_key"], acme=acme["api_key"], acme_id=acme["account_id"])
            say("   the operator creates Meridian Data (provider, revenue share 0.75) and Acme Agency (buyer)")
            onboarding_chapter(api, cast)
            receiver = marketplace_chapter(api, cast)
            usage_chapter(api, runtime, cast)
            close_chapter(api, cast)
            documents_chapter(api, cast, acme_address="media@acme.example")
            if runtime.limits is not None:
                limits = runtime.limits.stats(top=1)
                hottest = (limits["hottest_writes"] or [{"table": "-", "partition_key": "-"}])[0]
                say(
                    f"\nDynamoDB limits enforced: {limits['requests']:,} requests, {limits['faults']} transient "
                    f"faults at {limits['fault_rate']:.0%} absorbed by retries ({limits['lost_answers']} answers "
                    f"lost after a commit, {limits['idempotent_replays']} replayed by token), "
                    f"{limits['conflicts']} transaction conflicts, {limits['throttled']} throttled; hottest "
                    f"partition key {limits['peak_wcu_per_s']:,.0f} WCU/s at peak "
                    f"({hottest['table']} {hottest['partition_key']})"
                )
            console_chapter(api, runtime.api_url, cast)
        except (RuntimeError, TimeoutError) as error:  # DemoError, UnexpectedStatusError, a chapter module's own
            say(f"\nDEMO FAILED: {error}")
            return 1
        finally:
            if receiver is not None:
                receiver.close()
    say()
    say(f"Demo complete in {time.monotonic() - started:.1f} s; the local runtime stopped cleanly.")
    say(f"The functions' own logs (what CloudWatch would hold) are in {function_log.relative_to(ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
