"""What the marketplace stores share: the connection, the key shapes and the history look-up."""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.transactions import TransactWrite

from audiens.dal.base import ConnectedStore
from audiens.dal.idempotent import IdempotentTransactWrite
from audiens.domain.time import key_timestamp


def last_sk_before(prefix: str, end: datetime) -> str:
    """The greatest history sort key of a change effective strictly before ``end`` (timestamps are microseconds)."""
    return prefix + key_timestamp(end - timedelta(microseconds=1))


def feed_pk(feed_id: str) -> str:
    return f"FEED#{feed_id}"


class MarketplaceTables(ConnectedStore):
    """The Marketplace table's connection, shared by the stores combined in ``DynamoMarketplaceRepository``."""

    def _transaction(self, identity: str) -> TransactWrite:
        """A transaction with a ClientRequestToken derived from ``identity`` (the operation) and its content:
        a retry after a lost answer is recognised by DynamoDB (``dal/idempotent.py``)."""
        return IdempotentTransactWrite(identity, connection=self._connection)
