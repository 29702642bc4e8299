"""The reference story end to end with real processes: ``sdobs demo``, the load test, Prometheus.

The demo runs as a subprocess on free ports with a scenario whose manifests shorten the stable
window and the cold start (annotations, not special code); the reference load test (5 in flight,
20 in total) goes through the twin's gateway; everything is then read back from Prometheus
through the catalog.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from demo_output import read_until
from eventually import eventually

from sdobs.catalog import QUANTILES, Catalog, Selection
from sdobs.loadtest import LoadTestConfig, Txt2ImgOptions, read_records, run_loadtest
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import check_port_free, free_port

pytestmark = pytest.mark.prometheus

REFERENCE = Path(__file__).parents[2] / "sdobs" / "sim" / "scenarios" / "knative-sd-demo.yaml"
FAST = """        autoscaling.knative.dev/window: "6s"
        twin.sdobs.dev/cold-start: "2s"
"""
CANARY = """apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: sd-canary, namespace: default}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "2"
        twin.sdobs.dev/cold-start: "1s"
        k8s.aliyun.com/eci-use-specs: ecs.gn7i-c8g1.2xlarge
    spec:
      containerConcurrency: 4
      containers: [{name: stable-diffusion, image: sd:v1}]
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: sd-canary, namespace: default}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
        twin.sdobs.dev/cold-start: "1s"
        k8s.aliyun.com/eci-use-specs: ecs.gn7i-c8g1.2xlarge
    spec:
      containerConcurrency: 4
      containers: [{name: stable-diffusion, image: sd:v2}]
  traffic:
  - {revisionName: sd-canary-00001, percent: 80}
  - {latestRevision: true, percent: 20}
"""


def _scenario(tmp: Path) -> Path:
    text = REFERENCE.read_text()
    marker = "        autoscaling.knative.dev/targetUtilizationPercentage"
    assert marker in text
    (tmp / "ref.yaml").write_text(text.replace(marker, FAST + marker, 1).replace(
        "initialDelaySeconds: 5", "initialDelaySeconds: 0"))
    (tmp / "canary.yaml").write_text(CANARY)
    path = tmp / "scenario.yaml"
    path.write_text("name: e2e\ndialects: [opencensus]\nservices:\n"
                    "- manifest: ref.yaml\n- manifest: canary.yaml\n")
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("demo")
    ports = {k: free_port() for k in ("prometheus", "gateway", "metrics")}
    cmd = [sys.executable, "-m", "sdobs.cli", "demo", "--scenario", str(_scenario(tmp)),
           "--no-history", "--no-app", "--background-rate", "0", "--scrape-interval", "1s",
           "--dir", str(tmp / "state"), "--prometheus-port", str(ports["prometheus"]),
           "--gateway-port", str(ports["gateway"]),
           "--twin-metrics-port", str(ports["metrics"]),
           "--alertmanager-port", str(free_port()), "--fault-port", str(free_port())]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = read_until(proc, "Ctrl-C", timeout=60)
    assert proc.poll() is None, out
    try:
        yield proc, ports, out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def demo_dir(banner: str) -> str:
    """The demo's state directory, from the data path it printed."""
    return banner.split("data in ")[1].split("/prometheus/")[0]


def _max(client: PrometheusClient, expr: str, start: float, end: float) -> float:
    frame = client.query_range(expr, start, end, step=1)
    return float(frame["value"].max()) if not frame.empty else math.nan


def test_reference_load_test_scales_to_five_and_back_to_zero(demo) -> None:
    _, ports, banner = demo
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    assert gateway in banner and f"{sys.executable} -m sdobs.cli loadtest" in banner  # as run
    client = PrometheusClient(f"http://127.0.0.1:{ports['prometheus']}")
    cat = Catalog("opencensus")
    sel = Selection(namespace="default", service="knative-sd-demo", window="1m")
    started = time.time()
    records = Path(demo_dir(banner)) / "records.jsonl"
    summary = run_loadtest(LoadTestConfig(
        url=f"{gateway}/services/default/knative-sd-demo", concurrency=5, requests=20,
        payload=Txt2ImgOptions(steps=5, width=256, height=256)), records=records)
    assert summary.requests == 20 and summary.successes == 20, summary.status_codes
    assert summary.images == 20 and summary.max_in_flight == 5
    # Client-side truth: exact percentiles, equal to numpy's on the recorded latencies, and
    # the first wave of requests found the service at zero (cold starts).
    lat = np.array([r["end"] - r["scheduled"] for r in read_records(records)])
    for q, got in ((50, summary.latencies.p50), (90, summary.latencies.p90),
                   (95, summary.latencies.p95), (99, summary.latencies.p99)):
        assert got == np.percentile(lat, q)
    assert summary.cold_start.count >= 1

    def served() -> float:
        frame = client.query(cat.requests_served(sel, "5m", by=["code_class"]).expr)
        return dict(zip(frame.get("code_class", []), frame["value"], strict=True)).get("2xx", 0)

    eventually(served, until=lambda n: n >= 20, timeout=30, interval=0.5)
    assert served() == 20
    now = time.time()
    assert _max(client, cat.pods(sel, "desired").expr, started, now) == 5
    assert _max(client, cat.pods(sel, "actual").expr, started, now) == 5
    for q in QUANTILES:
        frame = client.query(cat.latency(sel, q).expr)
        assert not frame.empty and frame["value"].iloc[0] > 0, q
    # Back to zero: about a stable window (6 s here) plus the grace period after the last reply.
    def at_zero() -> bool:
        frame = client.query(cat.pods(sel, "actual").expr)
        desired = client.query(cat.pods(sel, "desired").expr)
        return not frame.empty and frame["value"].iloc[0] == 0 and desired["value"].iloc[0] == 0

    eventually(at_zero, timeout=90, interval=1, what="the reference service back at zero pods")
    assert time.time() - now < 90


