"""Fault-scenario histories shared by the rules tests: each is backfilled once per session.

A history (raw series plus the rules' recorded series, in a running Prometheus) takes minutes
of CPU; test_rules_scenarios.py and test_fleet_recorded.py both read the 5xx-burst one, and
neither writes to it, so they share it. Every query of those tests is relative to the history's
own end, not to the wall clock, so an older history answers the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fault_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], tuple]]:
    """``get(scenario_path)`` -> (prom, groups, start, end), built at the first call."""
    from test_rules_scenarios import history

    built: dict[Path, tuple] = {}

    def get(path: Path) -> tuple:
        if path not in built:
            built[path] = history(tmp_path_factory.mktemp(path.stem), path)
        return built[path]

    try:
        yield get
    finally:
        for prom, *_ in built.values():
            prom.stop()
