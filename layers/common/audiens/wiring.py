"""Composition root: the one place that turns the invoked function's typed settings into real adapters and services.

Each factory names the settings group it needs (``audiens.config``) and is built once per function settings
(``config.current()``, set at the handler's entry by ``config.configured``): a function whose model lacks the
group fails with ConfigurationError naming the missing variables. Optional collaborators exist when the
function's model has their group (``isinstance``), never by probing the environment. Handlers call these
factories at entry (never at import), and tests pass their own services instead.
Each factory imports what it builds, so a function loads only the modules it uses: the authorizer
never pays for datasketches/numpy, the email worker never for the billing engine (cold starts,
bench/bench_cold_start.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from audiens import config as cfg
from audiens.config import ConfigurationError, Settings, current
from audiens.dal.base import bind_tables

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

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
    from audiens.services.billing_jobs import BillingJobRunner
    from audiens.services.channels import ChannelService
    from audiens.services.ingest import IngestService
    from audiens.services.lookalike import LookalikeService
    from audiens.services.marketplace import MarketplaceService
    from audiens.services.pixel import PixelService
    from audiens.services.usage import UsageService
    from audiens.services.usage_ledger import UsageLedger

# What a function without the group gets: values it never reads (its services send no such email, print no PDF).
DEFAULT_PUBLIC_BASE_URL = "https://console.audiens.example"
DEFAULT_ISSUER_NAME = "Audiens Marketplace"


def _table[S: Settings](
    logical: str, group: type[S], name: Callable[[S], str]
) -> Callable[[Settings], tuple[str, str] | None]:
    """A table of the template (``logical``) named by the settings ``group``: (logical, physical name) when
    the function's settings have the group."""

    def physical(settings: Settings) -> tuple[str, str] | None:
        return (logical, name(settings)) if isinstance(settings, group) else None

    return physical


TABLES = (
    _table("AccountsTable", cfg.AccountsTable, lambda s: s.accounts_table),
    _table("BillingTable", cfg.BillingTable, lambda s: s.billing_table),
    _table("IdempotencyTable", cfg.IdempotencyTable, lambda s: s.idempotency_table),
    _table("MarketplaceTable", cfg.MarketplaceTable, lambda s: s.marketplace_table),
    _table("OnboardingTable", cfg.OnboardingTable, lambda s: s.onboarding_table),
    _table("UsageTable", cfg.UsageTable, lambda s: s.usage_table),
)


def bind(settings: Settings) -> None:
    """Point the table models at the physical tables the function's settings name."""
    names = dict(found for table in TABLES if (found := table(settings)) is not None)
    bind_tables(names, settings.region)


class Factory[S: Settings, T]:
    """One service of the composition root: built from the function's settings (a ``needs`` group) once per
    function settings, then shared (``shared=False``: built at each call). ``cache_clear`` forgets what was
    built (tests)."""

    def __init__(self, needs: type[S], build: Callable[[S], T], *, shared: bool = True) -> None:
        self.needs = needs
        self.shared = shared
        self._build = build
        self._built: dict[Settings, T] = {}
        self.__name__ = build.__name__
        self.__doc__ = build.__doc__

    def __call__(self) -> T:
        settings = current()
        try:
            return self._built[settings]
        except KeyError:
            pass
        if not isinstance(settings, self.needs):
            names = self.needs.model_fields.keys() - type(settings).model_fields.keys()
            missing = sorted(str(self.needs.model_fields[name].alias) for name in names)
            raise ConfigurationError(
                f"{self.__name__} needs {', '.join(missing) or self.needs.__name__}, "
                f"which {type(settings).__name__} does not declare"
            )
        bind(settings)
        built = self._build(settings)
        if self.shared:
            self._built[settings] = built
        return built

    def cache_clear(self) -> None:
        self._built.clear()


def factory[S: Settings, T](needs: type[S], *, shared: bool = True) -> Callable[[Callable[[S], T]], Factory[S, T]]:
    def decorate(build: Callable[[S], T]) -> Factory[S, T]:
        return Factory(needs, build, shared=shared)

    return decorate


