"""``sdobs demo`` with its rules and a real Alertmanager: a fault injected into the live twin
(``sdobs fault inject gpu-xid``) is seen firing in Prometheus, in Alertmanager, and on the app's
Alerts page in headless Chromium; a Service annotation's SLO override is live in Prometheus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from demo_output import read_until
from eventually import eventually

from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import free_port

pytestmark = pytest.mark.prometheus

ALERT = "SDGpuXidErrors"
GPU_SERVICE = """apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: sd-gpu
  namespace: default
  annotations:
    slo.sdobs.dev/availability: "99.9"
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
# The console script, as users run it (``python -m sdobs.cli`` makes a second UserError class).
SDOBS = str(Path(sys.executable).with_name("sdobs"))
CHROMIUM = os.environ.get("SDOBS_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("alerting")
    (tmp / "gpu.yaml").write_text(GPU_SERVICE)
    scenario = tmp / "scenario.yaml"
    scenario.write_text("name: alerting\ndialects: [opencensus]\nservices:\n- manifest: gpu.yaml\n")
    ports = {k: free_port() for k in ("prometheus", "gateway", "metrics", "app", "alertmanager",
                                      "fault")}
    cmd = [sys.executable, "-m", "sdobs.cli", "demo", "--scenario", str(scenario),
           "--no-history", "--background-rate", "0", "--scrape-interval", "1s",
           "--dir", str(tmp / "state"), "--prometheus-port", str(ports["prometheus"]),
           "--gateway-port", str(ports["gateway"]), "--twin-metrics-port", str(ports["metrics"]),
           "--app-port", str(ports["app"]), "--alertmanager-port", str(ports["alertmanager"]),
           "--fault-port", str(ports["fault"])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = read_until(proc, "Ctrl-C", timeout=90)
    assert proc.poll() is None, out
    try:
        yield ports, out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_injected_fault_fires_in_prometheus_alertmanager_and_the_app(demo):
    ports, banner = demo
    assert f"127.0.0.1:{ports['alertmanager']}" in banner and "sdobs fault inject" in banner
    client = PrometheusClient(f"http://127.0.0.1:{ports['prometheus']}")
    # The rules are loaded and the Service's annotation overrides the SLO file.
    query = 'slo:objective:ratio{service="sd-gpu", slo="availability"}'
    eventually(lambda: not client.query(query).empty, timeout=60, interval=1.0,
               what="the annotated objective recorded")
    objective = client.query(query)
    assert objective["value"].tolist() == [0.999]
    assert set(objective["source"]) == {"annotation"}
    firing = f'ALERTS{{alertname="{ALERT}", alertstate="firing", service="sd-gpu"}}'
    assert client.query(firing).empty  # healthy before the fault
    control = f"http://127.0.0.1:{ports['fault']}"
    done = subprocess.run([SDOBS, "fault", "inject", "gpu-xid",
                           "--service", "sd-gpu", "--duration", "120",
                           "--control-url", control], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    eventually(lambda: not client.query(firing).empty, timeout=120, interval=1.0,
               what=f"{ALERT} firing in Prometheus")

    def in_alertmanager() -> bool:
        url = f"http://127.0.0.1:{ports['alertmanager']}/api/v2/alerts"
        with urllib.request.urlopen(url, timeout=5) as resp:
            alerts = json.loads(resp.read())
        return any(a["labels"].get("alertname") == ALERT and a["labels"].get("service") ==
                   "sd-gpu" and a["annotations"].get("runbook_url", "").endswith(
                       "#" + ALERT.lower()) for a in alerts)

    eventually(in_alertmanager, timeout=60, interval=1.0, what=f"{ALERT} in Alertmanager")

    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu",
                                           "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{ports['app']}/alerts", timeout=30_000)
            page.wait_for_selector("#alerts-table", timeout=30_000)
            text = page.inner_text("#alerts-table")
            assert ALERT in text and "sd-gpu" in text
            page.wait_for_selector("#slo-table", timeout=30_000)
            assert "99.9 %" in page.inner_text("#slo-table")
        finally:
            browser.close()
    # Clearing ends the fault; a bad request is one sentence, not a traceback.
    bad = subprocess.run([SDOBS, "fault", "inject", "gpu-xid",
                          "--service", "nope", "--control-url", control],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "has no Service default/nope" in bad.stderr
    cleared = subprocess.run([SDOBS, "fault", "clear",
                              "--control-url", control], capture_output=True, text=True,
                             timeout=30)
    assert cleared.returncode == 0 and "cleared 1" in cleared.stdout
