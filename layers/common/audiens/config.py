"""Settings: the only reader of ``os.environ``.

Each Lambda function has its own settings model (``AuthorizerSettings``, ``ApiSettings``, …) listing exactly
the variables its template entry gives it, as required fields; the models are composed from the groups
below (one group per resource or tunable), so a service's needs are declared once. A handler names its
model with :func:`configured`: the environment is validated at the handler's first invocation, and a
missing variable fails it loudly with the variable's name (:class:`ConfigurationError`), never as a
``None`` deep inside a DynamoDB call. The composition root (``audiens.wiring``) builds the services from
the invoked function's typed settings (:func:`current`); ``tests/functional/test_template.py`` checks every
model against the function's template environment.

Only genuinely optional tunables have defaults (``SKETCH_WRITE_MODE``, ``ISSUER_DETAILS``); ``AWS_REGION``
is set by the Lambda runtime itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, wraps
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

__all__ = [
    "ApiSettings",
    "AuthorizerSettings",
    "BillingDocumentsSettings",
    "ChannelPushSettings",
    "CloseReportingWindowSettings",
    "ConfigurationError",
    "DailyMaintenanceSettings",
    "DailySegmentsSettings",
    "EmailWorkerSettings",
    "EventIngestSettings",
    "InvoiceWorkerSettings",
    "PayoutWorkerSettings",
    "PixelIngestSettings",
    "Settings",
    "UsageIngestSettings",
    "UsageRemindersSettings",
    "activated",
    "configured",
    "current",
    "load",
]


class ConfigurationError(RuntimeError):
    """A variable the template should have set is missing: a deployment bug, never the user's."""


class Settings(BaseModel):
    """What every function has: its stage (template Globals) and region (the Lambda runtime)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = Field(alias="STAGE")
    region: str = Field(alias="AWS_REGION")


# ---------------------------------------------------------------------------------- groups, one per need
class AccountsTable(Settings):
    accounts_table: str = Field(alias="ACCOUNTS_TABLE")


class OperatorKey(Settings):
    operator_key_hash: str = Field(alias="OPERATOR_KEY_HASH")


class EmailQueue(Settings):
    email_queue_url: str = Field(alias="EMAIL_QUEUE_URL")


class EmailSending(Settings):
    """SES: the sender and the configuration set (bounce and complaint events)."""

    sender_email: str = Field(alias="SENDER_EMAIL")
    ses_configuration_set: str = Field(alias="SES_CONFIGURATION_SET")


class PublicUrl(Settings):
    public_base_url: str = Field(alias="PUBLIC_BASE_URL")


class IdempotencyTable(Settings):
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")


class OnboardingTable(Settings):
    onboarding_table: str = Field(alias="ONBOARDING_TABLE")
    # "items": one conditional PutItem per changed sketch (1x write units); "transaction": a whole batch in
    # one TransactWriteItems when it fits (one round trip, 2x write units). docs/onboarding.md compares them.
    sketch_write_mode: Literal["items", "transaction"] = Field(default="items", alias="SKETCH_WRITE_MODE")


class SourceBucket(Settings):
    source_bucket: str = Field(alias="SOURCE_BUCKET")


class MarketplaceTable(Settings):
    marketplace_table: str = Field(alias="MARKETPLACE_TABLE")


class PushQueue(Settings):
    channel_push_queue_url: str = Field(alias="CHANNEL_PUSH_QUEUE_URL")


class PushRetries(Settings):
    """The push queue's maxReceiveCount: the last delivery is recorded ``dead_lettered``."""

    channel_push_max_receives: int = Field(alias="CHANNEL_PUSH_MAX_RECEIVES")


class PlatformAccount(Settings):
    """s3_export destinations never target the platform's own AWS account (or its buckets)."""

    platform_account_id: str = Field(alias="PLATFORM_ACCOUNT_ID")


class UsageTable(Settings):
    usage_table: str = Field(alias="USAGE_TABLE")


class UsageBucket(Settings):
    usage_bucket: str = Field(alias="USAGE_BUCKET")


class ReportingWindow(Settings):
    reporting_due_day: int = Field(alias="REPORTING_DUE_DAY")


class BillingTable(Settings):
    billing_table: str = Field(alias="BILLING_TABLE")


class BillingCurrency(Settings):
    billing_currency: str = Field(alias="BILLING_CURRENCY")


class InvoiceJobsQueue(Settings):
    invoice_jobs_queue_url: str = Field(alias="INVOICE_JOBS_QUEUE_URL")


class PayoutJobsQueue(Settings):
    payout_jobs_queue_url: str = Field(alias="PAYOUT_JOBS_QUEUE_URL")


class BillingJobRetries(Settings):
    """The billing job queues' maxReceiveCount: the last delivery is recorded on the run before it runs."""

    billing_job_max_receives: int = Field(alias="BILLING_JOB_MAX_RECEIVES")


class DocumentJobsQueue(Settings):
    document_jobs_queue_url: str = Field(alias="DOCUMENT_JOBS_QUEUE_URL")


class DocumentsBucket(Settings):
    documents_bucket: str = Field(alias="DOCUMENTS_BUCKET")


class Issuer(Settings):
    issuer_name: str = Field(alias="ISSUER_NAME")
    issuer_details: str = Field(default="", alias="ISSUER_DETAILS")  # lines separated by " | "


