"""The live serving twin: Knative + the SD WebUI for a set of Services, over real HTTP.

One asyncio loop runs every :class:`~sdobs.sim.live.service.LiveService` on the wall clock and
serves two ports on 127.0.0.1:

- the **gateway**, speaking the AUTOMATIC1111 API for each Service, addressed the Knative way
  (``Host: name.namespace.example.com``) or by path prefix (``/services/<ns>/<name>/...``), with
  cookie session affinity where the manifest asks for it and the Route's traffic split;
- the **metrics** port: per pod the queue-proxy (in the chosen Knative dialect) and the GPU
  exporter, plus the activator and the autoscaler. Prometheus finds the pods through file-based
  service discovery that the twin rewrites as pods come and go (:attr:`LiveTwin.on_targets`),
  with the target labels kubernetes_sd relabelling sets (``namespace``, ``pod``; the PodMonitor's
  ``k8s_*``/``kn_*`` copies for OpenTelemetry).

Requests really wait: a response leaves when the simulated queueing and inference end.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from sdobs.knative.dialects import OPENCENSUS, Dialect, get_dialect
from sdobs.sim.engine import SimOptions
from sdobs.sim.live import a1111
from sdobs.sim.live import exposition as ex
from sdobs.sim.live.cluster import CLUSTER_JOB, PodResources
from sdobs.sim.live.http import HttpServer, Request, Response
from sdobs.sim.live.routes import PREFIX, split_service_path
from sdobs.sim.live.sdexposition import LiveSd
from sdobs.sim.live.service import LiveRequest, LiveService
from sdobs.sim.manifest import ClusterConfig, ServiceSpec
from sdobs.sim.pods import Pod
from sdobs.sim.render import (
    ACTIVATOR_JOB,
    AUTOSCALER_JOB,
    CONTROL_PLANE_PORT,
    GPU_BUSY_UTILIZATION,
    GPU_EXPORTER_PORT,
    GPU_JOB,
    KNATIVE_NAMESPACE,
    QUEUE_PROXY_JOB,
    QUEUE_PROXY_PORT,
    RenderOptions,
    control_plane_pods,
)
from sdobs.sim.sdexporter import SD_JOB, SD_PORT
from sdobs.sim.servicetime import GPUS, Txt2Img, idle_memory_gib, peak_memory_gib

log = logging.getLogger(__name__)

GIB = 1024**3
AFFINITY = "serving.knative.dev.alibabacloud/affinity"
COOKIE_NAME = "serving.knative.dev.alibabacloud/cookie-name"
COOKIE_TIMEOUT = "serving.knative.dev.alibabacloud/cookie-timeout"
EXTENSIONS = "twin.sdobs.dev/extensions"
#: WebUI endpoints the twin answers without the GPU (a few milliseconds of API time).
LIGHT_GETS = frozenset(("/sdapi/v1/progress", "/sdapi/v1/options", "/sdapi/v1/sd-models",
                        "/internal/ping", "/sdapi/v1/samplers", "/sdapi/v1/scripts"))
#: starlette GZipMiddleware(minimum_size=1000), as the WebUI installs it (initialize_util.py
#: setup_middleware): bodies of at least this many bytes are compressed for gzip clients.
GZIP_MINIMUM = 1000
Targets = list[tuple[str, dict[str, str]]]


def _gzip(resp: Response, accept_encoding: str) -> Response:
    """GZipResponder: ``"gzip" in Accept-Encoding`` and a body of at least GZIP_MINIMUM bytes
    gives a level-9 gzip body, ``Content-Encoding: gzip`` and ``Vary: Accept-Encoding``."""
    if "gzip" not in accept_encoding or len(resp.body) < GZIP_MINIMUM:
        return resp
    resp.body = gzip.compress(resp.body, compresslevel=9)
    resp.headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
    return resp


@dataclass(frozen=True)
class Background:
    """Light Poisson traffic to keep a Service's history moving (bounded in time)."""

    rate: float  # requests per second
    profile: Txt2Img = field(default_factory=lambda: Txt2Img(steps=20))
    duration: float = 24 * 3600.0  # stops by itself after this long


