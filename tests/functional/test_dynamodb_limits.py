"""DynamoDB's limits in front of moto (local_runtime/dynamodb_limits.py): each refused as DynamoDB refuses it.

Every assertion is on what botocore raises, as application code sees it: the error code, the message,
``CancellationReasons``, ``throttlingReasons``, ``UnprocessedItems``/``UnprocessedKeys``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model

from audiens.dal.aws import client as aws_client
from audiens.dal.base import MAX_RETRY_ATTEMPTS, connection
from audiens.dal.idempotent import IdempotentTransactWrite, request_token, save_once, update_once
from local_runtime import dynamodb_limits
from local_runtime.dynamodb_limits import Limits, item_size

TABLE = "limits-table"
PROVISIONED = "limits-provisioned"
KB = 1024
FITS = 400_000  # under DynamoDB's 409,600 bytes: moto itself refuses items above 405,000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _create(client: Any, name: str, *, provisioned: bool = False) -> None:
    billing: dict[str, Any] = (
        {"BillingMode": "PROVISIONED", "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}
        if provisioned
        else {"BillingMode": "PAY_PER_REQUEST"}
    )
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        **billing,
    )


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create(client, TABLE)
        _create(client, PROVISIONED, provisioned=True)
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(aws: Any, clock: FakeClock) -> Iterator[Limits]:
    limits = Limits(clock=clock, seed="tests")
    limits.learn_tables(aws)
    with dynamodb_limits.enabled(limits):
        yield limits


@pytest.fixture
def once(engine: Limits) -> Any:
    """A client that does not retry: what DynamoDB answers to one attempt."""
    return boto3.client("dynamodb", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))


def item(pk: str, sk: str, size: int = 0, **extra: Any) -> dict[str, Any]:
    """An item of exactly ``size`` bytes by DynamoDB's formula (when size is given)."""
    base = {"pk": {"S": pk}, "sk": {"S": sk}, **extra}
    if size:
        filler = size - item_size(base) - len("data")
        base["data"] = {"S": "x" * filler}
        assert item_size(base) == size
    return base


def put(pk: str, sk: str, **kw: Any) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": item(pk, sk, **kw)}}


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    return dict(raised.value.response)


def stored(aws: Any, pk: str, sk: str) -> dict[str, Any] | None:
    with dynamodb_limits.enabled(None):
        got = aws.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
    return got.get("Item")


# ------------------------------------------------------------------------------------------------ sizes
def test_item_size_follows_dynamodbs_formula() -> None:
    assert item_size({"name": {"S": "abc"}}) == 4 + 3
    assert item_size({"n": {"N": "123.45"}}) == 1 + 4  # 5 significant digits: 3 bytes + 1
    assert item_size({"b": {"B": "AAE="}}) == 1 + 2  # base64 on the wire, 2 bytes stored
    assert item_size({"flag": {"BOOL": True}, "none": {"NULL": True}}) == 4 + 1 + 4 + 1
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"ss": {"SS": ["a", "bc"]}}) == 2 + 3


def test_items_over_400_kb_are_refused_in_every_write(aws: Any, engine: Limits, once: Any) -> None:
    once.put_item(TableName=TABLE, Item=item("a", "fits", size=FITS))
    assert stored(aws, "a", "fits") is not None
    too_big = item("a", "big", size=400 * KB + 1)
    expected = {"Code": "ValidationException", "Message": "Item size has exceeded the maximum allowed size"}
    assert error_of(lambda: once.put_item(TableName=TABLE, Item=too_big))["Error"] == expected
    refused = error_of(
        lambda: once.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": too_big}}])
    )
    assert refused["Error"] == expected
    batch = {TABLE: [{"PutRequest": {"Item": too_big}}]}
    assert error_of(lambda: once.batch_write_item(RequestItems=batch))["Error"] == expected
    assert stored(aws, "a", "big") is None


