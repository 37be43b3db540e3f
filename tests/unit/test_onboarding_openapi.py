"""The OpenAPI document describes every API.md route of sources, events, traits and segments."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PATHS = {
    "/v1/sources": {"get", "post"},
    "/v1/sources/{source_id}": {"get"},
    "/v1/sources/{source_id}/events": {"post"},
    "/v1/sources/{source_id}/activity": {"get"},
    "/v1/sources/{source_id}/files": {"get"},
    "/v1/ingest/{source_id}/events": {"post"},
    "/v1/pixel/{source_id}": {"get"},
    "/v1/data-points": {"get"},
    "/v1/traits": {"post", "get"},
    "/v1/traits/{trait_id}": {"get"},
    "/v1/segments": {"post", "get"},
    "/v1/segments/{segment_id}": {"get", "patch", "delete"},
    "/v1/segments/estimate": {"post"},
    "/v1/segments/{segment_id}/analytics": {"get"},
}


def test_openapi_describes_the_onboarding_and_audience_routes() -> None:
    spec = json.loads((ROOT / "docs" / "openapi.json").read_text())
    for path, methods in PATHS.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), (path, methods)
