"""The exporter scraped by the real Prometheus: both naming modes, and a GPU lost mid-run."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from eventually import eventually
from gpu_fake_nvml import two_gpus
from sdobs_exporters.gpu import GpuCollector, Identity, NvmlBackend, SimulatedBackend, SimulatedGpu
from sdobs_exporters.gpu.server import ExporterServer

pytestmark = pytest.mark.prometheus

IDENTITY = Identity(namespace="sd", pod="knative-sd-demo-00001-deployment-5c9d8f7b6-x2x9q",
                    container="stable-diffusion", service="knative-sd-demo",
                    configuration="knative-sd-demo", revision="knative-sd-demo-00001")


def query(prom_url: str, expr: str) -> list[dict]:
    url = f"{prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for(prom_url: str, expr: str, timeout: float = 30.0) -> list[dict]:
    return eventually(lambda: query(prom_url, expr), timeout=timeout, interval=0.5, what=expr)


def test_prometheus_scrapes_both_modes_and_sees_a_lost_gpu(local_prometheus) -> None:
    fake = two_gpus()
    default = GpuCollector(NvmlBackend(fake), identity=IDENTITY, hostname="node-a")
    gpu = SimulatedGpu.create("a10", seed=IDENTITY.pod)
    gpu.load_model(9 * 2**30)
    gpu.utilization = 0.25
    dcgm = GpuCollector(SimulatedBackend([gpu]), naming="dcgm", identity=IDENTITY,
                        hostname="node-a")
    with ExporterServer(default, "127.0.0.1", 0) as a, ExporterServer(dcgm, "127.0.0.1", 0) as b:
        jobs = [{"job_name": job, "scrape_interval": "1s", "scrape_timeout": "1s",
                 "honor_labels": True, "static_configs": [{"targets": [f"{h}:{p}"]}]}
                for job, (h, p) in (("gpu", a.address), ("gpu-dcgm", b.address))]
        prom = local_prometheus(scrape_configs=jobs)
        got = wait_for(prom.url, 'sdobs_gpu_utilization_ratio{revision="knative-sd-demo-00001"}')
        by_gpu = {r["metric"]["gpu"]: r for r in got}
        assert float(by_gpu["0"]["value"][1]) == 0.57
        labels = by_gpu["0"]["metric"]
        assert labels["namespace"] == "sd" and labels["pod"] == IDENTITY.pod
        assert labels["service"] == labels["configuration"] == "knative-sd-demo"
        assert labels["uuid"] == "GPU-11111111-2222-3333-4444-555555555555"
        got = wait_for(prom.url, 'DCGM_FI_DEV_GPU_UTIL{serving_knative_dev_revision='
                                 '"knative-sd-demo-00001"}')
        assert float(got[0]["value"][1]) == 25.0
        assert got[0]["metric"]["modelName"] == "NVIDIA A10"
        # the join on the info series works as documented
        joined = wait_for(prom.url, 'sdobs_gpu_power_watts * on (uuid) group_left (revision) '
                                    'sdobs_gpu_pod_info')
        assert {r["metric"]["revision"] for r in joined} == {"knative-sd-demo-00001"}
        # Prometheus negotiated OpenMetrics, where the counter family drops its _total
        with urllib.request.urlopen(f"{prom.url}/api/v1/metadata", timeout=10) as resp:
            meta = json.load(resp)["data"]
        assert meta["sdobs_gpu_energy_joules"][0]["type"] == "counter"
        assert meta["sdobs_gpu_memory_used_bytes"][0]["type"] == "gauge"
        assert meta["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"][0]["type"] == "unknown"
        assert query(prom.url, 'up{job="gpu"}')[0]["value"][1] == "1"

        fake.gpus[1].lost = True
        wait_for(prom.url, 'sdobs_gpu_exporter_gpu_up{gpu="1"} == 0')
        wait_for(prom.url, "sdobs_gpu_exporter_up == 0")
        assert query(prom.url, 'up{job="gpu"}')[0]["value"][1] == "1", "scrapes must not fail"
        assert float(query(prom.url, 'sdobs_gpu_utilization_ratio{gpu="0"}')[0]["value"][1]) \
            == 0.57
        fake.gpus[1].lost = False
        default.backend.reopen_interval = 0  # retry opening the GPU at once
        wait_for(prom.url, "sdobs_gpu_exporter_up == 1")
        wait_for(prom.url, 'sdobs_gpu_exporter_nvml_errors_total{kind="gpu_is_lost"} >= 1')
