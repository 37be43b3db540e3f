"""Per-account quotas: how many of each thing one account may hold at once (API.md: 409 quota_exceeded).

They bound what one key can make the system store and what every listing of the account reads, so the
account views stay within their latency budget at the limit (bench/bench_lists.py measures them there).
A quota is checked before anything is written; two creates racing past the last free slot may both pass.
"""

from __future__ import annotations

from typing import Final

from audiens.errors import ConflictError

QUOTAS: Final[dict[str, int]] = {
    "sources": 100,
    "segments": 500,
    "destinations": 50,
    "feeds": 100,
    "api_keys": 20,
}


def check_quota(kind: str, current: int) -> None:
    """Refuse the creation of one more ``kind`` when the account already holds its quota of them."""
    limit = QUOTAS[kind]
    if current >= limit:
        label = kind.replace("_", " ")
        raise ConflictError(
            f"Quota exceeded: an account may hold at most {limit} {label} (it has {current}); "
            f"delete one before creating another.",
            code="quota_exceeded",
            details=[{"quota": kind, "limit": limit, "current": current}],
        )