def test_counts_per_request_are_dynamodbs(engine: Limits, once: Any) -> None:
    actions = [put("p", f"s{i}") for i in range(101)]
    refused = error_of(lambda: once.transact_write_items(TransactItems=actions))
    assert refused["Error"]["Code"] == "ValidationException"
    assert "Member must have length less than or equal to 100" in refused["Error"]["Message"]
    once.transact_write_items(TransactItems=actions[:100])

    twice = [
        put("p", "same"),
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": item("p", "same"),
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ]
    assert error_of(lambda: once.transact_write_items(TransactItems=twice))["Error"] == {
        "Code": "ValidationException",
        "Message": "Transaction request cannot include multiple operations on one item",
    }

    writes = {TABLE: [{"PutRequest": {"Item": item("b", f"s{i}")}} for i in range(26)]}
    assert error_of(lambda: once.batch_write_item(RequestItems=writes))["Error"] == {
        "Code": "ValidationException",
        "Message": "Too many items requested for the BatchWriteItem call",
    }
    duplicates = {TABLE: [{"PutRequest": {"Item": item("b", "x")}}, {"DeleteRequest": {"Key": item("b", "x")}}]}
    assert error_of(lambda: once.batch_write_item(RequestItems=duplicates))["Error"] == {
        "Code": "ValidationException",
        "Message": "Provided list of item keys contains duplicates",
    }
    keys = {TABLE: {"Keys": [item("c", f"s{i}") for i in range(101)]}}
    assert error_of(lambda: once.batch_get_item(RequestItems=keys))["Error"] == {
        "Code": "ValidationException",
        "Message": "Too many items requested for the BatchGetItem call",
    }


def test_batch_get_answers_at_most_16_mb_the_rest_unprocessed(aws: Any, engine: Limits, once: Any) -> None:
    keys = [item(f"big{i}", "s") for i in range(43)]
    for key in keys:  # one partition key each: 391 WCU apiece would throttle one key
        once.put_item(TableName=TABLE, Item=item(key["pk"]["S"], "s", size=FITS))
    answer = once.batch_get_item(RequestItems={TABLE: {"Keys": keys[:100]}})
    got = answer["Responses"][TABLE]
    unprocessed = answer["UnprocessedKeys"][TABLE]["Keys"]
    assert len(got) == 41  # 41 x 400,000 bytes <= 16 MB (16,777,216 bytes); a 42nd would pass it
    assert len(got) + len(unprocessed) == 43
    assert {k["pk"]["S"] for k in unprocessed}.isdisjoint({i["pk"]["S"] for i in got})


# -------------------------------------------------------------------------------------------- conflicts
def _hold_transaction(engine: Limits, *actions: dict[str, Any]) -> dynamodb_limits.Attempt:
    """A TransactWriteItems that has arrived and not been answered yet (another client's, in flight)."""
    attempt = engine.begin("TransactWriteItems", json.dumps({"TransactItems": list(actions)}).encode())
    assert attempt.answer is None
    return attempt


def test_a_transaction_on_an_item_another_transaction_holds_is_cancelled(aws: Any, engine: Limits, once: Any) -> None:
    in_flight = _hold_transaction(engine, put("buyer", "STATE"))
    refused = error_of(lambda: once.transact_write_items(TransactItems=[put("buyer", "row1"), put("buyer", "STATE")]))
    assert refused["Error"] == {
        "Code": "TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, TransactionConflict]",
    }
    assert refused["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
    ]
    assert stored(aws, "buyer", "row1") is None  # nothing of a cancelled transaction is written
    # a plain write to the held item: TransactionConflictException
    plain = error_of(lambda: once.put_item(TableName=TABLE, Item=item("buyer", "STATE")))
    assert plain["Error"] == {"Code": "TransactionConflictException", "Message": "Transaction is ongoing for the item"}
    # a TransactGetItems of the held item is cancelled too
    get = [{"Get": {"TableName": TABLE, "Key": item("buyer", "STATE")}}]
    assert error_of(lambda: once.transact_get_items(TransactItems=get))["CancellationReasons"] == [
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    ]
    engine.finish(in_flight, 200, b"{}")
    once.transact_write_items(TransactItems=[put("buyer", "row1"), put("buyer", "STATE")])  # free again
    assert engine.stats()["conflicts"] == 3


def test_a_write_during_a_transactional_read_cancels_the_read(engine: Limits, once: Any) -> None:
    once.put_item(TableName=TABLE, Item=item("r", "x"))
    body = json.dumps({"TransactItems": [{"Get": {"TableName": TABLE, "Key": item("r", "x")}}]}).encode()
    reading = engine.begin("TransactGetItems", body)
    assert reading.answer is None
    once.put_item(TableName=TABLE, Item=item("r", "x", v={"S": "new"}))  # the write goes on
    answer = engine.finish(reading, 200, b'{"Responses": [{"Item": {}}]}')
    assert isinstance(answer, dynamodb_limits.Answer)
    assert answer.code == "TransactionCanceledException"
    assert answer.body["CancellationReasons"][0]["Code"] == "TransactionConflict"


