"""The suite needs nothing outside the repository: the dashboards' tests pass in a fresh clone.

The dashboards are the one part with an optional outside input (a copy of Grafana's JSON
schemas in ``../shared``); in a clone without it they must still be validated (by the round
trip through Grafana's typed models) and pass, with only the schema extra skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fresh_clone import env, make_clone

pytestmark = pytest.mark.fresh_clone


def test_dashboard_tests_pass_in_a_clone_without_shared(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    assert not (clone.parent / "shared").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         "tests/dashboards/test_dashboards_generate.py"],
        cwd=clone, env=env(clone), capture_output=True, text=True, timeout=600, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "test_every_field_survives_grafanas_typed_models" not in out  # not skipped
    assert "no copy of Grafana's JSON schemas" in out  # the schema extra, and only it, skipped
    assert " failed" not in out and " passed" in out, out[-2000:]
