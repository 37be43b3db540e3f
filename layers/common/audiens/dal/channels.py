"""DynamoDB adapter for destinations and segment mappings; the push queue, webhook and S3 delivery adapters."""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import boto3

from audiens.dal.aws import client
from audiens.dal.idempotent import save_once, update_once
from audiens.dal.marketplace_models import MAPPING_OWNERS, DestinationItem, MappingItem, MappingOwnerItem
from audiens.domain.channel_config import is_private_address
from audiens.domain.channel_push import S3Target, short_error
from audiens.domain.destinations import Destination, SegmentMapping
from audiens.domain.time import key_timestamp
from audiens.ports.channels import DeliveryError
from audiens.ports.jobs import PushJob


def _ts(value: datetime) -> str:
    return key_timestamp(value)


def _to_destination(item: DestinationItem) -> Destination:
    return Destination(
        destination_id=item.destination_id,
        account_id=item.account_id,
        channel_id=item.channel_id,
        name=item.name,
        config=json.loads(item.config),
        content_optimization=bool(item.content_optimization),
        status=item.status,
        created_at=item.created_at,
    )


def _to_mapping(item: MappingItem) -> SegmentMapping:
    return SegmentMapping(
        mapping_id=item.mapping_id,
        destination_id=item.destination_id,
        account_id=item.account_id,
        segment_id=item.segment_id,
        segment_owner_id=item.segment_owner_id,
        name=item.name,
        category=item.category,
        action=item.action,
        version=int(item.version),
        status=item.status,
        attempts=int(item.attempts or 0),
        created_at=item.created_at,
        updated_at=item.updated_at,
        last_error=item.last_error,
        last_attempt_at=item.last_attempt_at,
        pushed_at=item.pushed_at,
        pushed_version=int(item.pushed_version or 0),
    )


