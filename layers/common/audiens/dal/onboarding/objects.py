"""The source bucket (S3): file chunks and presigned upload links."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

from audiens.dal.aws import client


class S3SourceObjects:
    """Streams source files line by line (constant memory) and signs upload URLs for providers."""

    def __init__(self, region: str) -> None:
        self._region = region

    @cached_property
    def _client(self) -> Any:
        return client("s3", self._region)

    def iter_chunks(self, bucket: str, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def upload_url(self, bucket: str, key: str, expires_in: int) -> str:
        return str(
            self._client.generate_presigned_url(
                "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
            )
        )
