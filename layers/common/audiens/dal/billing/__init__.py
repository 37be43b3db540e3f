"""DynamoDB and SQS adapters of the monthly close (``BillingStore``, ``BillingJobs``).

Exactly-once lives here, in conditional writes and transactions, not in the hope that a message arrives
once:

* the run is created once per period (deterministic key, ``attribute_not_exists``), together with the
  snapshot of the buyers it must invoice, in one transaction;
* an invoice is created once (deterministic id, ``attribute_not_exists``) in the same transaction as its
  provider slices and the increment of a counter shard — so a redelivered job, or one whose worker died
  after the commit, can neither create a second invoice nor count the first one twice;
* a payout likewise, with its own counter;
* the run completes (``running`` → ``completed``) and the period closes (``CLOSING`` → ``CLOSED``) in one
  transaction across the billing and usage tables.

Counters are sharded (``COUNT#<period>`` / ``00``..``15``) so a thousand concurrent invoice transactions do
not all collide on one item; the fan-in reads every shard in one strongly consistent query of their own
small partition (the counts alone on every check, the providers seen only once every invoice exists).

The store is one class per aggregate, combined: :mod:`.runs` (period state, runs, counters, failures),
:mod:`.invoices`, :mod:`.payouts`; :mod:`.jobs` is the SQS side; :mod:`.common` what they share.
"""

from __future__ import annotations

from audiens.dal.billing.common import COUNTER_SHARDS, MAX_SLICES_IN_TRANSACTION
from audiens.dal.billing.invoices import InvoiceStore
from audiens.dal.billing.jobs import SqsBillingJobs
from audiens.dal.billing.payouts import PayoutStore
from audiens.dal.billing.runs import RunStore


class DynamoBillingStore(RunStore, InvoiceStore, PayoutStore):
    """``BillingStore`` on the Billing table (and the Usage table's period state)."""


__all__ = ["COUNTER_SHARDS", "MAX_SLICES_IN_TRANSACTION", "DynamoBillingStore", "SqsBillingJobs"]
