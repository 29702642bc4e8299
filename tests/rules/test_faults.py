"""Faults in a real live twin: the control server refuses bad requests with one sentence (and
keeps serving), a 5xx fault makes queue-proxy count 500s, a gpu-xid fault makes the GPU
exporter count XID 79 and uncorrectable ECC errors, and faults end by themselves."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sdobs.alerting.faults import ControlServer, FaultError, FaultInjector
from sdobs.sim.live.twin import LiveTwin, TwinThread
from sdobs.sim.manifest import load_files

MANIFEST = """apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: sd-gpu, namespace: default}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
        twin.sdobs.dev/cold-start: "1s"
        k8s.aliyun.com/eci-use-specs: ecs.gn7i-c8g1.2xlarge
    spec:
      containerConcurrency: 1
      containers: [{name: stable-diffusion, image: sd:v1}]
"""


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    path = Path(tmp_path_factory.mktemp("faults")) / "svc.yaml"
    path.write_text(MANIFEST)
    services, _ = load_files([path])
    thread = TwinThread(LiveTwin(services, dialect="opencensus"))
    thread.start()
    injector = FaultInjector(thread).start()
    control = ControlServer(injector).start()
    try:
        yield thread, injector, control
    finally:
        control.stop()
        injector.stop()
        thread.stop()


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _metrics(thread: TwinThread, path: str) -> str:
    with urllib.request.urlopen(thread.twin.metrics_url + path, timeout=5) as resp:
        return resp.read().decode()


def _pod(thread: TwinThread) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pods = thread.call(lambda: [p.name for svc in thread.twin.services.values()
                                    for p in svc.pods_up(thread.twin.now())])
        if pods:
            return pods[0]
        time.sleep(0.2)
    raise AssertionError("no pod came up")


@pytest.mark.parametrize("body, message", [
    (b"not json", "Expecting value"),
    (b"[1]", "JSON object"),
    (b'{"kind": "meltdown", "namespace": "default", "service": "sd-gpu"}', "unknown fault"),
    (b'{"kind": "5xx", "namespace": "default", "service": "sd-gpu", "rate": 1e9}', "rate"),
    (b'{"kind": "5xx", "namespace": "default", "service": "other"}', "no Service default/other"),
])
def test_bad_requests_get_one_sentence(twin, body, message):
    _, _, control = twin
    status, answer = _post(control.url + "/faults", body)
    assert status == 400 and message in answer["error"]


def test_5xx_fault_counts_500s_at_queue_proxy(twin):
    thread, injector, control = twin
    pod = _pod(thread)
    status, _ = _post(control.url + "/faults", json.dumps(
        {"kind": "5xx", "namespace": "default", "service": "sd-gpu", "rate": 5,
         "duration": 3}).encode())
    assert status == 201
    deadline = time.monotonic() + 20
    line = ""
    while time.monotonic() < deadline:
        text = _metrics(thread, f"/pods/default/{pod}/queue-proxy")
        lines = [x for x in text.splitlines()
                 if x.startswith("revision_request_count{") and 'response_code="500"' in x]
        if lines and float(lines[0].rsplit(" ", 1)[1]) >= 5:
            line = lines[0]
            break
        time.sleep(0.5)
    assert line, "no 500 counted by queue-proxy"
    time.sleep(3.5)
    assert injector.active() == []  # ended by itself


def test_gpu_xid_fault_counts_xid_79(twin):
    thread, injector, _ = twin
    pod = _pod(thread)
    _metrics(thread, f"/pods/default/{pod}/gpu")  # the exporter exists once scraped
    injector.inject("gpu-xid", "default", "sd-gpu", duration=5)
    time.sleep(2.5)
    text = _metrics(thread, f"/pods/default/{pod}/gpu")
    assert any(x.startswith("sdobs_gpu_xid_errors_total{") and 'xid="79"' in x
               for x in text.splitlines()), text
    assert injector.clear() == 1
    with pytest.raises(FaultError, match="duration"):
        injector.inject("gpu-xid", "default", "sd-gpu", duration=0)
