"""Project hygiene that needs no AWS: pins agree, the OpenAPI document is current, the domain stays pure."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _reqs(path: Path) -> set[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("-")}


def test_dependency_pins_agree_between_pyproject_and_requirement_files() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _reqs(ROOT / "layers" / "common" / "requirements.txt")
    dev = _reqs(ROOT / "requirements-dev.txt")
    assert set(project["dependencies"]) == runtime
    assert set(project["optional-dependencies"]["dev"]) == dev
    for spec in runtime | dev:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", spec), f"unpinned: {spec}"


def test_openapi_document_matches_the_code() -> None:
    sys.path.insert(0, str(ROOT / "infra"))
    from export_openapi import OUTPUT, generate

    assert OUTPUT.exists(), "run `make openapi`"
    assert OUTPUT.read_text() == generate(), "docs/openapi.json is stale: run `make openapi`"


def test_openapi_describes_every_api_md_path() -> None:
    import json

    spec = json.loads((ROOT / "docs" / "openapi.json").read_text())
    for path in ("/v1/accounts", "/v1/accounts/activate", "/v1/admin/accounts", "/v1/me"):
        assert path in spec["paths"], path


def test_domain_imports_nothing_with_io() -> None:
    forbidden = {"boto3", "botocore", "pynamodb", "aws_lambda_powertools", "audiens.dal", "audiens.services"}
    for path in (ROOT / "layers" / "common" / "audiens" / "domain").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in forbidden), f"{path.name} imports {name}"


def test_no_domain_or_service_code_reads_the_wall_clock() -> None:
    pattern = re.compile(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(")
    for sub in ("domain", "services"):
        for path in (ROOT / "layers" / "common" / "audiens" / sub).glob("*.py"):
            assert not pattern.search(path.read_text()), f"{path.name} reads the wall clock"
