"""Serving the app: in-process handle (the demo's way), ``sdobs app``, and the WSGI module."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sdobs.app import serve
from sdobs.prom.harness import free_port

SDOBS = [sys.executable, "-c", "import sys; from sdobs.cli import main; sys.exit(main())"]


def get(url: str, headers: dict | None = None) -> int:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_serve_in_process_and_stop() -> None:
    handle = serve("http://127.0.0.1:1", port=0)
    assert handle.url.startswith("http://127.0.0.1:") and handle.running
    assert get(handle.url + "/") == 200
    assert get(handle.url + "/_dash-layout") == 200
    handle.stop()
    handle.stop()  # idempotent
    assert not handle.running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(handle.url + "/", timeout=2)


@pytest.mark.prometheus
def test_sdobs_app_command(known) -> None:
    port = free_port()
    env = {**os.environ, "SDOBS_APP_PASSWORD": "pw"}
    proc = subprocess.Popen(
        [*SDOBS, "app", "--port", str(port), "--prometheus-url", known.url,
         "--auth-user", "ops"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("sdobs app"):
                break
        text = "".join(lines)
        assert f"Knative dialect {known.dialect}" in text, text
        assert f"http://127.0.0.1:{port}/" in text
        assert get(f"http://127.0.0.1:{port}/") == 401
        token = base64.b64encode(b"ops:pw").decode()
        assert get(f"http://127.0.0.1:{port}/", {"Authorization": f"Basic {token}"}) == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_sdobs_app_refuses_auth_without_password() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SDOBS_APP_PASSWORD"}
    proc = subprocess.run([*SDOBS, "app", "--auth-user", "ops", "--port", "0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert "SDOBS_APP_PASSWORD is empty" in proc.stderr


def test_wsgi_module_is_configured_from_the_environment() -> None:
    from sdobs.app.wsgi import app_from_env

    app = app_from_env({"SDOBS_PROMETHEUS_URL": "http://127.0.0.1:1", "SDOBS_APP_USER": "ops",
                        "SDOBS_APP_PASSWORD": "pw", "SDOBS_DIALECT": "opencensus"})
    client = app.server.test_client()
    assert client.get("/").status_code == 401
    assert app.sdobs.source.dialect.name == "opencensus"
    with pytest.raises(ValueError, match="both"):
        app_from_env({"SDOBS_APP_USER": "ops"})


def test_served_under_a_path_prefix() -> None:
    from sdobs.app import create_app

    app = create_app("http://127.0.0.1:1", url_base_pathname="/sdobs/")
    client = app.server.test_client()
    assert client.get("/sdobs/").status_code == 200
    assert client.get("/sdobs/service").status_code == 200
    page = app.sdobs.callbacks["route"]("/sdobs/scaling", "")
    assert "scaling-pods" in str(page[0])
    assert app.sdobs.path("fleet") == "/sdobs/fleet"
