"""Reading ``sdobs demo``'s output as a person watches it: line by line, up to a marker."""

from __future__ import annotations

import subprocess
import time


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """The output up to the first line holding ``marker`` (or to EOF, or ``timeout`` s)."""
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if marker in line:
            break
    return "".join(out)
