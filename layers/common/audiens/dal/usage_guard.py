"""The buyer's usage guard: what usage writes and the monthly close agree on, one item per (buyer, period).

``GUARD#<buyer>#<period>`` / ``STATE`` holds ``state`` (OPEN, then CLOSING once frozen), ``holders`` (lease
owner → lease end, epoch seconds) and ``version`` (bumped by every lease taken or released).

* created once per buyer and period, with the buyer marker, in a transaction that checks the period's state
  item is OPEN - the only usage write that touches that item, so it is never hot;
* a single-transaction write carries a ConditionCheck that the guard is OPEN;
* a multi-transaction write takes a lease (``SET holders.<owner>``, guard OPEN), writes without touching the
  guard, fences its final transaction on still holding the lease, and releases it;
* the freeze (the buyer's invoice job, after the period is CLOSING) sets CLOSING only when no lease is live,
  conditioned on the version it read, so a lease taken meanwhile makes it read again.

A lease lasts longer than the writer's Lambda timeout, so a writer cannot outlive it; a crashed writer's
lease simply runs out. Wall-clock time is right here: leases are about processes, not business time.
"""

from __future__ import annotations

import time
from typing import Any, Final, cast

from botocore.exceptions import ClientError

from audiens.dal.idempotent import transact_write
from audiens.dal.period_models import CLOSING, OPEN, PeriodStateItem
from audiens.dal.usage_models import PeriodBuyerItem, buyers_pk, guard_pk
from audiens.dal.usage_writes import Retry, classify
from audiens.observability import logger
from audiens.ports.usage import PeriodClosedError, UsageLeaseHeldError

_SK: Final = "STATE"
_ATTEMPTS: Final = 20
_CONDITION_FAILED: Final = "ConditionalCheckFailedException"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class UsageGuards:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self._known: set[tuple[str, str]] = set()  # (buyer, period) whose guard exists (it is never deleted)

    def key(self, buyer_id: str, period: str) -> dict[str, Any]:
        return {"pk": {"S": guard_pk(buyer_id, period)}, "sk": {"S": _SK}}

    def get(self, buyer_id: str, period: str) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key=self.key(buyer_id, period), ConsistentRead=True)
        return cast(dict[str, Any] | None, item.get("Item"))

    # ------------------------------------------------------------------------------ conditions
    def period_check(self, period: str) -> dict[str, Any]:
        pk, sk = PeriodStateItem.key(period)
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                "ConditionExpression": "attribute_not_exists(pk) OR #s = :open",
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": {":open": {"S": OPEN}},
            }
        }

    def check(self, buyer_id: str, period: str, lease_owner: str | None = None) -> dict[str, Any]:
        """A ConditionCheck that the guard is OPEN (and, with ``lease_owner``, that its lease is still held)."""
        condition = "#s = :open"
        names = {"#s": "state"}
        if lease_owner is not None:
            condition += " AND attribute_exists(holders.#o)"
            names["#o"] = lease_owner
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": self.key(buyer_id, period),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":open": {"S": OPEN}},
            }
        }

    # ------------------------------------------------------------------------------ writes
    def ensure(self, buyer_id: str, period: str) -> None:
        """Create the guard (and the buyer marker) unless it exists, only while the period is OPEN."""
        if (buyer_id, period) in self._known or self.get(buyer_id, period) is not None:
            self._known.add((buyer_id, period))
            return
        guard = {
            **self.key(buyer_id, period),
            "state": {"S": OPEN},
            "version": {"N": "0"},
            "holders": {"M": {}},
            "buyer_id": {"S": buyer_id},
            "period": {"S": period},
        }
        marker = PeriodBuyerItem(buyers_pk(period, buyer_id), f"BUYER#{buyer_id}", buyer_id=buyer_id).serialize()
        items = [
            self.period_check(period),
            {"Put": {"TableName": self._table, "Item": guard, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self._table, "Item": marker}},
        ]
        for attempt in range(_ATTEMPTS):
            try:
                transact_write(self._client, items, f"usage-guard:{buyer_id}:{period}#{attempt}")
                break
            except ClientError as error:
                outcome = classify(error, ["period", "created", "marker"])
                if isinstance(outcome, PeriodClosedError):
                    raise PeriodClosedError("The period's close has begun.") from None
                if self.get(buyer_id, period) is not None:
                    break  # created meanwhile by a concurrent write of the same buyer
                if not isinstance(outcome, Retry):
                    raise outcome from None
                time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise RuntimeError(f"the usage guard of {buyer_id} for {period} could not be created")
        self._known.add((buyer_id, period))

    def lease(self, buyer_id: str, period: str, owner: str, seconds: float) -> None:
        """Hold the guard open for ``owner`` until ``seconds`` from now; ``PeriodClosedError`` once frozen."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self.key(buyer_id, period),
                UpdateExpression="SET holders.#o = :until ADD version :one",
                ConditionExpression="#s = :open",
                ExpressionAttributeNames={"#o": owner, "#s": "state"},
                ExpressionAttributeValues={
                    ":until": {"N": f"{time.time() + seconds:.3f}"},
                    ":one": {"N": "1"},
                    ":open": {"S": OPEN},
                },
            )
        except ClientError as error:
            if _code(error) == _CONDITION_FAILED:
                raise PeriodClosedError("The period's close has begun.") from None
            raise

    def release(self, buyer_id: str, period: str, owner: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self.key(buyer_id, period),
                UpdateExpression="REMOVE holders.#o ADD version :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#o": owner},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except ClientError as error:  # the lease then simply runs out
            logger.warning("usage lease not released", extra={"owner": owner, "error": str(error)})

    def freeze(self, buyer_id: str, period: str) -> None:
        """Guard → CLOSING once no lease is live; ``UsageLeaseHeldError`` (with the latest lease end) until then."""
        for _ in range(_ATTEMPTS):
            guard = self.get(buyer_id, period)
            if guard is None or guard["state"]["S"] != OPEN:
                return  # never written (and no guard can appear: the period is CLOSING), or frozen already
            now = time.time()
            ends = [float(v["N"]) for v in guard.get("holders", {}).get("M", {}).values()]
            live = [end for end in ends if end > now]
            if live:
                raise UsageLeaseHeldError(buyer_id, max(live))
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=self.key(buyer_id, period),
                    UpdateExpression="SET #s = :closing REMOVE holders",
                    ConditionExpression="version = :v",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={":closing": {"S": CLOSING}, ":v": guard["version"]},
                )
                return
            except ClientError as error:
                if _code(error) != _CONDITION_FAILED:
                    raise
        raise RuntimeError(f"the usage of {buyer_id} for {period} could not be frozen")
