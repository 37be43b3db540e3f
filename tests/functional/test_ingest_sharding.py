"""Concurrent batches of one source under DynamoDB's limits: spread over shards, never in each other's way,
counted exactly once (docs/scale.md, "Source ingestion")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from audiens.domain import sketches
from audiens.domain.events import Source
from local_runtime.dynamodb_limits import Limits
from local_runtime.moto_patches import fast_moto

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
SOURCE = Source("src_hot", "acc_hot", "hot", "api", NOW)
WORKERS = 6
BATCHES = 4
EVENTS = 100


def _repository() -> Any:
    from audiens.dal.onboarding import DynamoOnboardingRepository
    from audiens.wiring import onboarding_repository

    onboarding_repository()  # binds the table names
    return DynamoOnboardingRepository("us-east-1")


@pytest.fixture
def repo(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The source, on a moto that is as atomic per request as DynamoDB under threads: its transactions back up
    the items they address rather than the whole table (``fast_moto``), and each DynamoDB request runs whole
    before the next (moto checks a condition and writes in two steps another thread can come between)."""
    from moto.dynamodb.responses import DynamoHandler

    one_at_a_time = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic(self: Any) -> Any:
        with one_at_a_time:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", atomic)
    with fast_moto():
        first = _repository()
        first.put_source(SOURCE)
        yield first


def _batch(worker: int, batch: int) -> list[dict[str, Any]]:
    """100 events; users overlap across batches (u0..u799 seen several times), three values of one key."""
    return [
        {
            "user_id": f"u{(worker * 37 + batch * 100 + i) % 800}",
            "data": {"interest": ("sports", "news", "travel")[i % 3]},
        }
        for i in range(EVENTS)
    ]


def _expected_users() -> dict[str, set[str]]:
    users: dict[str, set[str]] = {"ALL": set()}
    for worker in range(WORKERS):
        for batch in range(BATCHES):
            for event in _batch(worker, batch):
                users["ALL"].add(event["user_id"])
                users.setdefault(event["data"]["interest"], set()).add(event["user_id"])
    return users


def _run_concurrently(work: Any) -> list[Any]:
    """``work(worker)`` on WORKERS threads started together, each with its own service (a Lambda container)."""
    from audiens.services.ingest import IngestService

    start = threading.Barrier(WORKERS)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        service = IngestService(_repository())
        start.wait()
        try:
            results.extend(work(service, worker))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def _post_all(service: Any, worker: int) -> list[Any]:
    return [service.ingest_batch(SOURCE, _batch(worker, b), now=NOW) for b in range(BATCHES)]


def _assert_counted_exactly_once(repo: Any) -> None:
    expected = _expected_users()
    total = WORKERS * BATCHES * EVENTS
    source = repo.get_source(SOURCE.source_id)
    assert (source.events_accepted, source.events_rejected) == (total, 0)
    assert source.last_event_at == NOW
    everyone = repo.load_sketches([(SOURCE.source_id, "ALL")])[(SOURCE.source_id, "ALL")]
    assert sketches.estimate(everyone).population == len(expected["ALL"])  # exact below 4,096 users
    catalog = {value: users for _, _, value, users in repo.account_data_points(SOURCE.account_id)}
    assert catalog == {value: len(users) for value, users in expected.items() if value != "ALL"}
    _, per_minute = repo.activity(SOURCE.source_id, since=NOW, max_events=50)
    assert per_minute == {"2026-11-03T10:00Z": total}


def test_concurrent_batches_of_one_source_write_disjoint_shards_without_a_conflict(
    repo: Any, limits: Limits | None
) -> None:
    # Given six workers posting four batches each to one source at the same moment
    results = _run_concurrently(_post_all)

    # Then no batch met another: no transaction cancelled, no sketch version lost
    assert len(results) == WORKERS * BATCHES and not any(r.duplicate for r in results)
    assert sum(r.stats.conflicts for r in results) == 0
    if limits is not None:
        assert limits.stats()["conflicts"] == 0
    # And the batches were spread over several shards
    assert repo._widths([SOURCE.source_id])[SOURCE.source_id] > 1
    # And readers merge them: every event counted once, every population exact
    _assert_counted_exactly_once(repo)


