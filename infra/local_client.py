"""A small stdlib HTTP client for the public API — what a user's curl does. Shared by the demo and the e2e tests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BINARY_TYPES = ("application/pdf", "image/")


def _header(headers: dict[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


class UnexpectedStatusError(RuntimeError):
    """A request answered another status than the caller expected."""


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


class Client:
    def __init__(self, base: str, timeout: float = 60.0) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout

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
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, raw, rh = err.code, err.read(), dict(err.headers)
        text = raw.decode(errors="replace") if raw else ""
        parsed: Any
        if _header(rh, "Content-Type").startswith(BINARY_TYPES):
            parsed = raw  # a PDF or an image: the bytes as received
        else:
            try:
                parsed = json.loads(text) if text else None
            except json.JSONDecodeError:
                parsed = text
        wanted = (expect,) if isinstance(expect, int) else expect
        if wanted and status not in wanted:
            raise UnexpectedStatusError(f"{method} {path} answered {status}, expected {wanted}: {text[:500]}")
        return Reply(status, parsed, rh)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)

    def idle(self, timeout: float = 50.0) -> Reply:
        """Local runtime only: return once the work already triggered (queues, S3 events, schedules) is done."""
        return self.post("/_local/idle", {"timeout": timeout}, expect=200)


def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until ``check`` returns something truthy (asynchronous work: queues, schedules, S3 events)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s (last value: {last!r})")
