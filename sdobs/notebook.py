"""``sdobs notebook``: JupyterLab on the capacity notebooks, pointed at the demo's Prometheus.

The notebooks read ``SDOBS_PROMETHEUS_URL`` (their parameters cell), so the server is started
with it set; the server listens on loopback only, with a fresh token printed in its URL. Ctrl-C
or SIGTERM stops JupyterLab and its kernels.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sdobs.cli import UserError

#: The demo's Prometheus (sdobs demo, sdobs prometheus).
DEMO_PROMETHEUS_URL = "http://127.0.0.1:19090"
DEFAULT_PORT = 18888
NOTEBOOK = "capacity-analysis.ipynb"


def default_dir() -> Path:
    """``notebooks/`` of the folder you are in (a clone), else the one beside the package."""
    here = Path("notebooks")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[1] / "notebooks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=None,
                        help="folder of notebooks (default ./notebooks of the clone)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--prometheus-url",
                        default=os.environ.get("SDOBS_PROMETHEUS_URL", DEMO_PROMETHEUS_URL),
                        help="Prometheus the notebooks read, as SDOBS_PROMETHEUS_URL (default: "
                             "$SDOBS_PROMETHEUS_URL, else the demo's " + DEMO_PROMETHEUS_URL + ")")
    parser.add_argument("--startup-timeout", type=float, default=120.0, metavar="SECONDS",
                        help="how long to wait for JupyterLab to answer (default 120)")


def _wait_ready(proc: subprocess.Popen, url: str, token: str, timeout: float,
                stop: dict[str, bool]) -> None:
    """Until JupyterLab answers its status API (or we are stopped), or say why it did not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop["now"]:
        if proc.poll() is not None:
            raise UserError(f"JupyterLab exited with status {proc.returncode} before it "
                            "answered; its log is above")
        try:
            req = urllib.request.Request(f"{url}api/status",
                                         headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    if stop["now"]:
        return
    raise UserError(f"JupyterLab did not answer at {url} within {timeout:g} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(args: argparse.Namespace) -> int:
    from sdobs.prom.harness import check_port_free

    if importlib.util.find_spec("jupyterlab") is None:
        raise UserError("JupyterLab is not installed; run ./run notebook, or pip install "
                        "'sdobs[notebook]'")
    folder = (args.dir or default_dir()).resolve()
    if not (folder / NOTEBOOK).is_file() and not any(folder.glob("*.ipynb")):
        raise UserError(f"{folder} holds no notebook; pass --dir the clone's notebooks/ folder")
    check_port_free("127.0.0.1", args.port, "JupyterLab")
    token = secrets.token_hex(24)
    base = f"http://127.0.0.1:{args.port}/"
    env = {**os.environ, "SDOBS_PROMETHEUS_URL": args.prometheus_url,
           "JUPYTER_TOKEN": token}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={args.port}", "--port-retries=0", f"--ServerApp.root_dir={folder}",
           "--ServerApp.open_browser=False", "--ServerApp.allow_remote_access=False",
           "--ServerApp.terminals_enabled=False", "--ServerApp.log_level=WARN"]
    if os.geteuid() == 0:  # containers and CI run as root; JupyterLab refuses that unless told
        cmd.append("--allow-root")
    # Its own process group: Ctrl-C reaches JupyterLab once, from us, not twice.
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    stop = {"now": False}

    def on_signal(signum, frame) -> None:
        stop["now"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _wait_ready(proc, base, token, args.startup_timeout, stop)
        if stop["now"]:
            return 0
        print(f"JupyterLab on {folder} (pid {proc.pid}), notebooks reading Prometheus at "
              f"{args.prometheus_url}:", flush=True)
        print(f"  {base}lab/tree/{NOTEBOOK}?token={token}", flush=True)
        print("Ctrl-C stops it.", flush=True)
        while not stop["now"] and proc.poll() is None:
            time.sleep(0.2)
        return 0 if stop["now"] else (proc.returncode or 0)
    finally:
        _stop(proc)
        for s, handler in old.items():
            signal.signal(s, handler)