def test_concurrent_transactions_on_one_item_from_threads_conflict(aws: Any, clock: FakeClock) -> None:
    limits = Limits(clock=clock, hold_s=0.3)
    limits.learn_tables(aws)
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def write(n: int) -> None:
        client = boto3.client("dynamodb", region_name="us-east-1")
        start.wait()
        try:
            client.transact_write_items(TransactItems=[put("hot", "STATE", n={"N": str(n)}), put("hot", f"row{n}")])
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["CancellationReasons"][0]["Code"])

    with dynamodb_limits.enabled(limits):
        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert outcomes.count("ok") >= 1
    assert outcomes.count("TransactionConflict") >= 1  # held 0.3 s: they overlap
    assert sorted(set(outcomes)) == ["TransactionConflict", "ok"]


# ------------------------------------------------------------------------------------------- throughput
def test_one_partition_key_takes_1000_wcu_a_second(aws: Any, engine: Limits, once: Any, clock: FakeClock) -> None:
    for n in range(100):  # 10 KB each: 10 WCU, 1,000 in the second
        once.put_item(TableName=TABLE, Item=item("hot", f"r{n}", size=10 * KB))
    refused = error_of(lambda: once.put_item(TableName=TABLE, Item=item("hot", "over", size=10 * KB)))
    assert refused["Error"]["Code"] == "ThrottlingException"  # on-demand table
    assert refused["throttlingReasons"] == [
        {
            "reason": "TableWriteKeyRangeThroughputExceeded",
            "resource": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}",
        }
    ]
    once.put_item(TableName=TABLE, Item=item("cold", "r", size=10 * KB))  # another partition key is not hot
    clock.now += 1.0
    once.put_item(TableName=TABLE, Item=item("hot", "over", size=10 * KB))  # the next second
    stats = engine.stats()
    assert stats["peak_wcu_per_s"] == 1000.0
    assert stats["hottest_writes"][0]["partition_key"] == {"S": "hot"}
    assert stats["hottest_writes"][0]["throttled"] == 1
    assert stats["write_units"] == 1020.0


def test_a_provisioned_table_throttles_with_provisioned_throughput_exceeded(engine: Limits, once: Any) -> None:
    for n in range(3):
        once.put_item(TableName=PROVISIONED, Item=item("hot", f"r{n}", size=FITS))
    refused = error_of(lambda: once.put_item(TableName=PROVISIONED, Item=item("hot", "x")))
    assert refused["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert refused["ThrottlingReasons"][0]["reason"] == "TableWriteKeyRangeThroughputExceeded"


def test_transactions_count_twice_and_are_cancelled_when_throttled(engine: Limits, once: Any) -> None:
    for n in range(50):  # 10 KB in a transaction: 20 WCU
        once.transact_write_items(TransactItems=[put("hot", f"r{n}", size=10 * KB)])
    refused = error_of(lambda: once.transact_write_items(TransactItems=[put("cold", "a"), put("hot", "b")]))
    assert refused["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in refused["CancellationReasons"]] == ["None", "ThrottlingError"]


def test_a_batch_write_returns_throttled_requests_unprocessed(aws: Any, engine: Limits, once: Any) -> None:
    for n in range(99):
        once.put_item(TableName=TABLE, Item=item("hot", f"r{n}", size=10 * KB))
    requests = [{"PutRequest": {"Item": item("hot", f"b{n}", size=10 * KB)}} for n in range(3)]
    requests += [{"PutRequest": {"Item": item("cold", f"b{n}")}} for n in range(2)]
    answer = once.batch_write_item(RequestItems={TABLE: requests})
    unprocessed = answer["UnprocessedItems"][TABLE]
    assert [r["PutRequest"]["Item"]["sk"]["S"] for r in unprocessed] == ["b1", "b2"]  # b0 fit the second
    assert stored(aws, "hot", "b0") is not None and stored(aws, "cold", "b1") is not None
    assert stored(aws, "hot", "b1") is None
    # all of a batch throttled: the call itself fails
    refused = error_of(lambda: once.batch_write_item(RequestItems={TABLE: requests[1:3]}))
    assert refused["Error"]["Code"] == "ThrottlingException"


def test_reads_are_charged_by_size_and_consistency(aws: Any, engine: Limits, once: Any) -> None:
    once.put_item(TableName=TABLE, Item=item("r", "a", size=5 * KB))
    once.put_item(TableName=TABLE, Item=item("r", "b", size=5 * KB))
    engine.reset()
    once.get_item(TableName=TABLE, Key=item("r", "a"))  # 2 x 4 KB, eventually consistent: 1 RCU
    once.get_item(TableName=TABLE, Key=item("r", "a"), ConsistentRead=True)  # 2 RCU
    once.query(  # 10 KB returned: 3 RCU strongly consistent
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "r"}},
        ConsistentRead=True,
    )
    stats = engine.stats()
    assert stats["read_units"] == 6.0
    assert stats["hottest_reads"][0]["partition_key"] == {"S": "r"}


