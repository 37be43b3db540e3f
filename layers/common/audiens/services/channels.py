"""Channels, destinations, segment mappings and the taxonomy push (DOMAIN.md §5).

Every change a channel must learn about (a segment mapped, renamed, unmapped, deleted or expired) bumps the
mapping's ``version``, stores the taxonomy of that version on the mapping and queues ``{mapping_id,
version}``. The push worker (:meth:`ChannelService.push`) delivers the mapping's *current* version only:
an older message is stale and skipped, a version already delivered is a duplicate and skipped, so
redeliveries and out-of-order messages never push an old name. Delivery is at least once: a receiver
may see the same ``(segment_id, version)`` twice and should treat it as one.

Read API for usage reporting and billing: :meth:`ChannelService.segment_usage_keys` ``(account_id) ->
list[SegmentUsageKey]`` - every (segment, destination) the account mapped, own or marketplace segment,
with the destination's channel and ``content_optimization`` flag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from audiens.domain import channel_config, channel_push, destinations
from audiens.domain import channels as channel_catalog
from audiens.domain.accounts import Principal
from audiens.domain.channel_config import S3Platform
from audiens.domain.channels import Channel
from audiens.domain.destinations import Destination, SegmentMapping
from audiens.domain.quotas import check_quota
from audiens.domain.segments import Segment
from audiens.errors import ConflictError, NotFoundError, ValidationError
from audiens.observability import count, logger
from audiens.ports.channels import ChannelRepository, DeliveryError, ObjectExporter, PushQueue, WebhookClient
from audiens.ports.jobs import PushJob
from audiens.ports.onboarding import OnboardingRepository
from audiens.services.ingest import new_id

PushOutcome = Literal["pushed", "removed", "stale", "duplicate", "missing"]
_MAX_BUMP_ATTEMPTS = 5


@dataclass(frozen=True)
class SegmentUsageKey:
    segment_id: str
    segment_name: str
    destination_id: str
    destination_name: str
    channel_id: str
    content_optimization: bool
    segment_owner_id: str
    marketplace: bool  # a public segment of another account, charged at its own CPM
    mapped: bool  # False once unmapped/removed (usage of earlier days of the period may still be reported)


def mapping_id_for(destination_id: str, segment_id: str) -> str:
    """One mapping per (destination, segment), so mapping the same segment twice is a conditional write."""
    return "map_" + hashlib.sha256(f"{destination_id}|{segment_id}".encode()).hexdigest()[:20]


class ChannelService:
    def __init__(
        self,
        repo: ChannelRepository,
        *,
        segments: OnboardingRepository,
        queue: PushQueue | None = None,
        webhook: WebhookClient | None = None,
        exporter: ObjectExporter | None = None,
        allow_private_targets: bool = False,
        max_receives: int = 4,
        s3_platform: S3Platform | None = None,
    ) -> None:
        self._repo = repo
        self._segments = segments
        self._queue = queue
        self._webhook = webhook
        self._exporter = exporter
        self._allow_private = allow_private_targets
        self._max_receives = max_receives
        self._s3_platform = s3_platform

    # ------------------------------------------------------------------------------------------- catalog
    @staticmethod
    def catalog() -> list[Channel]:
        return list(channel_catalog.CATALOG)

    # -------------------------------------------------------------------------------------- destinations
    def create_destination(
        self,
        principal: Principal,
        *,
        channel_id: str,
        name: str,
        config: dict[str, Any] | None,
        content_optimization: bool,
        now: datetime,
    ) -> Destination:
        chan = channel_catalog.channel(channel_id)
        checked_name = destinations.check_destination_name(name)
        checked = channel_config.validate_config(chan, config, allow_private=self._allow_private)
        if chan.delivery == "s3":
            checked = self._proven_s3_export(principal.account_id, checked)
        destination = Destination(
            destination_id=new_id("dst"),
            account_id=principal.account_id,
            channel_id=chan.channel_id,
            name=checked_name,
            config=checked,
            content_optimization=content_optimization,
            status="active",
            created_at=now,
        )
        check_quota("destinations", len(self.list_destinations(principal)))
        self._repo.put_destination(destination)
        return destination

    def _proven_s3_export(self, account_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """Never a platform bucket or role; and the caller proves the bucket is theirs before it is stored.

        Audiens assumes the caller's role with an ExternalId it derives from the caller's account (a role
        that trusts another tenant's ExternalId refuses), then writes and deletes a probe object with
        ExpectedBucketOwner = the role's account (a bucket of a third party that trusts the role refuses).
        """
        if self._exporter is None or self._s3_platform is None:
            raise RuntimeError("S3 export is not configured")
        channel_config.check_s3_export_target(config, self._s3_platform)
        proven = {**config, "external_id": channel_config.export_external_id(account_id, config["bucket"])}
        probe = channel_push.s3_object_key(proven.get("prefix", ""), ".audiens-access-check")
        try:
            self._exporter.verify(channel_push.s3_target(proven), probe)
        except DeliveryError as error:
            reason = channel_push.short_error(str(error))
            message = (
                f"Audiens (AWS account {self._s3_platform.account_id}) could not write s3://{proven['bucket']}/{probe} "
                f"as {proven['role_arn']} with ExternalId {proven['external_id']}: {reason} "
                "Check the role's trust policy (that account, that ExternalId), its s3:PutObject/s3:DeleteObject "
                "permission on the bucket, and that the bucket belongs to the role's account."
            )
            raise ValidationError(
                f"Step 'access' (Access) is invalid: {message}",
                code="invalid_destination_config",
                details=[{"step": "access", "field": "role_arn", "message": message}],
            ) from error
        return proven

    def get_destination(self, principal: Principal, destination_id: str) -> Destination:
        destination = self._repo.get_destination(destination_id)
        if destination is None or destination.account_id != principal.account_id or destination.status == "deleted":
            raise destinations.destination_not_found(destination_id)
        return destination

    def list_destinations(self, principal: Principal) -> list[Destination]:
        found = [d for d in self._repo.list_destinations(principal.account_id) if d.status != "deleted"]
        return sorted(found, key=lambda d: (d.created_at, d.destination_id))

    def delete_destination(self, principal: Principal, destination_id: str, now: datetime) -> None:
        """The destination stops; every segment still on it is removed from the channel first (queued)."""
        destination = self.get_destination(principal, destination_id)
        for mapping in self._repo.destination_mappings(destination.destination_id):
            if mapping.action == "upsert":
                self._bump(mapping, now, action="remove")
        self._repo.mark_destination_deleted(destination.destination_id)

    # ------------------------------------------------------------------------------------------ mappings
    def _mappable_segment(self, principal: Principal, segment_id: str) -> Segment:
        segment = self._segments.get_segment(segment_id)
        if segment is not None and segment.status == "deleted":
            segment = None
        own = segment is not None and segment.account_id == principal.account_id
        public = segment is not None and segment.visibility == "public" and segment.status == "active"
        if segment is None or not (own or public):
            raise NotFoundError(f"Segment {segment_id} not found.")
        if segment.status != "active":
            raise ConflictError(
                f"Segment {segment_id} has expired; change it (PATCH) to re-activate it before mapping it.",
                code="segment_not_active",
            )
        return segment

    def map_segment(self, principal: Principal, destination_id: str, segment_id: str, now: datetime) -> SegmentMapping:
        destination = self.get_destination(principal, destination_id)
        segment = self._mappable_segment(principal, segment_id)
        mapping_id = mapping_id_for(destination.destination_id, segment.segment_id)
        existing = self._repo.get_mapping(mapping_id)
        if existing is not None and existing.action == "upsert":
            raise ConflictError(
                f"Segment {segment_id} is already mapped to this destination (push status {existing.status}).",
                code="segment_already_mapped",
                details=[{"mapping_id": mapping_id, "push_status": existing.status}],
            )
        mapping = SegmentMapping(
            mapping_id=mapping_id,
            destination_id=destination.destination_id,
            account_id=principal.account_id,
            segment_id=segment.segment_id,
            segment_owner_id=segment.account_id,
            name=segment.name,
            category=segment.category,
            action="upsert",
            version=(existing.version + 1) if existing else 1,
            status="queued",
            attempts=0,
            created_at=now if existing is None else existing.created_at,
            updated_at=now,
            pushed_version=existing.pushed_version if existing else 0,
        )
        if not self._repo.save_mapping(mapping, expected_version=existing.version if existing else None):
            raise ConflictError("This segment was mapped by another request meanwhile.", code="segment_already_mapped")
        self._enqueue(mapping, now)
        return mapping

    def _own_mapping(self, principal: Principal, destination_id: str, segment_id: str) -> SegmentMapping:
        destination = self.get_destination(principal, destination_id)
        mapping = self._repo.get_mapping(mapping_id_for(destination.destination_id, segment_id))
        if mapping is None:
            raise NotFoundError(f"Segment {segment_id} is not mapped to destination {destination_id}.")
        return mapping

    def unmap_segment(
        self, principal: Principal, destination_id: str, segment_id: str, now: datetime
    ) -> SegmentMapping:
        mapping = self._own_mapping(principal, destination_id, segment_id)
        if mapping.action == "remove":
            return mapping
        return self._bump(mapping, now, action="remove")

    def repush(self, principal: Principal, destination_id: str, segment_id: str, now: datetime) -> SegmentMapping:
        """Queue the mapping's current taxonomy again (after a dead letter, or to resync a channel)."""
        mapping = self._own_mapping(principal, destination_id, segment_id)
        if mapping.action == "upsert":
            segment = self._segments.get_segment(segment_id)
            if segment is None or segment.status == "deleted":
                return self._bump(mapping, now, action="remove")
            return self._bump(mapping, now, name=segment.name, category=segment.category)
        return self._bump(mapping, now)

    def list_mappings(self, principal: Principal, destination_id: str) -> list[SegmentMapping]:
        destination = self.get_destination(principal, destination_id)
        found = self._repo.destination_mappings(destination.destination_id)
        return sorted(found, key=lambda m: (m.created_at, m.segment_id))

    def _bump(
        self,
        mapping: SegmentMapping,
        now: datetime,
        *,
        action: str | None = None,
        name: str | None = None,
        category: str | None = None,
    ) -> SegmentMapping:
        """Store a new version of the mapping (re-reading on a concurrent change) and queue it."""
        current = mapping
        for _ in range(_MAX_BUMP_ATTEMPTS):
            new = replace(
                current,
                action=action or current.action,
                name=name if name is not None else current.name,
                category=category if category is not None else current.category,
                version=current.version + 1,
                status="queued",
                attempts=0,
                last_error=None,
                updated_at=now,
            )
            if self._repo.save_mapping(new, expected_version=current.version):
                self._enqueue(new, now)
                return new
            reread = self._repo.get_mapping(mapping.mapping_id)
            if reread is None:
                raise NotFoundError(f"Mapping {mapping.mapping_id} not found.")
            current = reread
        raise ConflictError("The mapping keeps changing; retry.", code="conflict")

    def _enqueue(self, mapping: SegmentMapping, now: datetime) -> None:
        if self._queue is None:
            raise RuntimeError("queueing a push needs the channel push queue")
        try:
            self._queue.enqueue(mapping.mapping_id, mapping.version)
        except Exception as error:
            # Visible rather than silently stuck in "queued": the user can re-push once the queue is back.
            self._repo.record_attempt(
                mapping.mapping_id,
                mapping.version,
                status="failed",
                now=now,
                error=f"could not queue the push: {error}",
                pushed=False,
            )
            raise

    # -------------------------------------------------------------------------------- segment lifecycle
    def segment_changed(self, segment: Segment, now: datetime) -> int:
        """After a PATCH: a new name or category is re-pushed to every destination the segment is mapped to;
        a segment made private leaves other accounts' destinations. Returns the pushes queued."""
        queued = 0
        for mapping in self._repo.segment_mappings(segment.segment_id):
            if mapping.action != "upsert":
                continue
            if mapping.account_id != segment.account_id and segment.visibility != "public":
                self._bump(mapping, now, action="remove")
                queued += 1
            elif (mapping.name, mapping.category) != (segment.name, segment.category):
                self._bump(mapping, now, name=segment.name, category=segment.category)
                queued += 1
        return queued

    def segment_removed(self, segment: Segment, *, reason: str, now: datetime) -> int:
        """Deletion or expiry: a ``remove`` is pushed to every destination the segment is mapped to."""
        queued = 0
        for mapping in self._repo.segment_mappings(segment.segment_id):
            if mapping.action == "upsert":
                self._bump(mapping, now, action="remove")
                queued += 1
        if queued:
            logger.info("segment removed from channels", extra={"segment_id": segment.segment_id, "reason": reason})
        return queued

    # ---------------------------------------------------------------------------------------- the worker
    def push(self, mapping_id: str, version: int, *, receive_count: int, now: datetime) -> PushOutcome:
        """Deliver one queued version. Raises on a failed delivery so SQS retries it (then dead-letters it)."""
        mapping = self._repo.get_mapping(mapping_id)
        if mapping is None:
            logger.warning("push for an unknown mapping skipped", extra={"mapping_id": mapping_id})
            return "missing"
        if version != mapping.version:
            logger.info("stale push skipped", extra={"mapping_id": mapping_id, "version": version})
            return "stale"
        if mapping.pushed_version >= version:
            return "duplicate"
        destination = self._repo.get_destination(mapping.destination_id)
        if destination is None:
            logger.warning("push for an unknown destination skipped", extra={"mapping_id": mapping_id})
            return "missing"
        try:
            self._deliver(destination, mapping, now)
        except Exception as error:
            last = receive_count >= self._max_receives
            message = str(error) if isinstance(error, DeliveryError) else f"{type(error).__name__}: {error}"
            self._repo.record_attempt(
                mapping_id,
                version,
                status="dead_lettered" if last else "failed",
                now=now,
                error=message,
                pushed=False,
            )
            logger.warning(
                "push failed",
                extra={"mapping_id": mapping_id, "version": version, "attempt": receive_count, "error": message},
            )
            raise
        outcome: PushOutcome = "removed" if mapping.action == "remove" else "pushed"
        self._repo.record_attempt(mapping_id, version, status=outcome, now=now, error=None, pushed=True)
        return outcome

    def _deliver(self, destination: Destination, mapping: SegmentMapping, now: datetime) -> None:
        chan = channel_catalog.channel(destination.channel_id)
        body = channel_push.taxonomy_body(
            segment_id=mapping.segment_id,
            name=mapping.name,
            category=mapping.category,
            action=mapping.action,
            version=mapping.version,
            sent_at=now,
        )
        if chan.delivery == "seamless":
            return  # integrated server to server: recorded as pushed
        if chan.delivery == "webhook":
            if self._webhook is None:
                raise RuntimeError("webhook delivery is not configured")
            self._webhook.post(
                destination.config["url"],
                body,
                {
                    "Content-Type": "application/json",
                    "User-Agent": "Audiens-Push/1.0",
                    channel_push.SIGNATURE_HEADER: channel_push.sign(destination.config["secret"], body),
                    channel_push.TIMESTAMP_HEADER: str(int(now.astimezone(UTC).timestamp())),
                    channel_push.EVENT_HEADER: f"taxonomy.{mapping.action}",
                    "X-Audiens-Delivery": f"{mapping.mapping_id}:{mapping.version}",
                },
                timeout=channel_push.WEBHOOK_TIMEOUT_SECONDS,
            )
            return
        if self._exporter is None:
            raise RuntimeError("S3 export is not configured")
        target = channel_push.s3_target(destination.config)
        if self._s3_platform is not None:
            try:
                channel_config.check_s3_export_target(destination.config, self._s3_platform)
            except ValidationError as error:
                raise DeliveryError(error.message) from error
        if not target.role_arn or not target.external_id:
            raise DeliveryError("this S3 destination has no export role: create it again with the access step")
        key = channel_push.s3_object_key(destination.config.get("prefix", ""), mapping.segment_id)
        if mapping.action == "remove":
            self._exporter.delete(target, key)
        else:
            self._exporter.put(target, key, body)

    # ---------------------------------------------------------------------------------- read API (usage)
    def segment_usage_keys(self, account_id: str) -> list[SegmentUsageKey]:
        """Every (segment, destination) the account has mapped, deleted destinations and unmapped ones included."""
        keys: list[SegmentUsageKey] = []
        for destination in self._repo.list_destinations(account_id):
            for m in self._repo.destination_mappings(destination.destination_id):
                keys.append(
                    SegmentUsageKey(
                        segment_id=m.segment_id,
                        segment_name=m.name,
                        destination_id=destination.destination_id,
                        destination_name=destination.name,
                        channel_id=destination.channel_id,
                        content_optimization=destination.content_optimization,
                        segment_owner_id=m.segment_owner_id,
                        marketplace=m.segment_owner_id != account_id,
                        mapped=m.action == "upsert" and destination.status != "deleted",
                    )
                )
        return sorted(keys, key=lambda k: (k.segment_id, k.destination_id))


# ------------------------------------------------------------------------------------------ deliveries

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 900


def backoff_seconds(receive_count: int) -> int:
    """Spacing of the retries of a failed push: 30 s, 60 s, 120 s, ... capped at 15 minutes."""
    return int(min(BACKOFF_BASE_SECONDS * 2 ** max(receive_count - 1, 0), BACKOFF_MAX_SECONDS))


class Pushes(Protocol):
    """What a push delivery needs of ``ChannelService``."""

    def push(self, mapping_id: str, version: int, *, receive_count: int, now: datetime) -> PushOutcome: ...


def push_delivery(
    pushes: Callable[[], Pushes],
    body: str,
    *,
    receive_count: int,
    max_receives: int,
    now: datetime,
    delay_retry: Callable[[int], None],
) -> tuple[PushJob, PushOutcome]:
    """One delivery of a push job. A failure (a poison message too) is counted, its retry is delayed by the
    back-off (``delay_retry(seconds)``), and it is raised so SQS retries it, then dead-letters it."""
    try:
        job = PushJob.model_validate_json(body)
        outcome = pushes().push(job.mapping_id, job.version, receive_count=receive_count, now=now)
    except Exception:
        count("ChannelPushesFailed")
        if receive_count >= max_receives:
            count("ChannelPushesDeadLettered")
        delay_retry(backoff_seconds(receive_count))
        raise
    return job, outcome
