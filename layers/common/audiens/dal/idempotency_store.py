"""The API's ``Idempotency-Key`` records: Powertools' DynamoDB persistence, safe against a lost answer.

Imported only by the function that serves the API (the composition root builds it lazily), so the others
never load Powertools' idempotency utility.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord


def idempotency_store(table_name: str) -> DynamoDBPersistenceLayer:
    """Powertools' idempotency persistence on ``table_name``, safe against a lost answer (``_RetrySafeStore``)."""
    return _RetrySafeStore(table_name=table_name)


class _RetrySafeStore(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB persistence, whose in-progress record survives a lost answer.

    The record is a conditional put without a token: when its answer is lost, the SDK's retry fails on the
    record the request itself just wrote, and Powertools would answer "already in progress" (409) to the
    request that holds it. The record that failed the condition is this call's when it is in progress with
    exactly this call's payload hash and expiries (the in-progress one to the millisecond, from this
    invocation's remaining time): the put is then done.
    """

    def _put_record(self, data_record: DataRecord) -> None:
        try:
            super()._put_record(data_record)
        except IdempotencyItemAlreadyExistsError as error:
            stored = error.old_data_record or self._get_record(data_record.idempotency_key)
            if not _same_in_progress_record(stored, data_record):
                raise


def _same_in_progress_record(stored: DataRecord, written: DataRecord) -> bool:
    return (
        stored.status == STATUS_CONSTANTS["INPROGRESS"]
        and stored.expiry_timestamp == written.expiry_timestamp
        and stored.in_progress_expiry_timestamp == written.in_progress_expiry_timestamp
        and stored.payload_hash == written.payload_hash
    )
