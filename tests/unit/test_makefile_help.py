"""``make help`` is plain text when piped (into a file, grep, CI logs) and coloured only on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_help_piped_has_no_colour_codes() -> None:
    listed = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, timeout=60)
    assert listed.returncode == 0
    assert b"\x1b" not in listed.stdout
    assert b"  demo " in listed.stdout and b"  test " in listed.stdout


def test_make_help_on_a_terminal_is_coloured() -> None:
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            ["make", "--no-print-directory", "help"], cwd=ROOT, stdout=terminal, stderr=subprocess.DEVNULL, timeout=60
        )
        os.close(terminal)
        terminal = -1
        output = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)
    assert done.returncode == 0
    assert b"\x1b[36mdemo" in output
