"""pytest fixtures over the local Prometheus harness, for ``pytest_plugins``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sdobs.prom.harness import LocalPrometheus


@pytest.fixture
def local_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        Callable[..., LocalPrometheus]]:
    """Factory: ``prom = local_prometheus(openmetrics=text, scrape_configs=[...])``, started.

    Every instance is stopped by PID at teardown, also when the test failed or was interrupted.
    """
    started: list[LocalPrometheus] = []

    def make(*, openmetrics: str | None = None, start: bool = True,
             **kwargs: Any) -> LocalPrometheus:
        prom = LocalPrometheus(tmp_path_factory.mktemp("prometheus"), **kwargs)
        started.append(prom)
        if openmetrics is not None:
            prom.backfill_text(openmetrics)
        return prom.start() if start else prom

    try:
        yield make
    finally:
        for prom in started:
            prom.stop()
