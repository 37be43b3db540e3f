"""Composition root: the one place that turns Settings into real adapters and services.

Handlers call these factories at entry (never at import), and tests pass their own services instead.
Each factory imports what it builds, so a function loads only the modules it uses: the authorizer
never pays for datasketches/numpy, the email worker never for the billing engine (cold starts,
bench/bench_cold_start.py).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from audiens.config import Settings, get_settings
from audiens.dal.base import bind_tables

if TYPE_CHECKING:
    from audiens.dal.channels import SqsPushQueue
    from audiens.dal.onboarding import DynamoOnboardingRepository
    from audiens.dal.usage import DynamoUsageRepository
    from audiens.ports.billing import BillingInputs, BillingRun
    from audiens.ports.jobs import JobQueue
    from audiens.ports.usage import UsageCatalog
    from audiens.services.accounts import AccountsService
    from audiens.services.audiences import AudienceService
    from audiens.services.billing import BillingService
    from audiens.services.billing_documents import BillingDocumentsService
    from audiens.services.channels import ChannelService
    from audiens.services.ingest import IngestService
    from audiens.services.lookalike import LookalikeService
    from audiens.services.marketplace import MarketplaceService
    from audiens.services.pixel import PixelService
    from audiens.services.usage import UsageService
    from audiens.services.usage_ledger import UsageLedger

# Template logical id -> Settings field holding its physical name.
TABLES = {
    "AccountsTable": "accounts_table",
    "BillingTable": "billing_table",
    "IdempotencyTable": "idempotency_table",
    "MarketplaceTable": "marketplace_table",
    "OnboardingTable": "onboarding_table",
    "UsageTable": "usage_table",
}


def bind(settings: Settings) -> None:
    names = {logical: getattr(settings, field) for logical, field in TABLES.items() if getattr(settings, field)}
    bind_tables(names, settings.region)


@cache
def accounts_service() -> AccountsService:
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.aws import ApiGatewayAuthorizerCache, SesEmailSender, SqsEmailQueue
    from audiens.services.accounts import AccountsService

    settings = get_settings()
    bind(settings)
    settings.require("accounts_table")
    return AccountsService(
        DynamoAccountRepository(settings.region),
        email_queue=SqsEmailQueue(settings.email_queue_url, settings.region) if settings.email_queue_url else None,
        email_sender=SesEmailSender(settings.region, settings.ses_configuration_set),
        authorizer_cache=ApiGatewayAuthorizerCache(settings.region),
        operator_key_hash=settings.operator_key_hash,
        public_base_url=settings.public_base_url,
        sender_email=settings.sender_email,
    )


@cache
def onboarding_repository() -> DynamoOnboardingRepository:
    from audiens.dal.onboarding import DynamoOnboardingRepository

    settings = get_settings()
    bind(settings)
    settings.require("onboarding_table")
    return DynamoOnboardingRepository(settings.region, transactional=settings.sketch_write_mode == "transaction")


@cache
def ingest_service() -> IngestService:
    from audiens.dal.onboarding import S3SourceObjects
    from audiens.services.ingest import IngestService

    settings = get_settings()
    return IngestService(
        onboarding_repository(),
        objects=S3SourceObjects(settings.region),
        source_bucket=settings.source_bucket,
    )


@cache
def pixel_service() -> PixelService:
    """Pixel hits: queued by the API (PIXEL_QUEUE_URL), counted in batches by PixelIngestFunction."""
    from audiens.dal.aws import SqsJobQueue
    from audiens.services.pixel import PixelService

    settings = get_settings()
    queue = SqsJobQueue(settings.pixel_queue_url, settings.region) if settings.pixel_queue_url else None
    return PixelService(ingest_service(), queue)


@cache
def audience_service() -> AudienceService:
    from audiens.services.audiences import AudienceService

    # Collaborators resolved on first use, so a function that never needs them needs no marketplace config.
    return AudienceService(
        onboarding_repository(),
        entitlements=lambda account_id: marketplace_service().entitled_feed_ids(account_id),
        modeling=lambda account_id: marketplace_service().modeling_feed_ids(account_id),
        channels=channel_service,
    )


@cache
def marketplace_service() -> MarketplaceService:
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.marketplace import DynamoMarketplaceRepository
    from audiens.services.marketplace import MarketplaceService

    settings = get_settings()
    bind(settings)
    settings.require("marketplace_table")
    settings.require("accounts_table")
    return MarketplaceService(
        DynamoMarketplaceRepository(settings.region),
        onboarding=onboarding_repository(),
        accounts=DynamoAccountRepository(settings.region),
    )


@cache
def channel_service() -> ChannelService:
    from audiens.dal.channels import DynamoChannelRepository, S3ObjectExporter, SqsPushQueue, UrllibWebhookClient
    from audiens.domain.channel_config import S3Platform
    from audiens.services.channels import ChannelService

    settings = get_settings()
    bind(settings)
    settings.require("marketplace_table")
    queue_url = settings.require("channel_push_queue_url")
    return ChannelService(
        DynamoChannelRepository(),
        segments=onboarding_repository(),
        queue=SqsPushQueue(queue_url, settings.region),
        webhook=UrllibWebhookClient(allow_private=settings.stage == "local"),
        exporter=S3ObjectExporter(settings.region),
        allow_private_targets=settings.stage == "local",
        max_receives=settings.channel_push_max_receives,
        # ApiFunction (creates destinations) and ChannelPushFunction (pushes) have PLATFORM_ACCOUNT_ID
        s3_platform=S3Platform(
            settings.platform_account_id,
            frozenset(b for b in (settings.source_bucket, settings.usage_bucket) if b),
        )
        if settings.platform_account_id
        else None,
    )


@cache
def push_queue() -> SqsPushQueue:
    from audiens.dal.channels import SqsPushQueue

    settings = get_settings()
    return SqsPushQueue(settings.require("channel_push_queue_url"), settings.region)


@cache
def lookalike_service() -> LookalikeService:
    from audiens.services.lookalike import LookalikeService

    return LookalikeService(onboarding_repository(), audiences=audience_service(), marketplace=marketplace_service())


# ------------------------------------------------------------------ billing (issue 5): the monthly close
def billing_inputs() -> BillingInputs:
    """The production ``BillingInputs``, over the read APIs the other modules publish for billing."""
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.channels import DynamoChannelRepository
    from audiens.services.billing_inputs import ProductBillingInputs

    settings = get_settings()
    bind(settings)
    return ProductBillingInputs(
        subscriptions=marketplace_service(),
        usage=usage_ledger(),
        onboarding=onboarding_repository(),
        audiences=audience_service(),
        channels=DynamoChannelRepository(),
        accounts=DynamoAccountRepository(settings.region),
        currency=settings.billing_currency,
    )


@cache
def billing_service() -> BillingService:
    from audiens.dal.billing import DynamoBillingStore, SqsBillingJobs
    from audiens.dal.billing.issue import DynamoBillingDocuments
    from audiens.services.billing import BillingService

    settings = get_settings()
    bind(settings)
    settings.require("billing_table")
    return BillingService(
        DynamoBillingStore(settings.region),
        inputs_factory=lambda: billing_inputs(),  # looked up at call time, so tests can substitute it
        jobs=SqsBillingJobs(settings.invoice_jobs_queue_url, settings.payout_jobs_queue_url, settings.region),
        usage=usage_ledger() if settings.usage_table else None,
        currency=settings.billing_currency,
        due_day=settings.reporting_due_day,
        on_completed=_issue_documents if settings.document_jobs_queue_url else None,
        adjustments=DynamoBillingDocuments(settings.region).adjustments,
    )


def _issue_documents(run: BillingRun, now: datetime) -> int:
    return billing_documents_service().issue_run(run, now)


@cache
def billing_documents_service() -> BillingDocumentsService:
    """Numbers, PDFs, emails and credit notes (issue 14); collaborators only where the function has them."""
    from audiens.dal.billing import DynamoBillingStore
    from audiens.dal.billing.issue import DynamoBillingDocuments, S3DocumentObjects, SqsDocumentJobs
    from audiens.domain.billing_pdf import Issuer
    from audiens.services.billing_documents import BillingDocumentsService, UsageReminderAudience

    settings = get_settings()
    bind(settings)
    settings.require("billing_table")
    has_accounts = bool(settings.accounts_table)
    return BillingDocumentsService(
        billing=billing_service(),
        store=DynamoBillingStore(settings.region),
        documents=DynamoBillingDocuments(settings.region),
        objects=S3DocumentObjects(settings.documents_bucket, settings.region) if settings.documents_bucket else None,
        jobs=SqsDocumentJobs(settings.document_jobs_queue_url, settings.region)
        if settings.document_jobs_queue_url
        else None,
        mailer=accounts_service() if has_accounts else None,
        names=accounts_service() if has_accounts else None,
        audience=UsageReminderAudience(usage_catalog(), usage_repository())
        if settings.usage_table and settings.marketplace_table
        else None,
        issuer=Issuer(settings.issuer_name, tuple(p.strip() for p in settings.issuer_details.split("|") if p.strip())),
        base_url=settings.public_base_url,
        due_day=settings.reporting_due_day,
    )


# ------------------------------------------------------------------ usage reporting (issue 4 part B)
@cache
def usage_repository() -> DynamoUsageRepository:
    from audiens.dal.usage import DynamoUsageRepository

    settings = get_settings()
    bind(settings)
    settings.require("usage_table")
    return DynamoUsageRepository(settings.region)


@cache
def usage_catalog() -> UsageCatalog:
    """What buyers may report: read from the marketplace's repositories (tests substitute an in-memory fake)."""
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.channels import DynamoChannelRepository
    from audiens.dal.marketplace import DynamoMarketplaceRepository
    from audiens.dal.usage_catalog import MarketplaceUsageCatalog

    settings = get_settings()
    bind(settings)
    settings.require("marketplace_table")
    return MarketplaceUsageCatalog(
        DynamoMarketplaceRepository(settings.region),
        DynamoChannelRepository(),
        DynamoAccountRepository(settings.region),
    )


@cache
def usage_service() -> UsageService:
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.usage import S3UsageObjects
    from audiens.services.usage import UsageService
    from audiens.services.usage_messages import UploadRejectionNotifier

    settings = get_settings()
    notify = settings.email_queue_url and settings.accounts_table
    return UsageService(
        usage_repository(),
        usage_catalog(),
        accounts=DynamoAccountRepository(settings.region) if settings.accounts_table else None,
        objects=S3UsageObjects(settings.region),
        bucket=settings.usage_bucket,
        due_day=settings.reporting_due_day,
        on_rejected=UploadRejectionNotifier(accounts_service(), settings.public_base_url) if notify else None,
    )


@cache
def usage_ledger() -> UsageLedger:
    """The billing read API: frozen usage per (buyer, period) and the buyers to invoice."""
    from audiens.services.usage_ledger import UsageLedger

    return UsageLedger(usage_repository(), usage_catalog())


def daily_pages_queue() -> JobQueue:
    """The daily job's queue of pages of segment ids (DailySegmentsFunction drains it)."""
    from audiens.dal.aws import SqsJobQueue

    settings = get_settings()
    return SqsJobQueue(settings.require("daily_segments_queue_url"), settings.region)
