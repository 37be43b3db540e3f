"""Account use cases: sign-up, activation, operator-created accounts, API keys, authentication, expiry."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from audiens.domain import accounts as rules
from audiens.domain.accounts import Account, ApiKey, OutgoingEmail, Principal
from audiens.domain.quotas import check_quota
from audiens.domain.time import rfc3339
from audiens.errors import ConflictError, NotFoundError
from audiens.ports.accounts import AccountRepository, AuthorizerCache, EmailQueue, EmailSender


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str


class AccountsService:
    def __init__(
        self,
        repo: AccountRepository,
        *,
        email_queue: EmailQueue | None = None,
        email_sender: EmailSender | None = None,
        authorizer_cache: AuthorizerCache | None = None,
        operator_key_hash: str | None = None,
        public_base_url: str = "",
        sender_email: str = "",
    ) -> None:
        self._repo = repo
        self._email_queue = email_queue
        self._email_sender = email_sender
        self._authorizer_cache = authorizer_cache
        self._operator_key_hash = operator_key_hash or None
        self._public_base_url = public_base_url.rstrip("/")
        self._sender_email = sender_email

    # ---------------------------------------------------------------- sign-up and activation
    def sign_up(self, *, company_name: str, email: str, roles: list[str], now: datetime) -> Account:
        account = Account(
            account_id=_new_id("acc"),
            company_name=company_name.strip(),
            email=rules.normalize_email(email),
            roles=rules.validate_roles(roles),
            status="pending",
            created_at=now,
        )
        token = secrets.token_urlsafe(32)
        expires = rules.activation_expires(now)
        message = OutgoingEmail(
            email_id=_new_id("eml"),
            to=account.email,
            subject="Activate your Audiens account",
            body=self._activation_body(account, token, expires),
            created_at=now,
        )
        self._repo.create_pending(
            account,
            claim=rules.email_claim_key(account.email),
            token_hash=rules.hash_secret(token),
            token_expires=expires,
            email=message,
        )
        if self._email_queue is None:
            raise RuntimeError("sign-up needs an email queue")
        self._email_queue.enqueue(message.email_id)
        return account

    def _activation_body(self, account: Account, token: str, expires: datetime) -> str:
        link = f"{self._public_base_url}/activate?token={token}"
        return (
            f"Welcome to Audiens, {account.company_name}!\n\n"
            f"Activate your account with this link (valid until {rfc3339(expires)}):\n"
            f"{link}\n\n"
            "Or through the API:\n"
            f"  POST {self._public_base_url}/v1/accounts/activate\n"
            f'  {{"token": "{token}"}}\n\n'
            "Activation returns your first API key. It is shown once: store it safely.\n"
        )

    def activate(self, *, token: str, now: datetime) -> tuple[Account, str]:
        key, secret = self._new_key("initial key", account_id="", now=now)
        account = self._repo.activate(rules.hash_secret(token), now, key, rules.hash_secret(secret))
        return account, secret

    def create_active_account(
        self, *, company_name: str, email: str, roles: list[str], revenue_share: str | None, now: datetime
    ) -> tuple[Account, str]:
        valid_roles = rules.validate_roles(roles)
        account = Account(
            account_id=_new_id("acc"),
            company_name=company_name.strip(),
            email=rules.normalize_email(email),
            roles=valid_roles,
            status="active",
            created_at=now,
            activated_at=now,
            revenue_share=rules.parse_revenue_share(revenue_share, valid_roles),
        )
        key, secret = self._new_key("initial key", account_id=account.account_id, now=now)
        self._repo.create_active(
            account, claim=rules.email_claim_key(account.email), key=key, key_hash=rules.hash_secret(secret)
        )
        return account, secret

    def expire_unactivated(self, *, now: datetime) -> int:
        expired = 0
        for account in self._repo.pending_created_before(now - rules.ACTIVATION_TTL):
            if self._repo.expire(account, claim=rules.email_claim_key(account.email), now=now):
                expired += 1
        return expired

    # ---------------------------------------------------------------- emails
    def send_email(self, email_id: str) -> bool:
        """Send one queued email; a redelivered message for an email already sent does nothing."""
        if self._email_sender is None:
            raise RuntimeError("sending needs an email sender")
        email = self._repo.get_email(email_id)
        if email is None:
            raise NotFoundError(f"email {email_id} does not exist")
        if email.sent:
            return False
        message_id = self._email_sender.send(
            sender=self._sender_email, to=email.to, subject=email.subject, body=email.body
        )
        self._repo.mark_email_sent(email_id, message_id)
        return True

    # ---------------------------------------------------------------- reading
    def get_account(self, account_id: str) -> Account:
        account = self._repo.get(account_id)
        if account is None:
            raise NotFoundError("Account not found.")
        return account

    # ---------------------------------------------------------------- API keys
    def _new_key(self, name: str, *, account_id: str, now: datetime) -> tuple[ApiKey, str]:
        secret = _new_secret(rules.API_KEY_PREFIX)
        key = ApiKey(
            key_id=_new_id("key"),
            account_id=account_id,
            name=name,
            prefix=secret[:10],
            created_at=now,
        )
        return key, secret

    def create_key(self, principal: Principal, *, name: str, now: datetime) -> IssuedKey:
        held = [k for k in self._repo.list_keys(principal.account_id) if k.revoked_at is None]
        check_quota("api_keys", len(held))
        key, secret = self._new_key(name.strip(), account_id=principal.account_id, now=now)
        self._repo.add_key(key, rules.hash_secret(secret))
        return IssuedKey(key=key, secret=secret)

    def list_keys(self, principal: Principal) -> list[ApiKey]:
        return sorted(self._repo.list_keys(principal.account_id), key=lambda k: (k.created_at, k.key_id))

    def revoke_key(self, principal: Principal, *, key_id: str, now: datetime, api_id: str, stage: str) -> ApiKey:
        keys = self._repo.list_keys(principal.account_id)
        target = next((k for k in keys if k.key_id == key_id), None)
        if target is None:
            raise NotFoundError(f"API key {key_id} not found.")
        active = [k for k in keys if k.revoked_at is None]
        if target.revoked_at is None and len(active) == 1:
            raise ConflictError(
                "This is the account's last active API key; create another one before revoking it.",
                code="last_active_key",
            )
        revoked = self._repo.revoke_key(principal.account_id, key_id, now)
        if self._authorizer_cache is not None and api_id:
            self._authorizer_cache.flush(api_id, stage)
        return revoked

    # ---------------------------------------------------------------- authentication
    def authenticate(self, secret: str) -> Principal | None:
        digest = rules.hash_secret(secret)
        if self._operator_key_hash and secrets.compare_digest(digest, self._operator_key_hash):
            return Principal(account_id=rules.OPERATOR, roles=(rules.OPERATOR,), key_id="operator")
        found = self._repo.find_key(digest)
        if found is None:
            return None
        key, account = found
        if key.revoked_at is not None or account.status != "active":
            return None
        return Principal(account_id=account.account_id, roles=account.roles, key_id=key.key_id)
