"""The live twin's pods run the SD request exporter (its own code) when the revision says so:
a target per pod, txt2img requests counted with their lock wait and generation, readiness and
the checkpoint; revisions without the annotation have no such target."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest
import sd_scrape as scrape
from eventually import eventually

from sdobs.sim.live.twin import LiveTwin, TwinThread
from sdobs.sim.manifest import load_files
from sdobs.sim.sdexporter import SD_JOB

MANIFEST = """apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {name}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
        autoscaling.knative.dev/max-scale: "1"
        twin.sdobs.dev/cold-start: "1s"
        k8s.aliyun.com/eci-use-specs: ecs.gn7i-c8g1.2xlarge
{extra}
    spec:
      containerConcurrency: 0
      containers: [{{name: stable-diffusion, image: sd}}]
"""


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("twin-sd")
    (tmp / "a.yaml").write_text(MANIFEST.format(
        name="with-sd", extra="        sdobs.dev/sd-exporter: extension"))
    (tmp / "b.yaml").write_text(MANIFEST.format(name="without-sd", extra=""))
    services, _ = load_files([Path(tmp / "a.yaml"), Path(tmp / "b.yaml")])
    targets: dict[str, list] = {}
    runner = TwinThread(LiveTwin(services, on_targets=lambda job, t: targets.__setitem__(job, t)))
    live = runner.start()
    time.sleep(0.3)
    yield runner, live, targets
    runner.stop()


def _get(port: int, path: str, method: str = "GET", body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def test_exporter_series_per_pod(twin) -> None:
    runner, live, targets = twin
    eventually(lambda: targets.get(SD_JOB), timeout=20, interval=0.1,
               what="the SD exporter's scrape target")
    (_, labels), = targets[SD_JOB]  # one pod of with-sd, none of without-sd
    assert labels["__metrics_path__"].endswith("/sd") and labels["instance"].endswith(":7860")
    assert labels["pod"].startswith("with-sd-")
    body = json.dumps({"prompt": "secret words", "steps": 8, "width": 256, "height": 256})
    # Two at once on one pod (containerConcurrency 0): the second waits for the GPU.
    threads = [threading.Thread(target=_get, args=(
        live.gateway.port, "/services/default/with-sd/sdapi/v1/txt2img", "POST",
        body.encode())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    status, data = _get(live.metrics.port, labels["__metrics_path__"])
    assert status == 200
    text = data.decode()
    assert "secret" not in text
    assert scrape.value(text, "sdobs_sd_request_duration_seconds_count", status="2xx",
                        service="with-sd", revision="with-sd-00001") == 2
    assert scrape.value(text, "sdobs_sd_generations_total", size_class="512") == 2
    assert scrape.value(text, "sdobs_sd_steps_total", gpu_model="NVIDIA A10") == 16
    waits = scrape.value(text, "sdobs_sd_queue_wait_seconds_sum")
    gen = scrape.value(text, "sdobs_sd_generation_seconds_sum")
    assert gen > 0 and waits >= 0.5 * gen / 2  # the second request waited for the first
    assert scrape.value(text, "sdobs_sd_ready") == 1
    assert scrape.value(text, "sdobs_sd_checkpoint_info", checkpoint="v1-5-pruned-emaonly") == 1
    other = runner.call(lambda: [p.name for p in live.services[("default", "without-sd")]
                                 .pods_up(live.now())])
    assert _get(live.metrics.port, f"/pods/default/{other[0]}/sd")[0] == 404