class DynamoChannelRepository:
    # ---------------------------------------------------------------------------------------- destinations
    def put_destination(self, destination: Destination) -> None:
        item = DestinationItem(
            f"DEST#{destination.destination_id}",
            "META",
            destination_id=destination.destination_id,
            account_id=destination.account_id,
            channel_id=destination.channel_id,
            name=destination.name,
            config=json.dumps(destination.config, sort_keys=True),
            content_optimization=destination.content_optimization,
            status=destination.status,
            created_at=destination.created_at,
            gsi1pk=f"ACCT#{destination.account_id}#DESTS",
            gsi1sk=f"{_ts(destination.created_at)}#{destination.destination_id}",
        )
        if not save_once(item, DestinationItem.pk.does_not_exist()):
            raise RuntimeError(f"destination {destination.destination_id} exists already")

    def get_destination(self, destination_id: str) -> Destination | None:
        try:
            return _to_destination(DestinationItem.get(f"DEST#{destination_id}", "META", consistent_read=True))
        except DestinationItem.DoesNotExist:
            return None

    def get_destinations(self, destination_ids: Iterable[str]) -> dict[str, Destination]:
        keys = [(f"DEST#{d}", "META") for d in dict.fromkeys(destination_ids)]
        return {i.destination_id: _to_destination(i) for i in DestinationItem.batch_get(keys)} if keys else {}

    def list_destinations(self, account_id: str) -> list[Destination]:
        return [_to_destination(i) for i in DestinationItem.by_owner.query(f"ACCT#{account_id}#DESTS")]

    def mark_destination_deleted(self, destination_id: str) -> None:
        DestinationItem(f"DEST#{destination_id}", "META").update(actions=[DestinationItem.status.set("deleted")])

    # -------------------------------------------------------------------------------------------- mappings
    def get_mapping(self, mapping_id: str) -> SegmentMapping | None:
        try:
            return _to_mapping(MappingItem.get(f"MAP#{mapping_id}", "META", consistent_read=True))
        except MappingItem.DoesNotExist:
            return None

    def save_mapping(self, mapping: SegmentMapping, *, expected_version: int | None) -> bool:
        """Write the mapping's new version if the stored one is still ``expected_version`` (None: new)."""
        item = MappingItem(
            f"MAP#{mapping.mapping_id}",
            "META",
            mapping_id=mapping.mapping_id,
            destination_id=mapping.destination_id,
            account_id=mapping.account_id,
            segment_id=mapping.segment_id,
            segment_owner_id=mapping.segment_owner_id,
            name=mapping.name,
            category=mapping.category,
            action=mapping.action,
            version=mapping.version,
            status=mapping.status,
            attempts=mapping.attempts,
            last_error=mapping.last_error,
            last_attempt_at=mapping.last_attempt_at,
            pushed_at=mapping.pushed_at,
            pushed_version=mapping.pushed_version,
            created_at=mapping.created_at,
            updated_at=mapping.updated_at,
            gsi1pk=f"DEST#{mapping.destination_id}#MAPS",
            gsi1sk=mapping.segment_id,
            gsi2pk=f"SEG#{mapping.segment_id}#MAPS",
            gsi2sk=mapping.destination_id,
            gsi3pk=f"ACCT#{mapping.account_id}#MAPS",
            gsi3sk=f"{mapping.destination_id}#{mapping.segment_id}",
        )
        condition = (
            MappingItem.pk.does_not_exist() if expected_version is None else MappingItem.version == expected_version
        )
        if expected_version is None:  # idempotent, before the mapping: a failed save leaves only a stale owner
            MappingOwnerItem(MAPPING_OWNERS, mapping.account_id).save()
        return save_once(item, condition)

    def mapping_owners(self) -> list[str]:
        """Every account that has mapped a segment (one query; the usage reminders' candidates)."""
        return sorted(i.sk for i in MappingOwnerItem.query(MAPPING_OWNERS))

    def destination_mappings(self, destination_id: str) -> list[SegmentMapping]:
        return [_to_mapping(i) for i in MappingItem.by_destination.query(f"DEST#{destination_id}#MAPS")]

    def account_mappings(self, account_id: str) -> list[SegmentMapping]:
        """Every mapping on the account's destinations, in one query (the usage views' catalog)."""
        return [_to_mapping(i) for i in MappingItem.by_owner.query(f"ACCT#{account_id}#MAPS")]

    def segment_mappings(self, segment_id: str) -> list[SegmentMapping]:
        return [_to_mapping(i) for i in MappingItem.by_segment.query(f"SEG#{segment_id}#MAPS")]

    def record_attempt(
        self,
        mapping_id: str,
        version: int,
        *,
        status: str,
        now: datetime,
        error: str | None,
        pushed: bool,
    ) -> bool:
        """Record one delivery attempt of ``version``; False if a newer version superseded it meanwhile."""
        actions: list[Any] = [
            MappingItem.status.set(status),
            MappingItem.attempts.add(1),
            MappingItem.last_attempt_at.set(now),
            MappingItem.updated_at.set(now),
        ]
        if pushed:
            actions += [MappingItem.pushed_at.set(now), MappingItem.pushed_version.set(version)]
            actions.append(MappingItem.last_error.remove())
        else:
            actions.append(MappingItem.last_error.set(short_error(error or "unknown error")))
        # Not twice for one attempt (a retry after a lost answer would count it again): the attempt's time
        # is part of the condition, and a stored attempt at ``now`` of this version is this call's.
        not_recorded = MappingItem.last_attempt_at.does_not_exist() | (MappingItem.last_attempt_at != now)
        return update_once(
            MappingItem(f"MAP#{mapping_id}", "META"),
            actions,
            (MappingItem.version == version) & not_recorded,
            lambda stored: stored.version == version and stored.last_attempt_at == now,
        )


class SqsPushQueue:
    """``{"mapping_id", "version"}`` messages: ids, never the taxonomy itself (it is read at push time)."""

    def __init__(self, queue_url: str, region: str) -> None:
        self._url = queue_url
        self._region = region

    @cached_property
    def _sqs(self) -> Any:
        return boto3.client("sqs", region_name=self._region)

    def enqueue(self, mapping_id: str, version: int) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=PushJob(mapping_id=mapping_id, version=version).body())

    def delay_retry(self, receipt_handle: str, seconds: int) -> None:
        """Back-off: keep a failed message invisible longer before its next attempt."""
        self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could point the push at an internal host after the URL was checked: treat it as a failure."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


