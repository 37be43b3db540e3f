"""The billing routes (API.md "Billing"): the operator's runs, invoices, payouts, revenue and the billing report.

Accounts are real (their keys go through the authorizer); the close's inputs come from the fake.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.functional.billing_helpers import Billing
from tests.support.lambda_api import ApiClient

CLOSE = datetime(2026, 11, 6, 0, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 7, 9, 0, tzinfo=UTC)


class World:
    def __init__(self, make_account: Any, b: Billing) -> None:
        self.pa = make_account(["provider"])
        self.pb = make_account(["provider", "buyer"])  # a provider that also buys
        self.b1 = make_account(["buyer"])
        self.b2 = make_account(["buyer"])
        f = b.inputs
        f.party(self.pa["account_id"], '=HYPERLINK("http://evil")', "0.80")
        f.party(self.pb["account_id"], "Provider B", "0.70")
        f.party(self.b1["account_id"], "@Agency One")
        f.party(self.b2["account_id"], "Agency Two")
        pa, pb, b1, b2 = (x["account_id"] for x in (self.pa, self.pb, self.b1, self.b2))
        f.trait("A1", feed="A", population=300)
        f.trait("B1", feed="B", population=100)
        f.subscribe(b1, "A", pa, price="2.00", feed_name="+Sports")
        f.subscribe(b1, "B", pb, price="4.00")
        f.subscribe(
            b1, "A", pa, use_cases=("segments_and_overlap",), unit="flat_fee", price="100", start=date(2026, 10, 17)
        )
        f.segment("seg1", b1, "A1 OR B1")
        f.report_segment(b1, "seg1", 1_000_000, destination_id="d1", channel_id="dsp", channel_name="Example DSP")
        f.report_segment(b1, "seg1", 1001, destination_id="d2", channel_id="net", channel_name="Network")
        f.report_feed(b1, "A", "activation", 5000)
        f.subscribe(b2, "B", pb, price="4.00")  # reports nothing
        f.subscribe(pb, "A", pa, price="2.00")  # the provider-buyer buys A
        f.report_feed(pb, "A", "activation", 10_000)


@pytest.fixture
def world(make_account: Any, billing: Billing) -> World:
    return World(make_account, billing)


def close_via_api(api: ApiClient, operator_key: str, b: Billing) -> dict[str, Any]:
    started = api.call("POST", "/v1/admin/billing-runs", {"period": "2026-10"}, key=operator_key, now=CLOSE)
    assert started.status == 202, started.body
    b.invoices()
    b.payouts()
    return dict(started.body)


def test_given_an_open_window_when_the_operator_closes_the_period_then_409_and_nothing_is_frozen(
    api: ApiClient, operator_key: str, billing: Billing
) -> None:
    # When the operator asks to close October on November 5th
    result = api.call(
        "POST",
        "/v1/admin/billing-runs",
        {"period": "2026-10"},
        key=operator_key,
        now=datetime(2026, 11, 5, 23, tzinfo=UTC),
    )
    # Then 409 reporting_window_open, and the period still accepts usage
    assert (result.status, result.error_code) == (409, "reporting_window_open")
    assert billing.state() == "OPEN"
    # And a malformed period is a 422, a missing run a 404, a buyer key a 403
    assert api.call("POST", "/v1/admin/billing-runs", {"period": "2026-13"}, key=operator_key, now=CLOSE).status == 422
    assert api.call("POST", "/v1/admin/billing-runs", {"period": "Oct"}, key=operator_key, now=CLOSE).status == 422
    assert api.call("GET", "/v1/admin/billing-runs/2026-09", key=operator_key).error_code == "billing_run_not_found"


def test_given_a_running_close_when_the_operator_triggers_it_again_then_the_existing_run_is_returned(
    api: ApiClient, operator_key: str, world: World, billing: Billing
) -> None:
    # Given the schedule started the close (jobs queued, no worker ran yet)
    billing.close()
    # When the operator triggers the same close by hand
    again = api.call("POST", "/v1/admin/billing-runs", {"period": "2026-10"}, key=operator_key, now=LATER)
    # Then 202 with the same run, still running (and the jobs of buyers without an invoice re-sent)
    assert again.status == 202
    assert (again.body["run_id"], again.body["status"], again.body["trigger"]) == (
        "run_202610",
        "running",
        "monthly-close",
    )
    # And once the queues drain there is still one invoice per buyer and one payout per provider
    billing.invoices()
    billing.payouts()
    run = api.call("GET", "/v1/admin/billing-runs/2026-10", key=operator_key).body
    # (b2 reported nothing on its only plan, a cpm one: charged nothing, it gets no invoice document)
    assert (run["status"], run["invoices"], run["expected_invoices"], run["payouts"]) == ("completed", 2, 3, 2)
    assert run["buyers_without_charges"] == 1
    assert run["failed_jobs"] == [] and run["totals"]["balanced"] is True
    assert len(billing.invoice_items()) == 3 and len(billing.payout_items()) == 2


def test_given_a_poison_invoice_job_when_the_operator_reads_the_run_then_the_failed_job_is_listed(
    api: ApiClient, operator_key: str, world: World, billing: Billing
) -> None:
    # Given b1's inputs break every attempt: its job fails its 5 deliveries and is dead-lettered
    billing.inputs.poison.add(world.b1["account_id"])
    billing.close()
    billing.invoices()
    # When the operator reads the run
    run = api.call("GET", "/v1/admin/billing-runs/2026-10", key=operator_key)
    # Then the run is still running and its failed job says which buyer, why, how often and when
    assert run.status == 200, run.body
    assert (run.body["status"], run.body["completed_at"], run.body["totals"]) == ("running", None, None)
    [failed] = run.body["failed_jobs"]
    assert (failed["kind"], failed["id"], failed["attempts"]) == ("invoice", world.b1["account_id"], 5)
    assert failed["error"] and failed["failed_at"].endswith("Z")
    assert set(failed) == {"kind", "id", "error", "attempts", "failed_at"}


def test_given_a_closed_period_when_buyers_read_invoices_then_they_see_their_own_only(
    api: ApiClient, operator_key: str, world: World, billing: Billing
) -> None:
    close_via_api(api, operator_key, billing)
    b1, b2 = world.b1, world.b2
    # The buyer's own invoice, issued, money as strings with the currency
    mine = api.call("GET", "/v1/invoices", key=b1["api_key"], query={"period": "2026-10"})
    assert mine.status == 200 and len(mine.body["invoices"]) == 1
    invoice = mine.body["invoices"][0]
    assert (invoice["buyer_id"], invoice["status"], invoice["currency"]) == (b1["account_id"], "issued", "USD")
    assert invoice["total"] == str(sum(Decimal(line["amount"]) for line in invoice["lines"]))
    # Feed A activation: 750,751 attributed (1,000,000 x 3/4 + 1001 x 3/4) + 5,000 feed-level at 2.00
    line_a = next(line for line in invoice["lines"] if line["kind"] == "feed" and line["feed_name"] == "+Sports")
    assert line_a["impressions"] == 750_000 + 751 + 5000
    assert [c["channel_id"] for c in line_a["channels"]] == ["dsp", "net", "unknown"]
    # Without a period: the buyer's invoices of every period
    assert [i["invoice_id"] for i in api.call("GET", "/v1/invoices", key=b1["api_key"]).body["invoices"]] == [
        invoice["invoice_id"]
    ]
    # Another buyer's invoice is a 404; a provider-only key is a 403
    assert api.call("GET", f"/v1/invoices/{invoice['invoice_id']}", key=b2["api_key"]).status == 404
    assert api.call("GET", f"/v1/invoices/{invoice['invoice_id']}", key=world.pa["api_key"]).status == 403
    assert api.call("GET", "/v1/invoices/inv_nope", key=b1["api_key"]).status == 404
    # The operator sees every invoice of the period (period required), paginated
    assert api.call("GET", "/v1/invoices", key=operator_key).error_code == "period_required"
    page = api.call("GET", "/v1/invoices", key=operator_key, query={"period": "2026-10", "limit": "1"})
    assert len(page.body["invoices"]) == 1 and page.body["next_token"]
    rest = api.call(
        "GET", "/v1/invoices", key=operator_key, query={"period": "2026-10", "next_token": page.body["next_token"]}
    )
    ids = {i["buyer_id"] for i in page.body["invoices"] + rest.body["invoices"]}
    assert ids == {b1["account_id"], world.pb["account_id"]}  # b2 was charged nothing: no document
    # The buyer who reported nothing on its CPM plan has no invoice (DOMAIN.md §9: no empty documents)
    assert api.call("GET", "/v1/invoices", key=b2["api_key"], query={"period": "2026-10"}).body["invoices"] == []
    from audiens.domain.invoicing import invoice_id_for
    from audiens.domain.periods import Period

    empty_id = invoice_id_for(b2["account_id"], Period(2026, 10))
    assert api.call("GET", f"/v1/invoices/{empty_id}", key=b2["api_key"]).status == 404
    assert api.call("GET", f"/v1/invoices/{empty_id}", key=operator_key).status == 404


def test_given_an_invoice_when_read_as_csv_then_every_text_cell_is_escaped_against_formulas(
    api: ApiClient, operator_key: str, world: World, billing: Billing
) -> None:
    close_via_api(api, operator_key, billing)
    key = world.b1["api_key"]
    invoice_id = api.call("GET", "/v1/invoices", key=key).body["invoices"][0]["invoice_id"]
    by_accept = api.call("GET", f"/v1/invoices/{invoice_id}", key=key, headers={"Accept": "text/csv"})
    by_suffix = api.call("GET", f"/v1/invoices/{invoice_id}.csv", key=key)
    assert by_accept.status == by_suffix.status == 200
    assert by_accept.headers["Content-Type"].startswith("text/csv")
    assert by_accept.body == by_suffix.body
    rows = list(csv.reader(io.StringIO(by_accept.body)))
    header, lines = rows[0], rows[1:]
    assert header[:3] == ["Invoice ID", "Period", "Buyer ID"]
    cells = [cell for row in lines for cell in row]
    assert "'@Agency One" in cells and "'+Sports" in cells and '\'=HYPERLINK("http://evil")' in cells
    assert not any(cell[:1] in "=+@" for cell in cells if cell)
    assert not any(cell.startswith("-") and not cell[1:2].isdigit() for cell in cells if cell)
    # The last row is the total, equal to the JSON total
    total = api.call("GET", f"/v1/invoices/{invoice_id}", key=key).body["total"]
    assert lines[-1][7] == "total" and lines[-1][-1] == total


def test_given_invoices_when_the_operator_voids_one_then_only_its_status_changes(
    api: ApiClient, operator_key: str, world: World, billing: Billing
) -> None:
    # Given a running close: invoices are drafts and cannot be voided yet
    billing.close()
    billing.invoices()
    key = world.b1["api_key"]
    draft = api.call("GET", "/v1/invoices", key=key).body["invoices"][0]
    assert draft["status"] == "draft"
    refused = api.call("POST", f"/v1/invoices/{draft['invoice_id']}/void", {"reason": "dup"}, key=operator_key)
    assert (refused.status, refused.error_code) == (409, "invoice_not_issued")
    billing.payouts()
    # When the operator voids the issued invoice with a reason
    voided = api.call(
        "POST",
        f"/v1/invoices/{draft['invoice_id']}/void",
        {"reason": "Billed twice by mistake"},
        key=operator_key,
        now=LATER,
    )
    # Then it reads void with the reason; amounts, payouts and the books are unchanged
    assert voided.status == 200, voided.body
    assert (voided.body["status"], voided.body["void_reason"]) == ("void", "Billed twice by mistake")
    assert voided.body["voided_at"] == "2026-11-07T09:00:00Z"
    assert voided.body["lines"] == draft["lines"] and voided.body["total"] == draft["total"]
    assert api.call("GET", f"/v1/invoices/{draft['invoice_id']}", key=key).body["status"] == "void"
    billing.assert_books_balance()
    # And voiding twice is a 409, a buyer cannot void, an empty reason is a 422
    again = api.call("POST", f"/v1/invoices/{draft['invoice_id']}/void", {"reason": "again"}, key=operator_key)
    assert again.error_code == "invoice_already_void"
    assert api.call("POST", f"/v1/invoices/{draft['invoice_id']}/void", {"reason": "x"}, key=key).status == 403
    assert api.call("POST", f"/v1/invoices/{draft['invoice_id']}/void", {"reason": " "}, key=operator_key).status == 422


def test_given_a_closed_period_when_providers_read_payouts_then_share_and_fee_add_up_per_line(
    api: ApiClient, operator_key: str, world: World, billing: Billing
) -> None:
    close_via_api(api, operator_key, billing)
    pa, pb = world.pa, world.pb
    mine = api.call("GET", "/v1/payouts", key=pb["api_key"], query={"period": "2026-10"}).body["payouts"]
    assert len(mine) == 1
    payout = mine[0]
    assert (payout["provider_id"], payout["revenue_share"], payout["currency"]) == (pb["account_id"], "0.70", "USD")
    for line in payout["lines"]:
        assert Decimal(line["provider_share"]) + Decimal(line["platform_fee"]) == Decimal(line["gross"])
        assert Decimal(line["provider_share"]) == (Decimal(line["gross"]) * Decimal("0.70")).quantize(Decimal("0.01"))
    assert Decimal(payout["amount"]) + Decimal(payout["platform_fee"]) == Decimal(payout["gross"])
    # Another provider's payout is a 404; a buyer-only key is a 403; the operator lists all of them
    assert api.call("GET", f"/v1/payouts/{payout['payout_id']}", key=pa["api_key"]).status == 404
    assert api.call("GET", f"/v1/payouts/{payout['payout_id']}", key=pb["api_key"]).body == payout
    assert api.call("GET", "/v1/payouts", key=world.b1["api_key"]).status == 403
    everything = api.call("GET", "/v1/payouts", key=operator_key, query={"period": "2026-10"}).body["payouts"]
    assert {p["provider_id"] for p in everything} == {pa["account_id"], pb["account_id"]}


def test_given_a_closed_period_when_a_provider_asks_its_revenue_then_every_grouping_adds_up_to_its_payout(
    api: ApiClient, operator_key: str, world: World, billing: Billing
) -> None:
    key = world.pa["api_key"]
    # Before the close completes, revenue is a 409
    refused = api.call("GET", "/v1/revenue", key=key, query={"period": "2026-10"})
    assert (refused.status, refused.error_code) == (409, "period_not_closed")
    close_via_api(api, operator_key, billing)
    payout = api.call("GET", "/v1/payouts", key=key, query={"period": "2026-10"}).body["payouts"][0]
    for group_by in ("total", "buyer", "channel"):
        result = api.call("GET", "/v1/revenue", key=key, query={"period": "2026-10", "group_by": group_by})
        assert result.status == 200, result.body
        body = result.body
        assert (body["currency"], body["total"], body["gross"]) == ("USD", payout["amount"], payout["gross"])
        assert sum(Decimal(g["amount"]) for g in body["groups"]) == Decimal(payout["amount"])
        assert sum(Decimal(g["gross"]) for g in body["groups"]) == Decimal(payout["gross"])
    by_buyer = api.call("GET", "/v1/revenue", key=key, query={"period": "2026-10", "group_by": "buyer"}).body
    assert {g["key"]: g["name"] for g in by_buyer["groups"]} == {
        world.b1["account_id"]: "@Agency One",
        world.pb["account_id"]: "Provider B",
    }
    by_channel = api.call("GET", "/v1/revenue", key=key, query={"period": "2026-10", "group_by": "channel"}).body
    assert {g["key"]: g["name"] for g in by_channel["groups"]} == {
        "dsp": "Example DSP",
        "net": "Network",
        "unknown": "Unknown",
    }
    # A provider without sales gets zero, not an error; a bad grouping is a 422; buyers are refused
    assert api.call("GET", "/v1/revenue", key=key, query={"period": "2026-10", "group_by": "agency"}).status == 422
    assert api.call("GET", "/v1/revenue", key=world.b1["api_key"], query={"period": "2026-10"}).status == 403


def test_given_a_closed_period_when_a_provider_downloads_its_billing_report_then_one_row_per_buyer_feed_plan(
    api: ApiClient, operator_key: str, world: World, billing: Billing
) -> None:
    close_via_api(api, operator_key, billing)
    key = world.pb["api_key"]
    report = api.call("GET", "/v1/reports/billing", key=key, query={"period": "2026-10"})
    assert report.status == 200, report.body
    rows = {r["buyer_id"]: r for r in report.body["rows"]}
    # Buyer 1 used feed B at CPM; buyer 2 subscribed at CPM and reported nothing: empty units, flag 1
    b1, b2 = rows[world.b1["account_id"]], rows[world.b2["account_id"]]
    assert (b1["units"], b1["no_usage_reported"], b1["list_price"], b1["discounted_price"]) == (
        250_250,
        0,
        "4.00",
        "4.00",
    )
    assert (b2["units"], b2["no_usage_reported"], b2["total_cost"]) == (None, 1, "0.00")
    assert {r["billing_period"] for r in report.body["rows"]} == {"2026-10-31"}
    assert b1["subscription_start"] == "2026-01-01" and b1["subscription_end"] is None
    # The CSV has the same rows, flag as 0/1, and escaped text
    as_csv = api.call(
        "GET", "/v1/reports/billing", key=key, query={"period": "2026-10"}, headers={"Accept": "text/csv"}
    )
    assert as_csv.status == 200 and as_csv.headers["Content-Type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.body)))
    assert len(parsed) == len(report.body["rows"])
    flags = {r["Buyer ID"]: (r["Units"], r["No Usage Reported"], r["Billing Period"]) for r in parsed}
    assert flags[world.b2["account_id"]] == ("", "1", "2026-10-31")
    assert "'@Agency One" in {r["Buyer (Agency)"] for r in parsed}
