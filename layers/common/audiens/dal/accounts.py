"""DynamoDB adapter for accounts, email claims, activation tokens, API keys and the email outbox."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError

from audiens.dal.base import cancellation_reasons, connection
from audiens.dal.idempotent import IdempotentTransactWrite, save_once, write_marker
from audiens.dal.models import AccountItem, ActivationTokenItem, ApiKeyItem, EmailClaimItem, OutgoingEmailItem
from audiens.domain.accounts import Account, ApiKey, OutgoingEmail
from audiens.domain.time import key_timestamp
from audiens.errors import ConflictError, NotFoundError, ValidationError

PENDING = "PENDING"


def _account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _to_account(item: AccountItem) -> Account:
    return Account(
        account_id=item.account_id,
        company_name=item.company_name,
        email=item.email,
        roles=tuple(item.roles or ()),
        status=item.status,
        created_at=item.created_at,
        activated_at=item.activated_at,
        revenue_share=Decimal(item.revenue_share) if item.revenue_share else None,
        usage_reminders=item.usage_reminders is not False,
    )


def _to_key(item: ApiKeyItem) -> ApiKey:
    return ApiKey(
        key_id=item.key_id,
        account_id=item.account_id,
        name=item.name,
        prefix=item.prefix,
        created_at=item.created_at,
        revoked_at=item.revoked_at,
    )


def _account_item(account: Account) -> AccountItem:
    item = AccountItem(
        _account_pk(account.account_id),
        "PROFILE",
        account_id=account.account_id,
        company_name=account.company_name,
        email=account.email,
        roles=list(account.roles),
        status=account.status,
        created_at=account.created_at,
        activated_at=account.activated_at,
        revenue_share=str(account.revenue_share) if account.revenue_share is not None else None,
    )
    if account.status == "pending":
        item.gsi1pk = PENDING
        item.gsi1sk = f"{key_timestamp(account.created_at)}#{account.account_id}"
    return item


def _key_item(key: ApiKey, key_hash: str) -> ApiKeyItem:
    return ApiKeyItem(
        f"KEY#{key_hash}",
        "KEY",
        key_id=key.key_id,
        account_id=key.account_id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        gsi1pk=f"ACCT#{key.account_id}#KEYS",
        gsi1sk=f"KEY#{key.key_id}",
    )


class DynamoAccountRepository:
    def __init__(self, region: str) -> None:
        self._region = region
        self._connection: Connection | None = None

    def _transaction(self, identity: str) -> IdempotentTransactWrite:
        if self._connection is None:  # one botocore client per repository, not one per transaction
            self._connection = connection(self._region)
        return IdempotentTransactWrite(identity, connection=self._connection)

    def create_pending(
        self, account: Account, *, claim: str, token_hash: str, token_expires: datetime, email: OutgoingEmail
    ) -> None:
        try:
            with self._transaction(f"account-create:{account.account_id}") as tx:
                tx.save(_account_item(account), condition=AccountItem.pk.does_not_exist())
                tx.save(
                    EmailClaimItem(f"EMAIL#{claim}", "CLAIM", account_id=account.account_id),
                    condition=EmailClaimItem.pk.does_not_exist(),
                )
                tx.save(
                    ActivationTokenItem(
                        f"TOKEN#{token_hash}",
                        "TOKEN",
                        account_id=account.account_id,
                        expires_at=token_expires,
                        ttl=int(token_expires.timestamp()) + 30 * 86400,
                    ),
                    condition=ActivationTokenItem.pk.does_not_exist(),
                )
                tx.save(_email_item(email))
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in cancellation_reasons(error):
                raise ConflictError(
                    "An account with this email already exists.", code="email_already_registered"
                ) from error
            raise

    def create_active(self, account: Account, *, claim: str, key: ApiKey, key_hash: str) -> None:
        try:
            with self._transaction(f"account-create:{account.account_id}") as tx:
                tx.save(_account_item(account), condition=AccountItem.pk.does_not_exist())
                tx.save(
                    EmailClaimItem(f"EMAIL#{claim}", "CLAIM", account_id=account.account_id),
                    condition=EmailClaimItem.pk.does_not_exist(),
                )
                tx.save(_key_item(key, key_hash), condition=ApiKeyItem.pk.does_not_exist())
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in cancellation_reasons(error):
                raise ConflictError(
                    "An account with this email already exists.", code="email_already_registered"
                ) from error
            raise

    def get(self, account_id: str) -> Account | None:
        try:
            return _to_account(AccountItem.get(_account_pk(account_id), "PROFILE"))
        except AccountItem.DoesNotExist:
            return None

    def activate(self, token_hash: str, now: datetime, key: ApiKey, key_hash: str) -> Account:
        try:
            token = ActivationTokenItem.get(f"TOKEN#{token_hash}", "TOKEN", consistent_read=True)
        except ActivationTokenItem.DoesNotExist:
            raise ValidationError("This activation token is not valid.", code="invalid_token") from None
        if token.used_at is not None:
            raise ConflictError("This activation link has already been used.", code="token_already_used")
        if now >= token.expires_at:
            raise ConflictError(
                "This activation link has expired; sign up again to get a new one.", code="token_expired"
            )
        account = self.get(token.account_id)
        if account is None or account.status != "pending":
            raise ConflictError("This account can no longer be activated.", code="account_not_pending")
        key = ApiKey(
            key_id=key.key_id,
            account_id=account.account_id,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
        )
        try:
            with self._transaction(f"account-activate:{token_hash}") as tx:
                tx.update(
                    AccountItem(_account_pk(account.account_id), "PROFILE"),
                    actions=[
                        AccountItem.status.set("active"),
                        AccountItem.activated_at.set(now),
                        AccountItem.gsi1pk.remove(),
                        AccountItem.gsi1sk.remove(),
                    ],
                    condition=AccountItem.status == "pending",
                )
                tx.update(
                    ActivationTokenItem(f"TOKEN#{token_hash}", "TOKEN"),
                    actions=[ActivationTokenItem.used_at.set(now)],
                    condition=ActivationTokenItem.used_at.does_not_exist(),
                )
                tx.save(_key_item(key, key_hash), condition=ApiKeyItem.pk.does_not_exist())
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in cancellation_reasons(error):
                raise ConflictError("This activation link has already been used.", code="token_already_used") from error
            raise
        activated = self.get(account.account_id)
        assert activated is not None
        return activated

    def pending_created_before(self, cutoff: datetime) -> list[Account]:
        bound = key_timestamp(cutoff)
        return [_to_account(i) for i in AccountItem.by_gsi1.query(PENDING, AccountItem.gsi1sk < bound)]

    def expire(self, account: Account, *, claim: str, now: datetime) -> bool:
        try:
            with self._transaction(f"account-expire:{account.account_id}") as tx:
                tx.update(
                    AccountItem(_account_pk(account.account_id), "PROFILE"),
                    actions=[
                        AccountItem.status.set("expired"),
                        AccountItem.gsi1pk.remove(),
                        AccountItem.gsi1sk.remove(),
                    ],
                    condition=AccountItem.status == "pending",
                )
                tx.delete(
                    EmailClaimItem(f"EMAIL#{claim}", "CLAIM"),
                    condition=EmailClaimItem.account_id == account.account_id,
                )
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in cancellation_reasons(error):
                return False
            raise
        return True

    def add_key(self, key: ApiKey, key_hash: str) -> None:
        if not save_once(_key_item(key, key_hash), ApiKeyItem.pk.does_not_exist()):
            raise RuntimeError(f"API key {key.key_id} exists already")

    def list_keys(self, account_id: str) -> list[ApiKey]:
        return [_to_key(i) for i in ApiKeyItem.by_account.query(f"ACCT#{account_id}#KEYS")]

    def revoke_key(self, account_id: str, key_id: str, now: datetime) -> ApiKey:
        items = list(ApiKeyItem.by_account.query(f"ACCT#{account_id}#KEYS", ApiKeyItem.gsi1sk == f"KEY#{key_id}"))
        if not items:
            raise NotFoundError(f"API key {key_id} not found.")
        item = items[0]
        if item.revoked_at is None:
            item.update(actions=[ApiKeyItem.revoked_at.set(now)])
        return _to_key(item)

    def find_key(self, key_hash: str) -> tuple[ApiKey, Account] | None:
        try:
            item = ApiKeyItem.get(f"KEY#{key_hash}", "KEY")
        except ApiKeyItem.DoesNotExist:
            return None
        account = self.get(item.account_id)
        if account is None:
            return None
        return _to_key(item), account

    def get_email(self, email_id: str) -> OutgoingEmail | None:
        try:
            item = OutgoingEmailItem.get(f"OUTBOX#{email_id}", "EMAIL", consistent_read=True)
        except OutgoingEmailItem.DoesNotExist:
            return None
        return OutgoingEmail(
            email_id=item.email_id,
            to=item.to,
            subject=item.subject,
            body=item.body,
            created_at=item.created_at,
            sent=bool(item.sent),
        )

    def create_email_once(self, email: OutgoingEmail) -> bool:
        """Store an email under its deterministic id unless it exists: False when it was already created."""
        item = _email_item(email)
        item.write_id = write_marker()  # the same email asked for twice at one instant is still created once
        return save_once(item, OutgoingEmailItem.pk.does_not_exist())

    def set_usage_reminders(self, account_id: str, enabled: bool) -> Account:
        try:
            AccountItem(_account_pk(account_id), "PROFILE").update(
                actions=[AccountItem.usage_reminders.set(enabled)], condition=AccountItem.pk.exists()
            )
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise NotFoundError("Account not found.") from error
            raise
        account = self.get(account_id)
        if account is None:
            raise NotFoundError("Account not found.")
        return account

    def mark_email_sent(self, email_id: str, provider_message_id: str) -> None:
        OutgoingEmailItem(f"OUTBOX#{email_id}", "EMAIL").update(
            actions=[OutgoingEmailItem.sent.set(True), OutgoingEmailItem.provider_message_id.set(provider_message_id)]
        )


def _email_item(email: OutgoingEmail) -> OutgoingEmailItem:
    return OutgoingEmailItem(
        f"OUTBOX#{email.email_id}",
        "EMAIL",
        email_id=email.email_id,
        to=email.to,
        subject=email.subject,
        body=email.body,
        created_at=email.created_at,
        sent=False,
    )
