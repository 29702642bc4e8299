"""The known Knative traffic in a real Prometheus, once per test module and dialect."""

from __future__ import annotations

from dataclasses import dataclass

import knative_traffic as kt
import pytest

from sdobs.catalog import Catalog
from sdobs.knative.dialects import DIALECTS
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus


@dataclass(frozen=True)
class KnativeTraffic:
    """A real Prometheus holding the known traffic of one dialect, and how to query it."""

    client: PrometheusClient
    catalog: Catalog
    #: Unix seconds at which the traffic's 10-minute window ends (query instants there)
    end: float


@pytest.fixture(scope="module", params=[d.name for d in DIALECTS])
def knative(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """:class:`KnativeTraffic` of each dialect, once per test module."""
    t0 = kt.t0_for_tests()
    prom = LocalPrometheus(tmp_path_factory.mktemp(request.param))
    prom.backfill_text(kt.exposition(request.param, t0))
    prom.start()
    client = PrometheusClient(prom.url)
    try:
        yield KnativeTraffic(client, Catalog(request.param), t0 + kt.WINDOW_END)
    finally:
        client.close()
        prom.stop()
