"""PynamoDB models of the onboarding table: sources, data-point sketches, activity, files, traits, segments.

One table (``OnboardingTable``), pk/sk design. What a source owns is in its partition (``SOURCE#<id>``) and,
once concurrent batches spread its writes (docs/scale.md), in its shards ``SOURCE#<id>#<k>`` (k = 1..15), which
hold the same sketch, minute and activity items plus the shard's ``TOTALS``; batch markers are spread by
batch id over ``SOURCE#<id>#M<nn>`` (32 keys):

=========================  ===============================  ===================================================
pk                         sk                               item
=========================  ===============================  ===================================================
SOURCE#<id>                META                             the source and shard 0's totals (gsi1: ACCT#<acc>#SOURCES)
SOURCE#<id>                SHARDS                           how many shards its batches have written (1 if absent)
SOURCE#<id>[#<k>]          ALL                              sketch of every user the shard has seen
SOURCE#<id>[#<k>]          DP#<key>#<value>                 sketch of the shard's users with key = value
                                                            (gsi2: ACCT#<acc>#DP / <source>#<users>, keys only)
SOURCE#<id>[#<k>]          LEASE                            which batch writes on the shard now (``holder``)
                                                            and which process wrote it last (``writer``)
SOURCE#<id>#<k>            TOTALS                           events accepted/rejected counted on shard k
SOURCE#<id>                KEY#<key>                        the distinct values of a key (caps them)
SOURCE#<id>#M<nn>          BATCH#<sha256>                   delivery marker of a batch or pixel hit (TTL)
SOURCE#<id>[#<k>]          ACT#<received>#<batch>           latest events of one batch (TTL)
SOURCE#<id>[#<k>]          MIN#<minute>                     events accepted in that minute (TTL)
SOURCE#<id>                FILE#<sha256(bucket/key/etag)>   one S3 file and its outcome
TRAIT#<id>                 META                             the trait (gsi1: ACCT#<acc>#TRAITS)
SEGMENT#<id>               META                             the segment (gsi1: ACCT#<acc>#SEGMENTS, gsi2: all)
SEGMENT#<id>               DAY#<yyyy-mm-dd>                 the daily population snapshot
=========================  ===============================  ===================================================

The data-point index (gsi2, keys only) lists an account's whole catalog in one query: its sort key
carries the source and the value's distinct users, its projection the item's pk and sk (key, value).

Data point keys are restricted to ``[A-Za-z0-9_.-]`` so ``#`` separates key and value unambiguously.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from audiens.dal.base import IsoDateTimeAttribute

TABLE = "OnboardingTable"


class _OnboardingTable(Model):
    class Meta:
        table_name = TABLE
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _SourcesByAccount(GlobalSecondaryIndex["SourceItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _TraitsByAccount(GlobalSecondaryIndex["TraitItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _SegmentsByAccount(GlobalSecondaryIndex["SegmentItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _AllSegments(GlobalSecondaryIndex["SegmentItem"]):
    """Sparse and keys-only: the daily job pages through segment ids, then reads each segment."""

    class Meta:
        index_name = "gsi2"
        projection = KeysOnlyProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class _DataPointsByAccount(GlobalSecondaryIndex["SketchItem"]):
    """Keys only: ``gsi2sk`` is ``<source_id>#<users, 15 digits>``, the table keys name key and value."""

    class Meta:
        index_name = "gsi2"
        projection = KeysOnlyProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class SourceItem(_OnboardingTable):
    source_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    type = UnicodeAttribute()
    created_at = IsoDateTimeAttribute()
    credential_hash = UnicodeAttribute(null=True)
    credential_prefix = UnicodeAttribute(null=True)
    events_accepted = NumberAttribute(null=True)
    events_rejected = NumberAttribute(null=True)
    last_event_at = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_account = _SourcesByAccount()


class SketchItem(_OnboardingTable):
    """A population: ``sketch`` is a compressed compact theta sketch; ``version`` guards read-merge-write."""

    key = UnicodeAttribute(null=True)
    value = UnicodeAttribute(null=True)
    sketch = BinaryAttribute(legacy_encoding=False)
    version = NumberAttribute()
    users = NumberAttribute()
    updated_at = IsoDateTimeAttribute()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_account = _DataPointsByAccount()


class KeyItem(_OnboardingTable):
    key = UnicodeAttribute()
    vals = UnicodeSetAttribute(null=True)


class BatchMarkerItem(_OnboardingTable):
    accepted = NumberAttribute()
    rejected = NumberAttribute()
    received_at = IsoDateTimeAttribute()
    ttl = NumberAttribute()


class ActivityItem(_OnboardingTable):
    events = UnicodeAttribute()  # JSON list, latest first
    total = NumberAttribute()
    received_at = IsoDateTimeAttribute()
    ttl = NumberAttribute()


class MinuteItem(_OnboardingTable):
    total = NumberAttribute(null=True)
    ttl = NumberAttribute(null=True)


class FileItem(_OnboardingTable):
    file_id = UnicodeAttribute()
    bucket = UnicodeAttribute()
    object_key = UnicodeAttribute()
    etag = UnicodeAttribute()
    size = NumberAttribute(null=True)
    status = UnicodeAttribute()  # processing | processed | failed
    received_at = IsoDateTimeAttribute()
    finished_at = IsoDateTimeAttribute(null=True)
    rows = NumberAttribute(null=True)
    accepted = NumberAttribute(null=True)
    rejected = NumberAttribute(null=True)
    errors = UnicodeAttribute(null=True)  # JSON list of {line, code, message} (records stored before errors_z)
    errors_z = BinaryAttribute(null=True, legacy_encoding=False)  # the same, zlib-compressed, bounded in size
    errors_truncated = NumberAttribute(null=True)
    attempts = NumberAttribute(null=True)


class TraitItem(_OnboardingTable):
    trait_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    created_at = IsoDateTimeAttribute()
    source_id = UnicodeAttribute(null=True)
    condition = UnicodeAttribute(null=True)  # JSON {key, equals | in}
    feed_id = UnicodeAttribute(null=True)
    seed_trait_id = UnicodeAttribute(null=True)
    modeled_on_feed_ids = UnicodeSetAttribute(null=True)
    modeled_trait_ids = UnicodeSetAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_account = _TraitsByAccount()


class SegmentItem(_OnboardingTable):
    segment_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    category = UnicodeAttribute()
    rule = UnicodeAttribute()
    expiration_days = NumberAttribute()
    visibility = UnicodeAttribute()
    cpm = UnicodeAttribute(null=True)  # money as a decimal string, never a number
    currency = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = IsoDateTimeAttribute()
    changed_at = IsoDateTimeAttribute()
    expired_at = IsoDateTimeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_account = _SegmentsByAccount()
    all_segments = _AllSegments()


class SnapshotItem(_OnboardingTable):
    write_id = UnicodeAttribute(null=True)  # the call that wrote it: its retry is recognised (dal/idempotent.py)
    population = NumberAttribute()
    lower_bound = NumberAttribute()
    upper_bound = NumberAttribute()
    recorded_at = IsoDateTimeAttribute()


MODELS: list[type[Model]] = [
    SourceItem,
    SketchItem,
    KeyItem,
    BatchMarkerItem,
    ActivityItem,
    MinuteItem,
    FileItem,
    TraitItem,
    SegmentItem,
    SnapshotItem,
]
