"""A real Prometheus scrapes the load tester's client-side metrics while a test runs."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from eventually import eventually

from sdobs.loadtest import ClientMetrics, LoadTestConfig, run_loadtest


def _instant(prom_url: str, selector: str) -> list[dict]:
    url = f"{prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": selector})
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)["data"]["result"]


@pytest.mark.prometheus
def test_prometheus_scrapes_client_side_latencies(fake_a1111, local_prometheus) -> None:
    server = fake_a1111(delay=0.03)
    metrics = ClientMetrics("sd.default.example.com")
    port = metrics.serve(0)
    try:
        job = {
            "job_name": "sdobs-loadtest",
            "scrape_interval": "1s",
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
        }
        prom = local_prometheus(scrape_configs=[job])
        s = run_loadtest(
            LoadTestConfig(
                url=server.url, rate=20.0, duration_s=2.0, host="sd.default.example.com"
            ),
            metrics=metrics,
        )
        assert s.requests == 40 and s.success == 1.0

        def by_class() -> dict[str, float]:
            result = _instant(prom.url, "sdobs_loadtest_request_duration_seconds_count")
            return {r["metric"]["status_class"]: float(r["value"][1]) for r in result}

        counts = eventually(by_class, until=lambda c: c.get("2xx") == 40, timeout=20, interval=0.5)
        # Every status class exists from the start (at 0), so rate() sees the first of each.
        assert counts == {"2xx": 40.0, "4xx": 0.0, "5xx": 0.0, "none": 0.0}
        buckets = _instant(
            prom.url, 'sdobs_loadtest_request_duration_seconds_bucket{le="0.25",status_class="2xx"}'
        )
        assert [float(b["value"][1]) for b in buckets] == [40.0]  # 30 ms requests
        assert buckets[0]["metric"]["target"] == "sd.default.example.com"
    finally:
        metrics.close()
