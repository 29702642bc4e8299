"""The known Knative traffic in a real Prometheus, once per test module and dialect."""

from __future__ import annotations

import knative_traffic as kt
import pytest

from sdobs.catalog import Catalog
from sdobs.knative.dialects import DIALECTS
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus


@pytest.fixture(scope="module", params=[d.name for d in DIALECTS])
def knative(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(client, catalog, te): Prometheus holding the traffic; ``te`` ends its 10-minute window."""
    t0 = kt.t0_for_tests()
    prom = LocalPrometheus(tmp_path_factory.mktemp(request.param))
    prom.backfill_text(kt.exposition(request.param, t0))
    prom.start()
    client = PrometheusClient(prom.url)
    try:
        yield client, Catalog(request.param), t0 + kt.WINDOW_END
    finally:
        client.close()
        prom.stop()
