"""PynamoDB models of usage reporting in ``UsageTable`` (next to ``period_models.PeriodStateItem``).

=========================================  =======================================  ==================================
pk                                         sk                                       item
=========================================  =======================================  ==================================
USAGE#<buyer>#<YYYY-MM>#<shard>            USE#SEG#<segment_id>#<destination_id>    segment-level usage (int)
USAGE#<buyer>#<YYYY-MM>#<shard>            USE#FEED#<feed_id>#<use_case>            feed-level usage (int)
AUDIT#<buyer>#<YYYY-MM>#<shard>            <at>#<ref>#<S|F>#<k1>#<k2>               who/when/old/new of one write
GUARD#<buyer>#<YYYY-MM>                    STATE                                    the buyer's write guard and leases
PERIOD#<YYYY-MM>                           STATE                                    the close's state (period_models)
PERIOD#<YYYY-MM>#BUYERS#<shard>            BUYER#<buyer>                            the buyer reported usage for P
UPLOAD#<upload_id>                         META                                     a usage file (gsi1: the account's)
UPLOADSHA#<account>#<YYYY-MM>#<kind>       <sha256>                                 content already accepted
=========================================  =======================================  ==================================

A buyer's usage of a period is spread over ``SHARDS`` partition keys by a stable hash of the value's key
(``shard_of``), so a million-row report is ~62,500 items per key and its writes and reads run on 16
partitions at once (DynamoDB allows 1,000 WCU/s and 3,000 RCU/s per partition key); one Query per shard
with ``begins_with(sk, "USE#")`` reads it all. ``PERIOD#<p>#BUYERS#<shard>`` lists the buyers who
reported (16 keys, so the first writes of 1,000 buyers in one second do not meet on one key). Each write
transaction carries the changes of one shard and stores one audit item listing them (who, when, old, new,
through what) in that shard's ``AUDIT#`` partition: a million-row file adds ~10,400 audit items rather
than a million, on keys other than the usage ones.

``GUARD#<buyer>#<period>`` is what usage writes and the close agree on, per buyer (docs/scale.md): created
once per buyer and period in a transaction that checks the period is OPEN, checked by single-transaction
writes, leased by multi-transaction writes (``holders``: owner → lease end, epoch seconds) and frozen
(``state`` CLOSING) by the buyer's invoice job once no lease is live.
Uploads are listed per account on gsi1 (``ACCT#<account>#UPLOADS``, ``<period>#<created>#<id>``).
Impressions are integers (``NumberAttribute`` holds them exactly up to 10^15); no money is stored here.
"""

from __future__ import annotations

import zlib

from pynamodb.attributes import BinaryAttribute, BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from audiens.dal.base import IsoDateTimeAttribute

TABLE = "UsageTable"

USAGE_PREFIX = "USE#"
SEGMENT_PREFIX = "USE#SEG#"
FEED_PREFIX = "USE#FEED#"
SHARDS = 16
"""Partition keys per (buyer, period): fixed, so readers know every key without a lookup."""


def shard_of(k1: str, k2: str) -> int:
    """The shard of one value: a stable hash (the same in every process, unlike ``hash``)."""
    return zlib.crc32(f"{k1}\x1f{k2}".encode()) % SHARDS


def usage_pk(buyer_id: str, period: str, shard: int) -> str:
    return f"USAGE#{buyer_id}#{period}#{shard:02d}"


def audit_pk(buyer_id: str, period: str, shard: int) -> str:
    return f"AUDIT#{buyer_id}#{period}#{shard:02d}"


def guard_pk(buyer_id: str, period: str) -> str:
    return f"GUARD#{buyer_id}#{period}"


def buyers_pk(period: str, buyer_id: str) -> str:
    """The buyer marker's partition: the period's buyers spread over ``SHARDS`` keys (``buyer_shard_pks``)."""
    return f"PERIOD#{period}#BUYERS#{zlib.crc32(buyer_id.encode()) % SHARDS:02d}"


