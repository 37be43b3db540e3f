"""Cold-start proxy: import time of each template handler module (``python -X importtime``), target ≤ 300 ms.

Each handler is imported in a fresh interpreter with the Lambda-like sys.path (CodeUri, then the layer),
five times; the median of the cumulative import time of the handler module is reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 300.0
RUNS = 5


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def handlers() -> dict[str, tuple[str, str]]:
    tpl = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)
    out = {}
    for name, res in tpl["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            props = res["Properties"]
            out[name] = (props["CodeUri"], props["Handler"].rsplit(".", 1)[0])
    return out


def import_ms(code_uri: str, module: str) -> float:
    code = (
        f"import sys; sys.path[:0] = [{str(ROOT / code_uri)!r}, {str(ROOT / 'layers' / 'common')!r}]; import {module}"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, check=True
    )
    for line in result.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    raise RuntimeError(f"no importtime line for {module}")


def main() -> None:
    # The floor, measured the same way in the same run: importing the standard library's ``email.message``
    # (a pure-Python package tree), so figures from a busy and a quiet machine can be compared as ratios.
    floor = statistics.median(import_ms(".", "email.message") for _ in range(RUNS))
    print(f"floor (import email.message): {floor:.1f} ms")
    print(f"{'function':32} {'median ms':>10} {'max ms':>8} {'x floor':>8}  target ≤ {TARGET_MS:.0f} ms")
    worst = 0.0
    for name, (uri, module) in sorted(handlers().items()):
        samples = [import_ms(uri, module) for _ in range(RUNS)]
        med = statistics.median(samples)
        worst = max(worst, med)
        verdict = "ok" if med <= TARGET_MS else "OVER"
        print(f"{name:32} {med:10.1f} {max(samples):8.1f} {med / floor:8.1f}  {verdict}")
    print(f"worst median: {worst:.1f} ms ({'meets' if worst <= TARGET_MS else 'misses'} the target)")


if __name__ == "__main__":
    main()
