"""Thin boto3 adapters for SQS, SES and API Gateway.

Clients are created lazily, never at import; boto3 itself is imported on first use (it and s3transfer
cost ~45 ms of every cold start, and most invocations of most functions never need them).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from audiens.observability import logger
from audiens.ports.jobs import EmailJob, JobMessage


def client(service: str, region: str, **credentials: str) -> Any:
    """A boto3 client; S3 ones always sign with SigV4 (buckets created since June 2020 refuse SigV2 URLs),
    DynamoDB ones retry as the PynamoDB connections do (``dal/base.py``: 9 retries, not botocore's 2)."""
    import boto3
    from botocore.config import Config

    from audiens.dal.base import MAX_RETRY_ATTEMPTS

    config = None
    if service == "s3":
        config = Config(signature_version="s3v4")
    elif service == "dynamodb":
        config = Config(retries={"total_max_attempts": MAX_RETRY_ATTEMPTS + 1, "mode": "standard"})
    return boto3.client(service, region_name=region, config=config, **credentials)


class SqsEmailQueue:
    def __init__(self, queue_url: str, region: str) -> None:
        self._queue_url = queue_url
        self._region = region

    @cached_property
    def _client(self) -> Any:
        return client("sqs", self._region)

    def enqueue(self, email_id: str) -> None:
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=EmailJob(email_id=email_id).body())


class SqsJobQueue:
    """One queue of job messages (the daily job's pages): SendMessageBatch of 10, failed entries resent."""

    BATCH = 10
    RETRIES = 3

    def __init__(self, queue_url: str, region: str) -> None:
        self._queue_url = queue_url
        self._region = region

    @cached_property
    def _client(self) -> Any:
        return client("sqs", self._region)

    def send(self, jobs: list[JobMessage]) -> int:
        """Send the jobs; the number of SendMessageBatch calls. Raises if some could not be sent."""
        calls = 0
        for start in range(0, len(jobs), self.BATCH):
            entries = [
                {"Id": str(i), "MessageBody": job.body()} for i, job in enumerate(jobs[start : start + self.BATCH])
            ]
            for _ in range(self.RETRIES):
                calls += 1
                failed = {
                    f["Id"]
                    for f in self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries).get(
                        "Failed", []
                    )
                }
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise RuntimeError(f"{len(entries)} messages could not be sent to {self._queue_url}")
        return calls


class SesEmailSender:
    """Sends through the stage's SES configuration set, which suppresses bounced and complaining addresses."""

    def __init__(self, region: str, configuration_set: str | None = None) -> None:
        self._region = region
        self._configuration_set = configuration_set

    @cached_property
    def _client(self) -> Any:
        return client("ses", self._region)

    def send(self, *, sender: str, to: str, subject: str, body: str) -> str:
        response = self._client.send_email(
            Source=sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
            },
            **({"ConfigurationSetName": self._configuration_set} if self._configuration_set else {}),
        )
        return str(response["MessageId"])


class ApiGatewayAuthorizerCache:
    """Flushes the stage's authorizer cache so a revoked key stops working at once, not after the TTL."""

    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _client(self) -> Any:
        return client("apigateway", self._region)

    def flush(self, api_id: str, stage: str) -> None:
        """Best effort: the revocation is already stored; if the flush fails the cache TTL still bounds it."""
        try:
            self._client.flush_stage_authorizers_cache(restApiId=api_id, stageName=stage)
        except (BotoCoreError, ClientError) as error:
            logger.warning("authorizer cache flush failed", extra={"error": str(error), "api_id": api_id})