class UrllibWebhookClient:
    """POSTs with the standard library (no dependency). Non-2xx, redirects and timeouts raise ``DeliveryError``.

    Unless private targets are allowed (the local stage), the host is resolved first and refused when
    any address is loopback, private or link-local, so a public name pointing inside cannot be used (SSRF).
    """

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._opener = urllib.request.build_opener(_NoRedirect())

    def _check_host(self, url: str) -> None:
        if self._allow_private:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except OSError as error:
            raise DeliveryError(f"cannot resolve {host}: {error}") from error
        for info in infos:
            address = str(info[4][0])
            if is_private_address(address) or ipaddress.ip_address(address.split("%")[0]).is_global is False:
                raise DeliveryError(f"{host} resolves to a non-public address ({address}); refused")

    def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
        self._check_host(url)
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with self._opener.open(request, timeout=timeout) as response:
                status = int(response.status)
                response.read(1024)
        except urllib.error.HTTPError as error:
            raise DeliveryError(f"HTTP {error.code} from {_host(url)}") from error
        except TimeoutError as error:
            raise DeliveryError(f"timed out after {timeout:g} s waiting for {_host(url)}") from error
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError | socket.timeout):
                raise DeliveryError(f"timed out after {timeout:g} s waiting for {_host(url)}") from error
            raise DeliveryError(f"cannot reach {_host(url)}: {reason}") from error
        except OSError as error:
            raise DeliveryError(f"connection to {_host(url)} failed: {error}") from error
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status} from {_host(url)}")
        return status


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


class S3ObjectExporter:
    """Writes as the destination's role: AssumeRole with its ExternalId, then S3 with those credentials only.

    The platform's own role has no S3 grant for customer buckets, so nothing is written unless the customer's
    role trusts this ExternalId; ExpectedBucketOwner makes S3 refuse a bucket of any other account. Sessions
    are cached per (role, ExternalId) until five minutes before they expire.
    """

    SESSION_SECONDS = 3600
    _REFRESH_MARGIN = 300

    def __init__(self, region: str) -> None:
        self._region = region
        self._sessions: dict[tuple[str, str], tuple[float, Any]] = {}

    @cached_property
    def _sts(self) -> Any:
        return client("sts", self._region)

    def _s3(self, target: S3Target) -> Any:
        cache_key = (target.role_arn, target.external_id)
        cached = self._sessions.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            credentials = self._sts.assume_role(
                RoleArn=target.role_arn,
                RoleSessionName="audiens-s3-export",
                ExternalId=target.external_id,
                DurationSeconds=self.SESSION_SECONDS,
            )["Credentials"]
        except Exception as error:
            raise DeliveryError(f"cannot assume {target.role_arn}: {error}") from error
        s3 = client(
            "s3",
            self._region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        self._sessions[cache_key] = (time.monotonic() + self.SESSION_SECONDS - self._REFRESH_MARGIN, s3)
        return s3

    def put(self, target: S3Target, key: str, body: bytes) -> None:
        s3 = self._s3(target)
        try:
            s3.put_object(
                Bucket=target.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ExpectedBucketOwner=target.owner_account,
            )
        except Exception as error:  # botocore ClientError and connection errors alike: retried
            raise DeliveryError(f"S3 put s3://{target.bucket}/{key} failed: {error}") from error

    def delete(self, target: S3Target, key: str) -> None:
        s3 = self._s3(target)
        try:
            s3.delete_object(Bucket=target.bucket, Key=key, ExpectedBucketOwner=target.owner_account)
        except Exception as error:
            raise DeliveryError(f"S3 delete s3://{target.bucket}/{key} failed: {error}") from error

    def verify(self, target: S3Target, key: str) -> None:
        self._sessions.pop((target.role_arn, target.external_id), None)  # a fresh AssumeRole, not a cached one
        self.put(target, key, b"{}")
        self.delete(target, key)
