"""DynamoDB's limits, enforced in front of moto: conflicts, partition throughput, sizes, transient faults.

moto accepts what DynamoDB refuses: two transactions on one item at the same time both commit, one
partition key takes any number of writes a second, a 600 KB item or a 30-request batch is stored, and
no call ever fails by chance. Code that is only ever run on moto can therefore depend on all of that.
This module holds an engine (:class:`Limits`) that judges each DynamoDB data-plane request as DynamoDB
would, on the wire format (the JSON body botocore sends, AttributeValue maps), and answers with
DynamoDB's own error shapes, so botocore raises exactly the exception, code, message and
``CancellationReasons`` the real service produces, and its retry logic treats them the same.

Two adapters put the engine in the path of every request, neither touching moto's internals:

- :func:`install_botocore_hooks` registers botocore event handlers (``before-send``, ``before-parse``,
  ``needs-retry`` on ``dynamodb``) for every botocore session created afterwards in the process
  (``botocore.handlers.BUILTIN_HANDLERS``, as moto's own stubber is installed); the functional tests and
  in-process benchmarks use it. ``before-send`` judges each attempt (a refusal is an HTTP response, so
  botocore's retries run as against DynamoDB), ``before-parse`` settles it with moto's answer.
- the local runtime's moto server calls :meth:`Limits.begin` / :meth:`Limits.finish` around each DynamoDB
  request it serves (``aws.py``), so requests from every Lambda worker process meet one engine.

What is enforced (each switchable, all on with ``AUDIENS_DYNAMODB_LIMITS=real``):

- **Transaction conflicts.** Items of a TransactWriteItems or TransactGetItems are held from the moment
  the request arrives until its answer is sent, plus ``hold_s``; another transaction touching a held item
  is cancelled (``TransactionCanceledException``, reason ``TransactionConflict`` on that item, ``None`` on
  the others); a PutItem/UpdateItem/DeleteItem on an item a TransactWriteItems holds fails with
  ``TransactionConflictException``; a plain write to an item a TransactGetItems holds makes that read
  fail; a BatchWriteItem request on a held item comes back in ``UnprocessedItems``.
- **Idempotent TransactWriteItems.** A ``ClientRequestToken`` seen with the same request within 10
  minutes returns the first success without writing again (botocore keeps the token across its retries);
  with another request, ``IdempotentParameterMismatchException``; while the first is still running,
  ``TransactionInProgressException``.
- **Per-partition-key throughput.** Per (table or index, partition key value) and per emulated second,
  at most 1,000 WCU and 3,000 RCU (a request is refused once the second's units are used up; the last
  one admitted may overshoot by its own size). ``time_scale`` is emulated seconds per real second: 10
  lets a test write ten times faster than DynamoDB would, 0.1 shows at small volume what a hot key does.
  Units as DynamoDB counts them: a write is 1 WCU per started KB of the item (2x in a transaction), a read
  1 RCU per started 4 KB (half when eventually consistent, 2x in a transaction), a Query or Scan by the
  total size it returns. A throttled request is refused with ``ThrottlingException`` on an on-demand table
  (``ProvisionedThroughputExceededException`` on a provisioned one), with the ``ThrottlingReasons``
  DynamoDB gives (``TableWriteKeyRangeThroughputExceeded``...); in a transaction the reason ``ThrottlingError``
  on the item; in a BatchWriteItem/BatchGetItem the throttled requests come back unprocessed, and only when
  all are throttled does the call fail.
- **Sizes and counts.** Items above 400 KB (attribute names + values, DynamoDB's formula), more than 100
  actions or 4 MB per transaction, two actions on one item, more than 25 requests per BatchWriteItem,
  more than 100 keys per BatchGetItem, duplicate keys in a batch, partition keys over 2,048 bytes and sort
  keys over 1,024: ``ValidationException`` with DynamoDB's message. A BatchGetItem answer is cut at 16 MB,
  the rest in ``UnprocessedKeys``.
- **Transient faults** at ``fault_rate`` per attempt: ``InternalServerError`` (500),
  ``ServiceUnavailable`` (503) or ``ThrottlingException`` (400), drawn from a seeded generator. Half the
  500s of a TransactWriteItems, and of a PutItem/UpdateItem/DeleteItem with a condition, happen after it
  committed (the answer is lost), as on DynamoDB: only the client's retry with the same token keeps a
  transaction from being applied twice, and a conditional write's retry meets its own commit.

Recorded per partition key: consumed WCU/RCU and the peak of any one (emulated) second; :meth:`Limits.stats`
reports the totals and the hottest keys, :meth:`Limits.reset` starts over.

Known approximations: an UpdateItem is charged by the size of its key and values (DynamoDB charges the
larger of the item before and after); secondary indexes are not charged for writes; Scan consumption is
recorded per table, not per partition.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

ENV_MODE = "AUDIENS_DYNAMODB_LIMITS"  # "real" turns every limit on; "off" (default) leaves moto as it is
ENV_FAULT_RATE = "AUDIENS_FAULT_RATE"  # probability of a transient fault per request attempt, 0..1
ENV_FAULT_SEED = "AUDIENS_FAULT_SEED"  # seeds the fault generator (a run is reproducible)
ENV_TIME_SCALE = "AUDIENS_DYNAMODB_TIME_SCALE"  # emulated seconds per real second for the throughput limits
ENV_HOLD_MS = "AUDIENS_DYNAMODB_TXN_HOLD_MS"  # how long a transaction keeps its items after its answer

ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
ITEM_LIMIT = 400 * 1024
TRANSACTION_ACTIONS = 100
TRANSACTION_BYTES = 4 * 1024 * 1024
BATCH_WRITE_REQUESTS = 25
BATCH_GET_KEYS = 100
BATCH_GET_BYTES = 16 * 1024 * 1024
PARTITION_KEY_BYTES = 2048
SORT_KEY_BYTES = 1024
WRITE_UNITS_PER_KEY = 1000.0
READ_UNITS_PER_KEY = 3000.0
IDEMPOTENCY_WINDOW_S = 600.0

FAULT_KINDS = ("InternalServerError", "ServiceUnavailable", "ThrottlingException", "LostAnswer", "TransactionConflict")
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
DATA_PLANE = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

CONFLICT_MESSAGE = "Transaction is ongoing for the item"
THROTTLE_MESSAGE = (
    "Throughput exceeds the current capacity for one or more global secondary indexes or the table. "
    "DynamoDB is automatically scaling your table or index so please try again shortly."
)
PROVISIONED_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
IN_TRANSACTION_THROTTLE_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your "
    "table or index so please try again shortly. If exceptions persist, check if you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html."
)


# --------------------------------------------------------------------------------------------- errors
@dataclass(frozen=True)
class Answer:
    """An HTTP answer in DynamoDB's JSON protocol: an error the engine gives instead of (or after) moto's."""

    status: int
    body: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.body.get("__type", "")).rpartition("#")[2]

    def encoded(self) -> bytes:
        return json.dumps(self.body).encode()

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": _request_id()}


def error(status: int, code: str, message: str, *, message_key: str = "message", **extra: Any) -> Answer:
    return Answer(status, {"__type": ERROR_PREFIX + code, message_key: message, **extra})


def validation(message: str) -> Answer:
    return error(400, "ValidationException", message)


def _request_id() -> str:
    return base64.b32encode(os.urandom(30)).decode()[:52]


def cancelled(reasons: list[dict[str, str]]) -> Answer:
    codes = ", ".join(r["Code"] for r in reasons)
    return error(
        400,
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        message_key="Message",
        CancellationReasons=reasons,
    )


TOO_MANY_ACTIONS = validation(
    "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
    f"Member must have length less than or equal to {TRANSACTION_ACTIONS}"
)


# ------------------------------------------------------------------------------------------- sizes
def number_size(text: str) -> int:
    """Bytes DynamoDB stores for a number: ~1 byte per two significant digits, plus one."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return len(text)
    digits = value.as_tuple().digits
    significant = "".join(str(d) for d in digits).strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one AttributeValue as DynamoDB counts it toward the 400 KB item limit."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return number_size(str(inner))
    if kind == "B":
        return len(_blob(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in inner)
    if kind == "NS":
        return sum(number_size(str(n)) for n in inner)
    if kind == "BS":
        return sum(len(_blob(b)) for b in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(str(k).encode()) + value_size(v) for k, v in inner.items())
    return len(json.dumps(inner))


def _blob(inner: Any) -> bytes:
    if isinstance(inner, bytes | bytearray):
        return bytes(inner)
    try:
        return base64.b64decode(str(inner), validate=False)
    except ValueError:
        return str(inner).encode()


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: the UTF-8 length of every attribute name plus the size of its value."""
    return sum(len(str(name).encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def read_units(size: int, *, consistent: bool) -> float:
    units = float(max(1, math.ceil(size / 4096)))
    return units if consistent else units / 2


# -------------------------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class TableSchema:
    name: str
    hash_key: str
    range_key: str | None = None
    indexes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    on_demand: bool = True
    arn: str = ""

    @classmethod
    def from_description(cls, table: dict[str, Any]) -> TableSchema:
        def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
            by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
            return by_type["HASH"], by_type.get("RANGE")

        hash_key, range_key = keys(table["KeySchema"])
        indexes = {
            index["IndexName"]: keys(index["KeySchema"])
            for index in (table.get("GlobalSecondaryIndexes") or []) + (table.get("LocalSecondaryIndexes") or [])
        }
        mode = (table.get("BillingModeSummary") or {}).get("BillingMode") or table.get("BillingMode")
        if mode is None:  # moto omits the summary for on-demand tables; provisioned ones show their units
            provisioned = table.get("ProvisionedThroughput") or {}
            mode = "PROVISIONED" if provisioned.get("WriteCapacityUnits") else "PAY_PER_REQUEST"
        return cls(
            name=table["TableName"],
            hash_key=hash_key,
            range_key=range_key,
            indexes=indexes,
            on_demand=mode == "PAY_PER_REQUEST",
            arn=str(table.get("TableArn", "")),
        )

    def key_of(self, item: dict[str, Any]) -> dict[str, Any]:
        names = [self.hash_key] + ([self.range_key] if self.range_key else [])
        return {n: item[n] for n in names if n in item}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------- capacity
@dataclass
class _KeyUsage:
    """Units one partition key consumed: in total, and per emulated second for the peak."""

    write_units: float = 0.0
    read_units: float = 0.0
    second: int = -1
    write_in_second: float = 0.0
    read_in_second: float = 0.0
    peak_write: float = 0.0
    peak_read: float = 0.0
    throttled: int = 0

    def roll(self, second: int) -> None:
        if second != self.second:
            self.second, self.write_in_second, self.read_in_second = second, 0.0, 0.0

    def add(self, second: int, *, write: float = 0.0, read: float = 0.0) -> None:
        self.roll(second)
        self.write_units += write
        self.read_units += read
        self.write_in_second += write
        self.read_in_second += read
        self.peak_write = max(self.peak_write, self.write_in_second)
        self.peak_read = max(self.peak_read, self.read_in_second)


@dataclass
class _Charge:
    """Units a request asks of one partition key (table or ``table/index``, partition key value)."""

    table: str
    partition: str
    index: str | None
    write: float = 0.0
    read: float = 0.0


# -------------------------------------------------------------------------------------------- attempt
@dataclass
class Attempt:
    """One request attempt between :meth:`Limits.begin` and :meth:`Limits.finish`.

    ``answer`` set by ``begin``: refuse the request with it (moto never sees it). ``body`` is the request
    body moto should get (a batch without its throttled requests); ``unprocessed`` what to add back to
    the answer's ``UnprocessedItems``/``UnprocessedKeys``.
    """

    operation: str
    request: dict[str, Any]
    body: bytes
    answer: Answer | None = None
    held: list[tuple[str, str]] = field(default_factory=list)
    hold_kind: str = ""
    token: str | None = None
    token_digest: str = ""
    lose_answer: bool = False
    unprocessed: dict[str, list[Any]] = field(default_factory=dict)
    doomed: bool = False
    write_charges: list[_Charge] = field(default_factory=list)
    settled: bool = False


@dataclass
class _Held:
    kind: str  # "write" (a TransactWriteItems) or "read" (a TransactGetItems)
    attempt: Attempt


# ---------------------------------------------------------------------------------------------- engine
class Limits:
    """DynamoDB's limits as one thread-safe engine; see the module's docstring."""

    def __init__(
        self,
        *,
        conflicts: bool = True,
        throughput: bool = True,
        validation: bool = True,
        fault_rate: float = 0.0,
        seed: int | str | None = None,
        time_scale: float = 1.0,
        hold_s: float = 0.0,
        write_units_per_key: float = WRITE_UNITS_PER_KEY,
        read_units_per_key: float = READ_UNITS_PER_KEY,
        describe: Callable[[str], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conflicts = conflicts
        self.throughput = throughput
        self.validation = validation
        self.fault_rate = fault_rate
        self.time_scale = time_scale
        self.hold_s = hold_s
        self.write_units_per_key = write_units_per_key
        self.read_units_per_key = read_units_per_key
        self.describe = describe
        # Extra seconds each request to a table takes (table name -> seconds): a slow DynamoDB, to make a
        # handler outlive its timeout in a test.
        self.latency: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.RLock()
        self._tables: dict[str, TableSchema] = {}
        self._held: dict[tuple[str, str], _Held] = {}
        self._tokens: dict[str, tuple[str, float, Answer | None]] = {}  # token -> (digest, expiry, answer)
        self._tokens_running: dict[str, str] = {}
        self.reset(seed)

    # ---------------------------------------------------------------------------------- configuration
    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Limits | None:
        """The engine ``AUDIENS_DYNAMODB_LIMITS=real`` asks for (None when it is off)."""
        env = os.environ if environ is None else environ
        mode = env.get(ENV_MODE, "off").strip().lower()
        if mode in ("", "off", "0", "false", "no"):
            return None
        if mode not in ("real", "on", "1", "true", "yes"):
            raise ValueError(f"{ENV_MODE}={mode!r}: use 'real' or 'off'")
        settings: dict[str, Any] = {
            "fault_rate": float(env.get(ENV_FAULT_RATE) or 0.0),
            "seed": env.get(ENV_FAULT_SEED) or None,
            "time_scale": float(env.get(ENV_TIME_SCALE) or 1.0),
            "hold_s": float(env.get(ENV_HOLD_MS) or 0.0) / 1000,
        }
        settings.update(overrides)
        if not 0.0 <= settings["fault_rate"] < 1.0:
            raise ValueError(f"{ENV_FAULT_RATE} must be in [0, 1)")
        if settings["time_scale"] <= 0:
            raise ValueError(f"{ENV_TIME_SCALE} must be positive")
        return cls(**settings)

    def reset(self, seed: int | str | None = None) -> None:
        """Forget consumption, buckets, counters and idempotency tokens; reseed the fault generator."""
        with self._lock:
            self.seed = seed
            self._random = random.Random(str(seed) if seed is not None else None)
            self._usage: dict[tuple[str, str], _KeyUsage] = {}
            self._tokens.clear()
            self._injected: list[tuple[str | None, str, str | None]] = []
            self.counters: dict[str, int] = {
                "requests": 0,
                "faults": 0,
                "lost_answers": 0,
                "conflicts": 0,
                "throttled": 0,
                "validation_errors": 0,
                "idempotent_replays": 0,
            }

    def learn_table(self, table: dict[str, Any] | TableSchema) -> None:
        schema = table if isinstance(table, TableSchema) else TableSchema.from_description(table)
        with self._lock:
            self._tables[schema.name] = schema

    def learn_tables(self, client: Any) -> list[str]:
        """Read every table's key schema through a boto3 DynamoDB client (ListTables, DescribeTable)."""
        names: list[str] = []
        for page in client.get_paginator("list_tables").paginate():
            names.extend(page.get("TableNames", []))
        for name in names:
            self.learn_table(client.describe_table(TableName=name)["Table"])
        return names

    def table(self, name: str) -> TableSchema:
        with self._lock:
            known = self._tables.get(name)
        if known is not None:
            return known
        if self.describe is None:
            raise KeyError(name)
        schema = TableSchema.from_description(self.describe(name))
        with self._lock:
            self._tables[name] = schema
        return schema

    # ------------------------------------------------------------------------------------------- judge
    def begin(self, operation: str, body: bytes) -> Attempt:
        """Judge a request before moto sees it; ``attempt.answer`` set means: answer that instead."""
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        attempt = Attempt(operation=operation, request=request, body=body)
        if operation not in DATA_PLANE:
            attempt.settled = True
            if operation == "CreateTable" and request.get("KeySchema"):  # known without a DescribeTable later
                with contextlib.suppress(KeyError, TypeError):
                    self.learn_table(TableSchema.from_description(request))
            return attempt
        delay = max((self.latency.get(t, 0.0) for t in _tables_of(request)), default=0.0)
        if delay > 0:
            time.sleep(delay)
        with self._lock:
            self.counters["requests"] += 1
            fault = self._draw_fault(operation, body)
        if fault is not None:
            self._count("faults")
            if fault.status != 0:
                attempt.answer, attempt.settled = fault, True
                return attempt
            attempt.lose_answer = True  # it commits, then its answer is lost
        try:
            answer = self._judge(attempt)
        except KeyError:  # a table the engine cannot describe: moto answers (ResourceNotFoundException)
            answer = None
        if answer is not None and answer.body.get("__replay__"):  # the first success, written once
            lost = error(500, "InternalServerError", "Internal server error")
            answer = lost if attempt.lose_answer else Answer(200, {})
        if answer is not None:
            self._release(attempt)
            attempt.answer, attempt.settled = answer, True
        return attempt

    def finish(self, attempt: Attempt, status: int, body: bytes) -> bytes | Answer:
        """Settle an attempt with moto's answer; returns the body to send or an error to send instead."""
        if attempt.settled:
            return body
        attempt.settled = True
        try:
            return self._settle(attempt, status, body)
        except KeyError:  # a table the engine cannot describe: moto's answer as it is
            return body
        finally:
            if attempt.held and self.hold_s > 0:
                time.sleep(self.hold_s)
            self._release(attempt)

    def abandon(self, attempt: Attempt) -> None:
        """The request never got an answer (a connection error): free what it holds."""
        if not attempt.settled:
            attempt.settled = True
            self._release(attempt)
            with self._lock:
                if attempt.token is not None:
                    self._tokens_running.pop(attempt.token, None)

    # ------------------------------------------------------------------------------------------- faults
    def inject(self, kind: str, operation: str | None = None, *, where: str | None = None) -> None:
        """Fail the next attempt of ``operation`` (any when None) with a transient fault of ``kind``.

        Kinds: ``InternalServerError``, ``ServiceUnavailable``, ``ThrottlingException``, and ``LostAnswer``
        (the request is carried out, then answered with an InternalServerError), for any data-plane
        operation: a PutItem/UpdateItem/DeleteItem with a condition loses its answer as a transaction does.
        ``TransactionConflict`` (injected only, never drawn at random): what a single-item write meets when a
        transaction holds its item (the SDK does not retry it).
        ``where``: only a request whose body contains this text (a key such as ``"SEGMENT#"``, a table name).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._injected.append((operation, kind, where))

    def pending_injections(self) -> int:
        """Injected faults not drawn yet (a test asserts its fault met the request it aimed at)."""
        with self._lock:
            return len(self._injected)

    def _draw_fault(self, operation: str, body: bytes = b"") -> Answer | None:
        kind = None
        for i, (wanted, injected, where) in enumerate(self._injected):
            if wanted in (None, operation) and (where is None or where.encode() in body):
                kind = injected
                del self._injected[i]
                break
        if kind is None:
            if self.fault_rate <= 0 or self._random.random() >= self.fault_rate:
                return None
            kind = self._random.choice(("InternalServerError", "ServiceUnavailable", "ThrottlingException"))
            if kind == "InternalServerError" and _losable(operation, body) and self._random.random() < 0.5:
                kind = "LostAnswer"
        if kind == "LostAnswer":
            return Answer(0, {})  # carried out, then the answer is lost (see begin)
        if kind == "InternalServerError":
            return error(500, "InternalServerError", "Internal server error")
        if kind == "ServiceUnavailable":
            return error(503, "ServiceUnavailable", "Service Unavailable", message_key="Message")
        if kind == "TransactionConflict":
            return error(400, "TransactionConflictException", CONFLICT_MESSAGE)
        return error(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    # ------------------------------------------------------------------------------------------ judging
    def _judge(self, attempt: Attempt) -> Answer | None:
        op = attempt.operation
        if op == "TransactWriteItems":
            return self._judge_transact_write(attempt)
        if op == "TransactGetItems":
            return self._judge_transact_get(attempt)
        if op in WRITES:
            return self._judge_write(attempt)
        if op == "BatchWriteItem":
            return self._judge_batch_write(attempt)
        if op == "BatchGetItem":
            return self._judge_batch_get(attempt)
        return self._judge_read(attempt)

    def _key_checks(self, schema: TableSchema, key: dict[str, Any]) -> Answer | None:
        if not self.validation:
            return None
        hash_value = key.get(schema.hash_key)
        if hash_value is not None and value_size(hash_value) > PARTITION_KEY_BYTES:
            return validation(
                "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit "
                "of2048 bytes"
            )
        range_value = key.get(schema.range_key) if schema.range_key else None
        if range_value is not None and value_size(range_value) > SORT_KEY_BYTES:
            return validation(
                "One or more parameter values were invalid: Aggregated size of all range keys has exceeded "
                "the size limit of 1024 bytes"
            )
        return None

    def _item_ref(self, table: str, key: dict[str, Any]) -> tuple[str, str]:
        return table, _canonical(key)

    def _partition(self, schema: TableSchema, key: dict[str, Any], index: str | None = None) -> str:
        attribute = schema.indexes[index][0] if index else schema.hash_key
        return _canonical(key.get(attribute))

    def _judge_transact_write(self, attempt: Attempt) -> Answer | None:
        actions = attempt.request.get("TransactItems") or []
        if self.validation and len(actions) > TRANSACTION_ACTIONS:
            return TOO_MANY_ACTIONS
        digest = hashlib.sha256(
            _canonical({k: v for k, v in attempt.request.items() if k != "ClientRequestToken"}).encode()
        ).hexdigest()
        seen = self._check_token(attempt, digest)
        if seen is not None:
            return seen
        parsed = self._transaction_items(actions)
        if isinstance(parsed, Answer):
            return parsed
        refs, charges = parsed
        with self._lock:
            refused = self._transaction_refused(refs, charges)
            if refused is not None:
                return refused
            self._consume(charges)
            attempt.write_charges = charges
            if self.conflicts:
                self._hold(attempt, refs, "write")
            if attempt.token is not None:
                self._tokens_running[attempt.token] = digest
        return None

    def _check_token(self, attempt: Attempt, digest: str) -> Answer | None:
        """DynamoDB's idempotency window for a ClientRequestToken (None: a new token, or none at all)."""
        token = attempt.request.get("ClientRequestToken")
        if token is None:
            return None
        now = self._clock()
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            seen = self._tokens.get(str(token))
            running = self._tokens_running.get(str(token))
        if seen is None and running is None:
            attempt.token, attempt.token_digest = str(token), digest
            return None
        first_digest = seen[0] if seen is not None else running
        if first_digest != digest:
            return error(
                400,
                "IdempotentParameterMismatchException",
                "Request parameters did not match those of the original request with the same client request token",
                message_key="Message",
            )
        if seen is None:
            return error(
                400,
                "TransactionInProgressException",
                "Transaction with the same client request token is in progress",
                message_key="Message",
            )
        self._count("idempotent_replays")
        return Answer(200, {"__replay__": True})

    def _transaction_items(self, actions: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[_Charge]] | Answer:
        """Each action's item and write units; or the ValidationException DynamoDB gives the transaction."""
        refs: list[tuple[str, str]] = []
        charges: list[_Charge] = []
        total = 0
        for action in actions:
            (kind, spec), *_ = action.items()
            schema = self.table(spec["TableName"])
            if kind == "Put":
                item = spec.get("Item") or {}
                key, size = schema.key_of(item), item_size(item)
                if self.validation and size > ITEM_LIMIT:
                    return validation("Item size has exceeded the maximum allowed size")
            else:
                key = spec.get("Key") or {}
                size = _update_size(spec) if kind == "Update" else item_size(key)
            total += size
            checked = self._key_checks(schema, key)
            if checked is not None:
                return checked
            refs.append(self._item_ref(schema.name, key))
            charges.append(_Charge(schema.name, self._partition(schema, key), None, write=2 * write_units(size)))
        if self.validation and len(set(refs)) != len(refs):
            return validation("Transaction request cannot include multiple operations on one item")
        if self.validation and total > TRANSACTION_BYTES:
            return validation("Transaction request size has exceeded the maximum allowed size of 4 MB")
        return refs, charges

    def _transaction_refused(self, refs: list[tuple[str, str]], charges: list[_Charge]) -> Answer | None:
        """A conflict with a transaction in flight, or a throttled partition key (under the lock)."""
        if self.conflicts:
            busy = [self._held.get(ref) for ref in refs]
            if any(h is not None for h in busy):
                self.counters["conflicts"] += 1
                return cancelled(
                    [
                        {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE} if h else {"Code": "None"}
                        for h in busy
                    ]
                )
        throttled = self._throttled(charges)
        if throttled is None:
            return None
        self.counters["throttled"] += 1
        return cancelled(
            [
                {"Code": "ThrottlingError", "Message": IN_TRANSACTION_THROTTLE_MESSAGE}
                if i in throttled
                else {"Code": "None"}
                for i in range(len(charges))
            ]
        )

    def _judge_transact_get(self, attempt: Attempt) -> Answer | None:
        actions = attempt.request.get("TransactItems") or []
        if self.validation and len(actions) > TRANSACTION_ACTIONS:
            return TOO_MANY_ACTIONS
        refs = []
        for action in actions:
            spec = action["Get"]
            schema = self.table(spec["TableName"])
            refs.append(self._item_ref(schema.name, spec.get("Key") or {}))
        if self.validation and len(set(refs)) != len(refs):
            return validation("Transaction request cannot include multiple operations on one item")
        with self._lock:
            if self.conflicts:
                busy = [self._held.get(ref) for ref in refs]
                if any(h is not None and h.kind == "write" for h in busy):
                    self.counters["conflicts"] += 1
                    return cancelled(
                        [
                            {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE}
                            if h is not None and h.kind == "write"
                            else {"Code": "None"}
                            for h in busy
                        ]
                    )
            throttled = self._read_throttled(attempt)
            if throttled:
                self.counters["throttled"] += 1
                return cancelled(
                    [
                        {"Code": "ThrottlingError", "Message": IN_TRANSACTION_THROTTLE_MESSAGE}
                        if i in throttled
                        else {"Code": "None"}
                        for i in range(len(refs))
                    ]
                )
            if self.conflicts:
                self._hold(attempt, refs, "read")
        return None

    def _judge_write(self, attempt: Attempt) -> Answer | None:
        spec = attempt.request
        schema = self.table(spec["TableName"])
        if attempt.operation == "PutItem":
            item = spec.get("Item") or {}
            key = schema.key_of(item)
            size = item_size(item)
            if self.validation and size > ITEM_LIMIT:
                return validation("Item size has exceeded the maximum allowed size")
        else:
            key = spec.get("Key") or {}
            size = _update_size(spec) if attempt.operation == "UpdateItem" else item_size(key)
        checked = self._key_checks(schema, key)
        if checked is not None:
            return checked
        ref = self._item_ref(schema.name, key)
        charge = _Charge(schema.name, self._partition(schema, key), None, write=write_units(size))
        with self._lock:
            held = self._held.get(ref) if self.conflicts else None
            if held is not None and held.kind == "write":
                self.counters["conflicts"] += 1
                return error(400, "TransactionConflictException", CONFLICT_MESSAGE)
            if self._throttled([charge]) is not None:
                self.counters["throttled"] += 1
                return self._throttle_answer(schema, write=True)
            if held is not None:  # a TransactGetItems reading this item is cancelled, the write goes on
                held.attempt.doomed = True
            self._consume([charge])
            attempt.write_charges = [charge]
        return None

    def _judge_batch_write(self, attempt: Attempt) -> Answer | None:
        request_items: dict[str, list[dict[str, Any]]] = attempt.request.get("RequestItems") or {}
        count = sum(len(v) for v in request_items.values())
        if self.validation and count > BATCH_WRITE_REQUESTS:
            return validation("Too many items requested for the BatchWriteItem call")
        keep: dict[str, list[dict[str, Any]]] = {}
        charges: list[_Charge] = []
        with self._lock:
            for table, requests in request_items.items():
                schema = self.table(table)
                seen: set[str] = set()
                for entry in requests:
                    if "PutRequest" in entry:
                        item = entry["PutRequest"].get("Item") or {}
                        key, size = schema.key_of(item), item_size(item)
                        if self.validation and size > ITEM_LIMIT:
                            return validation("Item size has exceeded the maximum allowed size")
                    else:
                        key = entry["DeleteRequest"].get("Key") or {}
                        size = item_size(key)
                    checked = self._key_checks(schema, key)
                    if checked is not None:
                        return checked
                    ref = self._item_ref(table, key)
                    if self.validation and ref[1] in seen:
                        return validation("Provided list of item keys contains duplicates")
                    seen.add(ref[1])
                    charge = _Charge(table, self._partition(schema, key), None, write=write_units(size))
                    held = self._held.get(ref) if self.conflicts else None
                    if (held is not None and held.kind == "write") or self._throttled([charge]) is not None:
                        if held is None:
                            self.counters["throttled"] += 1
                        else:
                            self.counters["conflicts"] += 1
                        attempt.unprocessed.setdefault(table, []).append(entry)
                        continue
                    if held is not None:
                        held.attempt.doomed = True
                    self._consume([charge])
                    charges.append(charge)
                    keep.setdefault(table, []).append(entry)
            attempt.write_charges = charges
        if attempt.unprocessed and not keep:
            schema = self.table(next(iter(attempt.unprocessed)))
            return self._throttle_answer(schema, write=True)
        if attempt.unprocessed:
            attempt.body = json.dumps({**attempt.request, "RequestItems": keep}).encode()
        return None

    def _judge_batch_get(self, attempt: Attempt) -> Answer | None:
        request_items: dict[str, dict[str, Any]] = attempt.request.get("RequestItems") or {}
        count = sum(len(v.get("Keys") or []) for v in request_items.values())
        if self.validation and count > BATCH_GET_KEYS:
            return validation("Too many items requested for the BatchGetItem call")
        keep: dict[str, dict[str, Any]] = {}
        with self._lock:
            for table, spec in request_items.items():
                schema = self.table(table)
                keys = spec.get("Keys") or []
                if self.validation and len({_canonical(k) for k in keys}) != len(keys):
                    return validation("Provided list of item keys contains duplicates")
                for key in keys:
                    if self._bucket_empty(schema.name, self._partition(schema, key), None, "read"):
                        self.counters["throttled"] += 1
                        attempt.unprocessed.setdefault(table, []).append(key)
                    else:
                        keep.setdefault(table, {**spec, "Keys": []})["Keys"].append(key)
        if attempt.unprocessed and not keep:
            return self._throttle_answer(self.table(next(iter(attempt.unprocessed))), write=False)
        if attempt.unprocessed:
            attempt.body = json.dumps({**attempt.request, "RequestItems": keep}).encode()
        return None

    def _judge_read(self, attempt: Attempt) -> Answer | None:
        with self._lock:
            throttled = self._read_throttled(attempt)
        if throttled:
            self._count("throttled")
            return self._throttle_answer(self.table(attempt.request["TableName"]), write=False)
        return None

    # -------------------------------------------------------------------------------------- throughput
    def _now(self) -> float:
        return self._clock() * self.time_scale

    def _bucket_empty(self, table: str, partition: str, index: str | None, kind: str) -> bool:
        """True when the partition key used up this emulated second's units (1,000 WCU or 3,000 RCU)."""
        if not self.throughput:
            return False
        usage = self._usage_of(f"{table}/{index}" if index else table, partition)
        usage.roll(int(self._now()))
        if kind == "write":
            return usage.write_in_second >= self.write_units_per_key
        return usage.read_in_second >= self.read_units_per_key

    def _throttled(self, charges: list[_Charge]) -> set[int] | None:
        """Indexes of the charges whose partition has no write capacity left (None: all can go)."""
        if not self.throughput:
            return None
        needed: dict[tuple[str, str], float] = {}
        for charge in charges:
            needed[(charge.table, charge.partition)] = needed.get((charge.table, charge.partition), 0) + charge.write
        empty = {k for k in needed if self._bucket_empty(k[0], k[1], None, "write")}
        if not empty:
            return None
        for (table, partition), _ in needed.items():
            if (table, partition) in empty:
                self._usage_of(table, partition).throttled += 1
        return {i for i, c in enumerate(charges) if (c.table, c.partition) in empty}

    def _read_throttled(self, attempt: Attempt) -> set[int]:
        """For reads the units are known from the answer; a partition with no tokens left is refused now."""
        if not self.throughput:
            return set()
        request = attempt.request
        if attempt.operation == "TransactGetItems":
            out = set()
            for i, action in enumerate(request.get("TransactItems") or []):
                spec = action["Get"]
                schema = self.table(spec["TableName"])
                if self._bucket_empty(schema.name, self._partition(schema, spec.get("Key") or {}), None, "read"):
                    out.add(i)
            return out
        schema = self.table(request["TableName"])
        partition = self._read_partition(schema, attempt.operation, request)
        if partition is None:
            return set()
        index = request.get("IndexName") if attempt.operation == "Query" else None
        if self._bucket_empty(schema.name, partition, index, "read"):
            self._usage_of(schema.name if not index else f"{schema.name}/{index}", partition).throttled += 1
            return {0}
        return set()

    def _read_partition(self, schema: TableSchema, operation: str, request: dict[str, Any]) -> str | None:
        if operation == "GetItem":
            return self._partition(schema, request.get("Key") or {})
        if operation != "Query":
            return None
        index = request.get("IndexName")
        attribute = schema.indexes[index][0] if index and index in schema.indexes else schema.hash_key
        names = request.get("ExpressionAttributeNames") or {}
        values = request.get("ExpressionAttributeValues") or {}
        expression = request.get("KeyConditionExpression") or ""
        for left, right in re.findall(r"([#\w.]+)\s*=\s*(:[\w]+)", expression):
            if names.get(left, left) == attribute and right in values:
                return _canonical(values[right])
        for left, right in re.findall(r"(:[\w]+)\s*=\s*([#\w.]+)", expression):
            if names.get(right, right) == attribute and left in values:
                return _canonical(values[left])
        return None

    def _consume(self, charges: list[_Charge]) -> None:
        second = int(self._now())
        for charge in charges:
            where = f"{charge.table}/{charge.index}" if charge.index else charge.table
            self._usage_of(where, charge.partition).add(second, write=charge.write, read=charge.read)

    def _usage_of(self, where: str, partition: str) -> _KeyUsage:
        usage = self._usage.get((where, partition))
        if usage is None:
            usage = self._usage[(where, partition)] = _KeyUsage()
        return usage

    def _throttle_answer(self, schema: TableSchema, *, write: bool) -> Answer:
        reason = {
            "reason": f"Table{'Write' if write else 'Read'}KeyRangeThroughputExceeded",
            "resource": schema.arn or schema.name,
        }
        if schema.on_demand:
            return error(400, "ThrottlingException", THROTTLE_MESSAGE, throttlingReasons=[reason])
        return error(400, "ProvisionedThroughputExceededException", PROVISIONED_MESSAGE, ThrottlingReasons=[reason])

    # ------------------------------------------------------------------------------------------ holding
    def _hold(self, attempt: Attempt, refs: list[tuple[str, str]], kind: str) -> None:
        for ref in refs:
            self._held[ref] = _Held(kind, attempt)
        attempt.held = refs
        attempt.hold_kind = kind

    def _release(self, attempt: Attempt) -> None:
        with self._lock:
            for ref in attempt.held:
                held = self._held.get(ref)
                if held is not None and held.attempt is attempt:
                    del self._held[ref]
            attempt.held = []

    # ------------------------------------------------------------------------------------------ settling
    def _settle(self, attempt: Attempt, status: int, body: bytes) -> bytes | Answer:
        op = attempt.operation
        ok = 200 <= status < 300
        if attempt.token is not None:
            with self._lock:
                self._tokens_running.pop(attempt.token, None)
                if ok:
                    self._tokens[attempt.token] = (attempt.token_digest, self._clock() + IDEMPOTENCY_WINDOW_S, None)
        if not ok:
            return body
        if attempt.lose_answer:
            self._count("lost_answers")
            return error(500, "InternalServerError", "Internal server error")
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            return body
        changed = False
        if op == "TransactGetItems":
            if attempt.doomed:
                self._count("conflicts")
                return cancelled(
                    [
                        {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE}
                        for _ in attempt.request.get("TransactItems") or [{}]
                    ]
                )
            self._charge_transact_get(attempt, answer)
        elif op == "GetItem":
            schema = self.table(attempt.request["TableName"])
            size = item_size(answer.get("Item") or {})
            units = read_units(size, consistent=bool(attempt.request.get("ConsistentRead")))
            partition = self._partition(schema, attempt.request.get("Key") or {})
            with self._lock:
                self._consume([_Charge(schema.name, partition, None, read=units)])
        elif op in ("Query", "Scan"):
            self._charge_query(attempt, answer)
        elif op == "BatchGetItem":
            changed = self._settle_batch_get(attempt, answer)
        if op == "BatchWriteItem" and attempt.unprocessed:
            unprocessed = answer.setdefault("UnprocessedItems", {})
            for table, entries in attempt.unprocessed.items():
                unprocessed.setdefault(table, []).extend(entries)
            changed = True
        return json.dumps(answer).encode() if changed else body

    def _charge_transact_get(self, attempt: Attempt, answer: dict[str, Any]) -> None:
        charges = []
        actions = attempt.request.get("TransactItems") or []
        for action, response in zip(actions, answer.get("Responses") or [], strict=False):
            spec = action["Get"]
            schema = self.table(spec["TableName"])
            units = 2 * read_units(item_size(response.get("Item") or {}), consistent=True)
            charges.append(_Charge(schema.name, self._partition(schema, spec.get("Key") or {}), None, read=units))
        with self._lock:
            self._consume(charges)

    def _charge_query(self, attempt: Attempt, answer: dict[str, Any]) -> None:
        request = attempt.request
        schema = self.table(request["TableName"])
        size = sum(item_size(item) for item in answer.get("Items") or [])
        units = read_units(size, consistent=bool(request.get("ConsistentRead")))
        index = request.get("IndexName")
        partition = self._read_partition(schema, attempt.operation, request)
        with self._lock:
            self._consume([_Charge(schema.name, partition or "(scan)", index, read=units)])

    def _settle_batch_get(self, attempt: Attempt, answer: dict[str, Any]) -> bool:
        """Charge each item read; cut the answer at 16 MB, the rest going to UnprocessedKeys."""
        changed = False
        total = 0
        charges = []
        responses: dict[str, list[dict[str, Any]]] = answer.get("Responses") or {}
        unprocessed: dict[str, dict[str, Any]] = answer.setdefault("UnprocessedKeys", {})
        for table, items in responses.items():
            schema = self.table(table)
            spec = (attempt.request.get("RequestItems") or {}).get(table) or {}
            kept = []
            for item in items:
                size = item_size(item)
                if self.validation and total + size > BATCH_GET_BYTES:
                    entry = unprocessed.setdefault(table, {k: v for k, v in spec.items() if k != "Keys"})
                    entry.setdefault("Keys", []).append(schema.key_of(item))
                    changed = True
                    continue
                total += size
                kept.append(item)
                units = read_units(size, consistent=bool(spec.get("ConsistentRead")))
                charges.append(_Charge(schema.name, self._partition(schema, item), None, read=units))
            responses[table] = kept
        for table, keys in attempt.unprocessed.items():
            spec = (attempt.request.get("RequestItems") or {}).get(table) or {}
            entry = unprocessed.setdefault(table, {k: v for k, v in spec.items() if k != "Keys"})
            entry.setdefault("Keys", []).extend(keys)
            changed = True
        with self._lock:
            self._consume(charges)
        return changed

    # -------------------------------------------------------------------------------------------- stats
    def stats(self, top: int = 5) -> dict[str, Any]:
        """Consumed capacity so far: totals, the hottest partition keys, what was refused and why.

        Units per second are per *emulated* second (``time_scale`` real seconds stretch into one).
        """
        with self._lock:
            usage = dict(self._usage)
            counters = dict(self.counters)

        def describe(item: tuple[tuple[str, str], _KeyUsage]) -> dict[str, Any]:
            (where, partition), u = item
            return {
                "table": where,
                "partition_key": json.loads(partition) if partition not in ("(scan)",) else partition,
                "write_units": round(u.write_units, 1),
                "read_units": round(u.read_units, 1),
                "peak_wcu_per_s": round(u.peak_write, 1),
                "peak_rcu_per_s": round(u.peak_read, 1),
                "throttled": u.throttled,
            }

        by_write = sorted(usage.items(), key=lambda kv: kv[1].peak_write, reverse=True)
        by_read = sorted(usage.items(), key=lambda kv: kv[1].peak_read, reverse=True)
        return {
            "write_units": round(sum(u.write_units for u in usage.values()), 1),
            "read_units": round(sum(u.read_units for u in usage.values()), 1),
            "partition_keys": len(usage),
            "peak_wcu_per_s": round(by_write[0][1].peak_write, 1) if by_write else 0.0,
            "peak_rcu_per_s": round(by_read[0][1].peak_read, 1) if by_read else 0.0,
            "hottest_writes": [describe(kv) for kv in by_write[:top]],
            "hottest_reads": [describe(kv) for kv in by_read[:top]],
            "time_scale": self.time_scale,
            "fault_rate": self.fault_rate,
            **counters,
        }


def _losable(operation: str, body: bytes) -> bool:
    """A write whose lost answer matters: a TransactWriteItems, or a single-item write with a condition (its
    retry meets its own commit). An unconditional PutItem/UpdateItem/DeleteItem retried is the same write."""
    return operation == "TransactWriteItems" or (operation in WRITES and b'"ConditionExpression"' in body)


def _tables_of(request: dict[str, Any]) -> set[str]:
    tables = {str(request["TableName"])} if "TableName" in request else set()
    tables.update(str(t) for t in request.get("RequestItems") or {})
    for action in request.get("TransactItems") or []:
        for spec in action.values():
            if isinstance(spec, dict) and "TableName" in spec:
                tables.add(str(spec["TableName"]))
    return tables


def _update_size(spec: dict[str, Any]) -> int:
    """What an UpdateItem is charged for here: its key and the values it sets (see the module's docstring)."""
    values = spec.get("ExpressionAttributeValues") or {}
    names = spec.get("ExpressionAttributeNames") or {}
    return (
        item_size(spec.get("Key") or {})
        + sum(value_size(v) for v in values.values())
        + sum(len(str(n).encode()) for n in names.values())
    )


# ------------------------------------------------------------------------------------ module-level engine
_engine: Limits | None = None
_engine_lock = threading.Lock()


def current() -> Limits | None:
    return _engine


def use(engine: Limits | None) -> Limits | None:
    """Make ``engine`` the one this process's hooks consult (None: off); returns the previous one."""
    global _engine
    with _engine_lock:
        previous, _engine = _engine, engine
    return previous


def configure_from_env(environ: dict[str, str] | None = None, **overrides: Any) -> Limits | None:
    engine = Limits.from_env(environ, **overrides)
    use(engine)
    return engine


def stats(top: int = 5) -> dict[str, Any]:
    engine = current()
    return engine.stats(top) if engine is not None else {}


def reset(seed: int | str | None = None) -> None:
    engine = current()
    if engine is not None:
        engine.reset(seed)


@contextlib.contextmanager
def enabled(engine: Limits | None) -> Iterator[Limits | None]:
    """``with enabled(Limits(...)):`` the hooks consult ``engine`` inside the block."""
    previous = use(engine)
    try:
        yield engine
    finally:
        use(previous)


# ------------------------------------------------------------------------------------- botocore adapter
_local = threading.local()
_installed = False
REFUSED_URL = "http://refused.dynamodb-limits.invalid/"


class _RawBody:
    """What botocore's AWSResponse reads an answer from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    text = target.decode() if isinstance(target, bytes) else str(target)
    return text.rpartition(".")[2]


def _on_send(request: Any, **_: Any) -> Any:
    engine = _engine
    if engine is None:
        return None
    from botocore.awsrequest import AWSResponse

    body = request.body
    data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else b"")
    attempt = engine.begin(_operation(request), data)
    if attempt.answer is not None:
        answer = attempt.answer
        url = request.url
        # botocore calls every before-send handler and keeps the first answer; moto's stubber, a later
        # handler, must not carry out the request refused here: pointed at no AWS endpoint, it passes.
        request.url = REFUSED_URL
        return AWSResponse(url, answer.status, answer.headers(), _RawBody(answer.encoded()))
    if attempt.body is not data:
        request.body = attempt.body
        request.headers["Content-Length"] = str(len(attempt.body))
    _local.attempt = attempt
    return None


def _on_parse(response_dict: dict[str, Any], **_: Any) -> None:
    attempt: Attempt | None = getattr(_local, "attempt", None)
    _local.attempt = None
    engine = _engine
    if attempt is None or engine is None:
        return
    result = engine.finish(attempt, int(response_dict.get("status_code", 0)), response_dict.get("body") or b"")
    if isinstance(result, Answer):  # moto carried it out, the answer is an error all the same
        response_dict["status_code"] = result.status
        response_dict["body"] = result.encoded()
        response_dict["headers"] = {**dict(response_dict.get("headers") or {}), **result.headers()}
        _local.replaced = result
    elif result is not response_dict.get("body"):
        response_dict["body"] = result


def _on_retry_check(response: Any = None, caught_exception: Any = None, **_: Any) -> None:
    """Runs before botocore's retry handler decides: the HTTP status must say what the answer says."""
    replaced: Answer | None = getattr(_local, "replaced", None)
    _local.replaced = None
    if replaced is not None and response is not None:
        response[0].status_code = replaced.status
    attempt: Attempt | None = getattr(_local, "attempt", None)
    if attempt is not None and caught_exception is not None:
        _local.attempt = None
        engine = _engine
        if engine is not None:
            engine.abandon(attempt)


HOOKS = (
    ("before-send.dynamodb", _on_send),
    ("before-parse.dynamodb", _on_parse),
    ("needs-retry.dynamodb.*", _on_retry_check),
)


def install_botocore_hooks() -> None:
    """Every botocore session created from now on in this process routes DynamoDB calls through the engine.

    The hooks do nothing while no engine is in use (:func:`use`), so installing them is harmless.
    Sessions that already exist are not reached: call :func:`attach` on their clients.
    """
    global _installed
    from botocore import handlers

    if _installed:
        return
    for event, handler in HOOKS:
        handlers.BUILTIN_HANDLERS.insert(0, (event, handler))
    _installed = True


def attach(client: Any) -> Any:
    """Route one existing botocore client's DynamoDB calls through the engine (idempotent)."""
    for event, handler in HOOKS:
        client.meta.events.register_first(event, handler, unique_id=f"dynamodb-limits-{event}")
    return client
