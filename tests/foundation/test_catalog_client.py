"""Client-side latency signals over the load tester's real metrics, scraped by Prometheus."""

from __future__ import annotations

import http.server
import threading
import time

import knative_traffic as kt
import pytest
from eventually import eventually
from prometheus_client import generate_latest

from sdobs.catalog import Catalog
from sdobs.loadtest.metrics import DURATION_BUCKETS, ClientMetrics
from sdobs.loadtest.records import RequestRecord
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus
TARGET = "knative-sd-demo.default.example.com"
LATENCIES = [1.2, 2.5, 3.1, 4.4, 4.9, 6.0, 8.0, 12.0, 25.0, 70.0]


def test_client_latency_and_rate(local_prometheus) -> None:
    metrics = ClientMetrics(TARGET)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = generate_latest(metrics.registry)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        prom = local_prometheus(scrape_interval="1s", scrape_configs=[{
            "job_name": "loadtest",
            "static_configs": [{"targets": [f"127.0.0.1:{server.server_address[1]}"]}]}])
        client = PrometheusClient(prom.url)
        cat = Catalog("opencensus")
        q = cat.client_request_rate(TARGET, window="30s")
        eventually(lambda: not client.query('count({__name__=~"sdobs_loadtest_.*"})').empty,
                   timeout=20)
        time.sleep(1.5)  # a scrape before the requests: the counters rise from 0
        for i, latency in enumerate(LATENCIES):
            metrics.observe(RequestRecord(seq=i, client=0, scheduled=0, start=0, end=latency,
                                          status=200, images=1))
        metrics.observe(RequestRecord(seq=99, client=0, scheduled=0, start=0, end=0.01,
                                      status=503, error="http_503"))
        # Wait for a scrape that saw every observation (a busy machine may delay scrapes).
        seen = "sum(sdobs_loadtest_request_duration_seconds_count) == 11"
        eventually(lambda: not client.query(seen).empty, timeout=20, what=seen)
        values = sorted(LATENCIES)
        buckets = [(b, sum(1 for v in values if v <= b)) for b in DURATION_BUCKETS]
        buckets.append((float("inf"), len(values)))
        # Ranks between bucket counts: at a count exactly, float rounding of the rates picks
        # either neighbouring bucket, in Prometheus as in any implementation.
        for quantile in (0.55, 0.85, 0.99):
            got = client.query(cat.client_latency(quantile, TARGET, window="30s").expr)
            assert got["value"].iloc[0] == pytest.approx(kt.histogram_quantile(quantile, buckets))
        by_class = client.query(cat.client_request_rate(TARGET, "30s", by=["status_class"]).expr)
        rates = dict(zip(by_class["status_class"], by_class["value"], strict=True))
        assert rates["5xx"] / rates["2xx"] == pytest.approx(1 / 10)
        assert not client.query(q.expr).empty
        assert client.query(cat.client_latency(0.5, "other.example.com", "30s").expr).empty
    finally:
        server.shutdown()
        server.server_close()
