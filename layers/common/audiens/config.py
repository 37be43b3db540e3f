"""Settings: the only reader of ``os.environ``.

Each function gets exactly the variables the template gives it, so every field is optional here and
the service that needs one asks for it through ``require`` - a missing variable then fails loudly at
the handler's entry with the variable's name, not as a ``None`` deep inside a DynamoDB call.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ConfigurationError(RuntimeError):
    """A variable the template should have set is missing: a deployment bug, never the user's."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = Field(default="dev", alias="STAGE")
    region: str = Field(default="us-east-1", alias="AWS_REGION")
    accounts_table: str | None = Field(default=None, alias="ACCOUNTS_TABLE")
    idempotency_table: str | None = Field(default=None, alias="IDEMPOTENCY_TABLE")
    usage_table: str | None = Field(default=None, alias="USAGE_TABLE")
    email_queue_url: str | None = Field(default=None, alias="EMAIL_QUEUE_URL")
    operator_key_hash: str | None = Field(default=None, alias="OPERATOR_KEY_HASH")
    sender_email: str = Field(default="no-reply@audiens.example", alias="SENDER_EMAIL")
    public_base_url: str = Field(default="https://console.audiens.example", alias="PUBLIC_BASE_URL")
    onboarding_table: str | None = Field(default=None, alias="ONBOARDING_TABLE")
    source_bucket: str | None = Field(default=None, alias="SOURCE_BUCKET")
    # "items": one conditional PutItem per changed sketch (1x write units); "transaction": a whole batch in
    # one TransactWriteItems when it fits (one round trip, 2x write units). docs/onboarding.md compares them.
    sketch_write_mode: Literal["items", "transaction"] = Field(default="items", alias="SKETCH_WRITE_MODE")
    marketplace_table: str | None = Field(default=None, alias="MARKETPLACE_TABLE")
    channel_push_queue_url: str | None = Field(default=None, alias="CHANNEL_PUSH_QUEUE_URL")
    channel_push_max_receives: int = Field(default=4, alias="CHANNEL_PUSH_MAX_RECEIVES")
    # billing (issue 5): the monthly close
    billing_table: str | None = Field(default=None, alias="BILLING_TABLE")
    invoice_jobs_queue_url: str | None = Field(default=None, alias="INVOICE_JOBS_QUEUE_URL")
    payout_jobs_queue_url: str | None = Field(default=None, alias="PAYOUT_JOBS_QUEUE_URL")
    billing_currency: str = Field(default="USD", alias="BILLING_CURRENCY")
    billing_job_max_receives: int = Field(default=5, alias="BILLING_JOB_MAX_RECEIVES")
    # usage reporting (issue 4 part B)
    usage_bucket: str | None = Field(default=None, alias="USAGE_BUCKET")
    reporting_due_day: int = Field(default=5, alias="REPORTING_DUE_DAY")
    # s3_export destinations never target the platform's own AWS account (or its buckets)
    platform_account_id: str | None = Field(default=None, alias="PLATFORM_ACCOUNT_ID")
    ses_configuration_set: str | None = Field(default=None, alias="SES_CONFIGURATION_SET")
    # the daily job: pages of segment ids for DailySegmentsFunction
    daily_segments_queue_url: str | None = Field(default=None, alias="DAILY_SEGMENTS_QUEUE_URL")
    pixel_queue_url: str | None = Field(default=None, alias="PIXEL_QUEUE_URL")
    # billing documents and messages (issue 14)
    documents_bucket: str | None = Field(default=None, alias="DOCUMENTS_BUCKET")
    document_jobs_queue_url: str | None = Field(default=None, alias="DOCUMENT_JOBS_QUEUE_URL")
    issuer_name: str = Field(default="Audiens Marketplace", alias="ISSUER_NAME")
    issuer_details: str = Field(default="", alias="ISSUER_DETAILS")  # lines separated by " | "

    def require(self, field: str) -> str:
        value = getattr(self, field)
        if not value:
            alias = type(self).model_fields[field].alias
            raise ConfigurationError(f"environment variable {alias} is not set for this function")
        return str(value)


@cache
def get_settings() -> Settings:
    env = dict(os.environ)
    env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1"))
    return Settings.model_validate(env)
