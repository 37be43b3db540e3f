"""The usage write path: each transaction built for one shard, its failure classified, retried and paced.

``write_changes`` groups the changes by shard (``usage_models.shard_of``) and commits a transaction per
``CHANGES_PER_TRANSACTION`` values of one shard, with that shard's audit item, on a small thread pool.
A per-shard pacer keeps each usage partition key under its budget of write units per second, so a
million-row report runs on 16 partitions at once without throttling (docs/scale.md).

A transaction whose values changed meanwhile is rebuilt from a fresh read (the audit keeps the true old
value); a cancelled one for a conflict or throttling is retried with jittered backoff; a guard, content or
upload condition that fails raises the port's error at once.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, cast

from botocore.exceptions import ClientError

from audiens.dal.idempotent import transact_write
from audiens.dal.usage_models import FEED_PREFIX, SEGMENT_PREFIX, audit_pk, shard_of, usage_pk
from audiens.domain.usage_reports import ChangeSource, StoredKey, UsageChange
from audiens.domain.usage_schema import SEGMENTS, UsageKind
from audiens.observability import logger
from audiens.ports.usage import DuplicateContentError, PeriodClosedError, UploadFinishedError

CHANGES_PER_TRANSACTION: Final = 96
MAX_ATTEMPTS: Final = 10
SHARD_WCU_PER_SECOND: Final = 800.0
"""Each usage partition key's write budget: DynamoDB allows 1,000 WCU/s; the rest is left to reads' peers
(another writer of the same buyer, the API) and to retries."""

_RETRYABLE: Final = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
_RETRYABLE_ERRORS: Final = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def usage_sk(kind: str, key: StoredKey) -> str:
    return f"{SEGMENT_PREFIX if kind == SEGMENTS else FEED_PREFIX}{key[0]}#{key[1]}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


@dataclass(frozen=True)
class WriteTarget:
    """What one ``apply_changes`` call writes: whose usage, for which period and kind, and through what."""

    table: str
    buyer_id: str
    period: str
    kind: UsageKind
    source: ChangeSource


@dataclass
class Tx:
    """One TransactWriteItems: its items and, in the same order, what each one is (for the cancellation)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    wcu: int = 0

    def add(self, label: str, item: dict[str, Any]) -> None:
        self.items.append(item)
        self.labels.append(label)
        if "ConditionCheck" not in item:
            body = item.get("Put", {}).get("Item", {})
            size = sum(len(name) + len(str(next(iter(v.values())))) for name, v in body.items()) + 100
            self.wcu += 2 * -(-size // 1024)  # transactional writes cost 2 WCU per started KB
        else:
            self.wcu += 2


# ------------------------------------------------------------------------------------------ build


def build_transaction(
    target: WriteTarget,
    chunk: list[UsageChange],
    *,
    checks: Iterable[tuple[str, dict[str, Any]]] = (),
    extra: Iterable[tuple[str, dict[str, Any]]] = (),
) -> Tx:
    """The chunk's conditional puts and its audit item (in the first change's shard), after ``checks``
    (guard or period conditions) and before ``extra`` (the upload's content claim and final record)."""
    tx = Tx()
    for label, item in checks:
        tx.add(label, item)
    at = iso(target.source.at)
    for change in chunk:
        tx.add("usage", _usage_put(target, change, at))
    if chunk:
        tx.add("audit", _audit_put(target, chunk, at))
    for label, item in extra:
        tx.add(label, item)
    return tx


def _usage_put(target: WriteTarget, change: UsageChange, at: str) -> dict[str, Any]:
    k1, k2 = change.key
    item: dict[str, Any] = {
        "pk": _s(usage_pk(target.buyer_id, target.period, shard_of(k1, k2))),
        "sk": _s(usage_sk(target.kind, change.key)),
        "k1": _s(k1),
        "k2": _s(k2),
        "usage": _n(change.new),
        "updated_at": _s(at),
        "source": _s(target.source.source),
    }
    if change.content_optimization:
        item["co"] = {"BOOL": True}
    if change.provider_id:
        item["provider_id"] = _s(change.provider_id)
    put: dict[str, Any] = {"TableName": target.table, "Item": item}
    if change.old is None:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        put["ConditionExpression"] = "#u = :old"
        put["ExpressionAttributeNames"] = {"#u": "usage"}
        put["ExpressionAttributeValues"] = {":old": _n(change.old)}
    return {"Put": put}


def _audit_put(target: WriteTarget, chunk: list[UsageChange], at: str) -> dict[str, Any]:
    source, first = target.source, chunk[0].key
    item: dict[str, Any] = {
        "pk": _s(audit_pk(target.buyer_id, target.period, shard_of(*first))),
        "sk": _s(f"{at}#{source.ref}#{'S' if target.kind == SEGMENTS else 'F'}#{first[0]}#{first[1]}"),
        "kind": _s(target.kind),
        "at": _s(at),
        "account_id": _s(source.account_id),
        "source": _s(source.source),
        "ref": _s(source.ref),
        "changes": _s(json.dumps([[*c.key, c.old, c.new] for c in chunk], separators=(",", ":"))),
    }
    if source.key_id:
        item["key_id"] = _s(source.key_id)
    return {"Put": {"TableName": target.table, "Item": item}}


# ------------------------------------------------------------------------------------------ classify


class Retry(Exception):
    """The transaction was cancelled for a reason a later attempt can overcome."""


class Stale(Exception):
    """Some values changed since they were read: the chunk is rebuilt from a fresh read."""


def classify(error: ClientError, labels: list[str]) -> Exception:
    """The exception a failed transaction stands for: a port error, ``Stale``, ``Retry`` or itself."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    if code in _RETRYABLE_ERRORS:
        return Retry(code)
    if code != "TransactionCanceledException":
        return cast(Exception, error)
    reasons = [str(r.get("Code") or "None") for r in error.response.get("CancellationReasons") or []]
    failed = {labels[i] for i, reason in enumerate(reasons) if reason == "ConditionalCheckFailed" and i < len(labels)}
    if "guard" in failed or "period" in failed:
        return PeriodClosedError("The period's close has begun.")
    if "upload" in failed:
        return UploadFinishedError()
    if "sha" in failed:
        return DuplicateContentError("")
    if "usage" in failed:
        return Stale()
    if not reasons or any(r in _RETRYABLE for r in reasons):
        return Retry(",".join(reasons))
    return cast(Exception, error)


# ------------------------------------------------------------------------------------------ retry


Reread = Callable[[list[UsageChange]], dict[StoredKey, int]]


def commit(
    client: Any,
    target: WriteTarget,
    chunk: list[UsageChange],
    reread: Reread,
    *,
    checks: Iterable[tuple[str, dict[str, Any]]] = (),
    extra: Iterable[tuple[str, dict[str, Any]]] = (),
    pacer: ShardPacer | None = None,
) -> int:
    """Commit ``chunk`` (with ``checks`` and ``extra``), retrying what can be retried; the values written."""
    checks, extra = list(checks), list(extra)
    pending = chunk
    for attempt in range(MAX_ATTEMPTS):
        if not pending and not extra:
            return 0
        tx = build_transaction(target, pending, checks=checks, extra=extra)
        if pacer is not None and pending:
            pacer.wait(shard_of(*pending[0].key), tx.wcu)
        try:
            transact_write(client, tx.items, f"usage:{target.buyer_id}:{target.period}:{target.source.ref}#{attempt}")
        except ClientError as error:
            outcome = classify(error, tx.labels)
            if isinstance(outcome, Stale):
                current = reread(pending)
                pending = [replace(c, old=current.get(c.key)) for c in pending if current.get(c.key) != c.new]
                continue
            if isinstance(outcome, Retry):
                logger.info("usage transaction retried", extra={"attempt": attempt + 1, "reason": str(outcome)})
                time.sleep(random.uniform(0, min(0.05 * 2**attempt, 2.0)))
                continue
            raise outcome from None
        return len(pending)
    raise RuntimeError(
        f"usage of {target.buyer_id} for {target.period} could not be written after {MAX_ATTEMPTS} attempts"
    )


class ShardPacer:
    """Spaces the transactions of each shard so its partition key stays under ``wcu_per_second``."""

    def __init__(
        self,
        wcu_per_second: float = SHARD_WCU_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = wcu_per_second
        self._clock = clock
        self._sleep = sleep
        self._next: dict[int, float] = {}
        self._lock = threading.Lock()

    def wait(self, shard: int, wcu: int) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next.get(shard, now))
            self._next[shard] = start + wcu / self._rate
        if start > now:
            self._sleep(start - now)


# ------------------------------------------------------------------------------------------ many chunks


def shard_chunks(changes: Iterable[UsageChange], size: int = CHANGES_PER_TRANSACTION) -> Iterator[list[UsageChange]]:
    """The changes as chunks of one shard each, ``size`` at most, then what is left of every shard mixed in
    as few chunks as fit; memory is one partial chunk per shard."""
    buckets: dict[int, list[UsageChange]] = {}
    for change in changes:
        bucket = buckets.setdefault(shard_of(*change.key), [])
        bucket.append(change)
        if len(bucket) == size:
            yield bucket
            buckets[shard_of(*change.key)] = []
    rest = [change for bucket in buckets.values() for change in bucket]  # under ``size`` per shard: mixed
    for start in range(0, len(rest), size):
        yield rest[start : start + size]


def write_chunks(
    client: Any,
    target: WriteTarget,
    chunks: Iterable[list[UsageChange]],
    reread: Reread,
    *,
    parallelism: int,
    pacer: ShardPacer,
) -> int:
    """Commit every chunk on ``parallelism`` threads (at most twice as many in flight: memory stays flat)."""
    written = 0
    if parallelism <= 1:
        for chunk in chunks:
            written += commit(client, target, chunk, reread, pacer=pacer)
        return written
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="usage-write") as pool:
        running: set[Future[int]] = set()
        try:
            for chunk in chunks:
                if len(running) >= 2 * parallelism:
                    done, running = _settle(running)
                    written += sum(f.result() for f in done)
                running.add(pool.submit(commit, client, target, chunk, reread, pacer=pacer))
            while running:
                done, running = _settle(running)
                written += sum(f.result() for f in done)
        except BaseException:
            for future in running:
                future.cancel()
            raise
    return written


def _settle(running: set[Future[int]]) -> tuple[set[Future[int]], set[Future[int]]]:
    done, still = wait(running, return_when=FIRST_COMPLETED)
    return set(done), set(still)
