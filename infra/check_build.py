"""Holds the output of `sam build` (.aws-sam/build) to what Lambda will accept, before anything is deployed.

For every function of the built template: its code plus its layers, unzipped, stays under Lambda's 250 MB;
every native library (ELF) is built for the function's declared architecture, needs no newer glibc than
the runtime's Amazon Linux has, and every CPython extension module is for the runtime's Python version.
Prints one line per function and the layer sizes; exits non-zero with every problem found.

    python infra/check_build.py [build_dir]
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

UNZIPPED_LIMIT = 250 * 1024 * 1024  # function code + all its layers, unzipped
ELF_MACHINE = {"arm64": 0xB7, "x86_64": 0x3E}  # e_machine: EM_AARCH64, EM_X86_64
# glibc of each runtime's OS: python3.12/3.13 run on Amazon Linux 2023, python3.11 and older on Amazon Linux 2.
RUNTIME_GLIBC = {"python3.11": (2, 26), "python3.12": (2, 34), "python3.13": (2, 34)}
_GLIBC_NEED = re.compile(rb"GLIBC_(2\.[0-9]+)")
_EXTENSION = re.compile(r"\.cpython-(\d)(\d+)-([a-z0-9_]+)-linux-gnu\.so$")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def _elf_machine(path: Path) -> int:
    with path.open("rb") as handle:
        header = handle.read(20)
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def check_native_code(root: Path, *, architecture: str, runtime: str, report: Report) -> int:
    """Every ELF file under root; returns how many there are."""
    machine = ELF_MACHINE[architecture]
    glibc = RUNTIME_GLIBC[runtime]
    python = runtime.removeprefix("python").split(".")
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if not _is_elf(path):
            continue
        count += 1
        name = path.relative_to(root)
        if _elf_machine(path) != machine:
            report.problems.append(f"{name}: native code for machine {_elf_machine(path):#x}, not {architecture}")
        needs = {tuple(int(x) for x in v.decode().split(".")) for v in _GLIBC_NEED.findall(path.read_bytes())}
        newest = max(needs, default=(2, 0))
        if newest > glibc:
            report.problems.append(
                f"{name}: needs glibc {'.'.join(map(str, newest))}, {runtime} has {'.'.join(map(str, glibc))}"
            )
        match = _EXTENSION.search(path.name)
        if match and [match.group(1), match.group(2)] != python:
            report.problems.append(f"{name}: a CPython {match.group(1)}.{match.group(2)} module on {runtime}")
        if match and match.group(3) != {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]:
            report.problems.append(f"{name}: built for {match.group(3)}, the function is {architecture}")
    return count


def _ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def check(build_dir: Path) -> Report:
    report = Report()
    template = cfn_yaml.loads((build_dir / "template.yaml").read_text())
    resources = template["Resources"]
    function_globals = template.get("Globals", {}).get("Function", {})
    layers: dict[str, int] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::LayerVersion":
            continue
        props = resource["Properties"]
        path = build_dir / str(props["ContentUri"])
        runtime = resource.get("Metadata", {}).get("BuildMethod") or props["CompatibleRuntimes"][0]
        for architecture in props.get("CompatibleArchitectures", ["x86_64"]):
            natives = check_native_code(path, architecture=architecture, runtime=runtime, report=report)
        layers[logical_id] = _size(path)
        size = layers[logical_id] / 1e6
        report.lines.append(f"layer {logical_id}: {size:.1f} MB unzipped, {natives} native libraries")
    for logical_id, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = {**function_globals, **resource["Properties"]}
        code = build_dir / str(props["CodeUri"])
        architecture = (props.get("Architectures") or ["x86_64"])[0]
        check_native_code(code, architecture=architecture, runtime=str(props["Runtime"]), report=report)
        total = _size(code)
        for layer in props.get("Layers", []):
            layer_id = _ref(layer)
            if layer_id is None or layer_id not in layers:
                report.problems.append(f"{logical_id}: layer {layer!r} is not built here; cannot size it")
                continue
            total += layers[layer_id]
        if total >= UNZIPPED_LIMIT:
            report.problems.append(f"{logical_id}: {total / 1e6:.1f} MB unzipped with its layers (limit 262.1 MB)")
        report.lines.append(f"function {logical_id}: {total / 1e6:.1f} MB unzipped with its layers ({architecture})")
    if not layers:
        report.problems.append("no layer in the built template")
    return report


def main() -> int:
    build_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")
    report = check(build_dir)
    print("\n".join(report.lines))
    for problem in report.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if report.problems:
        return 1
    print(f"build OK: every function within Lambda's {UNZIPPED_LIMIT / 1e6:.1f} MB unzipped, native code matches")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
