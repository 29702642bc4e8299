"""Shared test setup: the local Prometheus fixtures come from the product's own plugin."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers such as knative_traffic

pytest_plugins = ["sdobs.prom.pytest_plugin"]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker of ``--dist loadgroup``: group and order the tests (xdist_groups.py)."""
    if hasattr(config, "workerinput") and config.getvalue("loadgroup"):
        from xdist_groups import assign

        assign(items)