def test_time_scale_stretches_the_second(aws: Any, clock: FakeClock) -> None:
    limits = Limits(clock=clock, time_scale=10.0)  # ten emulated seconds per real second
    limits.learn_tables(aws)
    client = boto3.client("dynamodb", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
    with dynamodb_limits.enabled(limits):
        for n in range(100):
            client.put_item(TableName=TABLE, Item=item("hot", f"r{n}", size=10 * KB))
        clock.now += 0.1  # one emulated second later
        client.put_item(TableName=TABLE, Item=item("hot", "next", size=10 * KB))


# ------------------------------------------------------------------------------------------------ faults
def test_transient_faults_are_absorbed_by_botocores_retries(aws: Any, clock: FakeClock) -> None:
    limits = Limits(clock=clock, fault_rate=0.3, seed=7)
    limits.learn_tables(aws)
    with dynamodb_limits.enabled(limits):
        client = boto3.client(
            "dynamodb", region_name="us-east-1", config=Config(retries={"total_max_attempts": 10, "mode": "standard"})
        )
        for n in range(40):
            client.put_item(TableName=TABLE, Item=item("f", f"r{n}"))
    assert limits.stats()["faults"] >= 5
    assert all(stored(aws, "f", f"r{n}") is not None for n in range(40))


def test_faults_are_reproducible_from_the_seed(aws: Any) -> None:
    def pattern(seed: str) -> list[str | None]:
        limits = Limits(fault_rate=0.5, seed=seed)
        out = []
        for _ in range(30):
            attempt = limits.begin("DescribeLimits", b"{}")  # not data plane: never judged
            assert attempt.answer is None
            fault = limits._draw_fault("GetItem")
            out.append(fault.code if fault is not None else None)
        return out

    assert pattern("a") == pattern("a")
    assert pattern("a") != pattern("b")


def test_a_transaction_whose_answer_was_lost_is_not_applied_twice(aws: Any, engine: Limits) -> None:
    """botocore retries with the same ClientRequestToken; DynamoDB answers the first success again."""
    client = boto3.client(
        "dynamodb", region_name="us-east-1", config=Config(retries={"total_max_attempts": 3, "mode": "standard"})
    )
    engine.inject("LostAnswer", "TransactWriteItems")
    first_only = {
        "Put": {"TableName": TABLE, "Item": item("once", "x"), "ConditionExpression": "attribute_not_exists(pk)"}
    }
    answer = client.transact_write_items(TransactItems=[first_only])
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert stored(aws, "once", "x") is not None
    stats = engine.stats()
    assert (stats["lost_answers"], stats["idempotent_replays"]) == (1, 1)
    # the same token with another request: IdempotentParameterMismatchException
    token = "token-0123456789abcdef0123456789ab"
    client.transact_write_items(TransactItems=[put("t", "1")], ClientRequestToken=token)
    mismatch = error_of(lambda: client.transact_write_items(TransactItems=[put("t", "2")], ClientRequestToken=token))
    assert mismatch["Error"]["Code"] == "IdempotentParameterMismatchException"


def test_without_a_retry_a_lost_answer_is_an_internal_server_error(aws: Any, engine: Limits, once: Any) -> None:
    engine.inject("LostAnswer", "PutItem")
    refused = error_of(lambda: once.put_item(TableName=TABLE, Item=item("lost", "x")))
    assert refused["Error"]["Code"] == "InternalServerError"
    assert stored(aws, "lost", "x") is not None  # it was written all the same


def test_a_conditional_write_whose_answer_was_lost_fails_its_condition_when_retried(aws: Any, engine: Limits) -> None:
    """A single-item write has no token: DynamoDB checks the retry's condition against the committed write."""
    client = boto3.client(
        "dynamodb", region_name="us-east-1", config=Config(retries={"total_max_attempts": 3, "mode": "standard"})
    )
    engine.inject("LostAnswer", "PutItem", where="aimed")
    client.put_item(TableName=TABLE, Item=item("other", "x"))  # not the aimed request: answered
    assert engine.pending_injections() == 1
    refused = error_of(
        lambda: client.put_item(
            TableName=TABLE, Item=item("aimed", "x"), ConditionExpression="attribute_not_exists(pk)"
        )
    )
    assert refused["Error"]["Code"] == "ConditionalCheckFailedException"
    assert stored(aws, "aimed", "x") is not None and engine.stats()["lost_answers"] == 1


def test_random_faults_lose_the_answers_of_conditional_writes_not_of_plain_ones(engine: Limits, once: Any) -> None:
    engine.fault_rate = 1.0  # every attempt meets a fault: a 500 after the write, half of its 500s
    for n in range(60):
        error_of(lambda n=n: once.put_item(TableName=TABLE, Item=item(f"plain{n}", "x")))
    assert engine.stats()["lost_answers"] == 0
    new_only = "attribute_not_exists(pk)"
    for n in range(60):
        error_of(lambda n=n: once.put_item(TableName=TABLE, Item=item(f"cond{n}", "x"), ConditionExpression=new_only))
    assert 5 <= engine.stats()["lost_answers"] <= 20  # ~1/3 of the faults are 500s, half of those lost


class _Row(Model):
    class Meta:
        table_name = TABLE
        region = "us-east-1"
        max_retry_attempts = MAX_RETRY_ATTEMPTS

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    value = UnicodeAttribute(null=True)
    n = NumberAttribute(null=True)


def test_the_dals_writes_recognise_their_own_commit_after_a_lost_answer(aws: Any, engine: Limits) -> None:
    # a conditional put: the retry's condition fails, the item read back is this call's
    engine.inject("LostAnswer", "PutItem")
    assert save_once(_Row("p", "1", value="mine"), _Row.pk.does_not_exist())
    assert not save_once(_Row("p", "1", value="another"), _Row.pk.does_not_exist())  # a real conflict still is
    # a conditional update: the retry's condition fails, the item shows this call's change
    engine.inject("LostAnswer", "UpdateItem")
    row = _Row("p", "1")
    assert update_once(row, [_Row.value.set("moved")], _Row.value == "mine", lambda got: got.value == "moved")
    assert not update_once(row, [_Row.value.set("x")], _Row.value == "mine", lambda got: got.value == "x")
    # a transaction retried after all of its answers were lost (a redelivered job): the same token, written once
    for _ in range(MAX_RETRY_ATTEMPTS + 1):
        engine.inject("LostAnswer", "TransactWriteItems")
    conn = connection("us-east-1")

    def count_once() -> None:
        with IdempotentTransactWrite("count:p", connection=conn) as tx:
            tx.save(_Row("p", "2", value="created"), condition=_Row.pk.does_not_exist())
            tx.update(_Row("p", "3"), actions=[_Row.n.add(1)])

    with pytest.raises(TransactWriteError):
        count_once()  # every attempt committed once and lost its answer
    count_once()  # the next call: the first success again
    assert _Row.get("p", "3", consistent_read=True).n == 1
    assert request_token("count:p", [1]) == request_token("count:p", [1]) != request_token("count:q", [1])


def test_the_dal_retries_dynamodb_calls_as_the_aws_sdks_do() -> None:
    for client in (connection("us-east-1").client, aws_client("dynamodb", "us-east-1")):
        assert client.meta.config.retries == {"total_max_attempts": MAX_RETRY_ATTEMPTS + 1, "mode": "standard"}


def test_from_env_reads_the_switch() -> None:
    assert Limits.from_env({}) is None
    assert Limits.from_env({"AUDIENS_DYNAMODB_LIMITS": "off"}) is None
    engine = Limits.from_env({"AUDIENS_DYNAMODB_LIMITS": "real", "AUDIENS_FAULT_RATE": "0.05"})
    assert engine is not None and engine.fault_rate == 0.05
    with pytest.raises(ValueError):
        Limits.from_env({"AUDIENS_DYNAMODB_LIMITS": "maybe"})