class _Gpu:
    """One pod's GPU exporter: the real collector over a simulated device."""

    def __init__(self, svc: LiveService, pod: Pod) -> None:
        from sdobs_exporters.gpu import GpuCollector, Identity, SimulatedBackend, SimulatedGpu

        spec = svc.revs[pod.rev].spec
        self.gpu = SimulatedGpu.create(spec.gpu, index=0, seed=pod.name)
        self.collector = GpuCollector(
            SimulatedBackend([self.gpu]), naming="default",
            identity=Identity(namespace=spec.namespace, pod=pod.name, container=spec.container,
                              service=spec.service, configuration=spec.configuration,
                              revision=spec.name),
        )
        perf = GPUS[spec.gpu]
        self.idle = idle_memory_gib(perf) * GIB
        self.busy_memory = peak_memory_gib(perf, Txt2Img(steps=20))[0] * GIB
        self.last = -1.0

    def render(self, svc: LiveService, pod: Pod, now: float) -> bytes:
        busy = svc.gpu_busy(pod, now)
        loaded = now >= pod.loaded
        self.gpu.load_model(int(self.busy_memory if busy else self.idle) if loaded else 0)
        self.gpu.utilization = GPU_BUSY_UTILIZATION if busy else 0.0
        if self.last >= 0:
            self.gpu.advance(now - self.last)
        self.last = now
        return self.collector.render()


LIVE_SEED_OFFSET = 500


