"""Two workers merging into one population sketch: no lost update, and a repeated merge writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from audiens.domain import sketches
from audiens.domain.events import Source

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
SK = "DP#interest#sports"


@pytest.fixture
def repos(stack: dict[str, str]) -> tuple[Any, Any]:
    """Two repositories with their own caches, like two Lambda containers."""
    from audiens.dal.onboarding import DynamoOnboardingRepository
    from audiens.wiring import onboarding_repository

    onboarding_repository()  # binds the table names
    first, second = DynamoOnboardingRepository("us-east-1"), DynamoOnboardingRepository("us-east-1")
    first.put_source(Source("src_race", "acc_1", "race", "api", NOW))
    return first, second


def _users(repo: Any) -> int:
    stored = repo.load_sketches([("src_race", SK)])[("src_race", SK)]
    return int(sketches.estimate(stored).population)


def _merge(repo: Any, users: range) -> Any:
    delta = sketches.from_users(f"u{i}" for i in users)
    return repo.merge_sketches("src_race", {SK: delta}, now=NOW, labels={SK: ("interest", "sports")})


def test_a_writer_with_a_stale_version_rereads_and_unions_instead_of_overwriting(repos: tuple[Any, Any]) -> None:
    a, b = repos
    _merge(a, range(0, 100))  # a creates the sketch (version 1) and caches it
    _merge(b, range(100, 200))  # b reads version 1, writes version 2; a's cache is now stale

    stats = _merge(a, range(200, 300))

    assert (stats.conflicts, stats.writes) == (1, 1)
    assert _users(a) == 300


def test_two_writers_interleaving_between_read_and_write_lose_nothing(
    repos: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.dal.onboarding import DynamoOnboardingRepository

    a, b = repos
    real_put = DynamoOnboardingRepository._put_sketch
    interleaved = {"done": False}

    def put_after_the_other_writer(self: Any, *args: Any, **kwargs: Any) -> Any:
        # a has read (nothing stored yet) and is about to write: b writes first, in between
        if not interleaved["done"]:
            interleaved["done"] = True
            _merge(b, range(1000, 1500))
        return real_put(self, *args, **kwargs)

    monkeypatch.setattr(DynamoOnboardingRepository, "_put_sketch", put_after_the_other_writer)
    stats = _merge(a, range(0, 500))
    monkeypatch.setattr(DynamoOnboardingRepository, "_put_sketch", real_put)

    assert stats.conflicts == 1
    assert _users(a) == 1000  # both writers' users, none lost


def test_a_repeated_merge_is_recognised_and_not_written(repos: tuple[Any, Any]) -> None:
    a, b = repos
    _merge(a, range(0, 50))
    again_same_worker = _merge(a, range(0, 50))
    again_other_worker = _merge(b, range(10, 40))

    assert (again_same_worker.writes, again_same_worker.unchanged) == (0, 1)
    assert (again_other_worker.writes, again_other_worker.unchanged) == (0, 1)
    assert _users(b) == 50


def _apply(repo: Any, users: range, batch_id: str) -> tuple[Any, bool]:
    from audiens.domain.events import BatchCommit

    deltas = {SK: sketches.from_users(f"u{i}" for i in users), "ALL": sketches.from_users(f"u{i}" for i in users)}
    commit = BatchCommit.single(batch_id, len(users), 0, NOW)
    return repo.apply_batch("src_race", deltas, labels={SK: ("interest", "sports")}, commit=commit, now=NOW)


def _written_under_the_lease_of(a: Any, b: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """b's batch-2 is written on the shard a's next batch has just leased, before a writes: with one shard,
    b finds it leased and writes without a lease (what happens when every shard is held). A lease keeps a's
    cache right against writers before it, not against one that writes beside it."""
    from audiens.dal.onboarding import batches

    monkeypatch.setattr(batches, "SOURCE_SHARDS", 1)
    take = a._take_shard

    def take_then_b_writes(source_id: str) -> tuple[int, str | None]:
        taken = take(source_id)
        monkeypatch.setattr(a, "_take_shard", take)
        assert _apply(b, range(100, 200), "batch-2")[1] is not None
        return taken

    monkeypatch.setattr(a, "_take_shard", take_then_b_writes)


def test_a_batch_transaction_cancelled_by_another_writer_falls_back_and_loses_nothing(
    repos: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiens.dal.onboarding import DynamoOnboardingRepository

    # Given two workers in transactional mode (SKETCH_WRITE_MODE=transaction)
    a, b = (DynamoOnboardingRepository("us-east-1", transactional=True) for _ in repos)
    # And a's cache holds version 1 of both sketches, and b writes version 2 once a has leased the shard
    assert _apply(a, range(0, 100), "batch-1")[1] is not None
    _written_under_the_lease_of(a, b, monkeypatch)

    # When a applies a batch with its stale versions, its one transaction is cancelled
    stats, committed = _apply(a, range(200, 300), "batch-3")

    # Then it re-read the stale sketches, wrote them one by one, and counted the batch once
    assert committed is not None and stats.conflicts == 2 and stats.writes == 2
    assert _apply(a, range(300, 400), "batch-4")[0].conflicts == 0  # and the next batch is one transaction again
    assert _users(a) == 400
    source = a.get_source("src_race")
    assert source is not None and source.events_accepted == 400


def test_a_redelivered_batch_is_recognised_by_its_marker_and_writes_nothing(repos: tuple[Any, Any]) -> None:
    a, b = repos
    assert _apply(a, range(0, 100), "batch-1")[1] is not None
    stats, committed = _apply(b, range(0, 100), "batch-1")  # the same delivery, on another worker
    assert committed is None and stats.writes == 0
    source = b.get_source("src_race")
    assert source is not None and source.events_accepted == 100


def test_in_items_mode_a_stale_worker_rereads_only_its_stale_sketches(
    repos: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = repos  # items mode, the default
    assert _apply(a, range(0, 100), "batch-1")[1] is not None
    _written_under_the_lease_of(a, b, monkeypatch)
    stats, committed = _apply(a, range(200, 300), "batch-3")
    assert committed is not None and (stats.conflicts, stats.writes) == (2, 2)
    assert _users(b) == 300
