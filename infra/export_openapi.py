"""Write the OpenAPI document generated from the API's code to docs/openapi.json (``make openapi``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "common"))

OUTPUT = ROOT / "docs" / "openapi.json"


def generate() -> str:
    from audiens.api.app import openapi_json

    return json.dumps(json.loads(openapi_json()), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(generate())
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
