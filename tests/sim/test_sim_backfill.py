"""The twin's history through promtool into a real Prometheus, read back through the catalog.

One revision with two warm pods serves Poisson traffic (5 % answered 400) for two hours. Both
Knative dialects are rendered into one file with every target scraped at the same instants, so
a catalog rate over the last hour, evaluated at the last scrape, covers samples at both ends of
its range and equals the exact number of requests queue-proxy finished in that hour.
"""

from __future__ import annotations

import numpy as np
import pytest
from sim_helpers import kpa, service

from sdobs.catalog import Catalog, Selection
from sdobs.knative.dialects import OPENCENSUS, OPENTELEMETRY
from sdobs.prom.client import PrometheusClient
from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.render import RenderOptions, render_to_file
from sdobs.sim.servicetime import Txt2Img
from sdobs.sim.traffic import Poisson, RequestMix, Traffic

START = 1_717_200_000  # 2024-06-01T00:00:00Z
STEP = 15
WINDOW = 3600


@pytest.mark.prometheus
def test_backfilled_history_shows_the_simulated_requests_in_both_dialects(
        tmp_path, local_prometheus) -> None:
    svc = service(kpa(min_scale="2", max_scale="2"), namespace="sd-test", name="sd-count")
    mix = RequestMix(((1.0, Txt2Img(steps=20)),), unknown_sampler=0.05)
    log = simulate_service(svc, Traffic(sources=[Poisson(0.2)], mix=mix),
                           SimOptions(duration=7200, warmup=600, seed=5))
    options = RenderOptions(start_epoch=START, scrape_interval=STEP, aligned=True,
                            dialects=(OPENCENSUS, OPENTELEMETRY))
    path = tmp_path / "history.om"
    stats = render_to_file([log], path, options)
    assert stats.samples > 0 and path.read_text()[-6:] == "# EOF\n"

    prom = local_prometheus(start=False)
    prom.backfill(path)
    prom.start()
    client = PrometheusClient(prom.url)

    te = START + 7200 - STEP  # the last scrape
    r = log.requests
    offset = START - log.start
    done = r["t_qp_end"] + offset
    in_window = (done > te - WINDOW) & (done <= te) & (r["t_qp"] >= 0)
    expected = {code: int(((r["code_qp"] == code) & in_window).sum())
                for code in np.unique(r["code_qp"][in_window]).tolist()}
    assert expected.get(400, 0) > 0 and expected[200] > 500
    app_done = r["t_app_done"] + offset
    expected_app = int(((app_done > te - WINDOW) & (app_done <= te) & (r["t_app"] >= 0)).sum())

    sel = Selection(namespace="sd-test", service="sd-count", window="60m")
    for dialect in (OPENCENSUS, OPENTELEMETRY):
        cat = Catalog(dialect)

        def scalar(expr: str, name: str = dialect.name) -> float:
            frame = client.query(expr, time=te)
            assert len(frame) == 1, (name, expr, frame)
            return float(frame["value"].iloc[0])

        total = scalar(cat.request_rate(sel).expr) * WINDOW
        assert total == pytest.approx(sum(expected.values()), abs=1e-6), dialect.name
        assert scalar(cat.rate_4xx(sel).expr) * WINDOW == pytest.approx(expected[400], abs=1e-6)
        assert scalar(cat.request_rate(sel, app=True).expr) * WINDOW == pytest.approx(
            expected_app, abs=1e-6)
        by_rev = client.query(cat.request_rate_by_revision(sel).expr, time=te)
        assert by_rev["revision"].tolist() == ["sd-count-00001"]
        assert scalar(cat.pods(sel, "actual").expr) == 2
        assert scalar(cat.concurrency(sel, "target").expr) == pytest.approx(0.7)
        p50 = scalar(cat.latency(sel, 0.5, app=True).expr)
        assert 2.5 < p50 < 5.0, (dialect.name, p50)  # ~4.1 s on a T4, within a bucket
