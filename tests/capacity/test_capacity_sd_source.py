"""Capacity planning reads the service-time distribution from the SD request exporter where it
runs: on the proof scenario (30 s generations, OpenTelemetry-era Knative, whose app histogram
stops at 10 s) its mean and spread match the twin's request log; Knative's could not."""

from __future__ import annotations

import numpy as np
import pytest
import sd_proof

from sdobs.capacity.history import load_history
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus


def test_service_times_come_from_the_exporter(tmp_path) -> None:
    prom, start, te, log = sd_proof.build(tmp_path)
    prom.start()
    client = PrometheusClient(prom.url)
    try:
        history = load_history(client, sd_proof.NS, sd_proof.SVC, start, te + 15,
                               scrape_interval=15)
    finally:
        client.close()
        prom.stop()
    (st,) = history.service_times.values()
    assert st.source == "sd-exporter"
    assert st.bounds_s[-2] == 600  # the exporter's buckets, not Knative's (10 s)
    r = log.requests
    ok = (r["code_app"] == 200) & (r["t_app_done"] >= 0) & (r["t_app"] >= 0)
    lat = (r["t_app_done"] - r["t_app"])[ok]
    assert st.mean_s == pytest.approx(lat.mean(), rel=0.02)
    assert st.quantile(0.99) == pytest.approx(sd_proof.true_quantile(0.99, lat), rel=0.05)
    assert st.requests == pytest.approx(ok.sum(), abs=3)  # rate() misses each pod's first
    assert np.isfinite(st.scv)