@factory(cfg.AccountsTable)
def accounts_service(settings: cfg.AccountsTable) -> AccountsService:
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.aws import ApiGatewayAuthorizerCache, SesEmailSender, SqsEmailQueue
    from audiens.services.accounts import AccountsService

    sending = settings if isinstance(settings, cfg.EmailSending) else None
    return AccountsService(
        DynamoAccountRepository(settings.region),
        email_queue=SqsEmailQueue(settings.email_queue_url, settings.region)
        if isinstance(settings, cfg.EmailQueue)
        else None,
        # only EmailWorkerFunction sends (SES); the others queue their emails
        email_sender=SesEmailSender(settings.region, sending.ses_configuration_set) if sending else None,
        authorizer_cache=ApiGatewayAuthorizerCache(settings.region),
        operator_key_hash=settings.operator_key_hash if isinstance(settings, cfg.OperatorKey) else None,
        public_base_url=_public_base_url(settings),
        sender_email=sending.sender_email if sending else "",
    )


def _public_base_url(settings: Settings) -> str:
    return settings.public_base_url if isinstance(settings, cfg.PublicUrl) else DEFAULT_PUBLIC_BASE_URL


@factory(cfg.IdempotencyTable)
def idempotency_store(settings: cfg.IdempotencyTable) -> DynamoDBPersistenceLayer:
    """The API's idempotency records (Powertools' persistence layer, safe against a lost answer)."""
    from audiens.dal.idempotency_store import idempotency_store

    return idempotency_store(settings.idempotency_table)


@factory(cfg.OnboardingTable)
def onboarding_repository(settings: cfg.OnboardingTable) -> DynamoOnboardingRepository:
    from audiens.dal.onboarding import DynamoOnboardingRepository

    return DynamoOnboardingRepository(settings.region, transactional=settings.sketch_write_mode == "transaction")


@factory(cfg.Ingest)
def ingest_service(settings: cfg.Ingest) -> IngestService:
    from audiens.dal.onboarding import S3SourceObjects
    from audiens.services.ingest import IngestService

    return IngestService(
        onboarding_repository(),
        objects=S3SourceObjects(settings.region),
        source_bucket=settings.source_bucket,
    )


@factory(cfg.OnboardingTable)
def pixel_service(settings: cfg.OnboardingTable) -> PixelService:
    """Pixel hits: queued by the API (PixelQueue), counted in batches by PixelIngestFunction (which reads no
    source files: its ingestion path has no bucket)."""
    from audiens.dal.aws import SqsJobQueue
    from audiens.services.ingest import IngestService
    from audiens.services.pixel import PixelService

    queue = SqsJobQueue(settings.pixel_queue_url, settings.region) if isinstance(settings, cfg.PixelQueue) else None
    ingest = ingest_service() if isinstance(settings, cfg.Ingest) else IngestService(onboarding_repository())
    return PixelService(ingest, queue)


@factory(cfg.OnboardingTable)
def audience_service(settings: cfg.OnboardingTable) -> AudienceService:
    from audiens.services.audiences import AudienceService

    # Collaborators resolved on first use, so a function that never needs them needs no marketplace config.
    return AudienceService(
        onboarding_repository(),
        entitlements=lambda account_id: marketplace_service().entitled_feed_ids(account_id),
        modeling=lambda account_id: marketplace_service().modeling_feed_ids(account_id),
        channels=channel_service,
    )


@factory(cfg.Marketplace)
def marketplace_service(settings: cfg.Marketplace) -> MarketplaceService:
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.marketplace import DynamoMarketplaceRepository
    from audiens.services.marketplace import MarketplaceService

    return MarketplaceService(
        DynamoMarketplaceRepository(settings.region),
        onboarding=onboarding_repository(),
        accounts=DynamoAccountRepository(settings.region),
    )


