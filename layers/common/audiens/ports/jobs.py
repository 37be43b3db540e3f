"""The SQS job messages: one model per queue, written by the DAL's senders and read by the trigger adapters.

Messages carry ids, never payloads. Unknown fields are ignored (a newer sender may add one); a missing or
mistyped field is a poison message that fails validation, is retried and then dead-lettered.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from audiens.domain.periods import Period

__all__ = ["EmailJob", "InvoiceJob", "JobMessage", "PayoutJob", "PushJob"]

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
