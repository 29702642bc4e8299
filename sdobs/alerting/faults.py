"""Faults injected into the live twin, so an alert can be watched firing end to end.

Each fault acts on one Knative Service of a running :class:`~sdobs.sim.live.twin.TwinThread`
from the twin's own event loop, lasts a bounded time and ends by itself:

- ``gpu-xid``: the service's GPUs report XID 79 ("fallen off the bus") and uncorrectable ECC
  errors on every second, as a failing GPU does (alerts SDGpuXidErrors, SDGpuEccUncorrected); a
  light request stream keeps a pod up while it lasts;
- ``5xx``: requests answered 500 by the model container at ``rate`` per second, as when every
  generation fails (SDHighErrorRatio, then the availability budget-burn alerts).

A small HTTP control server on loopback (``POST /faults``, ``GET /faults``, ``DELETE /faults``)
lets ``sdobs fault`` drive the faults of a demo running in another process.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sdobs.errors import InputError

KINDS = ("gpu-xid", "5xx")
MAX_DURATION = 3600.0
MAX_RATE = 20.0
XID_FALLEN_OFF_BUS = 79


class FaultError(InputError):
    """A fault request that cannot be applied (unknown kind or service, bad numbers)."""


@dataclass
class Fault:
    kind: str
    namespace: str
    service: str
    duration: float = 600.0
    rate: float = 1.0
    started: float = 0.0

    @property
    def ends(self) -> float:
        return self.started + self.duration

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["remaining"] = max(0.0, round(self.ends - time.time(), 1))
        return out


def check_fault(kind: str, namespace: str, service: str, duration: float, rate: float) -> Fault:
    if kind not in KINDS:
        raise FaultError(f"unknown fault {kind!r}; use one of: {', '.join(KINDS)}")
    if not namespace or not service:
        raise FaultError("a fault needs the namespace and name of a Knative Service of the twin")
    try:
        duration, rate = float(duration), float(rate)
    except (TypeError, ValueError):
        raise FaultError("duration and rate must be numbers") from None
    if not 0 < duration <= MAX_DURATION:
        raise FaultError(f"duration must be between 0 and {MAX_DURATION:g} seconds")
    if not 0 < rate <= MAX_RATE:
        raise FaultError(f"rate must be between 0 and {MAX_RATE:g} requests per second")
    return Fault(kind, namespace, service, duration, rate)


class FaultInjector:
    """Applies active faults to a running twin once a second, on the twin's loop."""

    def __init__(self, twin_thread) -> None:
        self.thread_twin = twin_thread
        self.twin = twin_thread.twin
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticks = 0
        self._thread = threading.Thread(target=self._run, name="sdobs-faults", daemon=True)

    def start(self) -> FaultInjector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def inject(self, kind: str, namespace: str, service: str, duration: float = 600.0,
               rate: float = 1.0) -> Fault:
        fault = check_fault(kind, namespace, service, duration, rate)
        if (namespace, service) not in self.twin.services:
            known = ", ".join(f"{ns}/{name}" for ns, name in self.twin.services)
            raise FaultError(f"the twin has no Service {namespace}/{service}; it has: {known}")
        fault.started = time.time()
        with self._lock:
            self.faults = [f for f in self.faults
                           if (f.kind, f.namespace, f.service) != (kind, namespace, service)]
            self.faults.append(fault)
        return fault

    def clear(self) -> int:
        with self._lock:
            n, self.faults = len(self.faults), []
        return n

    def active(self) -> list[Fault]:
        now = time.time()
        with self._lock:
            self.faults = [f for f in self.faults if f.ends > now]
            return list(self.faults)

    # -- applying, on the twin's loop ----------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(1.0):
            faults = self.active()
            if not faults:
                continue
            self._ticks += 1
            try:
                self.thread_twin.call(lambda fs=faults: self._apply(fs))
            except Exception:  # the twin is stopping; the next tick tries again
                continue

    def _apply(self, faults: list[Fault]) -> None:
        from sdobs.sim.servicetime import Txt2Img

        twin = self.twin
        for f in faults:
            key = (f.namespace, f.service)
            svc = twin.services[key]
            if f.kind == "gpu-xid":
                for (owner, _), gpu in list(twin._gpus.items()):
                    if owner == key:
                        errors = gpu.gpu.xid_errors
                        errors[XID_FALLEN_OFF_BUS] = errors.get(XID_FALLEN_OFF_BUS, 0) + 1
                        gpu.gpu.ecc_uncorrected_errors += 1
                if self._ticks % 10 == 1:  # keep a pod (and its GPU exporter) up
                    svc.submit(twin.now(), profile=Txt2Img(steps=5, width=256, height=256))
            elif f.kind == "5xx":
                whole, frac = divmod(f.rate, 1.0)
                n = int(whole) + (1 if (self._ticks * frac) % 1.0 < frac else 0)
                for _ in range(n):
                    svc.submit(twin.now(), status=500, seconds=0.05)
            twin._schedule(key)


# -- control server ----------------------------------------------------------------------------
class ControlServer:
    """``POST /faults`` (JSON: kind, namespace, service, duration, rate), ``GET /faults``,
    ``DELETE /faults``, on loopback; bad requests get a 400 with one sentence, never a crash."""

    def __init__(self, injector: FaultInjector, host: str = "127.0.0.1", port: int = 0) -> None:
        self.injector = injector
        handler = _handler(injector)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        name="sdobs-fault-control", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(injector: FaultInjector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "sdobs-faults"

        def log_message(self, *args: Any) -> None:  # no request logs
            return

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/faults":
                return self._send(404, {"error": "use /faults"})
            self._send(200, {"faults": [f.to_dict() for f in injector.active()]})

        def do_DELETE(self) -> None:
            if self.path.rstrip("/") != "/faults":
                return self._send(404, {"error": "use /faults"})
            self._send(200, {"cleared": injector.clear()})

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/faults":
                return self._send(404, {"error": "use /faults"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= 4096:
                    raise FaultError("send a JSON object of at most 4 KiB")
                body = json.loads(self.rfile.read(length))
                if not isinstance(body, dict):
                    raise FaultError("send a JSON object with kind, namespace and service")
                fault = injector.inject(str(body.get("kind", "")), str(body.get("namespace", "")),
                                        str(body.get("service", "")),
                                        body.get("duration", 600.0), body.get("rate", 1.0))
            except (FaultError, ValueError) as exc:
                return self._send(400, {"error": str(exc)})
            self._send(201, {"fault": fault.to_dict()})

    return Handler
