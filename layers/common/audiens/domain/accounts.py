"""Accounts, roles and API keys: the rules that need no I/O."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from audiens.errors import ValidationError

ROLES = ("provider", "buyer")
OPERATOR = "operator"
ACTIVATION_TTL = timedelta(days=7)
DEFAULT_REVENUE_SHARE = Decimal("0.80")
API_KEY_PREFIX = "aud_"

_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


@dataclass(frozen=True)
class Account:
    account_id: str
    company_name: str
    email: str
    roles: tuple[str, ...]
    status: str  # pending | active | expired
    created_at: datetime
    activated_at: datetime | None = None
    revenue_share: Decimal | None = None
    usage_reminders: bool = True
    """Whether the account receives the usage reminders of the 1st and the 4th (its own setting)."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    account_id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class OutgoingEmail:
    email_id: str
    to: str
    subject: str
    body: str
    created_at: datetime
    sent: bool = False


@dataclass(frozen=True)
class Principal:
    """Who is calling: what the authorizer puts in the request context."""

    account_id: str
    roles: tuple[str, ...]
    key_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)


def normalize_email(email: str) -> str:
    value = email.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValidationError("email is not a valid address.", code="invalid_email", details=[{"field": "email"}])
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def email_claim_key(email: str) -> str:
    """Addresses differing only in case are the same mailbox for uniqueness purposes."""
    return normalize_email(email).lower()


def validate_roles(roles: list[str]) -> tuple[str, ...]:
    unique = tuple(dict.fromkeys(roles))
    if not unique:
        raise ValidationError("roles must name at least one of: provider, buyer.", code="invalid_roles")
    bad = [r for r in unique if r not in ROLES]
    if bad:
        raise ValidationError(
            f"unknown role(s) {', '.join(bad)}; allowed: provider, buyer.",
            code="invalid_roles",
            details=[{"field": "roles", "value": r} for r in bad],
        )
    return unique


def parse_revenue_share(value: str | None, roles: tuple[str, ...]) -> Decimal | None:
    if "provider" not in roles:
        if value is not None:
            raise ValidationError("revenue_share applies to provider accounts only.", code="invalid_revenue_share")
        return None
    if value is None:
        return DEFAULT_REVENUE_SHARE
    try:
        share = Decimal(value)
    except InvalidOperation:
        share = Decimal("NaN")
    if not share.is_finite() or not (Decimal(0) <= share <= Decimal(1)) or share.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ValidationError(
            'revenue_share must be a decimal string between "0" and "1" with at most 4 places, like "0.80".',
            code="invalid_revenue_share",
        )
    return share


def hash_secret(secret: str) -> str:
    """API keys and activation tokens carry 256 bits of entropy, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def activation_expires(created_at: datetime) -> datetime:
    return created_at + ACTIVATION_TTL
