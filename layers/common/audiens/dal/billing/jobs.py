"""The billing job queues (SQS): one message per buyer or provider, ids only."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Final

from audiens.dal.aws import client
from audiens.domain.periods import Period
from audiens.observability import logger
from audiens.ports.jobs import InvoiceJob, PayoutJob


class SqsBillingJobs:
    """Both job queues; SendMessageBatch of 10 (the SQS maximum), ids only in the body."""

    BATCH: Final = 10
    _RETRIES: Final = 3

    def __init__(self, invoice_queue_url: str | None, payout_queue_url: str | None, region: str) -> None:
        self._invoice_queue_url = invoice_queue_url
        self._payout_queue_url = payout_queue_url
        self._region = region

    @cached_property
    def _client(self) -> Any:
        return client("sqs", self._region)

    def send_invoice_jobs(self, run_id: str, period: Period, buyer_ids: Sequence[str]) -> int:
        if not self._invoice_queue_url:
            raise RuntimeError("INVOICE_JOBS_QUEUE_URL is not set for this function")
        bodies = [InvoiceJob(run_id=run_id, period=period, buyer_id=buyer).body() for buyer in buyer_ids]
        return self._send(self._invoice_queue_url, bodies)

    def send_payout_jobs(self, run_id: str, period: Period, provider_ids: Sequence[str]) -> int:
        if not self._payout_queue_url:
            raise RuntimeError("PAYOUT_JOBS_QUEUE_URL is not set for this function")
        bodies = [PayoutJob(run_id=run_id, period=period, provider_id=provider).body() for provider in provider_ids]
        return self._send(self._payout_queue_url, bodies)

    def _send(self, queue_url: str, bodies: Sequence[str]) -> int:
        calls = 0
        for start in range(0, len(bodies), self.BATCH):
            entries = [
                {"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies[start : start + self.BATCH])
            ]
            for attempt in range(self._RETRIES):
                calls += 1
                response = self._client.send_message_batch(QueueUrl=queue_url, Entries=entries)
                failed = {f["Id"] for f in response.get("Failed", [])}
                if not failed:
                    break
                entries = [entry for entry in entries if entry["Id"] in failed]
                logger.warning("SendMessageBatch partly failed; retrying", extra={"failed": len(failed)})
                if attempt == self._RETRIES - 1:
                    raise RuntimeError(f"{len(failed)} billing jobs could not be enqueued")
        return calls


__all__ = ["SqsBillingJobs"]
