"""``sdobs demo --store victoriametrics``: the story on VictoriaMetrics with real processes.

The demo imports a 10-minute history into VictoriaMetrics, vmagent scrapes the live twin into
it, vmalert evaluates sdobs' rules against it; a small load test goes through the twin's gateway
and is read back from VictoriaMetrics through the catalog, next to a series vmalert recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime

import pytest
from demo_output import read_until
from eventually import eventually
from test_demo_end_to_end import _scenario

from sdobs.catalog import Catalog, Selection
from sdobs.loadtest import LoadTestConfig, Txt2ImgOptions, run_loadtest
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import check_port_free, free_port

# Like Prometheus, VictoriaMetrics is required, not optional: ./run test installs it, and
# without it the harness fails with what to install.
pytestmark = pytest.mark.prometheus


def test_demo_runs_the_story_on_victoriametrics(tmp_path) -> None:
    scenario = _scenario(tmp_path)
    scenario.write_text(scenario.read_text() + "duration: 10m\n")
    ports = {k: free_port() for k in ("store", "gateway", "metrics", "alertmanager", "fault")}
    cmd = [sys.executable, "-m", "sdobs.cli", "demo", "--store", "victoriametrics",
           "--scenario", str(scenario), "--no-app", "--background-rate", "0",
           "--scrape-interval", "1s", "--dir", str(tmp_path / "state"),
           "--prometheus-port", str(ports["store"]), "--gateway-port", str(ports["gateway"]),
           "--twin-metrics-port", str(ports["metrics"]),
           "--alertmanager-port", str(ports["alertmanager"]),
           "--fault-port", str(ports["fault"])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = read_until(proc, "Ctrl-C", timeout=120)
        assert proc.poll() is None, banner
        store = f"http://127.0.0.1:{ports['store']}"
        assert f"VictoriaMetrics {store}" in banner and "vmagent" in banner, banner
        client = PrometheusClient(store)
        cat = Catalog("opencensus")
        sel = Selection(namespace="default", service="knative-sd-demo", window="1m")

        # The history went in through the import API: its pods gauge is there before the demo.
        end = datetime.fromisoformat(banner.split("ending ")[1].split(")")[0]).timestamp()
        past = client.query(cat.pods(sel, "desired").expr, time=end - 120)
        assert not past.empty, banner

        # Live traffic reaches VictoriaMetrics through vmagent.
        summary = run_loadtest(LoadTestConfig(
            url=f"http://127.0.0.1:{ports['gateway']}/services/default/knative-sd-demo",
            concurrency=2, requests=4, payload=Txt2ImgOptions(steps=5, width=256, height=256)),
            records=tmp_path / "records.jsonl")
        assert summary.successes == 4, summary.status_codes

        def served() -> float:
            frame = client.query(cat.requests_served(sel, "5m", by=["code_class"]).expr)
            return dict(zip(frame.get("code_class", []), frame["value"], strict=True)).get(
                "2xx", 0)

        eventually(served, until=lambda n: n >= 4, timeout=30, interval=0.5,
                   what="the load test's 4 responses in VictoriaMetrics")
        assert served() == 4

        # vmalert evaluates sdobs' recording rules and writes them back into the store.
        recorded = 'revision_state:sdobs_pods:sum{service="knative-sd-demo"}'
        eventually(lambda: client.query(recorded), until=lambda f: not f.empty, timeout=30,
                   interval=0.5, what="a series recorded by vmalert")
        assert client.query(recorded, time=end - 120).empty  # the imported history has none
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert proc.returncode == 0
    store_pid = int(banner.split("(pid ")[1].split(",")[0])
    assert not os.path.exists(f"/proc/{store_pid}")
    agent_port = int(banner.split("vmagent      http://127.0.0.1:")[1].split("/")[0])
    for port in (*ports.values(), agent_port):  # the store, vmagent, the twin, Alertmanager
        check_port_free("127.0.0.1", port)
