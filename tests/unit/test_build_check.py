"""infra/check_build.py refuses a built app that Lambda would refuse (make build runs it after sam build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from check_build import UNZIPPED_LIMIT, check

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: {runtime}
    Architectures: [arm64]
    Layers: [!Ref CommonLayer]
Resources:
  CommonLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: CommonLayer, CompatibleRuntimes: [{runtime}], CompatibleArchitectures: [arm64]}}
    Metadata: {{BuildMethod: {runtime}}}
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties: {{CodeUri: ApiFunction, Handler: app.lambda_handler}}
"""


def _elf(machine: int, *extra: bytes) -> bytes:
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + (3).to_bytes(2, "little") + machine.to_bytes(2, "little")
    return header + bytes(64) + b"\x00".join(extra)


def _build(tmp_path: Path, *, runtime: str = "python3.12", files: dict[str, bytes] | None = None) -> Path:
    (tmp_path / "template.yaml").write_text(TEMPLATE.format(runtime=runtime))
    (tmp_path / "ApiFunction").mkdir()
    (tmp_path / "ApiFunction" / "app.py").write_text("def lambda_handler(event, context): ...\n")
    layer = tmp_path / "CommonLayer" / "python"
    layer.mkdir(parents=True)
    for name, content in (files or {}).items():
        (layer / name).parent.mkdir(parents=True, exist_ok=True)
        (layer / name).write_bytes(content)
    return tmp_path


def test_a_layer_of_arm64_extensions_for_the_runtime_passes(tmp_path: Path) -> None:
    build = _build(tmp_path, files={"numpy/_core.cpython-312-aarch64-linux-gnu.so": _elf(0xB7, b"GLIBC_2.28")})
    report = check(build)
    assert report.problems == []
    assert any(line.startswith("layer CommonLayer:") and "1 native libraries" in line for line in report.lines)


@pytest.mark.parametrize(
    ("runtime", "name", "content", "problem"),
    [
        ("python3.12", "lib/libx.so", _elf(0x3E), "not arm64"),  # an x86_64 wheel in an arm64 layer
        ("python3.12", "numpy/_m.cpython-311-aarch64-linux-gnu.so", _elf(0xB7), "CPython 3.11 module"),
        ("python3.12", "numpy/_m.cpython-312-x86_64-linux-gnu.so", _elf(0xB7), "built for x86_64"),
        # numpy's manylinux_2_28 wheels on Amazon Linux 2 (glibc 2.26): the original sam build failure
        ("python3.11", "numpy/_m.cpython-311-aarch64-linux-gnu.so", _elf(0xB7, b"GLIBC_2.28"), "needs glibc 2.28"),
        ("python3.12", "lib/liby.so", _elf(0xB7, b"GLIBC_2.38"), "needs glibc 2.38"),
    ],
)
def test_native_code_lambda_cannot_load_is_refused(
    tmp_path: Path, runtime: str, name: str, content: bytes, problem: str
) -> None:
    report = check(_build(tmp_path, runtime=runtime, files={name: content}))
    assert any(problem in p for p in report.problems), report.problems


def test_a_function_over_250_mb_unzipped_with_its_layers_is_refused(tmp_path: Path) -> None:
    build = _build(tmp_path)
    with (build / "CommonLayer" / "python" / "big.bin").open("wb") as handle:
        handle.truncate(UNZIPPED_LIMIT)  # sparse: sized, not written
    report = check(build)
    assert any("ApiFunction" in p and "limit" in p for p in report.problems), report.problems
