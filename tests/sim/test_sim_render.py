"""The twin's exposition against the account of each dialect in docs/knative-metrics.md."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from sim_helpers import SD20, kpa, service

from sdobs.knative.dialects import OPENCENSUS, OPENTELEMETRY, OPENTELEMETRY_EARLY
from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.render import OpenMetricsWriter, RenderOptions, _Events, _histogram, render_to_file
from sdobs.sim.traffic import ClosedLoop, Traffic

START = 1_717_200_000


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float, int]]:
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+) (\d+)$", line)
            assert m, line
            if m.group(1) != name:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
            out.append((labels, float(m.group(4)), int(m.group(5))))
    return out


def test_bucket_edges_follow_each_dialect(tmp_path: Path) -> None:
    for dialect, values, le in ((OPENCENSUS, [5000.0], "5000"), (OPENTELEMETRY, [5.0], "5")):
        w = OpenMetricsWriter(tmp_path / f"{dialect.name}.om")
        grid = np.array([START + 30])
        _histogram(w, dialect.requests, dialect, {"x": "1"},
                   _Events(np.array([START + 1.0]), np.array(values)), grid, [str(grid[0])],
                   ms=dialect is OPENCENSUS)
        text = (w.close(), (tmp_path / f"{dialect.name}.om").read_text())[1]
        buckets = {s[0]["le"]: s[1] for s in _samples(text, dialect.requests.bucket)}
        if dialect is OPENCENSUS:  # v < bound: exactly 5000 ms counts in le="10000"
            assert buckets[le] == 0 and buckets["10000"] == 1
        else:  # v <= bound
            assert buckets[le] == 1 and buckets["2.5"] == 0
        assert buckets["+Inf"] == 1
        assert text.endswith("# EOF\n")


def _two_bursts(tmp_path: Path, dialects: tuple) -> tuple[str, object]:
    svc = service(kpa(min_scale="1", max_scale="1"), namespace="team", name="art")
    traffic = Traffic(closed=[ClosedLoop(1, 3, start=100), ClosedLoop(1, 3, start=1500)],
                      mix=SD20)
    log = simulate_service(svc, traffic, SimOptions(duration=2400, spread=False))
    path = tmp_path / "art.om"
    render_to_file([log], path, RenderOptions(start_epoch=START, scrape_interval=15,
                                              aligned=True, dialects=dialects))
    return path.read_text(), log


def test_opencensus_series_restart_after_ten_idle_minutes(tmp_path: Path) -> None:
    text, _ = _two_bursts(tmp_path, (OPENCENSUS,))
    samples = _samples(text, "revision_request_count")
    assert samples, "no counter"
    labels = samples[0][0]
    assert labels["response_code"] == "200" and labels["response_code_class"] == "2xx"
    assert labels["route_tag"] == "DISABLED" and labels["container_name"] == "queue-proxy"
    assert labels["namespace_name"] == "team" and labels["revision_name"] == "art-00001"
    assert labels["job"] == "queue-proxy" and labels["pod"] == labels["pod_name"]
    values = [v for _, v, _ in samples]
    times = [t for _, _, t in samples]
    # Counted from the first request on (no zero before it), 3 by the end of the first burst,
    # gone 10 minutes after it, and restarting from the second burst.
    assert values[0] >= 1 and max(values[: values.index(3.0) + 1]) == 3
    gaps = np.diff(times)
    assert gaps.max() > 600 and set(gaps.tolist()) - {15} == {gaps.max()}
    after = values[int(np.argmax(gaps)) + 1:]
    assert after[0] <= 3 and after[-1] == 3
    assert "# TYPE revision_request_count counter" in text
    assert "revision_request_count_total" not in text


def test_opentelemetry_series_keep_counting_with_scope_and_relabelled_labels(tmp_path: Path
                                                                           ) -> None:
    text, _ = _two_bursts(tmp_path, (OPENTELEMETRY, OPENTELEMETRY_EARLY))
    count = _samples(text, "kn_serving_invocation_duration_seconds_count")
    assert [v for _, v, _ in count][-1] == 6
    assert np.diff([t for _, _, t in count]).max() == 15  # no gap: cumulative, never expired
    labels = count[0][0]
    assert labels["otel_scope_name"] == "knative.dev/serving/pkg/queue"
    assert labels["otel_scope_version"] == ""
    assert labels["k8s_pod_name"] == labels["pod"] and labels["kn_revision_name"] == "art-00001"
    assert 'otel_scope_version=""' in text
    outer = _samples(text, "http_server_request_duration_seconds_count")
    qp = [s for s in outer if "k8s_pod_name" in s[0]]
    assert qp and qp[0][0]["kn_route_tag"] == "kn:disabled"
    assert qp[0][0]["http_response_status_code"] == "200"
    act = [s for s in outer if "k8s_pod_name" not in s[0]]
    assert act and act[0][0]["job"] == "activator"  # the activator's own series
    assert _samples(text, "kn_queueproxy_app_duration_seconds_count")  # the early names too
    info = _samples(text, "target_info")
    assert info[0][0]["exported_kn_revision_name"] == "art-00001"


def test_pod_targets_are_down_until_their_containers_start(tmp_path: Path) -> None:
    svc = service(kpa(max_scale="1"), name="cold")
    log = simulate_service(svc, Traffic(closed=[ClosedLoop(1, 1, start=30)], mix=SD20),
                           SimOptions(duration=600, seed=2))
    path = tmp_path / "cold.om"
    render_to_file([log], path, RenderOptions(start_epoch=START, scrape_interval=5,
                                              aligned=True))
    text = path.read_text()
    up = [(v, t) for labels, v, t in _samples(text, "up") if labels["job"] == "queue-proxy"]
    values = [v for v, _ in up]
    assert values[0] == 0 and values[-1] == 1 and values == sorted(values)
    p = log.pods
    first_up = next(t for v, t in up if v == 1)
    assert first_up - 5 < START + p["started"][0] <= first_up
    gpu = _samples(text, "sdobs_gpu_utilization_ratio")
    assert gpu and {labels["revision"] for labels, _, _ in gpu} == {"cold-00001"}
    assert max(v for _, v, _ in gpu) > 0.9  # busy while the one request ran
    desired = _samples(text, "autoscaler_desired_pods")
    assert max(v for _, v, _ in desired) == 2 and desired[0][1] == 0  # 1 request / 0.7
