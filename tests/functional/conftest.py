from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_NAMESPACE="Audiens",
    POWERTOOLS_LOG_LEVEL="WARNING",
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws

from local_runtime import dynamodb_limits
from local_runtime.moto_patches import fast_moto
from tests.functional.billing_helpers import Billing
from tests.functional.usage_helpers import UsageStack
from tests.support.aws import create_stack
from tests.support.billing import FakeBillingInputs
from tests.support.lambda_api import OPERATOR_KEY, OPERATOR_KEY_HASH, ApiClient, Deployment, as_deployed
from tests.support.limits import apply_suite_defaults, engine_for
from tests.support.usage import IN_WINDOW, InMemoryUsageCatalog, UsageDrops, WriteCounter

apply_suite_defaults()
dynamodb_limits.install_botocore_hooks()  # before any botocore session exists; inert until an engine is used


@contextlib.contextmanager
def fresh_stack(engine: Callable[[Any], dynamodb_limits.Limits | None], **parameters: str) -> Iterator[dict[str, str]]:
    """The template's resources in a fresh moto, deployed (each handler invoked with its function's own
    environment, ``parameters`` overriding the template's), ``engine(client)`` judging every DynamoDB call
    (None: moto as it is)."""
    with mock_aws():
        physical = create_stack()
        current = Deployment(physical, {"Stage": "test", "OperatorKeyHash": OPERATOR_KEY_HASH, **parameters})
        with as_deployed(current):
            sender = current.environment("EmailWorkerFunction")["SENDER_EMAIL"]
            boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=sender)
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            judge = engine(dynamodb)
            if judge is not None:
                judge.describe = lambda name: dynamodb.describe_table(TableName=name)["Table"]
                judge.learn_tables(dynamodb)
            previous = dynamodb_limits.use(judge)
            try:
                yield physical
            finally:
                dynamodb_limits.use(previous)


@pytest.fixture(autouse=True)
def _no_pending_metrics() -> None:
    """Business metrics a test added outside a handler (a service called directly) are not flushed by the
    next test's handler: each test starts with none pending, as each Lambda invocation does."""
    from audiens.observability import metrics

    metrics.clear_metrics()