class LiveTwin:
    """Services served live; see the module docstring. Start with :meth:`start` in a loop."""

    def __init__(
        self,
        services: Sequence[ServiceSpec],
        *,
        dialect: Dialect | str = OPENCENSUS,
        host: str = "127.0.0.1",
        gateway_port: int = 0,
        metrics_port: int = 0,
        domain: str = ex.DOMAIN,
        background: dict[str, Background] | None = None,
        on_targets: Callable[[str, Targets], None] | None = None,
        cluster: ClusterConfig | None = None,
        seed: int = 1,
        api_seconds: float = 0.003,
    ) -> None:
        self.dialect = get_dialect(dialect)
        self.domain = domain
        self.host = host
        self.on_targets = on_targets
        self.background = dict(background or {})
        self.rng = random.Random(seed)
        self.api_seconds = api_seconds  # WebUI time of the light endpoints (ping, options, ...)
        self.epoch0 = time.time()
        self._t0 = 0.0
        # Seeds apart from the scenario's history (seed * 1000 + i), so that live pods get names
        # of their own instead of continuing the backfilled pods' series.
        options = [SimOptions(duration=float("inf"), seed=seed * 1000 + LIVE_SEED_OFFSET + i,
                              start_epoch=self.epoch0, cluster=cluster or ClusterConfig())
                   for i in range(len(services))]
        self.services = {(s.namespace, s.name): LiveService(s, o, self.dialect, index=i)
                         for i, (s, o) in enumerate(zip(services, options, strict=True))}
        acts, autoscaler = control_plane_pods(RenderOptions(start_epoch=self.epoch0))
        self.activator_pod, self.autoscaler_pod = acts[0], autoscaler
        self.gateway = HttpServer(self._gateway, host, gateway_port)
        self.metrics = HttpServer(self._metrics, host, metrics_port, name="sdobs-twin-metrics")
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task] = []
        self._gpus: dict[tuple[tuple[str, str], int], _Gpu] = {}
        self._sd = LiveSd(self.epoch0)  # the SD request exporter of annotated revisions' pods
        self._resources: dict[tuple[tuple[str, str], int], PodResources] = {}
        self._published: dict[str, tuple] = {}
        self._affinity: dict[str, tuple[tuple[str, str], int]] = {}
        self._options: dict[int, dict] = {}  # per Service: what POST /sdapi/v1/options set

    # -- lifecycle -----------------------------------------------------------------------------
    def start_with_pods(self, pods: Mapping[tuple[str, str], Mapping[str, int]]) -> None:
        """Start revisions with ready pods, by (namespace, service) then revision name.

        Call before :meth:`start`; the demo passes the pods its history ended with, so the live
        scaling trend continues the history's instead of starting from zero.
        """
        for key, revisions in pods.items():
            svc = self.services.get(key)
            if svc is None or svc.started:
                continue
            known = {rev.spec.name for rev in svc.revs}
            svc.options.initial_pods.update({r: n for r, n in revisions.items() if r in known})

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def start(self) -> None:
        self._t0 = time.monotonic()
        for svc in self.services.values():
            svc.start()
        await self.gateway.start()
        await self.metrics.start()
        self._publish_targets()
        for key in self.services:
            self._schedule(key)
            if key[1] in self.background:
                self._tasks.append(asyncio.create_task(self._traffic(key,
                                                                     self.background[key[1]])))
        self._tasks.append(asyncio.create_task(self._targets_loop()))

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        await self.gateway.close()
        await self.metrics.close()
        if self.on_targets:
            for job in (QUEUE_PROXY_JOB, GPU_JOB, SD_JOB, CLUSTER_JOB):
                self.on_targets(job, [])

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def metrics_url(self) -> str:
        return self.metrics.url

    # -- clocks --------------------------------------------------------------------------------
    def _step(self, key: tuple[str, str]) -> None:
        """Run the events that are due and set a timer for the next one (no polling)."""
        svc = self.services[key]
        svc.advance(self.now())
        self._schedule(key)

    def _schedule(self, key: tuple[str, str]) -> None:
        timer = self._timers.get(key)
        if timer is not None:
            timer.cancel()
        delay = self.services[key].next_time() - self.now()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(min(max(delay, 0.0), 3600.0), self._step, key)

    async def _traffic(self, key: tuple[str, str], bg: Background) -> None:
        svc = self.services[key]
        end = self.now() + bg.duration
        while self.now() < end and bg.rate > 0:
            await asyncio.sleep(self.rng.expovariate(bg.rate))
            svc.submit(self.now(), profile=bg.profile)
            self._schedule(key)

    async def _targets_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self._publish_targets()

    def _publish_targets(self) -> None:
        if self.on_targets is None:
            return
        now, qp, gpu, sd, kube = self.now(), [], [], [], []
        address = f"{self.metrics.host}:{self.metrics.port}"
        for key, svc in self.services.items():
            for pod in svc.pods_up(now):
                spec = svc.revs[pod.rev].spec
                base = {"namespace": spec.namespace, "pod": pod.name}
                labels = {**base, "instance": f"{pod.ip}:{QUEUE_PROXY_PORT}",
                          "__metrics_path__": f"/pods/{key[0]}/{pod.name}/queue-proxy"}
                if self.dialect.code_class_label is None:  # the PodMonitor relabelling
                    labels.update({"k8s_namespace_name": spec.namespace, "k8s_pod_name": pod.name,
                                   "kn_service_name": spec.service,
                                   "kn_configuration_name": spec.configuration,
                                   "kn_revision_name": spec.name})
                qp.append((address, labels))
                if spec.gpu in GPUS:
                    gpu.append((address, {**base, "instance": f"{pod.ip}:{GPU_EXPORTER_PORT}",
                                          "__metrics_path__": f"/pods/{key[0]}/{pod.name}/gpu"}))
                if self._sd.enabled(svc, pod):
                    sd.append((address, {**base, "instance": f"{pod.ip}:{SD_PORT}",
                                         "__metrics_path__": f"/pods/{key[0]}/{pod.name}/sd"}))
                # kube-state-metrics and cAdvisor of the pod (sdobs.sim.live.cluster)
                kube.append((address, {**base, "instance": f"{pod.ip}:10250",
                                       "__metrics_path__": f"/pods/{key[0]}/{pod.name}/cluster"}))
        up = {(key, p.id) for key, svc in self.services.items() for p in svc.pods_up(now)}
        for gone in [k for k in self._gpus if k not in up]:  # pods come and go all day
            del self._gpus[gone]
        for gone in [k for k in self._resources if k not in up]:
            del self._resources[gone]
        self._sd.forget(up)
        for job, targets in ((QUEUE_PROXY_JOB, qp), (GPU_JOB, gpu), (SD_JOB, sd),
                             (CLUSTER_JOB, kube)):
            frozen = tuple((a, tuple(sorted(lab.items()))) for a, lab in targets)
            if self._published.get(job) != frozen:
                self._published[job] = frozen
                self.on_targets(job, targets)

    def scrape_configs(self, interval: str = "5s") -> list[dict]:
        """Static Prometheus jobs for the activator and the autoscaler of this twin."""
        address = f"{self.metrics.host}:{self.metrics.port}"
        jobs = []
        for job, (pod, ip), path in ((ACTIVATOR_JOB, self.activator_pod, "/activator"),
                                     (AUTOSCALER_JOB, self.autoscaler_pod, "/autoscaler")):
            jobs.append({"job_name": job, "scrape_interval": interval, "metrics_path": path,
                         "static_configs": [{"targets": [address], "labels": {
                             "instance": f"{ip}:{CONTROL_PLANE_PORT}",
                             "namespace": KNATIVE_NAMESPACE, "pod": pod}}]})
        return jobs

    # -- metrics port --------------------------------------------------------------------------
    async def _metrics(self, req: Request) -> Response:
        now = self.now()
        parts = req.path.strip("/").split("/")
        text = "text/plain; version=0.0.4; charset=utf-8"
        if parts == ["activator"] or parts == ["autoscaler"]:
            rows = [svc.revision_now(i) for svc in self.services.values()
                    for i in range(len(svc.revs))]
            body = ex.activator(self.dialect, rows, self.activator_pod[0]) if parts[0] == \
                "activator" else ex.autoscaler(self.dialect, rows)
            return Response(200, body, text)
        if len(parts) == 4 and parts[0] == "pods":
            _, namespace, name, what = parts
            for key, svc in self.services.items():
                if key[0] != namespace:
                    continue
                pod = svc.pod_by_name(name)
                if pod is None or pod.started > now:
                    continue
                if what == "queue-proxy":
                    stats = svc.stats.get(pod.id) or ex.PodStats()
                    body = ex.queue_proxy(self.dialect, svc.revs[pod.rev].spec, pod.name, stats,
                                          svc.queue_depth(pod))
                    return Response(200, body, text)
                if what == "gpu":
                    gpu = self._gpus.get((key, pod.id))
                    if gpu is None:
                        gpu = self._gpus[(key, pod.id)] = _Gpu(svc, pod)
                    return Response(200, gpu.render(svc, pod, now), text)
                if what == "sd" and self._sd.enabled(svc, pod):
                    return Response(200, self._sd.render(key, svc, pod, now), text)
                if what == "cluster":
                    res = self._resources.setdefault((key, pod.id), PodResources())
                    stats = svc.stats.get(pod.id)
                    handled = sum(h.n for h in stats.outer.values()) if stats else 0
                    body = res.render(svc.revs[pod.rev].spec, pod.name, pod.ip, now,
                                      pod.started, pod.loaded, svc.gpu_busy(pod, now), handled)
                    return Response(200, body, text)
        if req.path == "/healthz":
            return Response(200, b"ok\n", "text/plain")
        return Response(404, b"not a twin metrics path\n", "text/plain")

    # -- gateway -------------------------------------------------------------------------------
    def route(self, req: Request) -> tuple[tuple[str, str] | None, str]:
        """The Service a request is for and the path inside it."""
        path = req.path
        if path.startswith(PREFIX):
            key, inside = split_service_path(path)
            if key is None:
                return None, path
            return (key if key in self.services else None), inside
        labels = req.host.split(".")
        if len(labels) >= 2:
            key = (labels[1], labels[0])
            rest = ".".join(labels[2:])
            if key in self.services and rest in ("", self.domain, "svc", "svc.cluster.local"):
                return key, path
        return None, path

    async def _gateway(self, req: Request) -> Response:
        key, path = self.route(req)
        if key is None:
            return self._not_found(req)
        svc = self.services[key]
        fields: dict | None = None
        error: a1111.ApiError | None = None
        endpoint = (req.method, path)
        extensions = self._extensions(svc)
        if endpoint == ("POST", "/sdapi/v1/txt2img"):
            try:
                fields = a1111.parse_txt2img(req.body, req.headers.get("content-type"),
                                             extensions)
                profile = a1111.cost_profile(fields)
            except a1111.ApiError as exc:
                error = exc
                # Rejected by the WebUI itself: still a request through Knative, no GPU.
                profile = Txt2Img(steps=0) if exc.status == 422 else \
                    Txt2Img(sampler_name="not-a-sampler")
            kwargs: dict = {"profile": profile}
        elif req.method == "GET" and path in LIGHT_GETS:
            kwargs = {"status": 200, "seconds": self.api_seconds}
        elif endpoint == ("POST", "/sdapi/v1/options"):
            try:
                fields, seconds = self._set_options(svc, req.body)
                kwargs = {"status": 200, "seconds": seconds, "gpu": seconds > self.api_seconds}
            except a1111.ApiError as exc:
                error = exc
                kwargs = {"status": exc.status, "seconds": self.api_seconds}
        elif path in ("/sdapi/v1/txt2img", "/sdapi/v1/options", "/sdapi/v1/scripts"):
            kwargs = {"status": 405, "seconds": self.api_seconds}
        else:
            kwargs = {"status": 404, "seconds": self.api_seconds}
        affinity = svc.service.annotations.get(AFFINITY) == "cookie"
        cookie_name = svc.service.annotations.get(COOKIE_NAME, "sdobs-affinity")
        pinned = None
        if affinity and (token := req.cookie(cookie_name)) in self._affinity:
            owner, pod_id = self._affinity[token]
            if owner == key:
                pinned = next((p for rev in svc.revs for p in rev.pods if p.id == pod_id), None)
        waiter: asyncio.Future = asyncio.get_running_loop().create_future()
        lr = svc.submit(self.now(), pod=pinned, waiter=waiter, **kwargs)
        self._schedule(key)
        try:
            done: LiveRequest = await waiter
        except asyncio.CancelledError:
            svc.cancel(lr, self.now())
            self._schedule(key)
            raise
        self._sd.observe(key, svc, done, path, kwargs.get("profile"))
        resp = self._answer(svc, done, path, fields, error, extensions)
        if done.pod is not None and done.t_app >= 0 and done.code == done.code_app and (
                done.code != 500):
            # The WebUI's log_and_time middleware sets it on what the app answered, handled
            # HTTPExceptions included, but an unhandled exception (a 500) passes through it
            # to the outer exception_handling middleware; Knative's own answers never have it.
            resp.headers.append(("X-Process-Time", f"{max(done.t_app_done - done.t_app, 0):.4f}"))
        if done.code == done.code_app and done.t_app >= 0:
            resp = _gzip(resp, req.headers.get("accept-encoding", ""))
        if affinity and done.pod is not None and done.code < 500:
            token = hashlib.sha256(f"{key}/{done.pod.id}/{self.epoch0}".encode()).hexdigest()[:16]
            self._affinity[token] = (key, done.pod.id)
            max_age = svc.service.annotations.get(COOKIE_TIMEOUT, "1800")
            resp.headers.append(("Set-Cookie", f"{cookie_name}={token}; Max-Age={max_age}; "
                                               "Path=/; HttpOnly"))
        return resp

    def _not_found(self, req: Request) -> Response:
        """The gateway's own 404 (no Service matched): what was asked, percent-encoded so that
        no byte of Host or path reaches the page as markup, and marked not to be sniffed."""
        known = ", ".join(f"{n}.{ns}.{self.domain}" for ns, n in self.services)
        host = quote(req.host[:200], safe=".-:[]")
        path = quote(req.path[:500], safe="/.-_~")
        text = (f"no Knative Service matches host '{host}' or path '{path}'; use Host: one of "
                f"{known}, or the path {PREFIX}<namespace>/<name>/...\n")
        return Response(404, text.encode(), "text/plain; charset=utf-8",
                        [("X-Content-Type-Options", "nosniff")])

    @staticmethod
    def _extensions(svc: LiveService) -> frozenset[str]:
        """WebUI extensions the Service's image has installed (annotation
        ``twin.sdobs.dev/extensions``, comma-separated, e.g. ``controlnet``)."""
        raw = svc.service.annotations.get(EXTENSIONS, "")
        return frozenset(e.strip().lower() for e in raw.split(",") if e.strip())

    def _set_options(self, svc: LiveService, raw: bytes) -> tuple[dict, float]:
        """``POST /sdapi/v1/options`` (api.py set_config): an unknown ``sd_model_checkpoint``
        is a RuntimeError (500); a different known one loads under the queue lock (the GPU
        is busy for the revision's model-load time). Returns the new options and the seconds
        the call takes."""
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, RecursionError):
            raise a1111.ApiError.http(400, a1111.PARSE_ERROR) from None
        if not isinstance(body, dict):
            raise a1111.ApiError(422, {"detail": [{"loc": ["body"], "msg": "value is not a "
                                                   "valid dict", "type": "type_error.dict"}]})
        options = self._options.setdefault(id(svc), dict(a1111.OPTIONS))
        seconds = self.api_seconds
        name = body.get("sd_model_checkpoint")
        if name is not None:
            model = a1111.find_checkpoint(name)
            if model is None:
                raise a1111.ApiError.webui(500, "RuntimeError", "",
                                           f"model {name!r} not found")
            if model["title"] != options["sd_model_checkpoint"]:
                seconds = svc.revs[0].spec.cold_start.model_load
            body = {**body, "sd_model_checkpoint": model["title"],
                    "sd_checkpoint_hash": model["sha256"]}
        options.update(body)
        return options, seconds

    def _answer(self, svc: LiveService, done: LiveRequest, path: str, fields: dict | None,
                error: a1111.ApiError | None,
                extensions: frozenset[str] = frozenset()) -> Response:
        code = done.code
        if code == 503:
            return Response(503, b"pending request queue full\n", "text/plain; charset=utf-8")
        if code == 504:
            text = b"activator request timeout\n" if done.via else b"request timeout\n"
            return Response(504, text, "text/plain; charset=utf-8")
        if code == 502:
            return Response(502, b"context canceled\n", "text/plain; charset=utf-8")
        if error is not None and code == error.status:
            return Response(error.status, error.payload())
        if code == 500 and fields is not None:
            gpu = GPUS[svc.revs[done.rev].spec.gpu]
            return Response(500, a1111.out_of_memory(fields, gpu.memory_gib).payload())
        if code == 404:
            return Response(404, b'{"detail": "Not Found"}')
        if code == 405:
            return Response(405, b'{"detail": "Method Not Allowed"}')
        if code != 200:
            return Response(code, json.dumps({"error": "HTTPException", "detail": ""}).encode())
        if path == "/sdapi/v1/txt2img" and fields is not None:
            body = a1111.txt2img_response(fields, job_timestamp=time.time(), rng=self.rng,
                                          extensions=extensions)
        elif path == "/sdapi/v1/progress":
            body = a1111.progress()
        elif path == "/sdapi/v1/options" and fields is None:
            body = self._options.get(id(svc), a1111.OPTIONS)
        elif path == "/sdapi/v1/options":
            body = None  # set_config returns nothing: JSON null
        elif path == "/sdapi/v1/sd-models":
            body = list(a1111.MODELS)
        elif path == "/sdapi/v1/scripts":
            body = a1111.scripts_list(extensions)
        elif path == "/sdapi/v1/samplers":
            body = [{"name": s, "aliases": [], "options": {}} for s in sorted(a1111.SAMPLERS)]
        else:
            body = {}
        return Response(200, json.dumps(body).encode())


class TwinThread:
    """A :class:`LiveTwin` on its own event loop in a daemon thread (for ``sdobs demo``)."""

    def __init__(self, twin: LiveTwin) -> None:
        self.twin = twin
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="sdobs-twin", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.twin.start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self, timeout: float = 30.0) -> LiveTwin:
        self.thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the live twin did not start in time")
        if self._error is not None:
            raise self._error
        return self.twin

    def call(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` on the twin's loop and wait for its result (thread-safe inspection)."""
        async def wrap() -> object:
            return fn()
        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(10)

    def stop(self) -> None:
        """Stop the twin, end every task left on its loop (open connections), close the loop."""
        if not self.thread.is_alive():
            return

        async def shutdown() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.twin.stop(), 10)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        fut = asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        with contextlib.suppress(Exception):
            fut.result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()
