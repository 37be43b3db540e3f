"""The email a buyer gets when a usage file it uploaded is rejected: the first errors and a link to the upload.

Kept apart from the billing documents so the usage ingest function never loads the PDF library.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from audiens.domain.billing_emails import upload_rejected_email
from audiens.domain.usage_reports import UploadRecord
from audiens.ports.billing_documents import AccountNames, Mailer


class _NamedMailer(Mailer, AccountNames, Protocol):
    pass


class UploadRejectionNotifier:
    def __init__(self, accounts: _NamedMailer, base_url: str) -> None:
        self._accounts = accounts
        self._base_url = base_url.rstrip("/")

    def __call__(self, record: UploadRecord, now: datetime) -> None:
        company = self._accounts.company_name(record.account_id)
        if company is None:
            return
        errors = [
            (error.get("line"), str(error.get("code", "")), str(error.get("message", ""))) for error in record.errors
        ]
        email = upload_rejected_email(
            account_id=record.account_id,
            company_name=company,
            upload_id=record.upload_id,
            period=record.period,
            file_name=record.key.rsplit("/", 1)[-1],
            errors=errors,
            base_url=self._base_url,
        )
        self._accounts.send_account_email(email, now=now)