def test_redelivered_batches_on_other_shards_and_lost_answers_are_counted_once(
    repo: Any, limits: Limits | None
) -> None:
    # Given the batches posted once, concurrently, with answers lost after their transaction committed
    if limits is not None:
        for _ in range(6):
            limits.inject("LostAnswer", "TransactWriteItems")
    _run_concurrently(_post_all)

    # When every batch is delivered again, by other workers (so on other shards), concurrently
    again = _run_concurrently(lambda service, worker: _post_all(service, (worker + 1) % WORKERS))

    # Then each redelivery is recognised by its marker and nothing is counted twice
    assert all(r.duplicate for r in again)
    _assert_counted_exactly_once(repo)


def test_a_batch_without_a_free_shard_still_counts_exactly(repo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from audiens.dal.onboarding import batches

    # Given a single shard, so concurrent batches must share it (contention, no lease for most)
    monkeypatch.setattr(batches, "SOURCE_SHARDS", 1)
    results = _run_concurrently(_post_all)

    # Then conflicts are retried, and the counts are still exact
    assert not any(r.duplicate for r in results)
    _assert_counted_exactly_once(repo)


def test_a_crashed_writers_lease_holds_its_shard_until_it_runs_out(repo: Any) -> None:
    import time

    from audiens.services.ingest import IngestService

    def crashed_lease(until: float) -> None:  # a batch that died holding shard 0
        repo._connection.client.put_item(
            TableName=_table(),
            Item={
                "pk": {"S": "SOURCE#src_hot"},
                "sk": {"S": "LEASE"},
                "holder": {"S": "dead"},
                "lease_until": {"N": str(until)},
            },
        )

    service = IngestService(_repository())
    # Given shard 0 leased by a writer that crashed a moment ago
    crashed_lease(time.time() + 60)
    # Then the next batch writes on shard 1, and is counted
    assert not service.ingest_batch(SOURCE, _batch(0, 0), now=NOW).duplicate
    assert repo._widths([SOURCE.source_id])[SOURCE.source_id] == 2
    # And once that lease has run out, a new writer takes shard 0 again
    crashed_lease(time.time() - 1)
    fresh = IngestService(_repository())
    assert not fresh.ingest_batch(SOURCE, _batch(1, 0), now=NOW).duplicate
    lease = repo._connection.client.get_item(
        TableName=_table(), Key={"pk": {"S": "SOURCE#src_hot"}, "sk": {"S": "LEASE"}}
    )
    assert "holder" not in lease["Item"]  # taken from the dead writer, then released
    assert repo.get_source(SOURCE.source_id).events_accepted == 2 * EVENTS


def test_a_writer_back_on_a_shard_another_process_wrote_since_reads_it_again_without_a_conflict(repo: Any) -> None:
    from audiens.services.ingest import IngestService

    first, second = IngestService(_repository()), IngestService(_repository())
    # Given a process that wrote shard 0, then another process that wrote it after, one batch at a time
    assert first.ingest_batch(SOURCE, _batch(0, 0), now=NOW).stats.conflicts == 0
    assert second.ingest_batch(SOURCE, _batch(1, 0), now=NOW).stats.conflicts == 0

    # When the first process leases shard 0 again, its cached sketches of it out of date
    again = first.ingest_batch(SOURCE, _batch(0, 1), now=NOW)

    # Then it reads them again first instead of meeting moved versions
    assert (again.stats.conflicts, again.stats.reads, again.stats.writes) == (0, 1, 4)
    # And its next batch, nobody else having written the shard, trusts its cache again: no read
    following = first.ingest_batch(SOURCE, _batch(0, 2), now=NOW)
    assert (following.stats.conflicts, following.stats.reads) == (0, 0)
    assert repo._widths([SOURCE.source_id])[SOURCE.source_id] == 1
    assert repo.get_source(SOURCE.source_id).events_accepted == 4 * EVENTS


def test_a_batch_without_a_lease_names_itself_the_shards_writer(repo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from audiens.dal.onboarding import batches
    from audiens.services.ingest import IngestService

    def hold_shard_0(until: float) -> None:
        repo._connection.client.update_item(
            TableName=_table(),
            Key={"pk": {"S": "SOURCE#src_hot"}, "sk": {"S": "LEASE"}},
            UpdateExpression="SET holder = :h, lease_until = :u",
            ExpressionAttributeValues={":h": {"S": "dead"}, ":u": {"N": str(until)}},
        )

    monkeypatch.setattr(batches, "SOURCE_SHARDS", 1)
    holder, other = IngestService(_repository()), IngestService(_repository())
    # Given a process that wrote the source's only shard, then a lease on it held by a writer that crashed
    holder.ingest_batch(SOURCE, _batch(0, 0), now=NOW)
    hold_shard_0(time.time() + 60)
    # And a batch of another process written there without a lease
    assert other.ingest_batch(SOURCE, _batch(1, 0), now=NOW).stats.conflicts == 0

    # When the lease has run out and the first process leases the shard again
    hold_shard_0(time.time() - 1)
    again = holder.ingest_batch(SOURCE, _batch(0, 1), now=NOW)

    # Then it knows the shard moved on without it: no conflict
    assert (again.stats.conflicts, again.stats.reads) == (0, 1)
    assert repo.get_source(SOURCE.source_id).events_accepted == 3 * EVENTS


def test_a_lease_whose_answer_was_lost_is_the_writers_not_skipped(repo: Any, limits: Limits | None) -> None:
    if limits is None:
        pytest.skip("lost answers come from the DynamoDB limits (AUDIENS_DYNAMODB_LIMITS=real)")
    writer = _repository()
    # Given the lease of shard 0 taken, its answer lost after it committed (the client retries)
    limits.inject("LostAnswer", "UpdateItem")
    shard, owner = writer._take_shard(SOURCE.source_id)

    # Then the retry recognises its own lease: the writer keeps shard 0 instead of leaving it held for nobody
    assert (shard, owner is not None) == (0, True)
    assert limits.stats()["lost_answers"] == 1
    lease = repo._connection.client.get_item(
        TableName=_table(), Key={"pk": {"S": "SOURCE#src_hot"}, "sk": {"S": "LEASE"}}
    )["Item"]
    assert lease["holder"] == {"S": owner}
    writer._release_shard(SOURCE.source_id, shard, str(owner))


def _table() -> str:
    from audiens.dal.onboarding_models import SourceItem

    return str(SourceItem.Meta.table_name)


def test_a_sketch_write_whose_answer_was_lost_counts_as_written_not_as_a_conflict(
    repo: Any, limits: Limits | None
) -> None:
    if limits is None:
        pytest.skip("lost answers come from the DynamoDB limits (AUDIENS_DYNAMODB_LIMITS=real)")
    from audiens.services.ingest import IngestService

    # Given a batch whose first sketch write commits and loses its answer (the client retries it, and the
    # retry's version condition fails on the write itself)
    limits.inject("LostAnswer", "PutItem", where='"sketch"')
    result = IngestService(_repository()).ingest_batch(SOURCE, _batch(0, 0), now=NOW)

    # Then the read-back finds this call's own write: no conflict, every sketch written once, counts exact
    assert limits.pending_injections() == 0
    assert (result.stats.conflicts, result.stats.writes) == (0, 4)
    assert repo.get_source(SOURCE.source_id).events_accepted == EVENTS
