"""The twin's pods run the SD request exporter's own code; on OpenTelemetry-era Knative with
30 s generations its P99 (in a real Prometheus) is within 5 % of the P99 of the twin's own
request log, while Knative's histogram can only say "> 10 s"."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import sd_proof

from sdobs.catalog import Catalog, Selection
from sdobs.knative.dialects import OPENTELEMETRY
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus

@pytest.fixture(scope="module")
def proof(tmp_path_factory: pytest.TempPathFactory):
    """(client, catalog, selection, query time, log, start) of the proof scenario."""
    prom, start, te, log = sd_proof.build(tmp_path_factory.mktemp("sd-proof"))
    prom.start()
    client = PrometheusClient(prom.url)
    sel = Selection(namespace=sd_proof.NS, service=sd_proof.SVC, window="2h")
    try:
        yield client, Catalog(OPENTELEMETRY), sel, te, log, start
    finally:
        client.close()
        prom.stop()


def _value(client: PrometheusClient, expr: str, te: int) -> float:
    frame = client.query(expr, time=te, require_data=True)
    assert len(frame) == 1, frame
    return float(frame["value"].iloc[0])


def test_exporter_p99_matches_the_request_log_and_knative_reads_above_10s(proof) -> None:
    client, cat, sel, te, log, start = proof
    r = log.requests
    offset = start - log.start
    done = (r["t_app"] >= 0) & (r["t_app_done"] >= 0) & (r["t_app_done"] + offset <= te)
    app_latency = (r["t_app_done"] - r["t_app"])[done]
    assert len(app_latency) > 200 and np.median(app_latency) > 25  # 30 s generations
    for q in (0.5, 0.9, 0.99):
        truth = sd_proof.true_quantile(q, app_latency)
        got = _value(client, cat.sd_latency(sel, q).expr, te)
        assert got == pytest.approx(truth, rel=0.05 if q == 0.99 else 0.1), (q, got, truth)
    knative = cat.latency(sel, 0.99)
    kn = _value(client, knative.expr, te)
    assert kn == 10 and knative.reading(kn).text == "> 10 s"
    app = cat.latency(sel, 0.99, app=True)
    assert app.reading(_value(client, app.expr, te)).text == "> 10 s"
    # The same quantile "by source" picks the exporter here and says so.
    frame = client.query(cat.latency_by_source(sel, 0.99).expr, time=te, require_data=True)
    assert frame["source"].tolist() == ["sd-exporter"]


def test_phases_throughput_and_cold_start_match_the_log(proof) -> None:
    client, cat, sel, te, log, start = proof
    r = log.requests
    offset = start - log.start
    every = (r["gpu_start"] >= 0) & (r["t_app_done"] >= 0) & (r["t_app_done"] + offset <= te)
    # The exporter creates its txt2img series at start, so rate() sees every request (also a
    # pod's first, which waited for the checkpoint to load).
    wait = (r["gpu_start"] - r["t_app"])[every]
    done = every
    gen = (r["gpu_end"] - r["gpu_start"])[done]
    got_gen = _value(client, cat.sd_phase_mean(sel, "generation").expr, te)
    assert got_gen == pytest.approx(gen.mean(), rel=1e-6)
    got_wait = _value(client, cat.sd_phase_mean(sel, "queue_wait").expr, te)
    assert got_wait == pytest.approx(wait.mean(), rel=1e-6)
    assert wait.max() > 10  # the first requests waited for the checkpoint to load
    its = client.query(cat.sd_its(sel).expr, time=te, require_data=True)
    assert its["gpu_model"].tolist() == ["Tesla T4"]
    assert float(its["value"].iloc[0]) == pytest.approx(165 * done.sum() / gen.sum(), rel=1e-6)
    p = log.pods
    cold = _value(client, cat.sd_cold_start(sel, by=()).expr, te)
    lived = np.isfinite(p["loaded"]) & (p["loaded"] - p["started"] > 0)
    assert cold == pytest.approx(float(np.mean((p["loaded"] - p["started"])[lived])), rel=1e-6)
    up = client.query('up{job="sdobs-sd-exporter"}', time=te, require_data=True)
    assert set(up["value"]) == {1.0}


def test_sdobs_query_reads_the_exporter(proof) -> None:
    client, cat, _, te, _, _ = proof
    since = str(int(time.time()) - te + 60)  # --range: the last minute of the history, and on
    base = ["--namespace", sd_proof.NS, "--service", sd_proof.SVC, "--window", "2h",
            "--dialect", cat.dialect.name, "--prometheus-url", client.url, "--range", since]

    def query(signal: str) -> str:
        out = subprocess.run([sys.executable, "-m", "sdobs.cli", "query", signal, *base],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    sd = query("sd_latency")
    assert "sd_latency_p99" in sd and "reading" in sd and "> " not in sd
    assert "> 10 s" in query("latency")
    assert "sd-exporter" in query("latency_by_source")
