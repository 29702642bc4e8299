"""Soak (issue 16): the demo under steady background traffic plus back-to-back load tests.

Minutes long, so it runs only when asked: ``SDOBS_SOAK_MINUTES=3 .venv/bin/python -m pytest
tests/soak``. Loopback only, free ports, its own temporary directory (``benchmarks/soak.py``,
which also prints the figures recorded in ``benchmarks/README.md``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

MINUTES = float(os.environ.get("SDOBS_SOAK_MINUTES", "0") or 0)


@pytest.mark.prometheus
@pytest.mark.skipif(MINUTES <= 0, reason="set SDOBS_SOAK_MINUTES to run the soak test")
def test_the_demo_stays_flat_under_load() -> None:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"
    spec = importlib.util.spec_from_file_location("sdobs_soak", path)
    assert spec is not None and spec.loader is not None
    soak_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak_module)
    soak = soak_module.run(MINUTES)
    print(soak_module.report(soak))
    assert len(soak.runs) >= 2
    assert soak.problems == []
