"""A real FastAPI app serving the AUTOMATIC1111 txt2img API with a generation lock (a test
fixture standing in for the WebUI, not the twin), served by uvicorn on a free port.

Like A1111 v1.10 (``modules/api/api.py``): the handler is a plain ``def`` (run in anyio's worker
threads), validates the body with pydantic, waits for ``queue_lock``, generates, then encodes
the images outside the lock. ``marks=True`` marks the lock for the exporter the way the
extension's script hooks do.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from eventually import eventually
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sdobs_exporters.sd import generation_finished, generation_started

from sdobs.prom.harness import free_port

SAMPLERS = {"Euler a", "Euler", "DPM++ 2M", "DDIM"}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(2048)).decode()


class Txt2Img(BaseModel):
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = -1
    steps: int = 50
    width: int = 512
    height: int = 512
    batch_size: int = 1
    n_iter: int = 1
    sampler_name: str = "Euler a"


def create_app(seconds_per_step: float = 0.01, encode_seconds: float = 0.0, *,
               marks: bool = True, hooks=None) -> FastAPI:
    """``hooks``: (before, after) callables run inside the lock instead of the exporter's marks
    (the A1111 extension's script methods)."""
    app = FastAPI()
    queue_lock = threading.Lock()
    app.state.queue_lock = queue_lock

    @app.post("/sdapi/v1/txt2img")
    def txt2img(req: Txt2Img) -> dict:
        if req.sampler_name not in SAMPLERS:
            raise HTTPException(status_code=400, detail="Sampler not found")
        if req.prompt == "raise":
            raise RuntimeError("model exploded")
        with queue_lock:
            if hooks:
                hooks[0](req)
            elif marks:
                generation_started()
            time.sleep(seconds_per_step * req.steps)
            if hooks:
                hooks[1](req)
            elif marks:
                generation_finished(steps=req.steps, width=req.width, height=req.height,
                                    images=req.batch_size * req.n_iter,
                                    sampler=req.sampler_name)
        time.sleep(encode_seconds)
        return {"images": [PNG] * (req.batch_size * req.n_iter), "parameters": {}, "info": "{}"}

    @app.get("/sdapi/v1/progress")
    def progress() -> dict:
        return {"progress": 0, "eta_relative": 0, "state": {}}

    return app


class Served:
    """``app`` served by uvicorn in a thread; stop() ends it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Served:
        self.thread.start()

        def started() -> bool:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            return self.server.started

        eventually(started, timeout=20, interval=0.02, what="uvicorn started")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[Served]:
    served = Served(app).start()
    try:
        yield served
    finally:
        served.stop()
