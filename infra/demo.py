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
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "infra"), str(ROOT / "layers" / "common")]


STORY_STARTS = "2026-10-01T09:00:00Z"


class DemoError(RuntimeError):
    pass


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Client:
    """A tiny HTTP client: what a user's curl would do."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        expect: int | tuple[int, ...] | None = None,
    ) -> Reply:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        hdrs = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        if key:
            hdrs["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, raw, rh = err.code, err.read(), dict(err.headers)
        text = raw.decode() if raw else ""
        try:
            parsed: Any = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text
        wanted = (expect,) if isinstance(expect, int) else expect
        if wanted and status not in wanted:
            raise DemoError(f"{method} {path} answered {status}, expected {wanted}: {text[:500]}")
        return Reply(status, parsed, rh)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("PUT", path, body, **kw)


def say(text: str = "") -> None:
    print(text, flush=True)


def chapter(title: str) -> None:
    say()
    say(f"== {title} " + "=" * max(0, 70 - len(title)))


def set_clock(api: Client, now: str) -> None:
    api.post("/_local/clock", {"now": now}, expect=200)
    say(f"   [clock] {now}")


def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise DemoError(f"timed out waiting for {what}")


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

    email = wait_for("the activation email", activation_email)
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
        "/v1/accounts", {"company_name": "Forgotten Co", "email": "later@forgotten.example", "roles": ["buyer"]}, expect=201
    )
    say("   Forgotten Co signs up on 2026-10-01 and never clicks the link")
    retry = {"company_name": "Forgotten Co", "email": "later@forgotten.example", "roles": ["buyer"]}
    taken = api.post("/v1/accounts", retry, expect=409).body
    say(f"   signing up again with that email on 2026-10-01 -> 409 {taken['error']['code']}")
    set_clock(api, "2026-10-09T02:59:58Z")
    say("   ... the clock passes 03:00 UTC, when the daily maintenance schedule fires")
    wait_for("the daily run to expire the account", lambda: api.post("/v1/accounts", retry).status == 201, timeout=20)
    say("   the pending account expired and its email is free again: sign-up -> 201")
    return {"provider_key": key}


def main() -> int:
    from local_runtime import LocalRuntime

    started = time.monotonic()
    api_port = int(os.environ.get("AUDIENS_DEMO_API_PORT", "0"))
    with LocalRuntime(
        template=str(ROOT / "template.yaml"), api_port=api_port, aws_port=0, clock=STORY_STARTS
    ) as runtime:
        say(f"Local runtime up in {time.monotonic() - started:.1f} s: API {runtime.api_url} · AWS (moto) {runtime.aws_endpoint}")
        api = Client(runtime.api_url)
        try:
            accounts_chapter(api)
        except DemoError as error:
            say(f"\nDEMO FAILED: {error}")
            return 1
    say()
    say(f"Demo complete in {time.monotonic() - started:.1f} s; the local runtime stopped cleanly.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
