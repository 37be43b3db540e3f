"""Channels, destinations, segment mappings and the taxonomy push worker (DOMAIN.md §5) on moto.

The webhook tests run a real HTTP server on 127.0.0.1 (plain http and loopback are allowed on the local
stage only) and deliver the real push queue to ChannelPushFunction the way Lambda's event source does.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.functional.marketplace_helpers import (
    NOW,
    Provider,
    WebhookReceiver,
    local_stage,
    make_provider,
    pump,
    receive,
    run_worker,
    settle,
    verify_signature,
)
from tests.support.daily import run_daily
from tests.support.lambda_api import ApiClient, FakeContext, load_handler

pytestmark = pytest.mark.shared_stack  # one stack per module: every test makes its own accounts


SECRET = "s3cr3t-shared-with-the-receiver"
CUSTOMER_ACCOUNT = "210987654321"
EXPORT_ROLE = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/audiens-export"


def customer_s3() -> Any:
    """S3 as the customer's account (moto keeps each account's buckets apart)."""
    sts = boto3.client("sts", region_name="us-east-1")
    creds = sts.assume_role(RoleArn=EXPORT_ROLE, RoleSessionName="customer-setup")["Credentials"]
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


@pytest.fixture
def provider(api: ApiClient, make_account: Any) -> Provider:
    return make_provider(api, make_account, {"sports": range(0, 20)})


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch, stack: dict[str, str]) -> Any:
    with local_stage():
        yield


def _segment(api: ApiClient, provider: Provider, name: str = "Sports fans", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "category": "Interest > Sports", "rule": provider.traits["sports"], **extra}
    result = api.call("POST", "/v1/segments", body, key=provider.key)
    assert result.status == 201, result.body
    return dict(result.body)


def _destination(api: ApiClient, key: str, channel_id: str, config: dict[str, Any] | None = None, **extra: Any) -> Any:
    body: dict[str, Any] = {"channel_id": channel_id, "name": f"my {channel_id}", **extra}
    if config is not None:
        body["config"] = config
    return api.call("POST", "/v1/destinations", body, key=key)


def _map(api: ApiClient, key: str, destination_id: str, segment_id: str) -> Any:
    return api.call("POST", f"/v1/destinations/{destination_id}/segments", {"segment_id": segment_id}, key=key)


def _mappings(api: ApiClient, key: str, destination_id: str) -> dict[str, dict[str, Any]]:
    result = api.call("GET", f"/v1/destinations/{destination_id}/segments", key=key)
    assert result.status == 200, result.body
    return {m["segment_id"]: m for m in result.body["segments"]}


def test_the_catalog_has_seamless_and_wizard_channels(api: ApiClient, provider: Provider) -> None:
    result = api.call("GET", "/v1/channels", key=provider.key)
    channels = {c["channel_id"]: c for c in result.body["channels"]}
    assert {c["setup"] for c in channels.values()} == {"seamless", "wizard"}
    assert (
        channels["audiens_marketplace"]["setup"] == "seamless" and channels["audiens_marketplace"].get("steps") is None
    )
    assert channels["example_dsp"]["setup"] == "seamless"
    assert [s["step"] for s in channels["webhook"]["steps"]] == ["endpoint", "credentials"]
    assert [s["step"] for s in channels["s3_export"]["steps"]] == ["bucket", "access", "location"]
    assert channels["webhook"]["steps"][1]["fields"][0] == {
        "name": "secret",
        "type": "string",
        "required": True,
        "secret": True,
        "description": "Shared secret of 16 to 256 characters used to sign bodies.",
    }
    assert api.call("GET", "/v1/channels/webhook", key=provider.key).body["channel_id"] == "webhook"
    assert api.call("GET", "/v1/channels/nope", key=provider.key).status == 404


def test_a_catalog_entry_reads_whole_with_its_steps_and_fields(api: ApiClient, provider: Provider) -> None:
    # A wizard channel: its steps in order, each with its fields
    s3 = api.call("GET", "/v1/channels/s3_export", key=provider.key)
    assert s3.status == 200, s3.body
    role_arn = s3.body["steps"][1]["fields"][0]["description"]
    assert s3.body == {
        "channel_id": "s3_export",
        "name": "Amazon S3 export",
        "setup": "wizard",
        "description": "Each segment's taxonomy is written as <prefix>/<segment_id>.json in your bucket (deleted on "
        "removal), with the credentials of an IAM role in the bucket's AWS account that you create for Audiens.",
        "steps": [
            {
                "step": "bucket",
                "title": "Bucket",
                "fields": [
                    {
                        "name": "bucket",
                        "type": "string",
                        "required": True,
                        "secret": False,
                        "description": "Name of an existing S3 bucket of yours.",
                    }
                ],
            },
            {
                "step": "access",
                "title": "Access",
                "fields": [
                    {"name": "role_arn", "type": "string", "required": True, "secret": False, "description": role_arn}
                ],
            },
            {
                "step": "location",
                "title": "Location",
                "fields": [
                    {
                        "name": "prefix",
                        "type": "string",
                        "required": False,
                        "secret": False,
                        "description": "Key prefix (folder) for the files, e.g. audiens/taxonomy; empty for the "
                        "bucket root.",
                    }
                ],
            },
        ],
    }
    assert "sts:ExternalId = audiens:<your account id>:<bucket>" in role_arn
    # A seamless channel has no steps (null), and the catalog lists each entry as it reads alone
    dsp = api.call("GET", "/v1/channels/example_dsp", key=provider.key).body
    assert dsp == {
        "channel_id": "example_dsp",
        "name": "Example DSP",
        "setup": "seamless",
        "description": "A demand-side platform integrated server to server with Audiens: nothing to configure.",
        "steps": None,
    }
    listed = {c["channel_id"]: c for c in api.call("GET", "/v1/channels", key=provider.key).body["channels"]}
    assert (listed["s3_export"], listed["example_dsp"]) == (s3.body, dsp)


BAD_CONFIGS: list[tuple[str, dict[str, Any] | None, str, str]] = [
    ("webhook", None, "endpoint", "url"),
    ("webhook", {"secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "ftp://hooks.example.com/x", "secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "http://hooks.example.com/x", "secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "https://127.0.0.1/x", "secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "https://169.254.169.254/latest/meta-data", "secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "https://10.0.0.7/x", "secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "https://[::1]/x", "secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "https://localhost:8443/x", "secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "https://user:pw@hooks.example.com/x", "secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "not a url", "secret": SECRET}, "endpoint", "url"),
    ("webhook", {"url": "https://hooks.example.com/x"}, "credentials", "secret"),
    ("webhook", {"url": "https://hooks.example.com/x", "secret": "short"}, "credentials", "secret"),
    ("webhook", {"url": "https://hooks.example.com/x", "secret": SECRET, "token": "x"}, "config", "token"),
    ("s3_export", {}, "bucket", "bucket"),
    ("s3_export", {"bucket": "My_Bucket"}, "bucket", "bucket"),
    ("s3_export", {"bucket": "192.168.0.1"}, "bucket", "bucket"),
    ("s3_export", {"bucket": "good-bucket"}, "access", "role_arn"),
    ("s3_export", {"bucket": "good-bucket", "role_arn": "arn:aws:iam::12345:role/x"}, "access", "role_arn"),
    ("s3_export", {"bucket": "good-bucket", "role_arn": "arn:aws:s3:::good-bucket"}, "access", "role_arn"),
    ("s3_export", {"bucket": "good-bucket", "role_arn": EXPORT_ROLE, "prefix": "../up"}, "location", "prefix"),
    ("s3_export", {"bucket": "good-bucket", "role_arn": EXPORT_ROLE, "prefix": "/abs"}, "location", "prefix"),
    ("s3_export", {"bucket": "good-bucket", "role_arn": EXPORT_ROLE, "external_id": "x"}, "config", "external_id"),
    # the platform's own buckets (named ...-<platform account>) and roles are never an export target
    ("s3_export", {"bucket": "audiens-usage-test-123456789012", "role_arn": EXPORT_ROLE}, "bucket", "bucket"),
    ("s3_export", {"bucket": "good-bucket", "role_arn": "arn:aws:iam::123456789012:role/x"}, "access", "role_arn"),
    # a bucket the role cannot write to (here: none exists) is not proven, so not stored
    ("s3_export", {"bucket": "not-created-by-anyone", "role_arn": EXPORT_ROLE}, "access", "role_arn"),
    ("example_dsp", {"url": "https://x.example.com"}, "None", "url"),
]


def test_wizard_configs_are_checked_step_by_step_and_the_failing_step_is_named(
    api: ApiClient, provider: Provider
) -> None:
    for channel_id, config, step, field in BAD_CONFIGS:
        # When a destination is configured with a bad value
        result = _destination(api, provider.key, channel_id, config)
        # Then 422 invalid_destination_config names the step in the message and details
        assert (result.status, result.error_code) == (422, "invalid_destination_config"), (config, result.body)
        details = result.body["error"]["details"]
        assert [(str(d["step"]), d["field"]) for d in details] == [(step, field)], (config, details)
        if step != "None":
            assert f"Step '{step}'" in result.body["error"]["message"]
    unknown = _destination(api, provider.key, "carrier_pigeon", None)
    assert (unknown.status, unknown.error_code) == (422, "unknown_channel")
    # And nothing was created
    assert api.call("GET", "/v1/destinations", key=provider.key).body["destinations"] == []


def test_destinations_show_their_flag_and_never_their_secret(
    api: ApiClient, provider: Provider, make_account: Any
) -> None:
    webhook = _destination(
        api,
        provider.key,
        "webhook",
        {"url": "https://hooks.example.com/audiens", "secret": SECRET},
        content_optimization=True,
    )
    assert webhook.status == 201, webhook.body
    assert webhook.body["config"] == {"url": "https://hooks.example.com/audiens", "secret": "****iver"}
    assert (webhook.body["status"], webhook.body["content_optimization"]) == ("active", True)
    customer_s3().create_bucket(Bucket="partner-bucket")
    s3_config = {"bucket": "partner-bucket", "role_arn": EXPORT_ROLE, "prefix": "/audiens/"[1:]}
    s3 = _destination(api, provider.key, "s3_export", s3_config)
    assert s3.body["config"] == {
        "bucket": "partner-bucket",
        "role_arn": EXPORT_ROLE,
        "prefix": "audiens",
        "external_id": f"audiens:{provider.account_id}:partner-bucket",
    }
    assert s3.body["content_optimization"] is False
    dsp = _destination(api, provider.key, "example_dsp")
    listed = api.call("GET", "/v1/destinations", key=provider.key).body["destinations"]
    assert {d["destination_id"] for d in listed} == {
        webhook.body["destination_id"],
        s3.body["destination_id"],
        dsp.body["destination_id"],
    }
    assert SECRET not in json.dumps(listed)
    # A destination reads whole, its credentials masked, the same alone and in the list
    shown = api.call("GET", f"/v1/destinations/{webhook.body['destination_id']}", key=provider.key)
    assert (
        shown.body
        == webhook.body
        == {
            "destination_id": webhook.body["destination_id"],
            "channel_id": "webhook",
            "channel_name": "Webhook",
            "name": "my webhook",
            "status": "active",
            "content_optimization": True,
            "config": {"url": "https://hooks.example.com/audiens", "secret": "****iver"},
            "created_at": "2026-11-03T10:00:00Z",
        }
    )
    assert next(d for d in listed if d["channel_id"] == "webhook") == shown.body
    assert next(d for d in listed if d["channel_id"] == "example_dsp")["config"] == {}
    # Another account sees none of them
    other = make_account(["buyer"])["api_key"]
    assert api.call("GET", f"/v1/destinations/{dsp.body['destination_id']}", key=other).status == 404
    assert api.call("GET", f"/v1/destinations/{dsp.body['destination_id']}/segments", key=other).status == 404
    assert api.call("GET", "/v1/destinations", key=other).body["destinations"] == []


def test_only_own_or_marketplace_segments_map_to_own_destinations(
    api: ApiClient, provider: Provider, make_account: Any, push_url: str
) -> None:
    buyer = make_account(["buyer"])["api_key"]
    mine = _destination(api, buyer, "example_dsp").body["destination_id"]
    theirs = _destination(api, provider.key, "example_dsp").body["destination_id"]
    private = _segment(api, provider, "Private one")
    public = _segment(api, provider, "Public one", visibility="public", cpm="2.00")
    # Another account's private segment, an unknown one, another account's destination → 404
    assert _map(api, buyer, mine, private["segment_id"]).status == 404
    assert _map(api, buyer, mine, "seg_nope").status == 404
    assert _map(api, buyer, theirs, public["segment_id"]).status == 404
    # A marketplace public segment maps to the buyer's destination, once
    mapped = _map(api, buyer, mine, public["segment_id"])
    assert mapped.status == 201, mapped.body
    assert mapped.body == {
        "mapping_id": mapped.body["mapping_id"],
        "destination_id": mine,
        "segment_id": public["segment_id"],
        "segment_owner_id": provider.account_id,
        "marketplace": True,
        "name": "Public one",
        "category": "Interest > Sports",
        "action": "upsert",
        "version": 1,
        "push_status": "queued",
        "attempts": 0,
        "last_error": None,
        "last_attempt_at": None,
        "pushed_at": None,
        "mapped_at": "2026-11-03T10:00:00Z",
    }
    listed = api.call("GET", f"/v1/destinations/{mine}/segments", key=buyer).body
    assert listed == {"destination_id": mine, "segments": [mapped.body]}
    assert _map(api, buyer, mine, public["segment_id"]).error_code == "segment_already_mapped"
    # And the push is queued as ids only
    bodies = [json.loads(m["Body"]) for m in receive(push_url)]
    assert bodies == [{"mapping_id": mapped.body["mapping_id"], "version": 1}]


def test_webhook_push_is_signed_and_renames_and_deletion_follow(
    api: ApiClient, provider: Provider, local: Any, push_url: str
) -> None:
    with WebhookReceiver() as receiver:
        # Given a webhook destination pointing at a real local receiver, and a segment mapped to it
        dest = _destination(api, provider.key, "webhook", {"url": receiver.url, "secret": SECRET})
        assert dest.status == 201, dest.body
        did = dest.body["destination_id"]
        segment = _segment(api, provider)
        assert _map(api, provider.key, did, segment["segment_id"]).status == 201

        # When the worker runs
        results = pump(push_url)

        # Then one signed POST arrived with the taxonomy
        assert results == [{"batchItemFailures": []}]
        assert len(receiver.received) == 1
        got = receiver.received[0]
        assert verify_signature(SECRET, got)
        assert not verify_signature("another-secret-of-16+", got)
        assert got.json == {
            "segment_id": segment["segment_id"],
            "name": "Sports fans",
            "category": "Interest > Sports",
            "action": "upsert",
            "version": 1,
            "sent_at": got.json["sent_at"],
        }
        sent_at = datetime.fromisoformat(got.json["sent_at"].replace("Z", "+00:00"))
        assert int(got.headers["X-Audiens-Timestamp"]) == int(sent_at.timestamp())
        assert got.headers["Content-Type"] == "application/json"
        status = _mappings(api, provider.key, did)[segment["segment_id"]]
        assert (status["push_status"], status["attempts"], status["last_error"]) == ("pushed", 1, None)
        assert status["pushed_at"] is not None

        # When the segment is renamed, the new taxonomy is re-pushed; a change of rule alone is not
        renamed = api.call("PATCH", f"/v1/segments/{segment['segment_id']}", {"name": "Sport lovers"}, key=provider.key)
        assert renamed.status == 200, renamed.body
        api.call("PATCH", f"/v1/segments/{segment['segment_id']}", {"expiration_days": 90}, key=provider.key)
        pump(push_url)
        assert [r.json["name"] for r in receiver.received] == ["Sports fans", "Sport lovers"]
        assert receiver.received[1].json["version"] == 2
        assert all(verify_signature(SECRET, r) for r in receiver.received)

        # When the segment is deleted, a remove is pushed and the mapping ends "removed"
        assert api.call("DELETE", f"/v1/segments/{segment['segment_id']}", key=provider.key).status == 204
        pump(push_url)
        last = receiver.received[-1].json
        assert (last["action"], last["version"], last["name"]) == ("remove", 3, "Sport lovers")
        status = _mappings(api, provider.key, did)[segment["segment_id"]]
        assert (status["push_status"], status["action"], status["version"]) == ("removed", "remove", 3)
        assert len(receiver.received) == 3


def test_a_stale_message_is_skipped_and_only_the_latest_version_is_sent(
    api: ApiClient, provider: Provider, local: Any, push_url: str
) -> None:
    with WebhookReceiver() as receiver:
        did = _destination(api, provider.key, "webhook", {"url": receiver.url, "secret": SECRET}).body["destination_id"]
        segment = _segment(api, provider)
        _map(api, provider.key, did, segment["segment_id"])
        # Given two renames queued before the worker runs (three messages, versions 1-3)
        for name in ("Second", "Third"):
            api.call("PATCH", f"/v1/segments/{segment['segment_id']}", {"name": name}, key=provider.key)
        messages = receive(push_url)
        assert sorted(json.loads(m["Body"])["version"] for m in messages) == [1, 2, 3]
        # When they are all delivered (and delivered again)
        settle(push_url, messages, run_worker(messages))
        run_worker(messages)
        # Then only version 3 reached the channel, once
        assert [(r.json["name"], r.json["version"]) for r in receiver.received] == [("Third", 3)]


def test_a_receiver_answering_500_is_retried_then_dead_lettered_and_can_be_pushed_again(
    api: ApiClient, provider: Provider, local: Any, push_url: str, stack: dict[str, str]
) -> None:
    with WebhookReceiver(status=500) as receiver:
        did = _destination(api, provider.key, "webhook", {"url": receiver.url, "secret": SECRET}).body["destination_id"]
        segment = _segment(api, provider)
        _map(api, provider.key, did, segment["segment_id"])
        seen: list[tuple[str, int]] = []
        # When every attempt fails: the message is retried (status failed, attempts growing)...
        for _ in range(4):
            messages = receive(push_url)
            assert len(messages) == 1
            result = run_worker(messages)
            assert result["batchItemFailures"] == [{"itemIdentifier": messages[0]["MessageId"]}]
            settle(push_url, messages, result)
            status = _mappings(api, provider.key, did)[segment["segment_id"]]
            seen.append((status["push_status"], status["attempts"]))
        # ... until the 4th receive (maxReceiveCount) marks it dead_lettered, and SQS moves it to the DLQ
        assert seen == [("failed", 1), ("failed", 2), ("failed", 3), ("dead_lettered", 4)]
        assert status["last_error"].startswith("HTTP 500 from 127.0.0.1:")
        assert receive(push_url) == []
        from tests.support.aws import queue_url

        dead = receive(queue_url(stack["ChannelPushDeadLetterQueue"]))
        assert [json.loads(m["Body"]) for m in dead] == [{"mapping_id": status["mapping_id"], "version": 1}]
        assert len(receiver.received) == 4

        # When the receiver is fixed and the user pushes again, it is delivered
        receiver.status = 200
        again = api.call("POST", f"/v1/destinations/{did}/segments/{segment['segment_id']}/push", key=provider.key)
        assert (again.status, again.body["push_status"], again.body["version"]) == (202, "queued", 2)
        pump(push_url)
        status = _mappings(api, provider.key, did)[segment["segment_id"]]
        assert (status["push_status"], status["attempts"], status["last_error"]) == ("pushed", 1, None)


def test_a_receiver_that_times_out_is_retried_then_dead_lettered(
    api: ApiClient, provider: Provider, local: Any, push_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import audiens.domain.channel_push as channel_push

    assert channel_push.WEBHOOK_TIMEOUT_SECONDS == 5.0
    monkeypatch.setattr(channel_push, "WEBHOOK_TIMEOUT_SECONDS", 0.3)  # the 5 s limit, shortened for the test
    with WebhookReceiver(delay=1.5) as receiver:
        did = _destination(api, provider.key, "webhook", {"url": receiver.url, "secret": SECRET}).body["destination_id"]
        segment = _segment(api, provider)
        _map(api, provider.key, did, segment["segment_id"])
        seen = []
        for _ in range(4):  # every attempt times out: retried, then dead-lettered
            messages = receive(push_url)
            result = run_worker(messages)
            assert len(result["batchItemFailures"]) == 1
            settle(push_url, messages, result)
            status = _mappings(api, provider.key, did)[segment["segment_id"]]
            seen.append((status["push_status"], status["attempts"]))
            assert "timed out after 0.3 s" in status["last_error"]
        assert seen == [("failed", 1), ("failed", 2), ("failed", 3), ("dead_lettered", 4)]
        assert receive(push_url) == []  # moved to the dead-letter queue
        assert len(receiver.received) == 4


def test_one_failing_push_does_not_fail_the_rest_of_the_batch(
    api: ApiClient, provider: Provider, local: Any, push_url: str
) -> None:
    with WebhookReceiver(status=503) as broken, WebhookReceiver() as healthy:
        bad = _destination(api, provider.key, "webhook", {"url": broken.url, "secret": SECRET}).body["destination_id"]
        good = _destination(api, provider.key, "webhook", {"url": healthy.url, "secret": SECRET}).body["destination_id"]
        segment = _segment(api, provider)
        _map(api, provider.key, bad, segment["segment_id"])
        _map(api, provider.key, good, segment["segment_id"])
        messages = receive(push_url)
        # A malformed message (poison) is reported failed too, so it ends in the DLQ rather than being lost
        poison = {**messages[0], "MessageId": "poison", "Body": "{not json"}
        result = run_worker([*messages, poison])
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        bad_id = next(m["MessageId"] for m in messages if _body_dest(api, provider, m) == bad)
        assert failed == {bad_id, "poison"}
        assert len(healthy.received) == 1
        assert _mappings(api, provider.key, good)[segment["segment_id"]]["push_status"] == "pushed"
        assert _mappings(api, provider.key, bad)[segment["segment_id"]]["last_error"].startswith("HTTP 503")


def _body_dest(api: ApiClient, provider: Provider, message: dict[str, Any]) -> str:
    from audiens.wiring import channel_service

    mapping_id = json.loads(message["Body"])["mapping_id"]
    found = channel_service()._repo.get_mapping(mapping_id)
    assert found is not None
    return found.destination_id


def test_s3_export_writes_the_taxonomy_file_and_deletes_it_on_removal(
    api: ApiClient, provider: Provider, push_url: str
) -> None:
    from audiens.wiring import channel_service

    # moto accepts any ExternalId and ignores ExpectedBucketOwner: check what is sent
    assumed: list[dict[str, Any]] = []
    sts = channel_service()._exporter._sts  # type: ignore[union-attr]
    sts.meta.events.register("provide-client-params.sts.AssumeRole", lambda params, **_: assumed.append(params))
    writes: list[dict[str, Any]] = []
    session_events = boto3._get_default_session().events

    def record(params: dict[str, Any], **_: Any) -> None:
        writes.append(params)

    for operation in ("PutObject", "DeleteObject"):
        session_events.register(f"provide-client-params.s3.{operation}", record)
    s3 = customer_s3()
    s3.create_bucket(Bucket="partner-taxonomy")
    config = {"bucket": "partner-taxonomy", "role_arn": EXPORT_ROLE, "prefix": "audiens/segments"}
    did = _destination(api, provider.key, "s3_export", config).body["destination_id"]
    expected = {"RoleArn": EXPORT_ROLE, "ExternalId": f"audiens:{provider.account_id}:partner-taxonomy"}
    assert assumed and all(expected.items() <= call.items() for call in assumed)
    # Then the access check's probe object is gone again
    assert s3.list_objects_v2(Bucket="partner-taxonomy").get("KeyCount") == 0
    segment = _segment(api, provider)
    _map(api, provider.key, did, segment["segment_id"])
    pump(push_url)
    key = f"audiens/segments/{segment['segment_id']}.json"
    written = json.loads(s3.get_object(Bucket="partner-taxonomy", Key=key)["Body"].read())
    assert (written["name"], written["category"], written["action"]) == ("Sports fans", "Interest > Sports", "upsert")
    assert _mappings(api, provider.key, did)[segment["segment_id"]]["push_status"] == "pushed"
    # When the segment is unmapped, the file is deleted
    unmapped = api.call("DELETE", f"/v1/destinations/{did}/segments/{segment['segment_id']}", key=provider.key)
    assert (unmapped.status, unmapped.body["action"], unmapped.body["push_status"]) == (200, "remove", "queued")
    pump(push_url)
    assert s3.list_objects_v2(Bucket="partner-taxonomy", Prefix="audiens/").get("KeyCount") == 0
    assert _mappings(api, provider.key, did)[segment["segment_id"]]["push_status"] == "removed"
    # It can be mapped again afterwards
    assert _map(api, provider.key, did, segment["segment_id"]).body["version"] == 3
    for operation in ("PutObject", "DeleteObject"):
        session_events.unregister(f"provide-client-params.s3.{operation}", record)
    exports = [w for w in writes if w["Bucket"] == "partner-taxonomy"]
    # the probe's put and delete, the upsert, the removal: each for the role's account only
    assert len(exports) == 4 and all(w["ExpectedBucketOwner"] == CUSTOMER_ACCOUNT for w in exports)


def test_an_s3_export_to_a_missing_bucket_fails_visibly(api: ApiClient, provider: Provider, push_url: str) -> None:
    s3 = customer_s3()
    s3.create_bucket(Bucket="no-such-bucket-here")
    config = {"bucket": "no-such-bucket-here", "role_arn": EXPORT_ROLE}
    did = _destination(api, provider.key, "s3_export", config).body["destination_id"]
    s3.delete_bucket(Bucket="no-such-bucket-here")  # the customer removes it after setting up the destination
    segment = _segment(api, provider)
    _map(api, provider.key, did, segment["segment_id"])
    result = run_worker(receive(push_url))
    assert len(result["batchItemFailures"]) == 1
    status = _mappings(api, provider.key, did)[segment["segment_id"]]
    assert status["push_status"] == "failed" and "no-such-bucket-here" in status["last_error"]


def test_seamless_channels_are_recorded_as_pushed_and_deleting_a_destination_removes_its_segments(
    api: ApiClient, provider: Provider, push_url: str
) -> None:
    did = _destination(api, provider.key, "audiens_marketplace").body["destination_id"]
    segment = _segment(api, provider)
    _map(api, provider.key, did, segment["segment_id"])
    pump(push_url)
    pushed = _mappings(api, provider.key, did)[segment["segment_id"]]
    assert (pushed["push_status"], pushed["attempts"], pushed["marketplace"]) == ("pushed", 1, False)
    # the push's instants in the API's format: whole seconds, UTC
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", pushed["pushed_at"])
    assert pushed["last_attempt_at"] == pushed["pushed_at"]
    assert api.call("DELETE", f"/v1/destinations/{did}", key=provider.key).status == 204
    assert [json.loads(m["Body"])["version"] for m in receive(push_url)] == [2]
    assert api.call("GET", f"/v1/destinations/{did}", key=provider.key).status == 404


def test_a_marketplace_segment_made_private_leaves_buyers_destinations(
    api: ApiClient, provider: Provider, make_account: Any, push_url: str
) -> None:
    buyer = make_account(["buyer"])["api_key"]
    did = _destination(api, buyer, "example_dsp").body["destination_id"]
    public = _segment(api, provider, "Public", visibility="public", cpm="1.00")
    _map(api, buyer, did, public["segment_id"])
    pump(push_url)
    # When the provider makes it private (dropping the price), the buyer's mapping is removed
    changed = api.call(
        "PATCH", f"/v1/segments/{public['segment_id']}", {"visibility": "private", "cpm": None}, key=provider.key
    )
    assert changed.status == 200, changed.body
    pump(push_url)
    status = _mappings(api, buyer, did)[public["segment_id"]]
    assert (status["action"], status["push_status"]) == ("remove", "removed")


def test_the_daily_expiry_removes_the_segment_from_its_destinations(
    api: ApiClient, provider: Provider, push_url: str
) -> None:
    did = _destination(api, provider.key, "example_dsp").body["destination_id"]
    segment = _segment(api, provider, expiration_days=1)
    _map(api, provider.key, did, segment["segment_id"])
    pump(push_url)
    # When the daily schedule runs two days later
    when = NOW + timedelta(days=2)
    out = run_daily(when.strftime("%Y-%m-%dT%H:%M:%SZ"))  # the schedule, then its pages
    assert out["expired_segments"] >= 1
    pump(push_url)
    # Then the segment was removed from the channel
    status = _mappings(api, provider.key, did)[segment["segment_id"]]
    assert (status["action"], status["push_status"], status["version"]) == ("remove", "removed", 2)
    # And an expired segment cannot be mapped anew
    other = _destination(api, provider.key, "example_dsp").body["destination_id"]
    assert _map(api, provider.key, other, segment["segment_id"]).error_code == "segment_not_active"


def test_usage_read_api_lists_every_mapped_segment_with_its_destination(
    api: ApiClient, provider: Provider, make_account: Any, push_url: str
) -> None:
    from audiens.wiring import channel_service

    buyer = make_account(["buyer"])
    co = _destination(api, buyer["api_key"], "example_dsp", content_optimization=True).body
    public = _segment(api, provider, "Public", visibility="public", cpm="1.00")
    _map(api, buyer["api_key"], co["destination_id"], public["segment_id"])
    keys = channel_service().segment_usage_keys(buyer["account_id"])
    assert [(k.segment_id, k.destination_id, k.content_optimization, k.marketplace, k.mapped) for k in keys] == [
        (public["segment_id"], co["destination_id"], True, True, True)
    ]
    assert (keys[0].channel_id, keys[0].destination_name, keys[0].segment_name) == ("example_dsp", co["name"], "Public")


def test_the_push_queue_dead_letters_after_the_templates_max_receive_count(stack: dict[str, str]) -> None:
    from tests.support.template import load

    template = load()
    queue = template["Resources"]["ChannelPushQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "ChannelPushMaxReceiveCount"}
    env = template["Resources"]["ChannelPushFunction"]["Properties"]["Environment"]["Variables"]
    assert env["CHANNEL_PUSH_MAX_RECEIVES"] == {"Ref": "ChannelPushMaxReceiveCount"}
    sqs = boto3.client("sqs", region_name="us-east-1")
    from tests.support.aws import queue_url

    attributes = sqs.get_queue_attributes(QueueUrl=queue_url(stack["ChannelPushQueue"]), AttributeNames=["All"])
    assert json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 4


def test_a_message_for_an_unknown_mapping_is_consumed_not_retried(stack: dict[str, str]) -> None:
    from tests.support.lambda_api import event

    # Given the sample push message for a mapping that does not exist (e.g. its destination was purged)
    result = load_handler("ChannelPushFunction")(event("sqs_channel_push.json"), FakeContext(function_name="push"))
    # Then it is acknowledged: nothing to push, nothing to retry
    assert result == {"batchItemFailures": []}