def buyer_shard_pks(period: str) -> list[str]:
    return [f"PERIOD#{period}#BUYERS#{shard:02d}" for shard in range(SHARDS)]


def upload_pk(upload_id: str) -> str:
    return f"UPLOAD#{upload_id}"


def account_uploads_pk(account_id: str) -> str:
    return f"ACCT#{account_id}#UPLOADS"


UNATTRIBUTED_UPLOADS = "UNATTRIBUTED#UPLOADS"


def sha_pk(account_id: str, period: str, kind: str) -> str:
    return f"UPLOADSHA#{account_id}#{period}#{kind}"


class _UsageTable(Model):
    class Meta:
        table_name = TABLE
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _ByAccount(GlobalSecondaryIndex["Model"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class UsageItem(_UsageTable):
    """The current usage of one key. ``k1``/``k2`` are (segment_id, destination_id) or (feed_id, use_case); the
    kind is the sort key's prefix."""

    k1 = UnicodeAttribute()
    k2 = UnicodeAttribute()
    usage = NumberAttribute()
    co = BooleanAttribute(null=True)  # content optimization: excluded from CPM totals
    provider_id = UnicodeAttribute(null=True)  # feeds
    updated_at = IsoDateTimeAttribute()
    source = UnicodeAttribute()  # api | <upload_id>


class UsageAuditItem(_UsageTable):
    """The audit records of one write transaction: ``changes`` is a JSON list of ``[k1, k2, old, new]``.

    The sort key ends with the first changed key, which a redelivered file never writes twice (it is no
    longer a change once written), so a resumed file adds its remaining records without overwriting any.
    Kept forever with the period's usage (a closed period never changes).
    """

    kind = UnicodeAttribute()  # segments | feeds
    at = IsoDateTimeAttribute()
    account_id = UnicodeAttribute()
    key_id = UnicodeAttribute(null=True)
    source = UnicodeAttribute()  # api | <upload_id>
    ref = UnicodeAttribute()
    changes = UnicodeAttribute()


class PeriodBuyerItem(_UsageTable):
    buyer_id = UnicodeAttribute()


class UsageGuardItem(_UsageTable):
    """The buyer's write guard for one period (sk ``STATE``): OPEN until the buyer's invoice job freezes it."""

    state = UnicodeAttribute()  # OPEN | CLOSING
    holders = MapAttribute[str, float](default=dict)  # lease owner -> lease end (epoch seconds)
    version = NumberAttribute(default=0)  # bumped by every lease taken or released: the freeze's precondition
    buyer_id = UnicodeAttribute()
    period = UnicodeAttribute()


class UploadItem(_UsageTable):
    write_id = UnicodeAttribute(null=True)  # the call that wrote it: its retry is recognised (dal/idempotent.py)
    upload_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    period = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | accepted | rejected | duplicate
    origin = UnicodeAttribute()  # api | drop | unattributed
    bucket = UnicodeAttribute()
    object_key = UnicodeAttribute()
    created_at = IsoDateTimeAttribute()
    requested_by = UnicodeAttribute(null=True)
    etag = UnicodeAttribute(null=True)
    size = NumberAttribute(null=True)
    received_at = IsoDateTimeAttribute(null=True)
    finished_at = IsoDateTimeAttribute(null=True)
    rows = NumberAttribute(default=0)
    accepted_rows = NumberAttribute(default=0)
    rejected_rows = NumberAttribute(default=0)
    changed = NumberAttribute(default=0)
    errors = BinaryAttribute(null=True, legacy_encoding=False)  # zlib-compressed JSON list of {line, code, message}
    sha256 = UnicodeAttribute(null=True)
    duplicate_of = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_account = _ByAccount()


class UploadShaItem(_UsageTable):
    upload_id = UnicodeAttribute()


MODELS: list[type[Model]] = [UsageItem, UsageAuditItem, UsageGuardItem, PeriodBuyerItem, UploadItem, UploadShaItem]
