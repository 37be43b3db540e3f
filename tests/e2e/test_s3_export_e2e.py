"""An s3_export destination through the local runtime: the buyer's own bucket, written as the buyer's role.

The customer's AWS account is a second moto account (its buckets are apart from the platform's); the push
worker assumes the customer's role with the ExternalId Audiens derived and writes the taxonomy file there.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.e2e.client import Client, eventually
from tests.e2e.test_usage_e2e import _mapped_segment

CUSTOMER_ROLE = "arn:aws:iam::210987654321:role/audiens-export"


def _customer_s3(runtime: Any) -> Any:
    """S3 as the customer's account, on the runtime's moto."""
    creds = runtime.client("sts").assume_role(RoleArn=CUSTOMER_ROLE, RoleSessionName="customer-setup")["Credentials"]
    return boto3.client(
        "s3",
        endpoint_url=runtime.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def test_a_taxonomy_reaches_the_customers_bucket_and_platform_buckets_are_refused(
    runtime: Any, http: Client, new_account: Any
) -> None:
    account = new_account(["provider", "buyer"])
    key = account["api_key"]
    s3 = _customer_s3(runtime)
    s3.create_bucket(Bucket="acme-taxonomy")
    # Given a segment of the buyer's own data (mapped to a seamless channel already)
    segment_id, _ = _mapped_segment(http, key)
    # When the buyer names the platform's usage bucket, or a role of the platform account, it is refused
    platform_bucket = runtime.resource("UsageBucket")
    refused = http.post(
        "/v1/destinations",
        {"channel_id": "s3_export", "name": "x", "config": {"bucket": platform_bucket, "role_arn": CUSTOMER_ROLE}},
        key=key,
    )
    assert (refused.status, refused.body["error"]["details"][0]["step"]) == (422, "bucket"), refused.body
    platform_role = "arn:aws:iam::123456789012:role/anything"
    refused = http.post(
        "/v1/destinations",
        {"channel_id": "s3_export", "name": "x", "config": {"bucket": "acme-taxonomy", "role_arn": platform_role}},
        key=key,
    )
    assert (refused.status, refused.body["error"]["details"][0]["step"]) == (422, "access"), refused.body
    # When it names its own bucket and role, Audiens proves access and stores the destination
    config = {"bucket": "acme-taxonomy", "role_arn": CUSTOMER_ROLE, "prefix": "audiens"}
    created = http.post("/v1/destinations", {"channel_id": "s3_export", "name": "Acme S3", "config": config}, key=key)
    assert created.status == 201, created.body
    assert created.body["config"]["external_id"] == f"audiens:{account['account_id']}:acme-taxonomy"
    destination_id = created.body["destination_id"]
    mapped = http.post(f"/v1/destinations/{destination_id}/segments", {"segment_id": segment_id}, key=key)
    assert mapped.status == 201, mapped.body
    # Then the push worker writes the taxonomy into the customer's bucket
    key_name = f"audiens/{segment_id}.json"

    def written() -> Any:
        listed = s3.list_objects_v2(Bucket="acme-taxonomy", Prefix="audiens/").get("Contents", [])
        return [o["Key"] for o in listed] == [key_name]

    eventually(written, timeout=30)
    taxonomy = json.loads(s3.get_object(Bucket="acme-taxonomy", Key=key_name)["Body"].read())
    assert (taxonomy["segment_id"], taxonomy["action"]) == (segment_id, "upsert")
    # And nothing was written to the platform's buckets
    assert runtime.client("s3").list_objects_v2(Bucket=platform_bucket, Prefix="audiens/").get("KeyCount") == 0
