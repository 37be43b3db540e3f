"""Why the test and benchmark speed-ups and the SQS send report of local_runtime/moto_patches.py exist, and that
moto answers the same.

(The memory fixes are covered by test_local_runtime_memory.py, the runtime's response and index-query
speed-ups by test_local_runtime.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_runtime import moto_patches

ITEMS = 300


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(ITEMS):
            client.put_item(TableName="t", Item={"pk": {"S": f"p{i % 10}"}, "sk": {"S": f"s{i:04d}"}})
        yield client


def _query(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.query(
        TableName="t",
        KeyConditionExpression="pk = :p AND sk > :s",
        ExpressionAttributeValues={":p": {"S": "p3"}, ":s": {"S": "s0100"}},
    )["Items"]
    return items


def test_moto_reads_every_item_of_the_table_for_one_partition_and_the_patch_reads_the_partition(table: Any) -> None:
    from moto.dynamodb.models.table import Table

    seen: list[int] = []
    original = Table.all_items

    def counting(self: Any) -> Any:
        items = list(original(self))
        seen.append(len(items))
        return items

    Table.all_items = counting  # type: ignore[method-assign]
    try:
        # Given moto as released: a query of one partition walks the whole table
        expected = _query(table)
        assert seen == [ITEMS]
        # When base-table queries read their partition
        undo = moto_patches.partition_queries()
        try:
            answer = _query(table)
        finally:
            undo()
    finally:
        Table.all_items = original  # type: ignore[method-assign]
    # Then the answer is moto's own, and no walk of the whole table happened
    assert answer == expected and len(answer) == 20
    assert seen == [ITEMS]


def test_the_plain_sqs_clock_gives_moto_the_same_epoch_time() -> None:
    from moto.sqs import models as sqs_models

    undo = moto_patches.plain_sqs_clock()
    try:
        before = time.time()
        now, millis = sqs_models.unix_time(), sqs_models.unix_time_millis()
        assert before <= now <= time.time() and before * 1000 <= millis <= time.time() * 1000
    finally:
        undo()


def test_with_fast_moto_a_failing_transaction_still_writes_nothing(table: Any) -> None:
    with moto_patches.fast_moto():
        # Given a transaction whose second action's condition fails
        with pytest.raises(table.exceptions.TransactionCanceledException):
            table.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": "x"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "p0"}, "sk": {"S": "s0000"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        # Then moto's own transaction code refused it whole
        assert "Item" not in table.get_item(TableName="t", Key={"pk": {"S": "new"}, "sk": {"S": "x"}})


def test_moto_stamps_sqs_messages_with_the_wall_clock_and_the_patch_reports_every_send() -> None:
    from moto.sqs.models import sqs_backends

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sent: list[str] = []
        undo = moto_patches.report_sqs_sends(sqs_backends["123456789012"]["us-east-1"], sent.append)
        try:
            before = time.time()
            one = sqs.send_message(QueueUrl=url, MessageBody="a")["MessageId"]
            entries = [{"Id": "1", "MessageBody": "b"}, {"Id": "2", "MessageBody": "c"}]
            batch = [e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]]
            after = time.time()
        finally:
            undo()
        sqs.send_message(QueueUrl=url, MessageBody="d")  # undone: no longer reported
        assert sent == [one, *batch]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["SentTimestamp"])
        stamps = [int(m["Attributes"]["SentTimestamp"]) for m in messages["Messages"]]
        # moto's SentTimestamp is the wall clock's, whatever clock the local runtime keeps: hence the patch.
        assert len(stamps) == 4
        assert all(int(before * 1000) - 1 <= stamp <= int(after * 1000) + 1000 for stamp in stamps)