@factory(cfg.Channels)
def channel_service(settings: cfg.Channels) -> ChannelService:
    from audiens.dal.channels import DynamoChannelRepository, S3ObjectExporter, SqsPushQueue, UrllibWebhookClient
    from audiens.domain.channel_config import S3Platform
    from audiens.services.channels import ChannelService

    local = settings.stage == "local"
    platform_buckets = frozenset(
        bucket
        for bucket in (
            settings.source_bucket if isinstance(settings, cfg.SourceBucket) else None,
            settings.usage_bucket if isinstance(settings, cfg.UsageBucket) else None,
        )
        if bucket
    )
    return ChannelService(
        DynamoChannelRepository(),
        segments=onboarding_repository(),
        queue=SqsPushQueue(settings.channel_push_queue_url, settings.region),
        webhook=UrllibWebhookClient(allow_private=local),
        exporter=S3ObjectExporter(settings.region),
        allow_private_targets=local,
        # the last delivery (recorded dead_lettered) is ChannelPushFunction's concern; others never push
        **({"max_receives": settings.channel_push_max_receives} if isinstance(settings, cfg.PushRetries) else {}),
        # ApiFunction (creates destinations) and ChannelPushFunction (pushes) have PLATFORM_ACCOUNT_ID
        s3_platform=S3Platform(settings.platform_account_id, platform_buckets)
        if isinstance(settings, cfg.PlatformAccount)
        else None,
    )


@factory(cfg.PushQueue)
def push_queue(settings: cfg.PushQueue) -> SqsPushQueue:
    from audiens.dal.channels import SqsPushQueue

    return SqsPushQueue(settings.channel_push_queue_url, settings.region)


@factory(cfg.Marketplace)
def lookalike_service(settings: cfg.Marketplace) -> LookalikeService:
    from audiens.services.lookalike import LookalikeService

    return LookalikeService(onboarding_repository(), audiences=audience_service(), marketplace=marketplace_service())


# ------------------------------------------------------------------ billing (issue 5): the monthly close
@factory(cfg.BillingRun, shared=False)
def billing_inputs(settings: cfg.BillingRun) -> BillingInputs:
    """The production ``BillingInputs``, over the read APIs the other modules publish for billing."""
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.channels import DynamoChannelRepository
    from audiens.services.billing_inputs import ProductBillingInputs

    return ProductBillingInputs(
        subscriptions=marketplace_service(),
        usage=usage_ledger(),
        onboarding=onboarding_repository(),
        audiences=audience_service(),
        channels=DynamoChannelRepository(),
        accounts=DynamoAccountRepository(settings.region),
        currency=settings.billing_currency,
    )


@factory(cfg.BillingTable)
def billing_service(settings: cfg.BillingTable) -> BillingService:
    from audiens.dal.billing import DynamoBillingStore, SqsBillingJobs
    from audiens.dal.billing.issue import DynamoBillingDocuments
    from audiens.services.billing import BillingService

    tunables: dict[str, object] = {}
    if isinstance(settings, cfg.BillingCurrency):
        tunables["currency"] = settings.billing_currency
    if isinstance(settings, cfg.ReportingWindow):
        tunables["due_day"] = settings.reporting_due_day
    return BillingService(
        DynamoBillingStore(settings.region),
        inputs_factory=lambda: billing_inputs(),  # looked up at call time, so tests can substitute it
        jobs=SqsBillingJobs(
            settings.invoice_jobs_queue_url if isinstance(settings, cfg.InvoiceJobsQueue) else None,
            settings.payout_jobs_queue_url if isinstance(settings, cfg.PayoutJobsQueue) else None,
            settings.region,
        ),
        usage=usage_ledger() if isinstance(settings, cfg.UsageTable) else None,
        # looked up at call time, like the inputs
        on_completed=(lambda run, now: _issue_documents(run, now))
        if isinstance(settings, cfg.DocumentJobsQueue)
        else None,
        adjustments=DynamoBillingDocuments(settings.region).adjustments,
        **tunables,  # type: ignore[arg-type]
    )


def _issue_documents(run: BillingRun, now: datetime) -> int:
    return billing_documents_service().issue_run(run, now)


@factory(cfg.BillingJobRetries)
def billing_jobs(settings: cfg.BillingJobRetries) -> BillingJobRunner:
    """The invoice and payout workers' jobs, run by the billing service with the queues' delivery limit."""
    from audiens.services.billing_jobs import BillingJobRunner

    return BillingJobRunner(billing_service(), max_attempts=settings.billing_job_max_receives)


