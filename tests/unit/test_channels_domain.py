"""The channel catalog, wizard validation, SSRF rules and the signed taxonomy body (pure, no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from audiens.domain import channel_config, channel_push, channels, destinations
from audiens.errors import ValidationError

ROLE = "arn:aws:iam::210987654321:role/audiens-export"

SECRET = "0123456789abcdef"


def _problem(channel_id: str, config: dict[str, object] | None, *, allow_private: bool = False) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        channel_config.validate_config(channels.channel(channel_id), config, allow_private=allow_private)
    assert caught.value.code == "invalid_destination_config"
    return caught.value


def test_the_catalog_offers_seamless_and_wizard_channels_with_ordered_steps() -> None:
    setups = {c.channel_id: c.setup for c in channels.CATALOG}
    assert setups == {
        "audiens_marketplace": "seamless",
        "example_dsp": "seamless",
        "webhook": "wizard",
        "s3_export": "wizard",
    }
    assert [s.step for s in channels.channel("webhook").steps] == ["endpoint", "credentials"]
    with pytest.raises(ValidationError) as caught:
        channels.channel("fax")
    assert caught.value.code == "unknown_channel"


def test_steps_are_checked_in_order_and_only_the_first_failing_step_is_reported() -> None:
    # Given a config wrong in both steps, the endpoint step (first) is the one named
    error = _problem("webhook", {"url": "ftp://x.example.com", "secret": "short"})
    assert error.message.startswith("Step 'endpoint' (Endpoint) is invalid")
    assert [(d["step"], d["field"]) for d in error.details] == [("endpoint", "url")]
    # With a good endpoint, the credentials step fails
    error = _problem("webhook", {"url": "https://x.example.com", "secret": "short"})
    assert [(d["step"], d["field"]) for d in error.details] == [("credentials", "secret")]


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/a",
        "https://127.0.0.1/a",
        "https://127.1.2.3:8443/a",
        "https://[::1]/a",
        "https://[::ffff:10.0.0.1]/a",
        "https://10.1.2.3/a",
        "https://172.16.0.1/a",
        "https://192.168.1.1/a",
        "https://169.254.169.254/latest/meta-data/",
        "https://0.0.0.0/a",
        "https://localhost/a",
        "https://api.localhost/a",
        "https://printer.local/a",
        "https://metadata.google.internal/a",
    ],
)
def test_plain_http_and_internal_hosts_are_refused_outside_the_local_stage(url: str) -> None:
    _problem("webhook", {"url": url, "secret": SECRET})
    # ... and accepted on the local stage, where the demo's receiver runs on 127.0.0.1
    channel_config.validate_config(channels.channel("webhook"), {"url": url, "secret": SECRET}, allow_private=True)


def test_a_public_https_endpoint_is_accepted_and_normalized() -> None:
    config = channel_config.validate_config(
        channels.channel("webhook"), {"url": "https://hooks.example.com/a?x=1", "secret": SECRET}, allow_private=False
    )
    assert config == {"url": "https://hooks.example.com/a?x=1", "secret": SECRET}
    assert destinations.masked_config(channels.channel("webhook"), config)["secret"] == "****cdef"


def test_a_destination_shows_its_config_with_only_its_secret_fields_masked() -> None:
    at = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    config = {"url": "https://hooks.example.com/a", "secret": SECRET}
    webhook = destinations.Destination("dst_1", "acc_1", "webhook", "Hooks", config, False, "active", at)
    assert (webhook.channel_name, webhook.shown_config) == (
        "Webhook",
        {"url": "https://hooks.example.com/a", "secret": "****cdef"},
    )
    assert webhook.config["secret"] == SECRET  # the stored config keeps it, for the push's signature
    s3 = {"bucket": "b", "role_arn": ROLE, "prefix": "", "external_id": "audiens:acc_1:b"}
    export = destinations.Destination("dst_2", "acc_1", "s3_export", "Export", s3, False, "active", at)
    assert export.shown_config == s3  # no secret field: nothing masked


def test_a_mapping_of_another_accounts_segment_is_a_marketplace_one() -> None:
    at = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    own = destinations.SegmentMapping(
        "map_1", "dst_1", "acc_1", "seg_1", "acc_1", "Fans", "Sports", "upsert", 1, "queued", 0, at, at
    )
    assert not own.marketplace
    assert dataclasses.replace(own, segment_owner_id="acc_2").marketplace


@pytest.mark.parametrize(
    ("config", "step"),
    [
        ({}, "bucket"),
        ({"bucket": "ab"}, "bucket"),
        ({"bucket": "Upper"}, "bucket"),
        ({"bucket": "a..b"}, "bucket"),
        ({"bucket": "xn--abc"}, "bucket"),
        ({"bucket": "10.0.0.1"}, "bucket"),
        ({"bucket": "good-bucket"}, "access"),
        ({"bucket": "good-bucket", "role_arn": "arn:aws:iam::1:role/x"}, "access"),
        ({"bucket": "good-bucket", "role_arn": "arn:aws:iam::123456789012:user/x"}, "access"),
        ({"bucket": "good-bucket", "role_arn": ROLE, "prefix": "a//b"}, "location"),
        ({"bucket": "good-bucket", "role_arn": ROLE, "prefix": "a/../b"}, "location"),
        ({"bucket": "good-bucket", "role_arn": ROLE, "prefix": "a b"}, "location"),
        ({"bucket": "good-bucket", "role_arn": ROLE, "prefix": 7}, "location"),
        ({"bucket": "good-bucket", "role_arn": ROLE, "region": "x"}, "config"),
        ({"bucket": "good-bucket", "role_arn": ROLE, "external_id": "chosen-by-caller"}, "config"),
    ],
)
def test_s3_export_config_problems_name_their_step(config: dict[str, object], step: str) -> None:
    assert {d["step"] for d in _problem("s3_export", config).details} == {step}


def test_s3_prefix_is_optional_and_trimmed_and_the_key_is_prefix_slash_segment() -> None:
    chan = channels.channel("s3_export")
    config = channel_config.validate_config(chan, {"bucket": "b-1.x", "role_arn": ROLE}, allow_private=False)
    assert config == {"bucket": "b-1.x", "role_arn": ROLE, "prefix": ""}
    config = channel_config.validate_config(
        chan, {"bucket": "bkt", "role_arn": ROLE, "prefix": "audiens/out/"}, allow_private=False
    )
    assert config["prefix"] == "audiens/out"
    assert channel_push.s3_object_key(config["prefix"], "seg_1") == "audiens/out/seg_1.json"
    assert channel_push.s3_object_key("", "seg_1") == "seg_1.json"


PLATFORM = channel_config.S3Platform("123456789012", frozenset({"audiens-sources-prod-123456789012", "legacy-usage"}))


@pytest.mark.parametrize(
    ("config", "step"),
    [
        ({"bucket": "audiens-sources-prod-123456789012", "role_arn": ROLE}, "bucket"),
        ({"bucket": "legacy-usage", "role_arn": ROLE}, "bucket"),
        ({"bucket": "audiens-console-dev-123456789012", "role_arn": ROLE}, "bucket"),  # any bucket of the account
        ({"bucket": "customer-bucket", "role_arn": "arn:aws:iam::123456789012:role/audiens-channel-push"}, "access"),
    ],
)
def test_an_s3_export_never_targets_the_platform_account_or_its_buckets(config: dict[str, str], step: str) -> None:
    with pytest.raises(ValidationError) as raised:
        channel_config.check_s3_export_target(config, PLATFORM)
    assert raised.value.details[0]["step"] == step and f"Step '{step}'" in raised.value.message


def test_a_customer_bucket_and_role_pass_and_the_external_id_names_the_audiens_account() -> None:
    channel_config.check_s3_export_target({"bucket": "customer-bucket", "role_arn": ROLE}, PLATFORM)
    assert channel_config.export_external_id("acc_1", "bkt") == "audiens:acc_1:bkt"
    assert channel_config.export_external_id("acc_1", "bkt") != channel_config.export_external_id("acc_2", "bkt")
    target = channel_push.s3_target({"bucket": "bkt", "role_arn": ROLE, "external_id": "audiens:acc_1:bkt"})
    assert target.owner_account == "210987654321"


def test_seamless_channels_take_no_config() -> None:
    assert channel_config.validate_config(channels.channel("example_dsp"), None, allow_private=False) == {}
    assert _problem("example_dsp", {"url": "https://x.example.com"}).details[0]["field"] == "url"


def test_the_body_is_canonical_json_and_the_signature_is_hmac_sha256_of_its_bytes() -> None:
    sent = datetime(2026, 11, 3, 10, 0, 5, 123456, tzinfo=UTC)
    body = channel_push.taxonomy_body(
        segment_id="seg_1", name="Café fans", category="Food", action="upsert", version=3, sent_at=sent
    )
    assert json.loads(body) == {
        "segment_id": "seg_1",
        "name": "Café fans",
        "category": "Food",
        "action": "upsert",
        "version": 3,
        "sent_at": "2026-11-03T10:00:05Z",
    }
    assert body == json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert channel_push.sign(SECRET, body) == f"sha256={expected}"
    assert channel_push.sign(SECRET, body + b" ") != channel_push.sign(SECRET, body)


def test_errors_are_kept_short_and_on_one_line() -> None:
    text = channel_push.short_error("line one\nline two " + "x" * 1000)
    assert "\n" not in text and len(text) == channel_push.MAX_ERROR_LENGTH
