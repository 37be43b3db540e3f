"""The demo's closing list: every document of the story with the console URL that shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from demo_console import Link, console_links, print_links


@dataclass
class _Reply:
    body: Any


class _Api:
    """Answers the three reads ``console_links`` makes, by path and key."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def get(self, path: str, *, key: str, expect: int) -> _Reply:
        self.calls.append((path, key))
        if path.startswith("/v1/usage/uploads"):
            return _Reply(
                {
                    "uploads": [
                        {"upload_id": "upl_2", "status": "accepted", "created_at": "2026-11-02T10:00:00Z"},
                        {"upload_id": "upl_1", "status": "rejected", "created_at": "2026-11-02T09:00:00Z"},
                    ]
                }
            )
        if path.startswith("/v1/invoices"):
            return _Reply(
                {
                    "invoices": [
                        {
                            "invoice_id": "inv_1",
                            "buyer_name": "Acme",
                            "total": "10.00",
                            "currency": "USD",
                            "status": "issued",
                        }
                    ]
                }
            )
        return _Reply(
            {"payouts": [{"payout_id": "pay_1", "provider_name": "Northwind", "amount": "8.00", "currency": "USD"}]}
        )


def test_given_a_closed_month_then_each_document_has_its_console_url_and_who_signs_in() -> None:
    api = _Api()
    links = console_links(
        api,
        "http://127.0.0.1:3000/",
        "2026-10",
        operator="op",
        buyers={"Acme": "k-acme"},
        providers={"Northwind": "k-nw"},
    )  # type: ignore[arg-type]
    assert links == [
        Link("billing run 2026-10", "http://127.0.0.1:3000/billing-runs/2026-10", "the operator"),
        Link("Acme: payables 2026-10", "http://127.0.0.1:3000/payables?period=2026-10", "Acme"),
        Link("Acme: usage file upl_1 (rejected)", "http://127.0.0.1:3000/payables/uploads/upl_1", "Acme"),
        Link("Acme: usage file upl_2 (accepted)", "http://127.0.0.1:3000/payables/uploads/upl_2", "Acme"),
        Link("invoice to Acme, 10.00 USD (issued)", "http://127.0.0.1:3000/invoices/inv_1", "Acme"),
        Link("payout to Northwind, 8.00 USD", "http://127.0.0.1:3000/payouts/pay_1", "Northwind"),
    ]
    assert ("/v1/usage/uploads?period=2026-10", "k-acme") in api.calls
    assert ("/v1/invoices?period=2026-10", "op") in api.calls
    printed: list[str] = []
    print_links(links, {"Acme": "k-acme"}, printed.append)
    assert any("http://127.0.0.1:3000/invoices/inv_1  (sign in as Acme)" in line for line in printed)
    assert printed[-1].strip() == "Acme: k-acme"