def test_canary_split_shows_in_per_revision_volume(demo) -> None:
    _, ports, _ = demo
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    summary = run_loadtest(LoadTestConfig(
        url=f"{gateway}/services/default/sd-canary", concurrency=8, requests=300,
        payload=Txt2ImgOptions(steps=1, width=64, height=64)))
    assert summary.successes == 300, summary.status_codes
    client = PrometheusClient(f"http://127.0.0.1:{ports['prometheus']}")
    cat = Catalog("opencensus")
    sel = Selection(namespace="default", service="sd-canary")
    q = cat.requests_served(sel, "5m", by=["revision"])

    def by_revision() -> dict[str, float]:
        frame = client.query(q.expr)
        return dict(zip(frame.get("revision", []), frame["value"], strict=True))

    counts = eventually(by_revision, until=lambda c: sum(c.values()) == 300, timeout=30,
                        interval=0.5)
    assert sum(counts.values()) == 300
    share = counts["sd-canary-00001"] / 300
    assert 0.72 <= share <= 0.88, counts  # 80 % ± 4 binomial standard deviations


@pytest.mark.timing
def test_open_loop_run_reports_scheduling_lag_apart_from_latency(demo) -> None:
    _, ports, _ = demo
    summary = run_loadtest(LoadTestConfig(
        url=f"http://127.0.0.1:{ports['gateway']}/services/default/sd-canary", rate=20.0,
        requests=60, payload=Txt2ImgOptions(steps=1, width=64, height=64)))
    assert summary.mode == "open" and summary.successes == 60
    assert summary.scheduling_lag is not None and summary.scheduling_lag.p99 < 0.05
    assert summary.latencies.min > summary.scheduling_lag.max  # latency counts from the plan


def test_live_pods_have_resource_series_joined_to_their_revision(demo) -> None:
    _, ports, _ = demo
    summary = run_loadtest(LoadTestConfig(
        url=f"http://127.0.0.1:{ports['gateway']}/services/default/sd-canary", concurrency=2,
        requests=10, payload=Txt2ImgOptions(steps=1, width=64, height=64)))
    assert summary.successes == 10, summary.status_codes
    client = PrometheusClient(f"http://127.0.0.1:{ports['prometheus']}")
    cat = Catalog("opencensus")
    sel = Selection(namespace="default", service="sd-canary", window="1m")
    checks = {
        "memory": cat.container_memory(sel, "user", by=["revision"]),
        "limit": cat.container_memory_limit(sel, "user", by=["revision"]),
        "cpu": cat.container_cpu(sel, "user", by=["revision"]),
        "restarts": cat.container_restarts(sel, "user", "5m", by=["revision"]),
    }

    def read() -> dict[str, dict]:
        got: dict[str, dict] = {}
        for name, q in checks.items():
            frame = client.query(q.expr)
            got[name] = dict(zip(frame.get("revision", []), frame["value"], strict=True))
        return got

    got = eventually(read, timeout=30, interval=0.5,
                     until=lambda g: all(g.values()) and all(v > 0 for v in g["cpu"].values()),
                     what="every resource signal of the canary's revisions")
    assert set(got["memory"]) <= {"sd-canary-00001", "sd-canary-00002"} and got["memory"], got
    assert all(v > 0 for v in got["cpu"].values()), got
    assert all(v == 0 for v in got["restarts"].values()), got
    # honor_labels keeps each series' own job, as on a cluster
    jobs = client.query("count by (job) (kube_pod_labels or container_memory_working_set_bytes)")
    assert set(jobs["job"]) == {"kube-state-metrics", "kubelet"}


def test_sigterm_stops_everything(demo) -> None:
    proc, ports, banner = demo
    pid = int(banner.split("(pid ")[1].split(",")[0])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not os.path.exists(f"/proc/{pid}")
    for port in ports.values():
        check_port_free("127.0.0.1", port)
