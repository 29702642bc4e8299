"""The SD exporter installs light: its code runs on the standard library and prometheus-client
(starlette is the host server's; the middleware is plain ASGI and imports none of it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import prometheus_client

EXPORTERS = Path(__file__).resolve().parents[2] / "exporters"
HEAVY = ("pandas", "numpy", "grpc", "google", "dash", "plotly", "requests", "yaml", "scipy",
         "sdobs", "fastapi", "starlette", "pydantic", "uvicorn", "httpx")

CODE = """
import asyncio, sys
from sdobs_exporters.sd import SdMetricsMiddleware, SdMetrics, Identity, generation_started
from sdobs_exporters.sd import generation_finished

async def app(scope, receive, send):
    await receive()
    generation_started()
    generation_finished(steps=20, width=512, height=512, images=1, sampler="Euler a")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})

mw = SdMetricsMiddleware(app, SdMetrics(identity=Identity(revision="r-00001"), gpu_model="T4"))

async def call(path):
    sent = []
    async def receive():
        return {"type": "http.request", "body": b'{"steps": 20}', "more_body": False}
    async def send(m):
        sent.append(m)
    await mw({"type": "http", "path": path, "method": "POST", "headers": []}, receive, send)
    return sent

asyncio.run(call("/sdapi/v1/txt2img"))
body = asyncio.run(call("/metrics"))[1]["body"].decode()
assert 'sdobs_sd_steps_total{endpoint="txt2img",gpu_model="T4"' in body, body
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
assert not heavy, heavy
print("ok")
"""


def test_sd_exporter_runs_with_prometheus_client_only(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "prometheus_client").symlink_to(Path(prometheus_client.__file__).parent)
    prelude = textwrap.dedent(f"""
        import sys
        sys.path[:] = [p for p in sys.path if "site-packages" not in p]
        sys.path[:0] = [{str(site)!r}, {str(EXPORTERS)!r}]
        HEAVY = {HEAVY!r}

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in HEAVY:
                    raise ImportError(f"{{name}} must not be imported by the exporter")
                return None

        sys.meta_path.insert(0, Block())
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["SDOBS_SD_GPU_MODEL"] = "T4"
    proc = subprocess.run([sys.executable, "-S", "-c", prelude + textwrap.dedent(CODE)],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
