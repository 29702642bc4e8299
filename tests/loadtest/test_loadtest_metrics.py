"""Client-side Prometheus metrics served while a test runs."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from sdobs.loadtest import ClientMetrics, LoadTestConfig, Txt2ImgOptions, run_loadtest
from sdobs.loadtest.metrics import DURATION_BUCKETS


def test_histogram_by_status_class_is_scrapeable(fake_a1111) -> None:
    server = fake_a1111(delay=0.01)
    metrics = ClientMetrics("sd.default.example.com")
    port = metrics.serve(0)
    try:
        prompts = ("ok", "ok", "503", "badjson")
        run_loadtest(
            LoadTestConfig(
                url=server.url, concurrency=2, requests=8, payload=Txt2ImgOptions(prompts=prompts)
            ),
            metrics=metrics,
        )
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        metrics.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(body)
        for s in fam.samples
    }
    assert {k for _, labels in samples for k, _ in labels} <= {
        "target",
        "status_class",
        "kind",
        "le",
    }
    target = ("target", "sd.default.example.com")
    count = "sdobs_loadtest_request_duration_seconds_count"
    assert samples[(count, (("status_class", "2xx"), target))] == 6  # 4 good + 2 bad bodies
    assert samples[(count, (("status_class", "5xx"), target))] == 2
    assert samples[("sdobs_loadtest_errors_total", (("kind", "http_503"), target))] == 2
    assert samples[("sdobs_loadtest_errors_total", (("kind", "bad_json"), target))] == 2
    assert samples[("sdobs_loadtest_images_total", (target,))] == 4
    assert samples[("sdobs_loadtest_running", (target,))] == 0
    assert samples[("sdobs_loadtest_cold_starts", (target,))] == 0
    assert samples[("sdobs_loadtest_requests_in_flight", (target,))] == 0
    les = {dict(k[1]).get("le") for k in samples if k[0].endswith("duration_seconds_bucket")}
    assert {"0.25", "600.0", "+Inf"} <= les and len(les) == len(DURATION_BUCKETS) + 1
