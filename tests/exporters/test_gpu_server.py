"""The exporter over HTTP: endpoints, content negotiation, concurrency limits and the CLI."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pynvml
import pytest
from eventually import eventually
from gpu_fake_nvml import two_gpus
from sdobs_exporters.gpu import GpuCollector, Identity, NvmlBackend
from sdobs_exporters.gpu.server import ExporterServer

VENV_BIN = Path(sys.executable).parent


def get(url: str, accept: str = "") -> tuple[int, str, str]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def test_endpoints() -> None:
    c = GpuCollector(NvmlBackend(two_gpus()), identity=Identity(revision="sd-00001"))
    with ExporterServer(c, "127.0.0.1", 0) as srv:
        status, ctype, body = get(srv.url + "/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        assert 'sdobs_gpu_utilization_ratio{gpu="0",revision="sd-00001"' in body
        assert "process_resident_memory_bytes" in body  # the exporter's own cost is visible
        status, ctype, body = get(srv.url + "/metrics",
                                  "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
        assert status == 200 and ctype.startswith("application/openmetrics-text")
        assert body.endswith("# EOF\n")
        assert "# TYPE sdobs_gpu_energy_joules counter" in body
        assert get(srv.url + "/healthz")[:3:2] == (200, "ok\n")
        assert get(srv.url + "/")[0] == 200
        assert get(srv.url + "/nope")[0] == 404


def test_missing_library_serves_metrics_but_fails_liveness() -> None:
    fake = two_gpus()
    fake.init_error = pynvml.NVMLError_LibraryNotFound
    with ExporterServer(GpuCollector(NvmlBackend(fake)), "127.0.0.1", 0) as srv:
        status, _, body = get(srv.url + "/metrics")
        assert status == 200 and "sdobs_gpu_exporter_up 0.0" in body
        status, _, body = get(srv.url + "/healthz")
        assert status == 503 and "libnvidia-ml.so.1" in body


def test_concurrent_http_scrapes_are_serialised_inside_nvml() -> None:
    fake = two_gpus()
    statuses: list[int] = []
    with ExporterServer(GpuCollector(NvmlBackend(fake)), "127.0.0.1", 0,
                        process_metrics=False) as srv:
        def worker() -> None:
            for _ in range(8):
                statuses.append(get(srv.url + "/metrics")[0])

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert statuses == [200] * 48
    assert fake.max_active == 1


def test_too_many_concurrent_scrapes_get_503() -> None:
    fake = two_gpus()
    fake.block = threading.Event()
    c = GpuCollector(NvmlBackend(fake), lock_timeout=5)
    with ExporterServer(c, "127.0.0.1", 0, max_concurrent_scrapes=1) as srv:
        first = threading.Thread(target=get, args=(srv.url + "/metrics",))
        first.start()
        eventually(lambda: fake.calls["nvmlDeviceGetPowerUsage"], timeout=5, interval=0.01)
        assert get(srv.url + "/metrics")[0] == 503
        fake.block.set()
        first.join(10)


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    def healthy() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        return get(url + "/healthz")[0] == 200

    eventually(healthy, timeout=timeout, interval=0.1, ignoring=(OSError,),
               what=f"exporter at {url} healthy")


def test_console_script_runs_and_stops_on_sigterm(tmp_path: Path) -> None:
    from sdobs.prom.harness import free_port

    port = free_port()
    env = {**os.environ, "K_SERVICE": "knative-sd-demo", "K_CONFIGURATION": "knative-sd-demo",
           "K_REVISION": "knative-sd-demo-00001",
           "POD_NAME": "knative-sd-demo-00001-deployment-1-a",
           "POD_NAMESPACE": "default", "SDOBS_GPU_CONTAINER": "stable-diffusion",
           "NODE_NAME": "node-7"}
    cmd = [str(VENV_BIN / "sdobs-gpu-exporter"), "--backend", "simulated", "--simulated-gpus",
           "2", "--naming", "dcgm", "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        body = get(url + "/metrics")[2]
        assert 'DCGM_FI_DEV_GPU_UTIL{' in body
        assert 'serving_knative_dev_revision="knative-sd-demo-00001"' in body
        assert 'Hostname="node-7"' in body and 'gpu="1"' in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_bad_listen_address_is_one_sentence() -> None:
    proc = subprocess.run([sys.executable, "-m", "sdobs_exporters.gpu", "--listen", "nope"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert "--listen must be HOST:PORT" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_port_in_use_is_one_sentence() -> None:
    c = GpuCollector(NvmlBackend(two_gpus()))
    with ExporterServer(c, "127.0.0.1", 0) as srv:
        port = srv.address[1]
        proc = subprocess.run([sys.executable, "-m", "sdobs_exporters.gpu", "--backend",
                               "simulated", "--listen", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr


def test_a_scraper_that_hangs_up_leaves_no_traceback(capfd: pytest.CaptureFixture[str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Issue 16: a scraper disconnecting mid-answer printed a BrokenPipe traceback."""
    import socket
    import struct

    from prometheus_client import CollectorRegistry

    class Slow:
        def collect(self):
            time.sleep(0.3)  # the client is gone before the answer is written
            return iter(())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Slow())
    c = GpuCollector(NvmlBackend(two_gpus()))
    with ExporterServer(c, "127.0.0.1", 0, registry=registry) as srv:
        for _ in range(3):
            s = socket.create_connection(srv.address)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST: the server's write fails
        time.sleep(1.0)
        status, _, _ = get(srv.url + "/healthz")
        assert status == 200  # still serving
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
