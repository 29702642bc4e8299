"""``promtool check rules`` and ``promtool test rules``, run on generated files."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sdobs.errors import InputError
from sdobs.prom.harness import find_binary


@dataclass(frozen=True)
class PromtoolResult:
    ok: bool
    output: str


def _run(args: Sequence[str], cwd: Path | None = None, timeout: float = 300) -> PromtoolResult:
    proc = subprocess.run([find_binary("promtool"), *args], capture_output=True, text=True,
                          check=False, cwd=cwd, timeout=timeout)
    return PromtoolResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def check_rules(paths: Sequence[Path]) -> PromtoolResult:
    """Syntax, expressions and duplicate rules of each rule file."""
    if not paths:
        raise InputError("no rule files to check; run 'sdobs rules generate' first")
    return _run(["check", "rules", *map(str, paths)])


def run_unit_tests(test_files: Sequence[Path], cwd: Path | None = None) -> PromtoolResult:
    """Unit tests (``rule_files`` in a test file are relative to the test file)."""
    return _run(["test", "rules", *map(str, test_files)], cwd=cwd)
