"""Composition root: the one place that turns Settings into real adapters and services.

Handlers call these factories at entry (never at import), and tests pass their own services instead.
"""

from __future__ import annotations

from functools import cache

from audiens.config import Settings, get_settings
from audiens.dal.accounts import DynamoAccountRepository
from audiens.dal.aws import ApiGatewayAuthorizerCache, SesEmailSender, SqsEmailQueue
from audiens.dal.base import bind_tables
from audiens.services.accounts import AccountsService

# Template logical id -> Settings field holding its physical name.
TABLES = {
    "AccountsTable": "accounts_table",
    "IdempotencyTable": "idempotency_table",
    "UsageTable": "usage_table",
}


def bind(settings: Settings) -> None:
    names = {logical: getattr(settings, field) for logical, field in TABLES.items() if getattr(settings, field)}
    bind_tables(names, settings.region)


@cache
def accounts_service() -> AccountsService:
    settings = get_settings()
    bind(settings)
    settings.require("accounts_table")
    return AccountsService(
        DynamoAccountRepository(settings.region),
        email_queue=SqsEmailQueue(settings.email_queue_url, settings.region) if settings.email_queue_url else None,
        email_sender=SesEmailSender(settings.region),
        authorizer_cache=ApiGatewayAuthorizerCache(settings.region),
        operator_key_hash=settings.operator_key_hash,
        public_base_url=settings.public_base_url,
        sender_email=settings.sender_email,
    )
