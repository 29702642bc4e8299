"""Fixtures for the app's tests: real Prometheus servers holding known traffic in each dialect."""

from __future__ import annotations

from dataclasses import dataclass

import knative_traffic as kt
import pytest
from app_traffic import load_known

from sdobs.prom.harness import LocalPrometheus

#: The two Knative metric dialects the app is tested on (OpenCensus <= 1.18, OTel 1.19.8+).
DIALECTS = ("opencensus", "opentelemetry")


@dataclass
class Known:
    """A running Prometheus with the known traffic, and the views that select it."""

    prom: LocalPrometheus
    dialect: str
    t0: int

    @property
    def url(self) -> str:
        return self.prom.url

    def window(self) -> tuple[int, int]:
        """The 10-minute window whose increments the known traffic fixes exactly."""
        return self.t0 + kt.WINDOW_START, self.t0 + kt.WINDOW_END

    def search(self, service: str | None = kt.SVC, *, whole: bool = False, **extra: str) -> str:
        start, end = (self.t0, self.t0 + kt.SPAN) if whole else self.window()
        params = {"ns": kt.NS, "service": service, "from": str(start), "to": str(end), **extra}
        return "?" + "&".join(f"{k}={v}" for k, v in params.items() if v is not None)


@pytest.fixture(scope="session")
def t0() -> int:
    return kt.t0_for_tests()


@pytest.fixture(scope="session", params=DIALECTS)
def known(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, t0: int):
    """One Prometheus per dialect for the whole session, stopped by PID at the end."""
    prom = LocalPrometheus(tmp_path_factory.mktemp(f"app-{request.param}"))
    load_known(prom, request.param, t0)
    prom.start()
    try:
        yield Known(prom, request.param, t0)
    finally:
        prom.stop()
