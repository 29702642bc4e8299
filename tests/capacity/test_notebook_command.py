"""``sdobs notebook``: JupyterLab on notebooks/, as the README says, fetched through its API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sdobs.prom.harness import check_port_free, free_port

ROOT = Path(__file__).parents[2]
SDOBS = str(Path(sys.executable).with_name("sdobs"))  # the command the README runs


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_notebook_command_serves_the_capacity_notebook_with_the_prometheus_url() -> None:
    port, prometheus = free_port(), f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k != "SDOBS_PROMETHEUS_URL"}
    # From the clone's root with default flags, as a user types it (only the port is free).
    proc = subprocess.Popen([SDOBS, "notebook", "--port", str(port), "--prometheus-url",
                             prometheus], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    jupyter_pid = None
    try:
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"sdobs notebook ended early: {lines}"
            lines.append(line)
            if "?token=" in line:
                break
        head, url = lines[-2], lines[-1].strip()
        jupyter_pid = int(re.search(r"\(pid (\d+)\)", head).group(1))
        assert f"Prometheus at {prometheus}" in head and str(ROOT / "notebooks") in head
        match = re.fullmatch(rf"http://127\.0\.0\.1:{port}/lab/tree/capacity-analysis\.ipynb"
                             r"\?token=([0-9a-f]{32,})", url)
        assert match, url
        token = match.group(1)
        # The notebook, through the server's contents API, with the token and only with it.
        api = f"http://127.0.0.1:{port}/api/contents/capacity-analysis.ipynb"
        status, body = _get(f"{api}?token={token}")
        assert status == 200
        model = json.loads(body)
        assert model["type"] == "notebook" and model["name"] == "capacity-analysis.ipynb"
        sources = ["".join(c["source"]) for c in model["content"]["cells"]]
        assert any('os.environ.get("SDOBS_PROMETHEUS_URL"' in s for s in sources)
        assert _get(api)[0] == 403
        # The server (and so every kernel it starts) has the Prometheus URL in its environment.
        environ = Path(f"/proc/{jupyter_pid}/environ").read_bytes().split(b"\0")
        assert f"SDOBS_PROMETHEUS_URL={prometheus}".encode() in environ
        assert _alive(jupyter_pid)
    finally:
        proc.send_signal(signal.SIGTERM)  # by PID: the sdobs process we started
        rc = proc.wait(timeout=30)
    assert rc == 0
    assert jupyter_pid is not None and not _alive(jupyter_pid)
    check_port_free("127.0.0.1", port, "JupyterLab")


def test_notebook_command_refusals_are_one_sentence(tmp_path) -> None:
    out = subprocess.run([SDOBS, "notebook", "--dir", str(tmp_path), "--port", str(free_port())],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "holds no notebook" in out.stderr


def test_notebook_help_names_the_demo_prometheus() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SDOBS_PROMETHEUS_URL"}
    out = subprocess.run([SDOBS, "notebook", "--help"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and "http://127.0.0.1:19090" in out.stdout
