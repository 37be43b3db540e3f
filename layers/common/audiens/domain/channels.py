"""Channels (DOMAIN.md §5): the catalog of external platforms a destination can push segments to.

A **channel** is an external platform; a **destination** is one account's configured channel
(:mod:`audiens.domain.destinations`). Seamless channels need nothing (switch on); wizard channels take
a ``config`` validated step by step, in the catalog's order (:mod:`audiens.domain.channel_config`).

The config is one flat object (``{"url": …, "secret": …}``): field names are unique across a channel's
steps, and the catalog says which step owns which field, so a client can build the wizard from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from audiens.domain.channel_config import EXTERNAL_ID_PREFIX, MAX_SECRET_LENGTH, MIN_SECRET_LENGTH
from audiens.domain.channel_push import SIGNATURE_HEADER
from audiens.errors import ValidationError

__all__ = ["CATALOG", "Channel", "Step", "StepField", "channel"]


@dataclass(frozen=True)
class StepField:
    name: str
    type: str
    description: str
    required: bool = True
    secret: bool = False


@dataclass(frozen=True)
class Step:
    step: str
    title: str
    fields: tuple[StepField, ...]


@dataclass(frozen=True)
class Channel:
    channel_id: str
    name: str
    setup: Literal["seamless", "wizard"]
    delivery: Literal["seamless", "webhook", "s3"]
    description: str
    steps: tuple[Step, ...] = ()

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for s in self.steps for f in s.fields)

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(f.name for s in self.steps for f in s.fields if f.secret)


CATALOG: Final[tuple[Channel, ...]] = (
    Channel(
        "audiens_marketplace",
        "Audiens Marketplace",
        "seamless",
        "seamless",
        "The Audiens data marketplace itself: switch it on, segments are listed at once.",
    ),
    Channel(
        "example_dsp",
        "Example DSP",
        "seamless",
        "seamless",
        "A demand-side platform integrated server to server with Audiens: nothing to configure.",
    ),
    Channel(
        "webhook",
        "Webhook",
        "wizard",
        "webhook",
        "Your own HTTPS endpoint receives each taxonomy change as a signed JSON POST "
        f"({SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256(secret, raw body)>).",
        (
            Step(
                "endpoint",
                "Endpoint",
                (StepField("url", "string", "HTTPS URL that accepts POST requests with a JSON body."),),
            ),
            Step(
                "credentials",
                "Credentials",
                (
                    StepField(
                        "secret",
                        "string",
                        f"Shared secret of {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters used to sign bodies.",
                        secret=True,
                    ),
                ),
            ),
        ),
    ),
    Channel(
        "s3_export",
        "Amazon S3 export",
        "wizard",
        "s3",
        "Each segment's taxonomy is written as <prefix>/<segment_id>.json in your bucket (deleted on removal), "
        "with the credentials of an IAM role in the bucket's AWS account that you create for Audiens.",
        (
            Step("bucket", "Bucket", (StepField("bucket", "string", "Name of an existing S3 bucket of yours."),)),
            Step(
                "access",
                "Access",
                (
                    StepField(
                        "role_arn",
                        "string",
                        "ARN of an IAM role in the bucket owner's account (arn:aws:iam::<account>:role/<name>) that "
                        "allows s3:PutObject and s3:DeleteObject on the bucket (prefix) and trusts the Audiens "
                        f"platform account with the condition sts:ExternalId = {EXTERNAL_ID_PREFIX}<your account "
                        "id>:<bucket>. Audiens assumes it and writes a probe object before the destination is saved.",
                    ),
                ),
            ),
            Step(
                "location",
                "Location",
                (
                    StepField(
                        "prefix",
                        "string",
                        "Key prefix (folder) for the files, e.g. audiens/taxonomy; empty for the bucket root.",
                        required=False,
                    ),
                ),
            ),
        ),
    ),
)

_BY_ID: Final = {c.channel_id: c for c in CATALOG}


def channel(channel_id: str) -> Channel:
    found = _BY_ID.get(channel_id)
    if found is None:
        raise ValidationError(
            f"Unknown channel {channel_id!r}; GET /v1/channels lists them ({', '.join(_BY_ID)}).",
            code="unknown_channel",
            details=[{"field": "channel_id"}],
        )
    return found
