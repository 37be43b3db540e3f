"""The demo's last words: where each document of the story can be seen in the web console.

``console_links`` asks the API for the story's documents (the buyer's payables and usage uploads, each
invoice, each payout, the billing run) and returns one line per document: what it is, its console URL and
which account's API key signs in to see it. ``make demo`` prints them before stopping; with
``AUDIENS_DEMO_STAY=1`` it keeps the runtime up until Ctrl-C so the links can be opened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from local_client import Client


@dataclass(frozen=True)
class Link:
    what: str
    url: str
    sign_in_as: str


def console_links(
    api: Client, base_url: str, period: str, *, operator: str, buyers: dict[str, str], providers: dict[str, str]
) -> list[Link]:
    """The console URL of each document of ``period``; ``buyers``/``providers`` map a company name to its key."""
    base = base_url.rstrip("/")
    links = [Link(f"billing run {period}", f"{base}/billing-runs/{period}", "the operator")]
    for name, key in buyers.items():
        links.append(Link(f"{name}: payables {period}", f"{base}/payables?period={period}", name))
        uploads = api.get(f"/v1/usage/uploads?period={period}", key=key, expect=200).body["uploads"]
        for upload in sorted(uploads, key=lambda u: str(u["created_at"])):
            links.append(
                Link(
                    f"{name}: usage file {upload['upload_id']} ({upload['status']})",
                    f"{base}/payables/uploads/{upload['upload_id']}",
                    name,
                )
            )
    for invoice in api.get(f"/v1/invoices?period={period}", key=operator, expect=200).body["invoices"]:
        buyer = invoice["buyer_name"]
        who = buyer if buyer in buyers else "the operator"
        links.append(
            Link(
                f"invoice to {buyer}, {invoice['total']} {invoice['currency']} ({invoice['status']})",
                f"{base}/invoices/{invoice['invoice_id']}",
                who,
            )
        )
    for payout in api.get(f"/v1/payouts?period={period}", key=operator, expect=200).body["payouts"]:
        provider = payout["provider_name"]
        who = provider if provider in providers else "the operator"
        links.append(
            Link(
                f"payout to {provider}, {payout['amount']} {payout['currency']}",
                f"{base}/payouts/{payout['payout_id']}",
                who,
            )
        )
    return links


def print_links(links: list[Link], keys: dict[str, str], emit: Callable[[str], None]) -> None:
    """One line per document, then the key each account signs in with (local keys of this run only)."""
    width = max(len(link.what) for link in links)
    for link in links:
        emit(f"   {link.what:<{width}}  {link.url}  (sign in as {link.sign_in_as})")
    emit("   API keys to paste at sign-in (this run's local accounts):")
    for who, key in keys.items():
        emit(f"     {who}: {key}")
