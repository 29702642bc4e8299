"""The SD exporter middleware's cost per request, against the same app without it, in one run.

Two FastAPI apps, identical but for ``sdobs_exporters.sd.install``: the A1111 txt2img route
(pydantic body, generation lock marked with ``generation_started``/``generation_finished``, a
small JSON answer; no sleeping, so the middleware's share is as large as it can be). Requests go
straight into each app over ASGI in this process (no sockets: the network would hide
microseconds), alternating plain / instrumented so both see the same machine, each timed from
the ASGI call to its last body message. Then 100,000 requests through the instrumented app
while its resident memory is sampled every 10,000.

Goals: added latency at P99 (instrumented P99 - plain P99) < 0.2 ms; resident memory flat (no
growth beyond allocator noise after the first 10,000). Wall-time tails on a shared machine are
the OS running other processes; each request's CPU time (this thread's) is printed beside it
and judges the goal. Run:
.venv/bin/python benchmarks/sd_middleware.py [--pairs 20000] [--requests 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exporters"))

from fastapi import FastAPI
from pydantic import BaseModel
from sdobs_exporters.sd import (
    Identity,
    SdMetrics,
    generation_finished,
    generation_started,
    install,
)

BODY = json.dumps({"prompt": "a lighthouse at dusk", "steps": 20, "width": 512, "height": 512,
                   "sampler_name": "Euler a", "seed": 42}).encode()
PAGE = os.sysconf("SC_PAGE_SIZE")


class Txt2Img(BaseModel):
    prompt: str = ""
    seed: int = -1
    steps: int = 50
    width: int = 512
    height: int = 512
    batch_size: int = 1
    n_iter: int = 1
    sampler_name: str = "Euler a"


def make_app() -> FastAPI:
    app = FastAPI()
    lock = threading.Lock()

    @app.post("/sdapi/v1/txt2img")
    async def txt2img(req: Txt2Img) -> dict:
        with lock:
            generation_started()
            generation_finished(steps=req.steps, width=req.width, height=req.height,
                                images=req.batch_size * req.n_iter, sampler=req.sampler_name)
        return {"images": ["iVBORw0KGgo="], "parameters": {}, "info": "{}"}

    return app


SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
         "scheme": "http", "path": "/sdapi/v1/txt2img", "raw_path": b"/sdapi/v1/txt2img",
         "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
         "server": ("127.0.0.1", 7860),
         "headers": [(b"content-type", b"application/json"),
                     (b"content-length", str(len(BODY)).encode())]}


async def call(app) -> tuple[float, float]:
    """(wall seconds, this thread's CPU seconds) from the ASGI call to the last body message."""
    sent = False
    done = cpu_done = 0.0

    async def receive():
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message):
        nonlocal done, cpu_done
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done = time.perf_counter()
            cpu_done = time.thread_time()
        elif message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"status {message['status']}")

    cpu = time.thread_time()
    start = time.perf_counter()
    await app(dict(SCOPE), receive, send)
    return done - start, cpu_done - cpu


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def main(pairs: int, requests: int) -> None:
    plain = make_app()
    instrumented = make_app()
    metrics = install(instrumented, SdMetrics(identity=Identity(namespace="default", pod="p"),
                                              gpu_model="NVIDIA A10"))
    for _ in range(2000):  # warm both (route compilation, pydantic, middleware stacks)
        await call(plain)
        await call(instrumented)
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "sdobs": []}
    for i in range(pairs):
        first, second = (plain, instrumented) if i % 2 == 0 else (instrumented, plain)
        t1 = await call(first)
        t2 = await call(second)
        times["plain"].append(t1 if first is plain else t2)
        times["sdobs"].append(t2 if first is plain else t1)
    print(f"{pairs} alternating pairs, in-process ASGI, one thread; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    added = {}
    for k, what in ((0, "wall time (includes the OS running other processes)"),
                    (1, "CPU time of this thread (the work each request costs)")):
        a = [t[k] for t in times["plain"]]
        b = [t[k] for t in times["sdobs"]]
        print(f"\n{what}\n{'':14}{'plain':>10}{'with sdobs':>12}{'added':>10}")
        for name, q in (("P50", 0.5), ("P90", 0.9), ("P99", 0.99)):
            pa, pb = pct(a, q) * 1e3, pct(b, q) * 1e3
            print(f"{name + ' (ms)':14}{pa:10.3f}{pb:12.3f}{pb - pa:10.3f}")
        ma, mb = statistics.mean(a) * 1e3, statistics.mean(b) * 1e3
        print(f"{'mean (ms)':14}{ma:10.3f}{mb:12.3f}{mb - ma:10.3f}   ratio {mb / ma:.3f}")
        added[k] = (pct(b, 0.99) - pct(a, 0.99)) * 1e3
    print(f"\nadded P99: {added[1]:.3f} ms CPU, {added[0]:.3f} ms wall (goal < 0.2 ms): "
          f"{'met' if added[1] < 0.2 else 'NOT met'} on CPU time")

    samples = []
    start = rss_mib()
    for i in range(1, requests + 1):
        await call(instrumented)
        if i % 10_000 == 0:
            samples.append(rss_mib())
    text, _ = metrics.render()
    counted = next(line for line in text.decode().splitlines()
                   if line.startswith("sdobs_sd_request_duration_seconds_count"))
    print(f"\nRSS over {requests:,} instrumented requests, MiB every 10,000: "
          + " ".join(f"{s:.1f}" for s in samples))
    growth = samples[-1] - samples[0]
    print(f"start {start:.1f} MiB; growth after the first 10,000: {growth:+.2f} MiB "
          f"({'flat' if abs(growth) < 1.0 else 'GROWING'}); {counted.rsplit(' ', 1)[1]} counted")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.pairs, args.requests))
