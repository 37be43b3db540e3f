"""The SQS job messages: one model per queue, written by the DAL's senders and read by the trigger adapters.

Messages carry ids, never payloads (but a pixel hit: it exists nowhere else). Unknown fields are ignored (a
newer sender may add one); a missing or mistyped field is a poison message that fails validation, is retried
and then dead-lettered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from audiens.domain.periods import Period

__all__ = [
    "DailyPageJob",
    "DocumentJob",
    "EmailJob",
    "InvoiceJob",
    "JobMessage",
    "JobQueue",
    "PayoutJob",
    "PixelHitJob",
    "PushJob",
]

PeriodField = Annotated[
    Period, BeforeValidator(lambda v: v if isinstance(v, Period) else Period.parse(v)), PlainSerializer(str)
]


class JobMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    def body(self) -> str:
        """The message body: compact JSON."""
        return self.model_dump_json()


class InvoiceJob(JobMessage):
    """InvoiceJobs queue: one buyer's invoice of a run."""

    run_id: str
    period: PeriodField
    buyer_id: str


class PayoutJob(JobMessage):
    """PayoutJobs queue: one provider's payout of a run."""

    run_id: str
    period: PeriodField
    provider_id: str


class PushJob(JobMessage):
    """ChannelPush queue: one version of one segment mapping to push."""

    mapping_id: str
    version: int


class EmailJob(JobMessage):
    """Email queue: one stored outgoing email to send."""

    email_id: str


class DailyPageJob(JobMessage):
    """DailySegments queue: one page of the daily job, at the schedule's time."""

    time: datetime
    segment_ids: list[str]


class JobQueue(Protocol):
    """A queue of job messages (SendMessageBatch of 10); ``send`` returns the calls it made."""

    def send(self, jobs: list[JobMessage]) -> int: ...


class DocumentJob(JobMessage):
    """DocumentJobs queue: one issued document (invoice, payout, credit note) to number, print and email."""

    kind: Literal["invoice", "payout", "credit_note"]
    id: str
    period: PeriodField
    number: str | None = None  # an invoice's number, fixed by the issue step


class PixelHitJob(JobMessage):
    """PixelHits queue: one pixel hit of a live pixel source, as the request brought it (its query
    parameters, the token excepted) at the request's time; ``request_id`` names it (its marker)."""

    source_id: str
    request_id: str
    received_at: datetime
    params: dict[str, str]
