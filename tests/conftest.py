"""Shared test setup: the local Prometheus fixtures come from the product's own plugin."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers such as knative_traffic

pytest_plugins = ["sdobs.prom.pytest_plugin"]


def _grouped(config: pytest.Config) -> bool:
    return config.getvalue("dist") == "loadgroup" or bool(config.getvalue("loadgroup"))


@pytest.hookimpl(trylast=True)  # after pytest's own ordering by fixture parameters, kept
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker of ``--dist loadgroup``: longest groups first (xdist_groups.py)."""
    if hasattr(config, "workerinput") and _grouped(config):
        from xdist_groups import order

        order(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup``: a whole group (tests/xdist_groups.py) to one worker."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist_groups import scheduler

    return scheduler(config, log)
