"""GPU signals against the real GPU exporter (simulated devices) scraped by a real Prometheus."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from eventually import eventually
from sdobs_exporters.gpu import GpuCollector, Identity, SimulatedBackend, SimulatedGpu

from sdobs.catalog import Catalog, Selection
from sdobs.catalog.gpu import duration_seconds
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus

PODS = (  # pod, revision, utilisation, model memory (GiB)
    ("sd-00001-deployment-a", "sd-00001", 0.9, 9),
    ("sd-00001-deployment-b", "sd-00001", 0.3, 9),
    ("sd-00002-deployment-c", "sd-00002", 0.0, 5),
)
GIB = 2**30


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory):
    from sdobs.prom.harness import LocalPrometheus

    servers, gpus = [], {}
    for pod, rev, util, mem in PODS:
        gpu = SimulatedGpu.create("a10", seed=pod)
        gpu.load_model(mem * GIB)
        gpu.utilization = util
        gpu.power_watts = 60 + 90 * util
        gpus[pod] = gpu
        collector = GpuCollector(SimulatedBackend([gpu]), identity=Identity(
            namespace="default", service="sd", configuration="sd", revision=rev, pod=pod,
            container="stable-diffusion"))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self, c=collector) -> None:
                body = c.render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    targets = [f"127.0.0.1:{s.server_address[1]}" for s in servers]
    prom = LocalPrometheus(tmp_path_factory.mktemp("gpu"), scrape_interval="1s", scrape_configs=[
        {"job_name": "gpu", "static_configs": [{"targets": targets}]}]).start()
    client = PrometheusClient(prom.url)
    eventually(lambda: client.query("count(sdobs_gpu_utilization_ratio)"),
               until=lambda frame: not frame.empty and frame["value"].iloc[0] == 3,
               timeout=30, interval=0.3, what="three GPUs scraped")
    time.sleep(2.5)  # a few samples for the GPU-seconds subquery
    yield client, gpus
    client.close()
    prom.stop()
    for s in servers:
        s.shutdown()
        s.server_close()


def value(client: PrometheusClient, expr: str) -> float:
    frame = client.query(expr, require_data=True)
    assert len(frame) == 1, frame
    return float(frame["value"].iloc[0])


def test_gpu_signals(scraped) -> None:
    client, gpus = scraped
    cat = Catalog("opentelemetry")  # GPU series are the same for every dialect
    sel = Selection(namespace="default", service="sd")
    assert value(client, cat.gpu_utilization(sel).expr) == pytest.approx(0.4)
    assert value(client, cat.gpus_allocated(sel).expr) == 3
    assert value(client, cat.gpus_busy(sel).expr) == pytest.approx(1.2)
    assert value(client, cat.gpu_memory_used(sel).expr) >= 23 * GIB
    total = sum(g.model.memory_total_bytes for g in gpus.values())
    assert value(client, cat.gpu_memory_total(sel).expr) == total
    assert value(client, cat.gpu_power(sel).expr) == pytest.approx(3 * 60 + 90 * 1.2)
    assert value(client, cat.gpu_exporter_up(sel).expr) == 1
    rev = client.query(cat.gpu_utilization(sel, by=["revision"]).expr)
    assert dict(zip(rev["revision"], rev["value"], strict=True)) == pytest.approx(
        {"sd-00001": 0.6, "sd-00002": 0.0})
    one = Selection(namespace="default", revisions=("sd-00002",))
    assert value(client, cat.gpus_allocated(one).expr) == 1
    assert client.query(cat.gpus_allocated(Selection(revisions=("sd.*",))).expr).empty


def test_gpu_seconds_over_a_range(scraped) -> None:
    client, _ = scraped
    cat = Catalog("opencensus")
    sel = Selection(service="sd")
    allocated = value(client, cat.gpu_seconds(sel, "allocated", "2s", "1s").expr)
    busy = value(client, cat.gpu_seconds(sel, "busy", "2s", "1s").expr)
    assert allocated in (6, 9)  # 3 GPUs sampled 2 or 3 times (subquery steps in the window)
    assert busy == pytest.approx(allocated / 3 * 1.2)


def test_duration_seconds() -> None:
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("250ms") == 0.25
    with pytest.raises(ValueError):
        duration_seconds("5 minutes")
