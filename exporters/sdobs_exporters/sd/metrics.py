"""The SD request exporter's metrics: one object per server process, fed by the middleware (or,
in the serving twin, by simulated requests) and rendered for Prometheus.

Everything here is prometheus-client's own instrumentation in a private registry; a scrape adds
the workload identity to every series and leaves out the ``_created`` series (Prometheus 2.42
stores them as series of their own under OpenMetrics). prometheus-client 0.26's instrumented
``Histogram`` has classic buckets only (native histograms exist in its data model for custom
collectors and render only in OpenMetrics 2.0, which Prometheus 2.42 does not ask for), so the
buckets are SD-sized instead: see :data:`naming.DURATION_BUCKETS`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

from . import naming as n


@dataclass(frozen=True)
class Identity:
    """The Knative workload the server runs as (empty strings are left off the series)."""

    namespace: str = ""
    pod: str = ""
    service: str = ""
    configuration: str = ""
    revision: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Identity:
        """Knative puts ``K_SERVICE``/``K_CONFIGURATION``/``K_REVISION`` into every container;
        pod and namespace come from the downward API, else ``HOSTNAME`` and the service account."""
        env = os.environ if env is None else env
        namespace = env.get("POD_NAMESPACE", "")
        if not namespace:
            try:
                with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace",
                          encoding="utf-8") as f:
                    namespace = f.read().strip()
            except OSError:
                namespace = ""
        return cls(namespace=namespace, pod=env.get("POD_NAME", "") or env.get("HOSTNAME", ""),
                   service=env.get("K_SERVICE", ""), configuration=env.get("K_CONFIGURATION", ""),
                   revision=env.get("K_REVISION", ""))

    def labels(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in n.IDENTITY_KEYS if getattr(self, k)}


def process_start_time() -> float | None:
    """Epoch seconds at which this process (the container's main process) started, on Linux."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rpartition(")")[2].split()[19])
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def detect_gpu_model() -> str:
    """The GPU's model name from NVML (nvidia-ml-py is in the base install), else "unknown"."""
    if os.environ.get("SDOBS_SD_GPU_MODEL"):
        return os.environ["SDOBS_SD_GPU_MODEL"]
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        finally:
            pynvml.nvmlShutdown()
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # no driver, no GPU, no library: the label says so
        return "unknown"


class SdMetrics:
    """Request, generation, model and readiness metrics of one SD server process."""

    def __init__(self, *, identity: Identity | None = None, gpu_model: str | None = None,
                 process_start: float | None = None, clock=time.time) -> None:
        self.identity = Identity.from_env() if identity is None else identity
        self._gpu_model = gpu_model
        self.clock = clock
        self.process_start = process_start_time() if process_start is None else process_start
        self._inner = CollectorRegistry(auto_describe=False)
        r = self._inner
        self._duration = Histogram(
            n.REQUEST_DURATION, "Time from a generation request's arrival to its last response "
            "byte, seconds", n.REQUEST_LABELS, buckets=n.DURATION_BUCKETS, registry=r)
        self._wait = Histogram(
            n.QUEUE_WAIT, "Time a generation request waited for the server's generation lock "
            "(queue), seconds", ("endpoint",), buckets=n.DURATION_BUCKETS, registry=r)
        self._generation = Histogram(
            n.GENERATION, "Time a generation request held the generation lock (sampling, decode), "
            "seconds", n.GENERATION_LABELS, buckets=n.DURATION_BUCKETS, registry=r)
        self._response = Histogram(
            n.RESPONSE, "Time from the end of generation to the last response byte (encoding, "
            "returning), seconds", ("endpoint",), buckets=n.DURATION_BUCKETS, registry=r)
        self._steps = Counter(n.STEPS, "Sampling steps run", n.GENERATION_LABELS, registry=r)
        self._images = Counter(n.IMAGES, "Images generated", n.GENERATION_LABELS, registry=r)
        self._mp = Counter(n.MEGAPIXELS, "Megapixels generated", n.GENERATION_LABELS, registry=r)
        self._mix = Counter(n.GENERATIONS, "Generations by sampler and image size class",
                            n.MIX_LABELS, registry=r)
        self._in_flight = Gauge(n.IN_FLIGHT, "Generation requests in the server now", registry=r)
        self._waiting = Gauge(n.WAITING, "Generation requests waiting for the generation lock now",
                              registry=r)
        self._load = Histogram(n.MODEL_LOAD, "Time to load a checkpoint, seconds",
                               buckets=n.LOAD_BUCKETS, registry=r)
        self._ready = Gauge(n.READY, "1 once a checkpoint is loaded and requests can be served",
                            registry=r)
        self._cold = Gauge(n.COLD_START, "Seconds from the container's start to ready to serve",
                           registry=r)
        self._errors = Counter(n.ERRORS, "Failures inside the exporter (requests still served)",
                               ("where",), registry=r)
        # Successful txt2img series exist from the start (at zero), so rate() counts a pod's
        # first request too (Prometheus' advice: initialise the label sets you know).
        self._duration.labels("txt2img", "2xx")
        self._wait.labels("txt2img")
        self._response.labels("txt2img")
        for family in (self._generation, self._steps, self._images, self._mp):
            family.labels("txt2img", self.gpu_model)
        self._checkpoint: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._children: dict[tuple, tuple] = {}
        self.ready = False
        self._cold_recorded = False
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    @property
    def gpu_model(self) -> str:
        if self._gpu_model is None:
            self._gpu_model = detect_gpu_model()
        return self._gpu_model

    # -- requests --------------------------------------------------------------------------------
    def _series(self, endpoint: str, code: int, sampler: str, size: str) -> tuple:
        key = (endpoint, code, sampler, size)
        children = self._children.get(key)
        if children is None:
            gen = (endpoint, self.gpu_model)
            children = (self._duration.labels(endpoint, n.status_class(code)),
                        self._wait.labels(endpoint), self._generation.labels(*gen),
                        self._response.labels(endpoint), self._steps.labels(*gen),
                        self._images.labels(*gen), self._mp.labels(*gen),
                        self._mix.labels(endpoint, sampler, size))
            if len(self._children) < 4096:  # bounded labels; the cap only guards memory
                self._children[key] = children
        return children

    def observe(self, endpoint: str, code: int, total: float, *, queue_wait: float | None = None,
                generation: float | None = None, response: float | None = None,
                steps: int = 0, width: int = 0, height: int = 0, images: int = 0,
                sampler: str = "") -> None:
        """Count one finished generation request (durations in seconds; the phases only when
        the request reached the generation lock)."""
        size = n.size_class(width, height) if width and height else "unknown"
        dur, wait, gen, resp, steps_c, images_c, mp_c, mix_c = self._series(
            endpoint, code, n.sampler_label(sampler), size)
        dur.observe(total)
        if queue_wait is not None:
            wait.observe(queue_wait)
        if generation is not None:
            gen.observe(generation)
            mix_c.inc()
            if steps > 0:
                steps_c.inc(steps)
            if images > 0:
                images_c.inc(images)
                if width and height:
                    mp_c.inc(images * width * height / 1e6)
        if response is not None:
            resp.observe(response)

    def in_flight(self, delta: int) -> None:
        self._in_flight.inc(delta)

    def waiting(self, delta: int) -> None:
        self._waiting.inc(delta)

    def set_requests(self, in_flight: int, waiting: int) -> None:
        """Set the in-flight and waiting gauges at once (a server that counts them itself)."""
        self._in_flight.set(in_flight)
        self._waiting.set(waiting)

    def error(self, where: str) -> None:
        self._errors.labels(where).inc()

    # -- model and readiness ---------------------------------------------------------------------
    def model_loaded(self, checkpoint: str = "", sha: str = "",
                     seconds: float | None = None) -> None:
        """A checkpoint finished loading (``seconds`` when its start is known)."""
        if seconds is not None and seconds >= 0:
            self._load.observe(seconds)
        with self._lock:
            self._checkpoint = (checkpoint[:200], sha[:64])
        self.set_ready(True)

    def set_ready(self, ready: bool = True, *, now: float | None = None) -> None:
        """Ready to serve; the first time also records the cold start."""
        with self._lock:
            first = ready and not self.ready and not self._cold_recorded
            self._cold_recorded = self._cold_recorded or first
            self.ready = ready
        self._ready.set(1 if ready else 0)
        if first and self.process_start is not None:
            now = self.clock() if now is None else now
            self._cold.set(max(now - self.process_start, 0.0))

    def readiness(self) -> tuple[bool, dict]:
        with self._lock:
            ckpt = self._checkpoint
        body: dict = {"ready": self.ready}
        if ckpt:
            body["checkpoint"], body["sha256"] = ckpt
        return self.ready, body

    # -- exposition ------------------------------------------------------------------------------
    def collect(self, *, identity: bool = True) -> list[Metric]:
        """The families with the identity on every series (``identity=False``: without, for a
        renderer that adds it once per series), without ``_created`` samples."""
        ident = self.identity.labels() if identity else {}
        out = []
        for fam in self._inner.collect():
            m = Metric(fam.name, fam.documentation, fam.type, fam.unit)
            m.samples = [s._replace(labels={**ident, **s.labels}) if ident else s
                         for s in fam.samples if not s.name.endswith("_created")]
            out.append(m)
        with self._lock:
            ckpt = self._checkpoint
        if ckpt:
            info = Metric(n.CHECKPOINT_INFO, "The loaded checkpoint (name and hash)", "gauge")
            info.add_sample(n.CHECKPOINT_INFO, {**ident, "checkpoint": ckpt[0], "sha256": ckpt[1]},
                            1.0)
            out.append(info)
        return out

    def describe(self) -> list[Metric]:
        return []

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition for an ``Accept`` header: (body, content type)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
