"""ASGI middleware that measures each generation request of a FastAPI/Starlette SD server and
serves ``/metrics`` and the readiness endpoint itself (no route, so it works beside any app).

A request's phases: arrival → waiting for the generation lock → generating → encoding and
returning → last byte. The middleware sees arrival and last byte; the server (or the A1111
extension's script hooks) marks the lock with :func:`generation_started` and
:func:`generation_finished`, which find the request through a context variable (anyio copies
the context into the worker thread a sync ``def`` handler runs in). Without the marks only the
total is measured. Request bodies are parsed only after the response is sent, so the client
never waits for the measuring; nothing of a body (prompts, seeds) leaves this module.
"""

from __future__ import annotations

import json
import time
from contextvars import ContextVar
from dataclasses import dataclass

from . import naming as n
from .metrics import SdMetrics

_MAX_BODY = 256 * 1024  # bodies parsed for steps/size/sampler (img2img images are larger)
_perf = time.perf_counter


@dataclass(slots=True)
class RequestRecord:
    """What is known about one generation request while it runs."""

    endpoint: str
    start: float
    status: int = 500
    gen_start: float = -1.0
    gen_end: float = -1.0
    end: float = -1.0
    steps: int = 0
    width: int = 0
    height: int = 0
    images: int = 0
    sampler: str = ""
    body: bytearray | None = None
    metrics: SdMetrics | None = None


CURRENT: ContextVar[RequestRecord | None] = ContextVar("sdobs_sd_request", default=None)


def generation_started() -> None:
    """The current request got the generation lock (call inside the lock)."""
    rec = CURRENT.get()
    if rec is not None and rec.gen_start < 0:
        rec.gen_start = _perf()
        if rec.metrics is not None:
            rec.metrics.waiting(-1)


def generation_finished(*, steps: int | None = None, width: int | None = None,
                        height: int | None = None, images: int | None = None,
                        sampler: str | None = None) -> None:
    """The current request's generation ended; what it generated, when the server knows it
    better than the request body does (e.g. A1111's ``p.steps``, ``p.sampler_name``)."""
    rec = CURRENT.get()
    if rec is None:
        return
    rec.gen_end = _perf()
    if steps is not None:
        rec.steps = int(steps)
    if width is not None:
        rec.width = int(width)
    if height is not None:
        rec.height = int(height)
    if images is not None:
        rec.images = int(images)
    if sampler is not None:
        rec.sampler = str(sampler)


def _from_body(rec: RequestRecord) -> None:
    """Fill what the server's marks left out from the JSON body (A1111 defaults otherwise)."""
    fields: dict = {}
    if rec.body:
        try:
            parsed = json.loads(rec.body)
            if isinstance(parsed, dict):
                fields = parsed
        except (ValueError, UnicodeDecodeError):
            fields = {}

    def number(key: str) -> int:
        value = fields.get(key, n.DEFAULTS[key])
        try:
            return max(int(value), 0)
        except (TypeError, ValueError, OverflowError):
            return int(n.DEFAULTS[key])

    if rec.endpoint in ("txt2img", "img2img"):
        rec.steps = rec.steps or number("steps")
        rec.width = rec.width or number("width")
        rec.height = rec.height or number("height")
        rec.images = rec.images or number("batch_size") * number("n_iter")
        rec.sampler = rec.sampler or str(fields.get("sampler_name") or n.DEFAULTS["sampler_name"])


class SdMetricsMiddleware:
    """Pure ASGI middleware; ``app.add_middleware(SdMetricsMiddleware, metrics=SdMetrics())``."""

    def __init__(self, app, metrics: SdMetrics | None = None, *, metrics_path: str = "/metrics",
                 ready_path: str = "/sdobs/ready",
                 endpoints: dict[str, str] | None = None) -> None:
        self.app = app
        self.metrics = metrics if metrics is not None else SdMetrics()
        self.metrics_path = metrics_path
        self.ready_path = ready_path
        self.endpoints = dict(n.ENDPOINTS if endpoints is None else endpoints)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = self.endpoints.get(path)
        if endpoint is None:
            if path == self.metrics_path:
                await self._serve_metrics(scope, send)
            elif path == self.ready_path:
                await self._serve_ready(send)
            else:
                await self.app(scope, receive, send)
            return
        metrics = self.metrics
        rec = RequestRecord(endpoint, _perf(), metrics=metrics)
        metrics.in_flight(1)
        metrics.waiting(1)
        token = CURRENT.set(rec)

        async def receive_body():
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if rec.body is None:
                    rec.body = bytearray()
                if len(rec.body) + len(chunk) <= _MAX_BODY:
                    rec.body += chunk
            return message

        async def send_timed(message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                rec.status = message["status"]
            await send(message)
            if kind == "http.response.body" and not message.get("more_body", False):
                rec.end = _perf()

        try:
            await self.app(scope, receive_body, send_timed)
        finally:
            CURRENT.reset(token)
            self._finish(rec)

    def _finish(self, rec: RequestRecord) -> None:
        """Observe the request; an error here is counted, never raised into the server."""
        metrics = self.metrics
        try:
            metrics.in_flight(-1)
            if rec.gen_start < 0:
                metrics.waiting(-1)
            end = rec.end if rec.end >= 0 else _perf()
            _from_body(rec)
            started = rec.gen_start >= 0
            ended = started and rec.gen_end >= rec.gen_start
            metrics.observe(
                rec.endpoint, rec.status, end - rec.start,
                queue_wait=rec.gen_start - rec.start if started else None,
                generation=rec.gen_end - rec.gen_start if ended else None,
                response=max(end - rec.gen_end, 0.0) if ended else None,
                steps=rec.steps, width=rec.width, height=rec.height, images=rec.images,
                sampler=rec.sampler)
        except Exception:
            metrics.error("observe")
        rec.body = None

    async def _serve_metrics(self, scope, send) -> None:
        accept = ""
        for key, value in scope.get("headers", ()):
            if key == b"accept":
                accept = value.decode("latin-1")
        try:
            body, content_type = self.metrics.render(accept)
            status = 200
        except Exception:
            self.metrics.error("render")
            body, content_type, status = b"metrics rendering failed\n", "text/plain", 500
        await _respond(send, status, body, content_type)

    async def _serve_ready(self, send) -> None:
        ready, body = self.metrics.readiness()
        await _respond(send, 200 if ready else 503, json.dumps(body).encode(), "application/json")


async def _respond(send, status: int, body: bytes, content_type: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode("latin-1")),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def install(app, metrics: SdMetrics | None = None, **options) -> SdMetrics:
    """Add the middleware to a FastAPI/Starlette ``app``, also after it served requests.

    Starlette refuses ``add_middleware`` once its middleware stack is built (first request or
    lifespan); AUTOMATIC1111 resets ``app.middleware_stack`` to ``None`` before adding its own,
    and so does this, so the stack is rebuilt with the middleware on the next request.
    """
    metrics = metrics if metrics is not None else SdMetrics()
    app.middleware_stack = None
    app.add_middleware(SdMetricsMiddleware, metrics=metrics, **options)
    return metrics
