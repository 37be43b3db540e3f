"""PynamoDB models. One class per item type; several item types share a table (pk/sk design).

Money and shares are stored as strings (DESIGN §3: ``NumberAttribute`` round-trips through float).
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from audiens.dal.base import IsoDateTimeAttribute


class _AccountsTable(Model):
    class Meta:
        table_name = "AccountsTable"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _Gsi1(GlobalSecondaryIndex["AccountItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class AccountItem(_AccountsTable):
    """pk=ACCOUNT#<id>, sk=PROFILE. While pending it sits in gsi1 under PENDING so expiry is a query."""

    account_id = UnicodeAttribute()
    company_name = UnicodeAttribute()
    email = UnicodeAttribute()
    roles = ListAttribute[str](of=UnicodeAttribute)  # type: ignore[arg-type]
    status = UnicodeAttribute()
    revenue_share = UnicodeAttribute(null=True)
    created_at = IsoDateTimeAttribute()
    activated_at = IsoDateTimeAttribute(null=True)
    usage_reminders = BooleanAttribute(null=True)  # absent: on (the default)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_gsi1 = _Gsi1()


class EmailClaimItem(_AccountsTable):
    """pk=EMAIL#<normalized email>, sk=CLAIM: makes an email belong to one live account."""

    account_id = UnicodeAttribute()


class ActivationTokenItem(_AccountsTable):
    """pk=TOKEN#<sha256>, sk=TOKEN. Only the hash is stored; the token itself lives in the email."""

    account_id = UnicodeAttribute()
    expires_at = IsoDateTimeAttribute()
    used_at = IsoDateTimeAttribute(null=True)
    ttl = NumberAttribute(null=True)


class _KeysByAccount(GlobalSecondaryIndex["ApiKeyItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ApiKeyItem(_AccountsTable):
    """pk=KEY#<sha256>, sk=KEY; gsi1 lists an account's keys (ACCT#<id>#KEYS / KEY#<key_id>)."""

    key_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    prefix = UnicodeAttribute()
    created_at = IsoDateTimeAttribute()
    revoked_at = IsoDateTimeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_account = _KeysByAccount()


class OutgoingEmailItem(_AccountsTable):
    """pk=OUTBOX#<email_id>, sk=EMAIL. The queue message carries only the id; the worker reads this."""

    write_id = UnicodeAttribute(null=True)  # the call that wrote it: its retry is recognised (dal/idempotent.py)

    email_id = UnicodeAttribute()
    to = UnicodeAttribute()
    subject = UnicodeAttribute()
    body = UnicodeAttribute()
    created_at = IsoDateTimeAttribute()
    sent = BooleanAttribute(default=False)
    provider_message_id = UnicodeAttribute(null=True)


MODELS: list[type[Model]] = [AccountItem, EmailClaimItem, ActivationTokenItem, ApiKeyItem, OutgoingEmailItem]