@pytest.fixture(scope="module")
def module_stack(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """``fresh_stack`` once for a whole module (``stack`` in a module marked ``shared_stack``), DynamoDB's
    limits judging every call as for a test's own stack, faults seeded with the module's id."""
    with fresh_stack(lambda _: engine_for(request.node.nodeid)) as physical:
        yield physical


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Given the template's tables, queues and buckets in moto, and the functions deployed: each handler the
    drivers invoke sees only its own template environment.

    Per test, DynamoDB's limits (conflicts, throughput, sizes, transient faults) judge every call made in it
    when AUDIENS_DYNAMODB_LIMITS=real (the suite's default), faults seeded with the test's id; ``limits``
    is that engine. In a module marked ``shared_stack`` (``pytestmark = pytest.mark.shared_stack``) it is
    the ``module_stack`` instead: creating the resources is most of a short test's time, and those tests
    never share an id (each makes its own accounts), so they can share the resources.
    """
    if request.node.get_closest_marker("shared_stack"):
        yield request.getfixturevalue("module_stack")
        return
    with fresh_stack(lambda _: engine_for(request.node.nodeid)) as physical:
        yield physical


@pytest.fixture
def limits(stack: dict[str, str]) -> dynamodb_limits.Limits | None:
    """The DynamoDB limits engine judging this test's calls (None when AUDIENS_DYNAMODB_LIMITS is off)."""
    return dynamodb_limits.current()


@pytest.fixture
def api(stack: dict[str, str]) -> ApiClient:
    return ApiClient()


@pytest.fixture
def operator_key() -> str:
    return OPERATOR_KEY


@pytest.fixture
def make_account(api: ApiClient, operator_key: str) -> Any:
    """Makes an account through the operator API; company names and emails unique across a shared stack."""

    def make(roles: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        n = uuid.uuid4().hex[:12]
        result = api.call(
            "POST",
            "/v1/admin/accounts",
            {"company_name": f"Company {n}", "email": f"user{n}@example.com", "roles": roles or ["buyer"], **extra},
            key=operator_key,
        )
        assert result.status == 201, result.body
        return dict(result.body)

    return make


# ------------------------------------------------------------------------------- channels (test_channels)
@pytest.fixture
def push_url(stack: dict[str, str]) -> str:
    """The push queue, emptied of earlier tests' messages (the stack may be shared by the module)."""
    from tests.functional.marketplace_helpers import receive
    from tests.support.aws import queue_url

    sqs = boto3.client("sqs", region_name="us-east-1")
    for name in ("ChannelPushQueue", "ChannelPushDeadLetterQueue"):  # PurgeQueue is rate-limited: drain instead
        url = queue_url(stack[name])
        while messages := receive(url):
            for m in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return queue_url(stack["ChannelPushQueue"])


# ----------------------------------------------------------------------------- billing (test_billing_*)
@pytest.fixture
def billing(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Billing:
    """Given the stack with the close's inputs served by an in-memory fake."""
    from audiens import wiring

    inputs = FakeBillingInputs()
    monkeypatch.setattr(wiring, "billing_inputs", lambda: inputs)
    return Billing(stack, inputs)


# ------------------------------------------------------------------------------ usage (test_usage_*)
# The usage modules share a stack (``shared_stack``) and use ``usage_stack`` in every test: moto's O(table)
# transaction and query costs removed (``local_runtime.moto_patches.fast_moto``, semantics unchanged), the
# marketplace seen through an in-memory ``UsageCatalog`` (the port usage reporting is built on).
@pytest.fixture(scope="module")
def usage_stack(module_stack: dict[str, str]) -> Iterator[UsageStack]:
    """Given the module's stack with the marketplace seen through an in-memory ``UsageCatalog``."""
    from audiens import wiring

    with pytest.MonkeyPatch.context() as patch, fast_moto():
        fake = InMemoryUsageCatalog()
        patch.setattr(wiring, "usage_catalog", lambda: fake)
        yield UsageStack(module_stack, ApiClient(now=IN_WINDOW), fake, UsageDrops(module_stack["UsageBucket"]))


@pytest.fixture
def catalog(usage_stack: UsageStack) -> InMemoryUsageCatalog:
    return usage_stack.catalog


@pytest.fixture
def drops(usage_stack: UsageStack) -> UsageDrops:
    return usage_stack.drops


@pytest.fixture
def buyer(usage_stack: UsageStack, make_account: Any) -> dict[str, Any]:
    """Given a buyer with three segments on one destination, one on a content-optimization destination, and a
    CPM feed (Data Provider A / Data Feed A) subscribed for activation and modeling."""
    account: dict[str, Any] = make_account(["buyer"])
    buyer_id = account["account_id"]
    catalog = usage_stack.catalog
    catalog.map_segment(buyer_id, "seg_x", "dst_1", segment_name="Sports fans")
    catalog.map_segment(buyer_id, "seg_y", "dst_1", segment_name="Travel")
    catalog.map_segment(buyer_id, "seg_z", "dst_1", segment_name="Autos")
    catalog.map_segment(buyer_id, "seg_x", "dst_co", destination_name="Content optimizer", content_optimization=True)
    catalog.subscribe(buyer_id)
    catalog.subscribe(buyer_id, use_case="modeling")
    return account


@pytest.fixture
def other_buyer(usage_stack: UsageStack, make_account: Any) -> dict[str, Any]:
    """Given another buyer account, with a segment of its own mapped to its own destination."""
    account: dict[str, Any] = make_account(["buyer"])
    usage_stack.catalog.map_segment(account["account_id"], "seg_other", "dst_other")
    return account


@pytest.fixture
def other_buyers_segment(usage_stack: UsageStack) -> tuple[str, str]:
    """Given another buyer's (segment, destination) in the marketplace (no API key needed)."""
    usage_stack.catalog.map_segment(f"acc_other_{uuid.uuid4().hex[:12]}", "seg_other", "dst_other")
    return ("seg_other", "dst_other")


@pytest.fixture
def writes(usage_stack: UsageStack, monkeypatch: pytest.MonkeyPatch) -> WriteCounter:
    return WriteCounter().install(monkeypatch)


@pytest.fixture
def period_state(usage_stack: UsageStack) -> Iterator[Callable[[str, str], None]]:
    """Sets a period's close state (as the monthly close does) and removes it after the test."""
    from datetime import UTC, datetime

    from audiens.dal.base import retry_conflicts
    from audiens.dal.period_models import PeriodStateItem
    from audiens.wiring import usage_repository

    usage_repository()  # binds the tables
    touched: list[str] = []

    def set_state(period: str, state: str) -> None:
        touched.append(period)
        item = PeriodStateItem(
            *PeriodStateItem.key(period), period=period, state=state, changed_at=datetime(2026, 11, 6, tzinfo=UTC)
        )
        retry_conflicts(item.save)  # as the close does: a usage transaction may hold the item

    yield set_state
    for period in touched:
        PeriodStateItem(*PeriodStateItem.key(period)).delete()
