"""What the marketplace stores share: the connection, the key shapes and the history look-up."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from audiens.dal.base import connection
from audiens.domain.time import key_timestamp


def last_sk_before(prefix: str, end: datetime) -> str:
    """The greatest history sort key of a change effective strictly before ``end`` (timestamps are microseconds)."""
    return prefix + key_timestamp(end - timedelta(microseconds=1))


def feed_pk(feed_id: str) -> str:
    return f"FEED#{feed_id}"


class MarketplaceTables:
    """The Marketplace table's connection, shared by the stores combined in ``DynamoMarketplaceRepository``."""

    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _connection(self) -> Connection:
        # One connection (one botocore client) per repository: creating a client costs more than a transaction.
        return connection(self._region)

    def _transaction(self) -> TransactWrite:
        return TransactWrite(connection=self._connection)
