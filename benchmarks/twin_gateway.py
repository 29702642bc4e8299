"""The live twin gateway's own cost, measured side by side with the configured service time.

The twin runs in a subprocess pinned to one core; the client (a minimal asyncio HTTP/1.1
keep-alive client) runs here on the other core. The Service has containerConcurrency 0 and one
warm pod, so nothing queues: every millisecond above the configured WebUI time is the twin's
own overhead (HTTP parsing, routing, the event loop, the engine's request path).

1. 200 requests in flight, each configured to take 0.5 s: overhead = latency - 0.5 s (P50, P99).
   Clients start spread over one service time, as independent users would.
2. Zero configured time, 64 in flight: requests per second the twin sustains on one core.
Run: .venv/bin/python benchmarks/twin_gateway.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MANIFEST = """apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: bench, namespace: default}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
        k8s.aliyun.com/eci-use-specs: ecs.gn7i-c8g1.2xlarge
    spec:
      containerConcurrency: 0
      containers: [{name: sd, image: sd}]
"""
SERVER = """
import asyncio, sys
from pathlib import Path
from sdobs.sim.manifest import load_files
from sdobs.sim.live.twin import LiveTwin
services, _ = load_files([Path(sys.argv[1])])
twin = LiveTwin(services, api_seconds=float(sys.argv[2]))
async def main():
    await twin.start()
    print(twin.gateway.port, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""
PATH = "/services/default/bench/internal/ping"


async def client(port: int, n: int, deadline: float, lat: list[float], offset: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(offset)  # spread the clients: 200 in flight, not 200 in lockstep
    req = f"GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    for _ in range(n):
        if time.perf_counter() > deadline:
            break
        t = time.perf_counter()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        lat.append(time.perf_counter() - t)
    writer.close()


async def load(port: int, clients: int, per_client: int, seconds: float,
               spread: float = 0.0) -> list[float]:
    lat: list[float] = []
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*[client(port, per_client, deadline, lat, spread * i / clients)
                           for i in range(clients)])
    return lat


def twin(manifest: Path, seconds: float) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", SERVER, str(manifest),
                             str(seconds)], stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def main() -> None:
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "bench.yaml"
        manifest.write_text(MANIFEST)
        proc, port = twin(manifest, 0.5)
        try:
            time.sleep(1.0)
            lat = np.array(asyncio.run(load(port, 200, 20, 30, spread=0.5)))
        finally:
            proc.kill()
        over = (lat - 0.5) * 1000
        print(f"1. 200 in flight, 0.5 s configured: {len(lat)} requests, overhead P50 "
              f"{np.percentile(over, 50):.2f} ms, P99 {np.percentile(over, 99):.2f} ms "
              f"(goal < 5 ms at P99) = {np.percentile(lat, 99) / 0.5:.4f}x the configured time")
        proc, port = twin(manifest, 0.0)
        try:
            time.sleep(1.0)
            t = time.perf_counter()
            lat = asyncio.run(load(port, 64, 10_000, 10))
            wall = time.perf_counter() - t
        finally:
            proc.kill()
        print(f"2. zero configured time, 64 in flight: {len(lat) / wall:,.0f} requests/s on one "
              f"core, P50 {np.percentile(lat, 50) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
