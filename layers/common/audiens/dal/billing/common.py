"""What the billing store's aggregates share: keys, counter shards, paging tokens and the retried transaction."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, Final

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from audiens.dal.base import connection
from audiens.dal.idempotent import IdempotentTransactWrite
from audiens.domain.periods import Period
from audiens.errors import ValidationError

COUNTER_SHARDS: Final = 16
BUYERS_PER_CHUNK: Final = 2000
MAX_TRANSACTION_ITEMS: Final = 100
# Header + counter shard + payees shard + slices must fit one transaction; larger ones are stored in phases.
MAX_SLICES_IN_TRANSACTION: Final = MAX_TRANSACTION_ITEMS - 3
_CONFLICT_RETRIES: Final = 6


def run_pk(period: Period | str) -> str:
    return f"RUN#{period}"


def counter_pk(period: Period | str) -> str:
    return f"COUNT#{period}"


def payees_pk(period: Period | str) -> str:
    return f"PAYEES#{period}"


def shard(entity_id: str) -> str:
    return f"{int(hashlib.sha256(entity_id.encode()).hexdigest()[:8], 16) % COUNTER_SHARDS:02d}"


def reasons(error: TransactWriteError) -> list[str]:
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [r.code if r is not None else "None" for r in reasons]


def encode_token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise ValidationError("next_token is not a token this API returned.", code="invalid_next_token")
    return data


class BillingTables:
    """The connection and the transaction every part of the billing store writes through."""

    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _connection(self) -> Connection:
        return connection(self._region)

    def _transact(self, build: Callable[[TransactWrite], None], identity: str) -> None:
        """Run a transaction, retrying the conflicts concurrent workers cause; conditions failing propagate.

        Its ``ClientRequestToken`` comes from ``identity`` and its actions (``dal/idempotent.py``): a retry of
        a commit whose answer was lost, by the SDK or by a redelivered job, writes nothing twice."""
        for attempt in range(_CONFLICT_RETRIES):
            try:
                with IdempotentTransactWrite(f"{identity}#{attempt}", connection=self._connection) as tx:
                    build(tx)
                return
            except TransactWriteError as error:
                found = reasons(error)
                if "TransactionConflict" not in found or "ConditionalCheckFailed" in found:
                    raise
                if attempt == _CONFLICT_RETRIES - 1:
                    raise
                time.sleep(random.uniform(0, 0.05 * 2**attempt))