@factory(cfg.BillingTable)
def billing_documents_service(settings: cfg.BillingTable) -> BillingDocumentsService:
    """Numbers, PDFs, emails and credit notes (issue 14); collaborators only where the function has them."""
    from audiens.dal.billing import DynamoBillingStore
    from audiens.dal.billing.issue import DynamoBillingDocuments, S3DocumentObjects, SqsDocumentJobs
    from audiens.domain.billing_pdf import Issuer
    from audiens.services.billing_documents import BillingDocumentsService, UsageReminderAudience

    has_accounts = isinstance(settings, cfg.AccountsTable)
    issuer = (
        Issuer(settings.issuer_name, tuple(p.strip() for p in settings.issuer_details.split("|") if p.strip()))
        if isinstance(settings, cfg.Issuer)
        else Issuer(DEFAULT_ISSUER_NAME, ())
    )
    return BillingDocumentsService(
        billing=billing_service(),
        store=DynamoBillingStore(settings.region),
        documents=DynamoBillingDocuments(settings.region),
        objects=S3DocumentObjects(settings.documents_bucket, settings.region)
        if isinstance(settings, cfg.DocumentsBucket)
        else None,
        jobs=SqsDocumentJobs(settings.document_jobs_queue_url, settings.region)
        if isinstance(settings, cfg.DocumentJobsQueue)
        else None,
        mailer=accounts_service() if has_accounts else None,
        names=accounts_service() if has_accounts else None,
        audience=UsageReminderAudience(usage_catalog(), usage_repository())
        if isinstance(settings, cfg.UsageTable) and isinstance(settings, cfg.MarketplaceReads)
        else None,
        issuer=issuer,
        base_url=_public_base_url(settings),
        **({"due_day": settings.reporting_due_day} if isinstance(settings, cfg.ReportingWindow) else {}),
    )


# ------------------------------------------------------------------ usage reporting (issue 4 part B)
@factory(cfg.UsageTable)
def usage_repository(settings: cfg.UsageTable) -> DynamoUsageRepository:
    from audiens.dal.usage import DynamoUsageRepository

    return DynamoUsageRepository(settings.region)


@factory(cfg.MarketplaceReads)
def usage_catalog(settings: cfg.MarketplaceReads) -> UsageCatalog:
    """What buyers may report: read from the marketplace's repositories (tests substitute an in-memory fake)."""
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.channels import DynamoChannelRepository
    from audiens.dal.marketplace import DynamoMarketplaceRepository
    from audiens.dal.usage_catalog import MarketplaceUsageCatalog

    return MarketplaceUsageCatalog(
        DynamoMarketplaceRepository(settings.region),
        DynamoChannelRepository(),
        DynamoAccountRepository(settings.region),
    )


@factory(cfg.UsageReporting)
def usage_service(settings: cfg.UsageReporting) -> UsageService:
    from audiens.dal.accounts import DynamoAccountRepository
    from audiens.dal.usage import S3UsageObjects
    from audiens.services.usage import UsageService
    from audiens.services.usage_messages import UploadRejectionNotifier

    notify = isinstance(settings, cfg.EmailQueue) and isinstance(settings, cfg.PublicUrl)
    return UsageService(
        usage_repository(),
        usage_catalog(),
        accounts=DynamoAccountRepository(settings.region),
        objects=S3UsageObjects(settings.region),
        bucket=settings.usage_bucket,
        due_day=settings.reporting_due_day,
        on_rejected=UploadRejectionNotifier(accounts_service(), _public_base_url(settings)) if notify else None,
    )


@factory(cfg.UsageTable)
def usage_ledger(settings: cfg.UsageTable) -> UsageLedger:
    """The billing read API: frozen usage per (buyer, period) and the buyers to invoice."""
    from audiens.services.usage_ledger import UsageLedger

    return UsageLedger(usage_repository(), usage_catalog())


@factory(cfg.DailyPagesQueue)
def daily_pages_queue(settings: cfg.DailyPagesQueue) -> JobQueue:
    """The daily job's queue of pages of segment ids (DailySegmentsFunction drains it)."""
    from audiens.dal.aws import SqsJobQueue

    return SqsJobQueue(settings.daily_segments_queue_url, settings.region)
