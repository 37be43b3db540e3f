"""DynamoDB and S3 adapters for data onboarding and the audience builder.

The sketch writes are the hot path of ingestion. Each touched population is merged with a
read-union-conditional-write loop on an optimistic ``version``: a writer that lost the race re-reads,
unions again and retries (optionally a whole batch goes in one transaction: ``apply_batch``). Union is
commutative and idempotent, so no update is lost and a repeated delivery changes nothing (and then is
not even written: a merge that leaves the sketch as it was is skipped). The versions and sketches this
process wrote last are kept in a small LRU, so a warm worker writes without reading first; a stale entry
only costs one failed condition and a re-read.

Concurrent batches of one source write on different shards of it (:mod:`.batches`: a lease per batch), so
they never meet on an item; readers merge the shards (sketches by union, counters by sum).

The repository is one class per aggregate, combined: :mod:`.sources` (sources and files), :mod:`.sketches`
(data-point sketches and values), :mod:`.batches` (shards, counting batches once, activity),
:mod:`.segments` (traits, segments, snapshots); :mod:`.objects` is the S3 side; :mod:`.common` what they share.
"""

from __future__ import annotations

from audiens.dal.onboarding.batches import BatchStore
from audiens.dal.onboarding.common import MAX_MERGE_ATTEMPTS, SKETCH_CACHE_ENTRIES, SOURCE_SHARDS
from audiens.dal.onboarding.objects import S3SourceObjects
from audiens.dal.onboarding.segments import SegmentStore
from audiens.dal.onboarding.sources import SourceStore


class DynamoOnboardingRepository(SourceStore, BatchStore, SegmentStore):
    """``OnboardingRepository`` on the Onboarding table."""


__all__ = [
    "MAX_MERGE_ATTEMPTS",
    "SKETCH_CACHE_ENTRIES",
    "SOURCE_SHARDS",
    "DynamoOnboardingRepository",
    "S3SourceObjects",
]
