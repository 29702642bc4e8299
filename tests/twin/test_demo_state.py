"""The demo's state directory: one demo at a time, and an interrupted backfill is never history.

Each test runs ``sdobs demo`` as a user would (a subprocess, free ports) and interrupts or
doubles it the way a user can: a second demo on the same ``--dir``, Ctrl-C / SIGTERM / SIGKILL
while the history is being written.
"""

from __future__ import annotations

import calendar
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from demo_output import read_until
from eventually import eventually

from sdobs.prom.harness import free_port

pytestmark = pytest.mark.prometheus

SCENARIO = """name: interrupted
duration: 6h
warmup: 5m
dialects: [opencensus]
services:
- manifest: {ref}
  traffic: {{rate: 0.4}}
- manifest: {anime}
  traffic: {{rate: 0.5}}
"""


def _scenario(tmp: Path) -> Path:
    from sdobs.sim.scenarios import SCENARIO_DIR

    path = tmp / "scenario.yaml"
    path.write_text(SCENARIO.format(ref=SCENARIO_DIR / "knative-sd-demo.yaml",
                                    anime=SCENARIO_DIR / "fleet" / "sd-anime.yaml"))
    return path


def _demo(state: Path, *extra: str, tag: str = "") -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "sdobs.cli", "demo", "--dir", str(state), "--no-app",
           "--background-rate", "0", "--prometheus-port", str(free_port()),
           "--gateway-port", str(free_port()), "--twin-metrics-port", str(free_port()),
           # The alerting hook's ports too: its defaults collide with a demo running beside.
           "--alertmanager-port", str(free_port()), "--fault-port", str(free_port()), *extra]
    env = {**os.environ, "SDOBS_TEST_TAG": tag}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 120) -> str:
    out = read_until(proc, marker, timeout)
    if marker not in out:
        pytest.fail(f"no {marker!r} from the demo: {out}")
    return out


def _tagged(tag: str) -> list[int]:
    """PIDs of live processes started with SDOBS_TEST_TAG=tag (the demo and its workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"SDOBS_TEST_TAG={tag}".encode() in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return pids


def test_a_second_demo_on_the_same_dir_is_refused_naming_the_first(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _demo(state, "--no-history", "--scenario", str(_scenario(tmp_path)))
    try:
        _read_until(first, "Ctrl-C")
        config = (state / "prometheus" / "prometheus.yml").read_text()
        second = _demo(state, "--no-history", "--scenario", str(_scenario(tmp_path)))
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 2, out
        assert f"pid {first.pid}" in out and "another sdobs demo" in out, out
        assert "--dir" in out and len(out.strip().splitlines()) == 1, out
        # The first demo's files are untouched and it still runs.
        assert (state / "prometheus" / "prometheus.yml").read_text() == config
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_an_interrupted_backfill_leaves_nothing_and_is_redone(tmp_path: Path, sig) -> None:
    state = tmp_path / "state"
    scenario = _scenario(tmp_path)
    tag = uuid.uuid4().hex
    proc = _demo(state, "--scenario", str(scenario), "--check", tag=tag)
    _read_until(proc, "simulating")
    time.sleep(1.5)  # the workers are simulating now
    assert len(_tagged(tag)) >= 2, "the backfill's workers should be running"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    eventually(lambda: not _tagged(tag), timeout=15, interval=0.2,
               what="no worker process left after the interrupted demo")
    assert _tagged(tag) == [], "worker processes outlived the interrupted demo"
    marker = json.loads((state / "history.json").read_text())
    assert marker["state"] == "started"
    if sig != signal.SIGKILL:
        assert not (state / "backfill-work").exists()
    # The next start sees the history is incomplete and writes it again, from scratch.
    again = _demo(state, "--scenario", str(scenario), "--check")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert "incomplete" in out and "history ready" in out, out
    assert json.loads((state / "history.json").read_text())["state"] == "complete"
    assert not (state / "backfill-work").exists()
    # ... and the one after that keeps it.
    third = _demo(state, "--scenario", str(scenario), "--check")
    out, _ = third.communicate(timeout=120)
    assert third.returncode == 0 and "history ready" not in out, out


SEAM = """name: seam
duration: 1h
warmup: 10m
dialects: [opencensus]
services:
- manifest: {anime}
  traffic: {{rate: 1.5}}
"""


def test_live_twin_continues_the_history_without_flat_lines_or_a_fake_scale_down(
        tmp_path: Path) -> None:
    from sdobs.catalog import Catalog, Selection
    from sdobs.prom.client import PrometheusClient
    from sdobs.sim.render import GPU_JOB
    from sdobs.sim.scenarios import SCENARIO_DIR

    scenario = tmp_path / "seam.yaml"
    scenario.write_text(SEAM.format(anime=SCENARIO_DIR / "fleet" / "sd-anime.yaml"))
    port = free_port()
    proc = _demo(tmp_path / "state", "--scenario", str(scenario), "--scrape-interval", "1s",
                 "--prometheus-port", str(port))
    try:
        banner = _read_until(proc, "Ctrl-C", timeout=300)
        assert "note:" not in banner, banner
        end_text = banner.split("ending ")[1].split(")")[0]
        end = calendar.timegm(time.strptime(end_text, "%Y-%m-%dT%H:%M:%SZ"))
        client = PrometheusClient(f"http://127.0.0.1:{port}")
        cat = Catalog("opencensus")
        sel = Selection(namespace="sd-prod", service="sd-anime")
        at_end = client.query(cat.pods(sel, "actual").expr, end)
        last_pods = float(at_end["value"].iloc[0])
        assert last_pods >= 2, "the history should end with pods up"
        gpu = f'up{{job="{GPU_JOB}"}}'
        # Each target's last scrape is within the history's last scrape interval (30 s).
        history_pods = set(client.query(gpu, end - 30)["pod"])
        assert len(history_pods) == last_pods
        # No flat lines: the history's pod series end where the history ends ...
        assert client.query(gpu, end).empty
        assert client.query(gpu, end + 60).empty or set(
            client.query(gpu, end + 60)["pod"]).isdisjoint(history_pods)
        # ... and the live twin starts with the pods the history ended with.
        live = eventually(lambda: client.query_range(cat.pods(sel, "actual").expr, end + 1,
                                                     time.time(), step=1),
                          until=lambda f: not f.empty, timeout=30, what="live autoscaler")
        assert float(live["value"].iloc[0]) == last_pods
        live_gpus = eventually(lambda: client.query(gpu), until=lambda f: len(f) == last_pods,
                               timeout=30, what="the live pods' GPU exporters")
        assert set(live_gpus["pod"]).isdisjoint(history_pods)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
