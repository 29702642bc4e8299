"""Client-side Prometheus metrics of a running load test, served for the local Prometheus to scrape.

Knative's own latency histograms stop at 10 s (OTel) or jump 2 → 5 → 10 → 20 s (OpenCensus) and
never see cold starts; these buckets span 0.25 s … 600 s so client-side percentiles of
multi-second SD requests can be shown beside Knative's. Labels carry only the target's address,
the status class and the error kind: never a prompt or an image.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from sdobs.loadtest import errors
from sdobs.loadtest.records import RequestRecord

# Sub-second for warm small images, dense 1-30 s for SD 1.5/SDXL, then up to Knative's 600 s cap.
DURATION_BUCKETS: tuple[float, ...] = (
    0.25,
    0.5,
    0.75,
    1,
    1.5,
    2,
    3,
    4,
    5,
    7.5,
    10,
    15,
    20,
    30,
    45,
    60,
    90,
    120,
    180,
    300,
    450,
    600,
)
LAG_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)

PREFIX = "sdobs_loadtest_"


class ClientMetrics:
    """The load tester's metrics in their own registry (so several runs can share a process)."""

    def __init__(self, target: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.target = target
        r = self.registry
        self.duration = Histogram(
            PREFIX + "request_duration_seconds",
            "Client-side latency of txt2img requests from the intended send time to the last byte.",
            ["target", "status_class"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.ttfb = Histogram(
            PREFIX + "time_to_first_byte_seconds",
            "Client-side time from sending a txt2img request to the response head.",
            ["target", "status_class"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.lag = Histogram(
            PREFIX + "scheduling_lag_seconds",
            "How late the load tester sent each request after its intended send time (open loop).",
            ["target"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            PREFIX + "requests",
            "txt2img requests completed, by status class.",
            ["target", "status_class"],
            registry=r,
        )
        self.errors = Counter(
            PREFIX + "errors",
            "Failed txt2img requests by error kind (http_503, timeout, bad_json, ...).",
            ["target", "kind"],
            registry=r,
        )
        self.images = Counter(
            PREFIX + "images",
            "Images received in successful txt2img responses.",
            ["target"],
            registry=r,
        )
        self.in_flight = Gauge(
            PREFIX + "requests_in_flight",
            "txt2img requests sent and not yet answered.",
            ["target"],
            registry=r,
        )
        self.running = Gauge(
            PREFIX + "running",
            "1 while a load test runs against the target, 0 after it ends.",
            ["target"],
            registry=r,
        )
        self.last_success = Gauge(
            PREFIX + "last_success_timestamp_seconds",
            "Unix time of the last successful txt2img response.",
            ["target"],
            registry=r,
        )
        self.cold_starts = Gauge(
            PREFIX + "cold_starts",
            "Requests of the last finished run that found the service scaled to zero.",
            ["target"],
            registry=r,
        )
        self.in_flight_child = self.in_flight.labels(target)
        self._server: object | None = None
        self._thread: threading.Thread | None = None
        # Series that exist from the start: rate() and increase() then see the first requests
        # too (a series born with its first observation has no earlier sample to rise from).
        self.errors.labels(target, errors.TIMEOUT)
        for cls in ("2xx", "4xx", "5xx", "none"):
            self.requests.labels(target, cls)
            self.duration.labels(target, cls)
            self.ttfb.labels(target, cls)

    def observe(self, rec: RequestRecord) -> None:
        """Count one finished request (cancelled ones are not measurements and are skipped)."""
        if rec.error == errors.CANCELLED:
            return
        cls = errors.status_class(rec.status)
        t = self.target
        self.duration.labels(t, cls).observe(rec.latency)
        if rec.ttfb is not None:
            self.ttfb.labels(t, cls).observe(rec.ttfb)
        self.lag.labels(t).observe(max(rec.lag, 0.0))
        self.requests.labels(t, cls).inc()
        if rec.error is not None:
            self.errors.labels(t, rec.error).inc()
        else:
            self.last_success.labels(t).set(time.time())
            if rec.images:
                self.images.labels(t).inc(rec.images)

    def set_running(self, running: bool) -> None:
        """Flip the ``running`` gauge."""
        self.running.labels(self.target).set(1 if running else 0)

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on addr:port (0 picks a free port) and return the port."""
        server, thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server, self._thread = server, thread
        return int(server.server_address[1])

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()  # type: ignore[attr-defined]
            self._server.server_close()  # type: ignore[attr-defined]
            self._server = None
