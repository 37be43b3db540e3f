"""One buyer's ``InvoiceInputs``, gathered for a single streaming pass over the usage.

The usage rows are streamed from the ledger and aggregated by ``build_invoice`` as they come (one pass,
one page in memory); segments, traits and party names are looked up the first time a row needs them
and kept for the invoice: what is held grows with the buyer's distinct segments, never with its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import TypeVar

from audiens.domain.invoicing import InvoiceInputs, Party
from audiens.domain.periods import Period
from audiens.ports.billing import BillingInputs

V = TypeVar("V")


class LazyLookup(Mapping[str, V]):
    """A mapping that loads each key on first access (``loader(ids) -> {id: value}``; absent ids stay absent)."""

    def __init__(self, loader: Callable[[Collection[str]], Mapping[str, V]]) -> None:
        self._loader = loader
        self._loaded: dict[str, V] = {}
        self._missing: set[str] = set()

    def __getitem__(self, key: str) -> V:
        if key not in self._loaded and key not in self._missing:
            found = self._loader([key])
            if key in found:
                self._loaded[key] = found[key]
            else:
                self._missing.add(key)
        return self._loaded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded)

    def __len__(self) -> int:
        return len(self._loaded)


class _Names(Mapping[str, str]):
    """Party names by account id, looked up on first use."""

    def __init__(self, parties: LazyLookup[Party]) -> None:
        self._parties = parties

    def __getitem__(self, key: str) -> str:
        return self._parties[key].name

    def __iter__(self) -> Iterator[str]:
        return iter(self._parties)

    def __len__(self) -> int:
        return len(self._parties)


def invoice_inputs(inputs: BillingInputs, buyer_id: str, period: Period, currency: str) -> InvoiceInputs:
    """The inputs of the buyer's invoice: subscriptions read now, usage streamed when the invoice is built."""
    subscriptions = inputs.subscriptions(buyer_id, period)  # first: it starts the inputs' per-invoice cache
    parties: LazyLookup[Party] = LazyLookup(inputs.parties)
    buyer = parties.get(buyer_id)
    return InvoiceInputs(
        buyer_id=buyer_id,
        buyer_name=buyer.name if buyer else buyer_id,
        period=period,
        currency=currency,
        subscriptions=subscriptions,
        segment_usage=inputs.segment_usage(buyer_id, period),
        feed_usage=inputs.feed_usage(buyer_id, period),
        segments=LazyLookup(inputs.segments),
        traits=LazyLookup(inputs.traits),
        population_of=inputs.population_of,
        population_in=inputs.population_in,
        provider_names=_Names(parties),
    )
