"""A buyer's terms on a feed: access requests to private feeds and per-buyer discounts (with their history)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pynamodb.exceptions import UpdateError

from audiens.dal.base import conditional_failed
from audiens.dal.idempotent import save_once, write_marker
from audiens.dal.marketplace.common import MarketplaceTables, feed_pk, last_sk_before
from audiens.dal.marketplace_models import AccessItem, DiscountChangeItem, DiscountItem
from audiens.domain.marketplace import AccessRequest
from audiens.domain.time import key_timestamp
from audiens.errors import NotFoundError


def _to_access(item: AccessItem) -> AccessRequest:
    return AccessRequest(item.feed_id, item.buyer_id, item.status, item.requested_at, item.decided_at)


class TermsStore(MarketplaceTables):
    # -------------------------------------------------------------------------------------------- access
    def request_access(self, request: AccessRequest) -> bool:
        """A new (or re-opened, after a denial) request; False if one is pending or approved."""
        item = AccessItem(
            feed_pk(request.feed_id),
            f"ACCESS#{request.buyer_id}",
            feed_id=request.feed_id,
            buyer_id=request.buyer_id,
            status="pending",
            requested_at=request.requested_at,
            gsi1pk=f"ACCT#{request.buyer_id}#ACCESS",
            gsi1sk=request.feed_id,
            write_id=write_marker(),
        )
        return save_once(item, AccessItem.pk.does_not_exist() | (AccessItem.status == "denied"))

    def get_access(self, feed_id: str, buyer_id: str) -> AccessRequest | None:
        try:
            return _to_access(AccessItem.get(feed_pk(feed_id), f"ACCESS#{buyer_id}", consistent_read=True))
        except AccessItem.DoesNotExist:
            return None

    def decide_access(self, feed_id: str, buyer_id: str, status: str, now: datetime) -> AccessRequest:
        try:
            item = AccessItem(feed_pk(feed_id), f"ACCESS#{buyer_id}")
            item.update(
                actions=[AccessItem.status.set(status), AccessItem.decided_at.set(now)],
                condition=AccessItem.pk.exists(),
            )
        except UpdateError as error:
            if conditional_failed(error):
                raise NotFoundError(f"No access request from buyer {buyer_id} for this feed.") from error
            raise
        return _to_access(item)

    def list_access(self, feed_id: str) -> list[AccessRequest]:
        return [_to_access(i) for i in AccessItem.query(feed_pk(feed_id), AccessItem.sk.startswith("ACCESS#"))]

    def buyer_access(self, buyer_id: str) -> dict[str, AccessRequest]:
        return {i.feed_id: _to_access(i) for i in AccessItem.by_buyer.query(f"ACCT#{buyer_id}#ACCESS")}

    # ----------------------------------------------------------------------------------------- discounts
    def put_discount(self, feed_id: str, buyer_id: str, pct: Decimal, now: datetime) -> None:
        """The current discount and its history entry, in one transaction (the close reads the history)."""
        with self._transaction(f"discount:{feed_id}:{buyer_id}") as tx:
            tx.save(
                DiscountItem(
                    feed_pk(feed_id),
                    f"DISC#{buyer_id}",
                    feed_id=feed_id,
                    buyer_id=buyer_id,
                    discount_pct=str(pct),
                    updated_at=now,
                    gsi1pk=f"ACCT#{buyer_id}#DISCOUNTS",
                    gsi1sk=feed_id,
                )
            )
            tx.save(
                DiscountChangeItem(
                    feed_pk(feed_id),
                    f"DISCH#{buyer_id}#{key_timestamp(now)}",
                    feed_id=feed_id,
                    buyer_id=buyer_id,
                    discount_pct=str(pct),
                    effective_from=now,
                )
            )

    def discount_before(self, feed_id: str, buyer_id: str, end: datetime) -> Decimal:
        """The buyer's discount on the feed in force at the last instant before ``end`` (0 if none was set then).

        One GetItem when the latest change came before ``end`` (the usual case at a close), one Query more
        otherwise. A discount stored before its history was kept counts from its ``updated_at``.
        """
        try:
            current = DiscountItem.get(feed_pk(feed_id), f"DISC#{buyer_id}", consistent_read=True)
        except DiscountItem.DoesNotExist:
            return Decimal(0)
        if current.updated_at < end:
            return Decimal(current.discount_pct)
        prefix = f"DISCH#{buyer_id}#"
        for change in DiscountChangeItem.query(
            feed_pk(feed_id),
            DiscountChangeItem.sk.between(prefix, last_sk_before(prefix, end)),
            scan_index_forward=False,
            limit=1,
            consistent_read=True,
        ):
            return Decimal(change.discount_pct)
        return Decimal(0)

    def list_discounts(self, feed_id: str) -> dict[str, Decimal]:
        items = DiscountItem.query(feed_pk(feed_id), DiscountItem.sk.startswith("DISC#"))
        return {i.buyer_id: Decimal(i.discount_pct) for i in items}

    def buyer_discounts(self, buyer_id: str) -> dict[str, Decimal]:
        return {i.feed_id: Decimal(i.discount_pct) for i in DiscountItem.by_buyer.query(f"ACCT#{buyer_id}#DISCOUNTS")}
