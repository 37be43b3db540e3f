"""The S3 export's confused-deputy guard, with an in-memory AWS that enforces what moto does not.

moto's AssumeRole accepts any ExternalId and its S3 ignores ExpectedBucketOwner. ``FakeAws`` plays the two
checks AWS makes: a role's trust policy admits one ExternalId, and a bucket belongs to one account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from audiens.domain.accounts import Principal
from audiens.domain.channel_config import S3Platform
from audiens.domain.channel_push import S3Target
from audiens.domain.destinations import Destination
from audiens.errors import ValidationError
from audiens.ports.channels import DeliveryError
from audiens.services.channels import ChannelService

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
VICTIM_ROLE = "arn:aws:iam::210987654321:role/audiens-export"
PLATFORM = S3Platform("123456789012", frozenset({"audiens-usage-prod-123456789012"}))


@dataclass
class FakeAws:
    trust: dict[str, str]  # role ARN -> the one ExternalId its trust policy admits
    bucket_owner: dict[str, str]  # bucket -> account
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    assumed: list[tuple[str, str]] = field(default_factory=list)

    def _check(self, target: S3Target) -> None:
        self.assumed.append((target.role_arn, target.external_id))
        if self.trust.get(target.role_arn) != target.external_id:
            raise DeliveryError(f"AccessDenied: not authorized to perform sts:AssumeRole on {target.role_arn}")
        if self.bucket_owner.get(target.bucket) != target.owner_account:
            raise DeliveryError("AccessDenied: the bucket is not owned by the expected account")

    def put(self, target: S3Target, key: str, body: bytes) -> None:
        self._check(target)
        self.objects[(target.bucket, key)] = body

    def delete(self, target: S3Target, key: str) -> None:
        self._check(target)
        self.objects.pop((target.bucket, key), None)

    def verify(self, target: S3Target, key: str) -> None:
        self.put(target, key, b"{}")
        self.delete(target, key)


class Destinations:
    def __init__(self) -> None:
        self.stored: list[Destination] = []

    def put_destination(self, destination: Destination) -> None:
        self.stored.append(destination)

    def list_destinations(self, account_id: str) -> list[Destination]:
        return [d for d in self.stored if d.account_id == account_id]


def _service(aws: FakeAws, repo: Destinations) -> ChannelService:
    return ChannelService(repo, segments=Any, exporter=aws, s3_platform=PLATFORM)  # type: ignore[arg-type]


def _create(service: ChannelService, account_id: str, config: dict[str, Any]) -> Destination:
    return service.create_destination(
        Principal(account_id, ("buyer",)),
        channel_id="s3_export",
        name="export",
        config=config,
        content_optimization=False,
        now=NOW,
    )


def test_the_owner_proves_the_bucket_and_another_tenant_naming_the_same_role_is_refused() -> None:
    # Given a customer whose role trusts the ExternalId Audiens derives for its own account and bucket
    aws = FakeAws(
        trust={VICTIM_ROLE: "audiens:acc_victim:victim-bucket"}, bucket_owner={"victim-bucket": "210987654321"}
    )
    repo = Destinations()
    service = _service(aws, repo)
    config = {"bucket": "victim-bucket", "role_arn": VICTIM_ROLE, "prefix": "taxonomy"}
    # When the customer configures the export, Audiens assumes the role with that ExternalId and probes the bucket
    created = _create(service, "acc_victim", config)
    assert created.config["external_id"] == "audiens:acc_victim:victim-bucket"
    assert aws.assumed[-1] == (VICTIM_ROLE, "audiens:acc_victim:victim-bucket")
    assert aws.objects == {}  # the probe object was deleted again
    # When another tenant names the same bucket and role, Audiens passes *its* ExternalId, which the role refuses
    with pytest.raises(ValidationError) as refused:
        _create(service, "acc_evil", config)
    assert refused.value.status == 422 and refused.value.details[0]["step"] == "access"
    assert "audiens:acc_evil:victim-bucket" in refused.value.message and "123456789012" in refused.value.message
    # Then nothing of the second attempt is stored
    assert [d.account_id for d in repo.stored] == ["acc_victim"]


def test_a_third_party_bucket_that_trusts_the_customer_role_is_refused_by_the_owner_check() -> None:
    aws = FakeAws(trust={VICTIM_ROLE: "audiens:acc_1:someone-elses"}, bucket_owner={"someone-elses": "999999999999"})
    repo = Destinations()
    with pytest.raises(ValidationError) as refused:
        _create(_service(aws, repo), "acc_1", {"bucket": "someone-elses", "role_arn": VICTIM_ROLE})
    assert refused.value.details[0]["step"] == "access" and repo.stored == []


@pytest.mark.parametrize(
    ("config", "step"),
    [
        ({"bucket": "audiens-usage-prod-123456789012", "role_arn": VICTIM_ROLE}, "bucket"),
        ({"bucket": "mine", "role_arn": "arn:aws:iam::123456789012:role/audiens-channel-push-prod"}, "access"),
    ],
)
def test_platform_buckets_and_roles_are_refused_before_any_aws_call(config: dict[str, str], step: str) -> None:
    aws = FakeAws(trust={}, bucket_owner={})
    with pytest.raises(ValidationError) as refused:
        _create(_service(aws, Destinations()), "acc_1", config)
    assert refused.value.details[0]["step"] == step
    assert aws.assumed == []
