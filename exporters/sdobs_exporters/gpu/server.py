"""HTTP endpoints of the exporter: ``/metrics``, ``/healthz`` for the liveness probe, and ``/``.

``/metrics`` answers 200 whatever the GPUs do (device trouble shows as ``sdobs_gpu_exporter_up 0``),
negotiates OpenMetrics or text 0.0.4 like prometheus-client, and refuses with 503 beyond a few
concurrent scrapes. ``/healthz`` fails only while NVML cannot be initialised at all.
"""

from __future__ import annotations

import html
import logging
import sys
import threading
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.openmetrics.exposition import ALLOWUTF8, UNDERSCORES
from prometheus_client.openmetrics.exposition import generate_latest as om_generate_latest
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from .collector import GpuCollector
from .exposition import render

log = logging.getLogger(__name__)

DEFAULT_PORT = 9402


def make_registry(collector: GpuCollector, *, process_metrics: bool = True) -> CollectorRegistry:
    """A registry with the GPU collector and, optionally, the exporter's own process metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    if process_metrics:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


def _encode(encoder: Callable[[CollectorRegistry], bytes], registry: CollectorRegistry) -> bytes:
    """The negotiated format, through the cheaper renderer where it gives the same bytes."""
    if encoder is generate_latest:
        return render(registry.collect())
    if isinstance(encoder, partial) and encoder.func is om_generate_latest and \
            encoder.keywords.get("version") == "1.0.0" and \
            encoder.keywords.get("escaping") in (UNDERSCORES, ALLOWUTF8):
        return render(registry.collect(), openmetrics=True)  # all our names are legacy-valid
    return encoder(registry)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path in ("/healthz", "/-/healthy"):
            ok, message = self.server.collector.healthy()
            self._reply(200 if ok else 503, "text/plain; charset=utf-8",
                        (message + "\n").encode())
        elif path == "/":
            self._reply(200, "text/html; charset=utf-8", self.server.landing_page())
        else:
            self._reply(404, "text/plain; charset=utf-8", b"not found: try /metrics\n")

    def _metrics(self) -> None:
        srv = self.server
        if not srv.slots.acquire(blocking=False):
            self._reply(503, "text/plain; charset=utf-8",
                        b"too many concurrent scrapes; try again\n")
            return
        try:
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            body = _encode(encoder, srv.registry)
        except Exception:  # a bug in the exporter itself, never a device error
            log.exception("rendering /metrics failed")
            self._reply(500, "text/plain; charset=utf-8",
                        b"the exporter failed to render metrics; see its log\n")
            return
        finally:
            srv.slots.release()
        self._reply(200, content_type, body)

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], collector: GpuCollector,
                 registry: CollectorRegistry, max_concurrent_scrapes: int) -> None:
        super().__init__(address, _Handler)
        self.collector = collector
        self.registry = registry
        self.slots = threading.BoundedSemaphore(max_concurrent_scrapes)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """A scraper that hung up mid-answer is routine (debug log); anything else is logged
        once. socketserver's default printed a traceback to stderr for either."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("client %s went away: %s", client_address[0], exc)
            return
        log.error("request from %s failed: %r", client_address[0], exc)

    def landing_page(self) -> bytes:
        c = self.collector
        return (
            "<!doctype html><title>sdobs GPU exporter</title><h1>sdobs GPU exporter</h1>"
            f"<p>naming {html.escape(c.naming)}, attribution {html.escape(c.attribution.mode)}, "
            f"backend {html.escape(c.backend.name)}</p>"
            '<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>'
        ).encode()


class ExporterServer:
    """Serves a collector over HTTP in a background thread (``start``) or in the foreground."""

    def __init__(self, collector: GpuCollector, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 *, registry: CollectorRegistry | None = None, process_metrics: bool = True,
                 max_concurrent_scrapes: int = 8) -> None:
        self.collector = collector
        self.registry = registry or make_registry(collector, process_metrics=process_metrics)
        self._server = _Server((host, port), collector, self.registry, max_concurrent_scrapes)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> ExporterServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="gpu-exporter-http",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def shutdown(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ExporterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
