"""The local runtime's S3 is as strict as S3 with presigned URLs: SigV4 checked, SigV2 refused.

moto accepts any presigned URL, signed or not, so a URL re-aimed at another buyer's prefix worked locally
and a signing bug could never show in a test. These run on the fixture template's runtime.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_runtime import LocalRuntime, s3_auth

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "local_runtime" / "template.yaml"


@pytest.fixture(scope="module")
def rt() -> Iterator[LocalRuntime]:
    saved = os.environ.pop("AUDIENS_CLOCK", None)
    with LocalRuntime(template=FIXTURE, api_port=0, aws_port=0, clock="2026-11-03T10:00:00Z") as runtime:
        yield runtime
    if saved is not None:
        os.environ["AUDIENS_CLOCK"] = saved


def _s3(rt: LocalRuntime, signature_version: str = "s3v4", key_id: str = "testing", secret: str = "testing") -> Any:
    return boto3.client(
        "s3",
        endpoint_url=rt.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token="testing",
        config=Config(signature_version=signature_version, s3={"addressing_style": "path"}),
    )


def _send(method: str, url: str, body: bytes | None = None, content_type: str = "text/csv") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def _presign(client: Any, method: str, bucket: str, key: str, expires: int = 300) -> str:
    operation = {"PUT": "put_object", "GET": "get_object"}[method]
    return str(client.generate_presigned_url(operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires))


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _code(body: bytes) -> str:
    return body.decode().split("<Code>", 1)[1].split("</Code>", 1)[0]


def _exists(rt: LocalRuntime, bucket: str, key: str) -> bool:
    listed = rt.client("s3").list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    return any(o["Key"] == key for o in listed)


def test_sigv4_presigned_put_and_get_work_as_signed(rt: LocalRuntime) -> None:
    bucket, s3 = rt.resource("UploadsBucket"), _s3(rt)
    # Given a URL presigned with SigV4 for a key with characters that are encoded
    key = "buyer-a/2026-10/segments/a+b c%20(1).csv"
    put = _presign(s3, "PUT", bucket, key)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in put
    # When it is used as signed, Then S3 accepts it and keeps the key exactly
    assert _send("PUT", put, b"x,y\n") == (200, b"")
    assert _exists(rt, bucket, key)
    assert _send("GET", _presign(s3, "GET", bucket, key)) == (200, b"x,y\n")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda url, bucket: _with_path(url, f"/{bucket}/buyer-b/2026-10/segments/x.csv"), id="other-key"),
        pytest.param(lambda url, bucket: _with_path(url, "/fixture-other-local/buyer-a/x.csv"), id="other-bucket"),
        pytest.param(lambda url, bucket: _with_query(url, **{"X-Amz-Expires": "3600"}), id="longer-expiry"),
        pytest.param(lambda url, bucket: _with_query(url, **{"X-Amz-Signature": "0" * 64}), id="other-signature"),
        pytest.param(lambda url, bucket: _with_query(url, extra="1"), id="added-parameter"),
    ],
)
def test_a_presigned_url_changed_after_signing_is_refused(rt: LocalRuntime, tamper: Any) -> None:
    bucket = rt.resource("UploadsBucket")
    rt.client("s3").create_bucket(Bucket="fixture-other-local")
    # Given buyer A's upload URL
    url = _presign(_s3(rt), "PUT", bucket, "buyer-a/2026-10/segments/x.csv")
    # When it is re-aimed or altered
    status, body = _send("PUT", tamper(url, bucket), b"stolen")
    # Then S3 refuses it and writes nothing
    assert (status, _code(body)) == (403, "SignatureDoesNotMatch")
    assert not _exists(rt, bucket, "buyer-b/2026-10/segments/x.csv")
    assert not _exists(rt, "fixture-other-local", "buyer-a/x.csv")


def test_a_url_signed_for_get_cannot_put(rt: LocalRuntime) -> None:
    bucket = rt.resource("UploadsBucket")
    url = _presign(_s3(rt), "GET", bucket, "buyer-a/read-only.csv")
    status, body = _send("PUT", url, b"overwritten")
    assert (status, _code(body)) == (403, "SignatureDoesNotMatch")
    assert not _exists(rt, bucket, "buyer-a/read-only.csv")


def test_an_expired_url_is_refused(rt: LocalRuntime) -> None:
    url = _presign(_s3(rt), "PUT", rt.resource("UploadsBucket"), "buyer-a/late.csv", expires=1)
    time.sleep(2.1)
    status, body = _send("PUT", url, b"late")
    assert (status, _code(body)) == (403, "AccessDenied") and b"Request has expired" in body


def test_an_expiry_over_a_week_or_an_unknown_access_key_is_refused(rt: LocalRuntime) -> None:
    bucket = rt.resource("UploadsBucket")
    status, body = _send("PUT", _presign(_s3(rt), "PUT", bucket, "k.csv", expires=8 * 24 * 3600), b"x")
    assert (status, _code(body)) == (400, "AuthorizationQueryParametersError")
    status, body = _send("PUT", _presign(_s3(rt, key_id="AKIAUNKNOWN", secret="s"), "PUT", bucket, "k.csv"), b"x")
    assert (status, _code(body)) == (403, "InvalidAccessKeyId")


def test_sigv2_is_refused_presigned_or_in_the_header(rt: LocalRuntime) -> None:
    bucket, legacy = rt.resource("UploadsBucket"), _s3(rt, signature_version="s3")
    # Given a SigV2 presigned URL (what boto3 made without signature_version="s3v4")
    url = _presign(legacy, "PUT", bucket, "buyer-a/v2.csv")
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    # Then it is refused like S3 refuses it on a bucket created since 2020
    status, body = _send("PUT", url, b"v2")
    assert (status, _code(body)) == (403, "AccessDenied") and b"AWS4-HMAC-SHA256" in body
    with pytest.raises(ClientError) as refused:
        legacy.put_object(Bucket=bucket, Key="buyer-a/v2-header.csv", Body=b"v2")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert not _exists(rt, bucket, "buyer-a/v2.csv") and not _exists(rt, bucket, "buyer-a/v2-header.csv")


def test_header_signed_sigv4_requests_are_unchanged(rt: LocalRuntime) -> None:
    bucket, s3 = rt.resource("UploadsBucket"), _s3(rt)
    s3.put_object(Bucket=bucket, Key="buyer-a/header.csv", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="buyer-a/header.csv")["Body"].read() == b"ok"


def test_the_check_follows_the_real_clock_not_the_business_clock() -> None:
    # A URL signed now is valid for its lifetime whatever the local clock says; one dated ahead is refused.
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url = _presign(client, "GET", "b", "k", expires=60)
    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}"
    headers = {"Host": parts.netloc}
    now = datetime.now(UTC)
    assert s3_auth.check("GET", target, headers, {"testing": "testing"}, now) is None
    later = s3_auth.check("GET", target, headers, {"testing": "testing"}, now + timedelta(seconds=61))
    assert later is not None and later.message == "Request has expired"
    early = s3_auth.check("GET", target, headers, {"testing": "testing"}, now - timedelta(minutes=20))
    assert early is not None and early.message == "Request is not valid yet"
    assert s3_auth.check("GET", target, {"Host": "elsewhere:1"}, {"testing": "testing"}, now) is not None


def test_a_body_sent_as_a_form_is_stored_as_sent(rt: LocalRuntime) -> None:
    # curl --data-binary sends application/x-www-form-urlencoded; S3 stores the bytes, whatever the type
    bucket, s3 = rt.resource("UploadsBucket"), _s3(rt)
    url = _presign(s3, "PUT", bucket, "buyer-a/curl.csv")
    assert _send("PUT", url, b"Segment ID,Usage\r\nseg_1,7\r\n", "application/x-www-form-urlencoded")[0] == 200
    got = s3.get_object(Bucket=bucket, Key="buyer-a/curl.csv")
    assert got["Body"].read() == b"Segment ID,Usage\r\nseg_1,7\r\n"
    assert got["ContentType"] == "application/x-www-form-urlencoded"


def _preflight(url: str, origin: str) -> tuple[int, dict[str, str]]:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    }
    request = urllib.request.Request(url, method="OPTIONS", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return int(error.code), {k.lower(): v for k, v in error.headers.items()}


def test_a_browser_may_put_a_presigned_url_only_from_an_origin_the_buckets_cors_rules_allow(rt: LocalRuntime) -> None:
    bucket, s3 = rt.resource("UploadsBucket"), _s3(rt)
    url = _presign(s3, "PUT", bucket, "buyer-a/2026-10/segments/from-the-console.csv")
    console = "http://127.0.0.1:3000"
    # Given a bucket without CORS rules, Then no origin is allowed (moto's server alone answers every origin)
    status, headers = _preflight(url, console)
    assert "access-control-allow-origin" not in headers, (status, headers)
    # Given rules for the console's origin (the template's UsageBucket has them for PublicBaseUrl)
    rules = [
        {
            "AllowedOrigins": [console],
            "AllowedMethods": ["PUT"],
            "AllowedHeaders": ["content-type"],
            "MaxAgeSeconds": 60,
        }
    ]
    rt.client("s3").put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    try:
        # When the browser asks first (a preflight carries no signature), Then that origin only is allowed
        status, headers = _preflight(url, console)
        assert (status, headers.get("access-control-allow-origin")) == (200, console)
        assert _preflight(url, "https://elsewhere.example")[0] == 403
        # And the PUT itself is still checked as signed
        request = urllib.request.Request(
            url, data=b"a,b\n", method="PUT", headers={"Origin": console, "Content-Type": "text/csv"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers.get("Access-Control-Allow-Origin") == console
        assert _send("PUT", _with_query(url, **{"X-Amz-Signature": "0" * 64}), b"x")[0] == 403
    finally:
        rt.client("s3").delete_bucket_cors(Bucket=bucket)