class DailyPagesQueue(Settings):
    daily_segments_queue_url: str = Field(alias="DAILY_SEGMENTS_QUEUE_URL")


class PixelQueue(Settings):
    """The pixel route queues its hits; PixelIngestFunction counts them."""

    pixel_queue_url: str = Field(alias="PIXEL_QUEUE_URL")


# ------------------------------------------------------ what a service needs (``audiens.wiring`` checks it)
class MarketplaceReads(MarketplaceTable, AccountsTable):
    """The marketplace's catalog, channels and the accounts they name."""


class Marketplace(MarketplaceReads, OnboardingTable):
    """The marketplace service: its catalog and the feeds' traits."""


class Channels(MarketplaceTable, OnboardingTable, PushQueue):
    """The channel service: destinations and mappings, the segments they push, the push queue."""


class Ingest(OnboardingTable, SourceBucket):
    """Source file ingestion."""


class UsageReporting(UsageTable, UsageBucket, MarketplaceReads, ReportingWindow):
    """Usage files: their records, the bucket, what a buyer may report and the reporting window."""


class BillingRun(BillingTable, UsageTable, Marketplace, BillingCurrency):
    """What computing a run's invoices and payouts reads."""


# ------------------------------------------------------------------------- one model per Lambda function
class AuthorizerSettings(AccountsTable, OperatorKey):
    """AuthorizerFunction."""


class ApiSettings(
    IdempotencyTable,
    EmailQueue,
    PublicUrl,
    Ingest,
    PixelQueue,
    Channels,
    UsageReporting,
    BillingRun,
    InvoiceJobsQueue,
    PayoutJobsQueue,
    PlatformAccount,
    DocumentsBucket,
    DocumentJobsQueue,
    Issuer,
):
    """ApiFunction."""


class EmailWorkerSettings(AccountsTable, EmailSending):
    """EmailWorkerFunction."""


class DailyMaintenanceSettings(AccountsTable, OnboardingTable, DailyPagesQueue):
    """DailyMaintenanceFunction."""


class DailySegmentsSettings(Marketplace, Channels):
    """DailySegmentsFunction."""


class EventIngestSettings(Ingest):
    """EventIngestFunction."""


class PixelIngestSettings(OnboardingTable):
    """PixelIngestFunction."""


class UsageIngestSettings(UsageReporting, EmailQueue, PublicUrl):
    """UsageIngestFunction."""


class ChannelPushSettings(Channels, PushRetries, PlatformAccount):
    """ChannelPushFunction."""


class CloseReportingWindowSettings(BillingRun, InvoiceJobsQueue, PayoutJobsQueue, ReportingWindow, DocumentJobsQueue):
    """CloseReportingWindowFunction."""


class InvoiceWorkerSettings(BillingRun, PayoutJobsQueue, DocumentJobsQueue, BillingJobRetries):
    """InvoiceWorkerFunction."""


class PayoutWorkerSettings(BillingRun, DocumentJobsQueue, BillingJobRetries):
    """PayoutWorkerFunction."""


class UsageRemindersSettings(BillingTable, UsageTable, MarketplaceReads, EmailQueue, PublicUrl, ReportingWindow):
    """UsageRemindersFunction (the billing documents' service, without documents)."""


class BillingDocumentsSettings(UsageRemindersSettings, DocumentsBucket, BillingCurrency, Issuer):
    """BillingDocumentsFunction."""


# ------------------------------------------------------------------------------------------ loading
@cache
def load[S: Settings](model: type[S]) -> S:
    """``model`` validated against the environment; a missing or invalid variable raises ConfigurationError
    naming it. Cached: a function's environment does not change while it runs."""
    env = dict(os.environ)
    env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1"))
    try:
        return model.model_validate(env)
    except PydanticValidationError as error:
        missing = sorted(str(e["loc"][0]) for e in error.errors() if e["type"] == "missing")
        invalid = sorted(str(e["loc"][0]) for e in error.errors() if e["type"] != "missing")
        problems = [f"environment variable {name} is not set" for name in missing]
        problems += [f"environment variable {name} is invalid" for name in invalid]
        raise ConfigurationError(f"{model.__name__}: {'; '.join(problems)} for this function") from None


_active: list[Settings] = []  # the invoked function's settings (a stack: a test may nest invocations)


def current() -> Settings:
    """The settings of the function being invoked (set by :func:`configured` at its handler's entry)."""
    if not _active:
        raise ConfigurationError("no function settings: the handler is not wrapped in configured(...)")
    return _active[-1]


@contextmanager
def activated(settings: Settings) -> Iterator[Settings]:
    """Run with ``settings`` as the function's settings (what :func:`configured` does at each invocation)."""
    _active.append(settings)
    try:
        yield settings
    finally:
        _active.pop()


def configured[**P, R](model: type[Settings]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The handler's settings model: validated at its first invocation (raising before any work is done) and
    current while it runs. ``handler.settings_model`` names it (the template check reads it)."""

    def decorate(handler: Callable[P, R]) -> Callable[P, R]:
        @wraps(handler)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with activated(load(model)):
                return handler(*args, **kwargs)

        run.settings_model = model  # type: ignore[attr-defined]
        return run

    return decorate


def settings_model(handler: Any) -> type[Settings] | None:
    """The settings model a handler was ``configured`` with, if any."""
    model = getattr(handler, "settings_model", None)
    return model if isinstance(model, type) and issubclass(model, Settings) else None
