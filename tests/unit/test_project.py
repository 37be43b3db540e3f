"""Project hygiene that needs no AWS: pins agree, the OpenAPI document is current, the domain stays pure."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _reqs(path: Path) -> set[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("-")}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    return {_canonical(spec.split("==")[0].split("[")[0]): spec.split("==")[1] for spec in _reqs(path)}


def test_dependency_pins_agree_between_pyproject_and_requirement_files() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _reqs(ROOT / "layers" / "common" / "requirements.txt")
    dev = _reqs(ROOT / "requirements-dev.txt")
    assert set(project["dependencies"]) <= runtime, "every direct dependency is in the layer's lock"
    assert set(project["optional-dependencies"]["dev"]) == dev
    for spec in runtime | dev:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", spec), f"unpinned: {spec}"


def test_layer_lock_agrees_with_the_tested_dev_pins() -> None:
    """Given the layer's lock and constraints.txt (the dev venv's freeze), every layer package is the tested version."""
    layer = _pins(ROOT / "layers" / "common" / "requirements.txt")
    tested = _pins(ROOT / "constraints.txt")
    for name, version in layer.items():
        assert tested.get(name) == version, f"layer pins {name}=={version}, the tests run {tested.get(name)}"


def test_layer_lock_is_the_complete_dependency_closure() -> None:
    """Every requirement of every layer package (as Lambda's Linux/CPython sees them) is itself pinned in the lock."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement

    layer = _pins(ROOT / "layers" / "common" / "requirements.txt")
    lambda_env = {"sys_platform": "linux", "platform_system": "Linux", "implementation_name": "cpython"}
    lambda_env |= {"platform_python_implementation": "CPython", "python_version": "3.12", "extra": ""}
    missing = set()
    for name in layer:
        dist = distribution(name)
        assert dist.version == layer[name], f"the venv has {name} {dist.version}, the lock {layer[name]}"
        for text in dist.requires or []:
            requirement = Requirement(text)
            applies = requirement.marker is None or requirement.marker.evaluate(lambda_env)
            if applies and _canonical(requirement.name) not in layer:
                missing.add(f"{requirement.name} (required by {name})")
    assert not missing, f"not pinned in layers/common/requirements.txt: {sorted(missing)}"


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


def test_every_reference_of_the_openapi_document_resolves() -> None:
    # A dangling $ref passes the drift test but breaks every generated client (the console's included)
    import json

    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs, "the document references its schemas"
    assert sorted(refs - set(document["components"]["schemas"])) == []


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


def test_a_deprecation_warning_raised_from_our_own_code_is_an_error() -> None:
    # Given pyproject's filterwarnings: a DeprecationWarning attributed to one of our modules fails the test
    code = compile("import warnings\nwarnings.warn('old API', DeprecationWarning)", "audiens_module", "exec")
    with pytest.raises(DeprecationWarning):
        exec(code, {"__name__": "audiens.example"})
    # And one a library raises about its own internals does not
    exec(code, {"__name__": "somelibrary.internals"})
