"""The monthly close on the local runtime: the schedule fires from the local clock, the SQS pollers run both
workers, and every document is read back over HTTP (the demo's billing chapter, used as the test)."""

from __future__ import annotations

from typing import Any

from demo import Client
from demo_billing import billing_chapter, mini_marketplace


def test_given_a_month_of_usage_when_the_clock_passes_the_6th_then_the_close_completes_exactly_once(
    runtime: Any, operator_key: str
) -> None:
    api = Client(runtime.api_url)
    # Given two providers, two buyers and October usage reported in the window (real inputs, over HTTP)
    cast = mini_marketplace(api, operator_key)
    # When the local clock passes 00:00 UTC on November 6th (the chapter raises if any step misbehaves)
    run = billing_chapter(api, operator_key=operator_key, buyers=cast.buyers, providers=cast.providers)
    # Then one invoice per buyer, one payout per provider, the books balance and the period is closed
    assert (run["status"], run["period_state"], run["invoices"], run["payouts"]) == ("completed", "CLOSED", 2, 2)
    assert run["totals"]["balanced"] is True and run["failed_jobs"] == []
