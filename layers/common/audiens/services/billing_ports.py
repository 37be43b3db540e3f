"""Transition: the billing ports moved to ``audiens.ports.billing``."""

from audiens.ports.billing import (
    BillingInputs,
    BillingJobs,
    BillingRun,
    BillingStore,
    FailedJob,
    JobKind,
    RunCounts,
    RunStatus,
    StoredInvoice,
    StoredPayout,
)

__all__ = [
    "BillingInputs",
    "BillingJobs",
    "BillingRun",
    "BillingStore",
    "FailedJob",
    "JobKind",
    "RunCounts",
    "RunStatus",
    "StoredInvoice",
    "StoredPayout",
]
