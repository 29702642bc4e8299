"""The twin's history as OpenMetrics text, exactly as Prometheus would have scraped it.

For every simulated pod this writes what its queue-proxy exposes (in each chosen Knative dialect,
names, labels, units and buckets from :mod:`sdobs.knative.dialects`) and what the sdobs GPU
exporter in the pod exposes (its own collector over a simulated GPU); for every revision what the
autoscaler and the activator expose. Each series carries the labels a scrape stores: the exposed
ones plus the target labels ``job``, ``instance`` and, for pods, ``namespace`` and ``pod`` (and the
PodMonitor relabelling of ``deploy/`` for the OpenTelemetry dialect). Series appear when the
source first measures them and end when the pod goes; OpenCensus meters unused for 10 minutes
drop their series and restart from zero (docs/knative-metrics.md §8, pitfall 8).

The output is meant for ``promtool tsdb create-blocks-from openmetrics``: one file per call,
families contiguous (each is streamed to its own temporary file, then concatenated), samples of
a series in time order, ending with ``# EOF``. Nothing holds a day of text in memory.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from sdobs_exporters.exposition_text import go_float, label_pairs

from sdobs.errors import InputError
from sdobs.knative.dialects import OPENCENSUS, Dialect, Family, get_dialect
from sdobs.sim.engine import RevisionLog, ServiceLog
from sdobs.sim.manifest import RevisionSpec
from sdobs.sim.servicetime import GPUS, idle_memory_gib, peak_memory_gib

GIB = 1024**3
KNATIVE_NAMESPACE = "knative-serving"
QUEUE_PROXY_JOB = "queue-proxy"
ACTIVATOR_JOB = "activator"
AUTOSCALER_JOB = "autoscaler"
GPU_JOB = "sdobs-gpu-exporter"
QUEUE_PROXY_PORT = 9091  # http-usermetric
CONTROL_PLANE_PORT = 9090  # http-metrics
GPU_EXPORTER_PORT = 9402
KNATIVE_VERSION = "69aa052"  # service_version of knative-v1.21.1 on target_info
OTEL_SDK_VERSION = "1.39.0"
UP_HELP = "1 if the last scrape of the target succeeded (recorded by Prometheus)"
#: How busy the GPU looks to NVML while A1111 generates (sampling keeps it near saturation).
GPU_BUSY_UTILIZATION = 0.97


@dataclass(frozen=True)
class RenderOptions:
    """How to turn a simulation log into scraped history."""

    start_epoch: float  # wall-clock seconds of the log's start
    scrape_interval: float = 30.0
    dialects: tuple[Dialect, ...] = (OPENCENSUS,)
    aligned: bool = False  # scrape every target at the same instants (for exact tests)
    #: GPU source (``sdobs.sim.gpu_sources``): the sdobs exporter as a sidecar in naming
    #: "default" or "dcgm", "sdobs-node" (node mode), "dcgm-exporter"; None: no GPU series
    gpu_naming: str | None = "default"
    sd_exporter: bool = True  # the SD request exporter's series (sdobs.sim.sdexporter)
    oc_expiry: float | None = 600.0  # OpenCensus meter expiry (maxMeterExporterAge)
    domain: str = "example.com"  # Knative's default domain, for the Host header
    activators: int = 1
    control_plane_seed: str = "sdobs"
    #: kube-state-metrics and cAdvisor series of every pod (``sdobs.sim.cluster``)
    cluster_series: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "dialects", tuple(get_dialect(d) for d in self.dialects))
        if self.scrape_interval < 1 or self.scrape_interval != int(self.scrape_interval):
            raise InputError("the scrape interval must be a whole number of seconds, at least 1")


@dataclass
class RenderStats:
    samples: int = 0
    series: int = 0
    bytes: int = 0
    families: dict[str, int] = field(default_factory=dict)


# -- writing ---------------------------------------------------------------------------------------
def labels_text(labels: dict[str, str]) -> str:
    """``a="1",b="2"`` sorted by name, ``le`` last (client_golang's order)."""
    return label_pairs(labels, le_last=True)


#: Go's strconv.FormatFloat(v, 'g', -1, 64) for the values the twin writes (one copy, shared
#: with the live twin: :mod:`sdobs_exporters.exposition_text`).
fmt = go_float


class OpenMetricsWriter:
    """Streams samples family by family into one OpenMetrics file (see module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=".om-", dir=self.path.parent))
        self._files: dict[str, IO[str]] = {}
        self._order: list[str] = []
        self.stats = RenderStats()

    def family(self, name: str, typ: str, help_: str) -> IO[str]:
        out = self._files.get(name)
        if out is None:
            out = open(self._dir / f"{len(self._order):04d}.om", "w", buffering=1 << 20)  # noqa: SIM115
            out.write(f"# HELP {name} {help_}\n# TYPE {name} {typ}\n")
            self._files[name] = out
            self._order.append(name)
        return out

    def series(self, out: IO[str], name: str, labels: str, values: Sequence[object],
               stamps: Sequence[str]) -> None:
        """One series: ``values[i]`` (already text or numbers) at ``stamps[i]``."""
        if not len(values):
            return
        prefix = f"{name}{{{labels}}} "
        text = "".join([f"{prefix}{v} {t}\n" for v, t in zip(values, stamps, strict=True)])
        out.write(text)
        self.stats.samples += len(values)
        self.stats.series += 1
        self.stats.bytes += len(text)
        self.stats.families[name] = self.stats.families.get(name, 0) + len(values)

    def lines(self, out: IO[str], text: str, samples: int, series: int = 0) -> None:
        out.write(text)
        self.stats.samples += samples
        self.stats.series += series
        self.stats.bytes += len(text)

    def close(self) -> RenderStats:
        """Concatenate the families into the target file and end it with ``# EOF``."""
        for out in self._files.values():
            out.close()
        tmp = self.path.with_name(self.path.name + ".part")
        with open(tmp, "wb") as dst:
            for i in range(len(self._order)):
                src = self._dir / f"{i:04d}.om"
                with open(src, "rb") as f:
                    shutil.copyfileobj(f, dst, 1 << 22)
                src.unlink()
            dst.write(b"# EOF\n")
        os.replace(tmp, self.path)
        shutil.rmtree(self._dir, ignore_errors=True)
        return self.stats

    def abort(self) -> None:
        for out in self._files.values():
            out.close()
        shutil.rmtree(self._dir, ignore_errors=True)


# -- time ------------------------------------------------------------------------------------------
class Clock:
    """Maps the log's seconds to epoch seconds and lays out each target's scrape times."""

    def __init__(self, log: ServiceLog, options: RenderOptions) -> None:
        self.offset = options.start_epoch - log.start
        self.interval = int(options.scrape_interval)
        self.aligned = options.aligned
        self.lo = log.start
        self.hi = log.end

    def epoch(self, t: np.ndarray | float) -> np.ndarray | float:
        return t + self.offset

    def grid(self, key: str, start: float, end: float) -> np.ndarray:
        """Epoch seconds (whole) at which target ``key`` is scraped within [start, end) of the
        log's time, clipped to the rendered window."""
        a = max(start, self.lo) + self.offset
        b = min(end, self.hi) + self.offset
        if b <= a:
            return np.empty(0, dtype=np.int64)
        phase = 0 if self.aligned else zlib.crc32(key.encode()) % self.interval
        first = math.ceil((a - phase) / self.interval) * self.interval + phase
        return np.arange(first, math.ceil(b), self.interval, dtype=np.int64)


def _stamps(grid: np.ndarray) -> list[str]:
    return [str(t) for t in grid.tolist()]


def _positions(times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """For each scrape time, how many events happened at or before it."""
    return np.searchsorted(times, grid, side="right")


def _segments(activity: np.ndarray, expiry: float | None, end: float) -> list[tuple[float, float]]:
    """(first activity, visible until) of each OpenCensus meter lifetime."""
    if not len(activity):
        return []
    if expiry is None:
        return [(float(activity[0]), end)]
    gaps = np.flatnonzero(np.diff(activity) > expiry)
    starts = np.concatenate([[0], gaps + 1])
    stops = np.concatenate([gaps, [len(activity) - 1]])
    return [(float(activity[s]), min(float(activity[e]) + expiry, end))
            for s, e in zip(starts, stops, strict=True)]


# -- histograms ------------------------------------------------------------------------------------
@dataclass
class _Events:
    """Request completions seen by one component for one label set, sorted by time."""

    times: np.ndarray  # epoch seconds
    values: np.ndarray  # in the family's unit


def _histogram(writer: OpenMetricsWriter, family: Family, dialect: Dialect, labels: dict[str, str],
               ev: _Events, grid: np.ndarray, stamps: list[str], ms: bool) -> None:
    """Write ``_bucket``/``_sum``/``_count`` of one label set at the scrape times."""
    out = writer.family(family.name, "histogram", family.help)
    pos = _positions(ev.times, grid)
    bounds = np.asarray(family.bounds, dtype=float)
    side = "left" if dialect.bucket_upper_inclusive else "right"
    idx = np.searchsorted(bounds, ev.values, side=side)
    base = labels_text(labels)
    base_prefix = base + "," if base else ""
    le_text = [fmt(b) for b in family.bounds]
    counts = np.bincount(idx, minlength=len(bounds) + 1)
    for b, le in enumerate(le_text):
        if counts[: b + 1].sum() == 0:
            vals = [0] * len(pos)
        else:
            cum = np.concatenate([[0], np.cumsum(idx <= b)])
            vals = cum[pos].tolist()
        writer.series(out, family.bucket, f'{base_prefix}le="{le}"', vals, stamps)
    total = pos.tolist()
    writer.series(out, family.bucket, f'{base_prefix}le="+Inf"', total, stamps)
    csum = np.concatenate([[0], np.cumsum(ev.values)])[pos]
    sums = csum.astype(np.int64).tolist() if ms else [fmt(v) for v in csum.tolist()]
    writer.series(out, family.sum, base, sums, stamps)
    writer.series(out, family.count, base, total, stamps)


def _counter(writer: OpenMetricsWriter, family: Family, labels: dict[str, str], times: np.ndarray,
             grid: np.ndarray, stamps: list[str]) -> None:
    out = writer.family(family.name, "counter", family.help)
    writer.series(out, family.name, labels_text(labels), _positions(times, grid).tolist(), stamps)


def _gauge(writer: OpenMetricsWriter, family: Family, labels: dict[str, str], times: np.ndarray,
           values: np.ndarray, grid: np.ndarray, stamps: list[str]) -> None:
    """A last-value gauge sampled at the scrape times (scrapes before the first value skipped)."""
    if not len(times):
        return
    pos = _positions(times, grid) - 1
    keep = pos >= 0
    if not keep.all():
        grid_stamps = [s for s, k in zip(stamps, keep.tolist(), strict=True) if k]
        pos = pos[keep]
    else:
        grid_stamps = stamps
    out = writer.family(family.name, "gauge", family.help)
    writer.series(out, family.name, labels_text(labels), [fmt(v) for v in values[pos].tolist()],
                  grid_stamps)


# -- identity --------------------------------------------------------------------------------------
def _code_class(code: int) -> str:
    return f"{code // 100}xx"


def scope_labels(dialect: Dialect, component: str) -> dict[str, str]:
    """The ``otel_scope_*`` labels of one component's series (none in OpenCensus)."""
    if not dialect.otel_scopes:
        return {}
    name, version = dialect.otel_scopes[component]
    return {"otel_scope_name": name, "otel_scope_version": version, "otel_scope_schema_url": ""}


def revision_labels(dialect: Dialect, spec: RevisionSpec) -> dict[str, str]:
    """A revision's identity labels as the dialect spells them."""
    lm = dialect.labels
    return {lm.namespace: spec.namespace, lm.service: spec.service,
            lm.configuration: spec.configuration, lm.revision: spec.name}


Labels = dict[str, str]


def queue_proxy_labels(dialect: Dialect, spec: RevisionSpec, pod_name: str,
                       domain: str) -> tuple[Labels, Labels, Labels]:
    """Labels queue-proxy itself puts on its outer, app and queue-depth series (no target
    labels): the revision and pod in OpenCensus, the scope and HTTP attributes in OpenTelemetry."""
    if dialect.code_class_label is not None:
        exposed = {**revision_labels(dialect, spec), dialect.labels.pod: pod_name,
                   dialect.container_label: "queue-proxy"}
        depth = {**exposed, dialect.code_label: "", dialect.code_class_label: ""}
        return {**exposed, dialect.route_tag[0]: dialect.route_tag[1]}, exposed, depth
    outer = {**scope_labels(dialect, "http"), "http_request_method": "POST",
             "url_scheme": "http", "server_address": f"{spec.service}.{spec.namespace}.{domain}",
             "network_protocol_name": "http", "network_protocol_version": "1.1",
             dialect.route_tag[0]: dialect.route_tag[1]}
    app = scope_labels(dialect, "queue")
    return outer, app, app


def control_plane_pods(options: RenderOptions) -> tuple[list[tuple[str, str]], tuple[str, str]]:
    """(name, IP) of the activator pods and the autoscaler pod of the simulated cluster."""
    rng = np.random.default_rng(zlib.crc32(options.control_plane_seed.encode()))
    chars = "bcdfghjklmnpqrstvwxz2456789"

    def name(base: str) -> str:
        h = "".join(rng.choice(list(chars), 10))
        s = "".join(rng.choice(list(chars), 5))
        return f"{base}-{h[:9]}-{s}"

    acts = [(name("activator"), f"10.96.0.{10 + i}") for i in range(max(1, options.activators))]
    return acts, (name("autoscaler"), "10.96.0.5")


# -- queue-proxy -----------------------------------------------------------------------------------
class _PodView:
    """The requests one pod's queue-proxy saw, split the ways rendering needs them."""

    def __init__(self, log: ServiceLog, clock: Clock, sel: np.ndarray) -> None:
        r = log.requests
        reached = sel[r["t_qp"][sel] >= 0]
        ended = reached[r["t_qp_end"][reached] >= 0]
        order = np.argsort(r["t_qp_end"][ended], kind="stable")
        ended = ended[order]
        self.outer_t = clock.epoch(r["t_qp_end"][ended])
        self.outer_code = r["code_qp"][ended]
        self.outer_lat = r["t_qp_end"][ended] - r["t_qp"][ended]
        app = ended[(r["t_app"][ended] >= 0) & (r["t_app_done"][ended] >= 0)]
        order = np.argsort(r["t_app_done"][app], kind="stable")
        app = app[order]
        self.app_t = clock.epoch(r["t_app_done"][app])
        self.app_code = r["code_app"][app]
        self.app_lat = r["t_app_done"][app] - r["t_app"][app]
        self.arrivals = np.sort(clock.epoch(r["t_qp"][reached]))


def _render_queue_proxy(writer: OpenMetricsWriter, dialect: Dialect, log: ServiceLog,
                        rev: RevisionLog, pod: int, view: _PodView, depth: tuple[np.ndarray,
                        np.ndarray], clock: Clock, options: RenderOptions) -> None:
    spec = rev.spec
    name, ip = log.pod_names[pod], log.pod_ips[pod]
    p = log.pods
    start, gone = p["started"][pod], p["gone"][pod]
    key = f"{QUEUE_PROXY_JOB}/{ip}:{QUEUE_PROXY_PORT}"
    target = {"job": QUEUE_PROXY_JOB, "instance": f"{ip}:{QUEUE_PROXY_PORT}",
              "namespace": spec.namespace, "pod": name}
    oc = dialect.code_class_label is not None
    end_epoch = clock.epoch(min(gone, clock.hi))
    if oc:
        activity = np.sort(np.concatenate([view.arrivals, view.outer_t, view.app_t]))
        segments = _segments(activity, options.oc_expiry, float(end_epoch))
    else:
        first = min([a[0] for a in (view.arrivals, view.outer_t) if len(a)], default=None)
        segments = [] if first is None else [(float(first), float(end_epoch))]
    if not segments:
        return
    full_grid = clock.grid(key, start, gone)
    if not len(full_grid):
        return
    lm = dialect.labels
    relabel = {} if oc else {lm.namespace: spec.namespace, lm.pod: name, lm.service: spec.service,
                             lm.configuration: spec.configuration, lm.revision: spec.name}
    outer, app, depth_labels = queue_proxy_labels(dialect, spec, name, options.domain)
    outer_base = {**target, **relabel, **outer}
    app_base = {**target, **relabel, **app}
    depth_base = {**target, **relabel, **depth_labels}
    ms = dialect.requests.scale_to_base != 1
    unit = 1000.0 if ms else 1.0
    counters = {f.name: f for f in dialect.counters}
    for seg_start, seg_end in segments:
        grid = full_grid[(full_grid >= seg_start) & (full_grid < seg_end)]
        if not len(grid):
            continue
        for times, codes, lats, family, base, counter in (
            (view.outer_t, view.outer_code, view.outer_lat, dialect.requests, outer_base,
             counters.get(dialect.request_count)),
            (view.app_t, view.app_code, view.app_lat, dialect.app_requests, app_base,
             counters.get(dialect.app_request_count)),
        ):
            in_seg = (times >= seg_start) & (times < seg_end)
            for code in np.unique(codes[in_seg]).tolist():
                m = in_seg & (codes == code)
                t = times[m]
                g = grid[grid >= t[0]]
                if not len(g):
                    continue
                st = _stamps(g)
                labels = {**base, dialect.code_label: str(code)}
                if oc:
                    labels[dialect.code_class_label] = _code_class(code)
                values = lats[m] * unit
                if ms:
                    values = np.floor(values)  # float64(latency.Milliseconds())
                _histogram(writer, family, dialect, labels, _Events(t, values), g, st, ms)
                if counter is not None:
                    _counter(writer, counter, labels, t, g, st)
        if spec.container_concurrency >= 1 and len(depth[0]):
            dt, dv = depth
            m = (dt >= seg_start) & (dt < seg_end)
            if m.any():
                g = grid[grid >= dt[m][0]]
                _gauge(writer, dialect.queue_depth, depth_base, dt[m], dv[m], g, _stamps(g))
    if not oc:  # target_info: resource attributes, renamed where target labels collide
        grid = full_grid
        info = {**target, **relabel, "k8s_container_name": "queue-proxy",
                "service_instance_id": name, "service_name": spec.service,
                "service_version": KNATIVE_VERSION, "telemetry_sdk_language": "go",
                "telemetry_sdk_name": "opentelemetry", "telemetry_sdk_version": OTEL_SDK_VERSION}
        for k, v in relabel.items():
            info[f"exported_{k}"] = v
        out = writer.family("target_info", "gauge", "Target metadata")
        writer.series(out, "target_info", labels_text(info), [1] * len(grid), _stamps(grid))


def _render_up(writer: OpenMetricsWriter, job: str, instance: str, extra: dict[str, str],
               clock: Clock, discovered: float, up_from: float, gone: float) -> None:
    grid = clock.grid(f"{job}/{instance}", discovered, gone)
    if not len(grid):
        return
    up = (grid >= clock.epoch(up_from)).astype(np.int64)
    out = writer.family("up", "gauge", UP_HELP)
    writer.series(out, "up", labels_text({"job": job, "instance": instance, **extra}),
                  up.tolist(), _stamps(grid))


# -- GPU -------------------------------------------------------------------------------------------
def _busy_function(starts: np.ndarray, ends: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """B(t): seconds of GPU work done by time t, for disjoint sorted intervals."""
    lengths = ends - starts
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    if not len(starts):
        return lambda t: np.zeros(len(t))

    def busy(t: np.ndarray) -> np.ndarray:
        j = np.searchsorted(starts, t, side="right")
        partial = np.where(j > 0, np.minimum(t, ends[np.maximum(j - 1, 0)])
                           - starts[np.maximum(j - 1, 0)], 0.0)
        return cum[np.maximum(j - 1, 0)] + np.maximum(partial, 0.0) * (j > 0)

    return busy


def render_gpu(writer: OpenMetricsWriter, log: ServiceLog, rev: RevisionLog, pod: int,
               clock: Clock, options: RenderOptions) -> None:
    """The GPU exporter sidecar of one pod: the real collector over a simulated GPU.

    Utilisation is what NVML would sample at each scrape (busy while A1111 generates), energy
    integrates the busy fraction between scrapes, memory is the loaded checkpoint plus the
    running request's working set.
    """
    from sdobs_exporters.gpu import (
        GPU_MODELS,
        GpuCollector,
        Identity,
        SimulatedBackend,
        SimulatedGpu,
    )

    spec = rev.spec
    if spec.gpu not in GPU_MODELS or options.gpu_naming is None:
        return
    from sdobs.sim.gpu_sources import source_for

    src = source_for(options.gpu_naming)
    name, ip = log.pod_names[pod], log.pod_ips[pod]
    p = log.pods
    started, loaded, gone = p["started"][pod], p["loaded"][pod], p["gone"][pod]
    instance = f"{ip}:{src.port}"
    grid = clock.grid(f"{src.job}/{instance}", started, gone)
    if not len(grid):
        return
    r = log.requests
    mine = np.flatnonzero((r["pod"] == log.pods["id"][pod]) & (r["gpu_start"] >= 0))
    mine = mine[np.argsort(r["gpu_start"][mine], kind="stable")]
    gs, ge = clock.epoch(r["gpu_start"][mine]), clock.epoch(r["gpu_end"][mine])
    busy = _busy_function(gs, ge)
    t = grid.astype(float)
    prev = np.concatenate([[t[0] - options.scrape_interval], t[:-1]])
    frac = np.clip((busy(t) - busy(prev)) / np.maximum(t - prev, 1e-9), 0.0, 1.0)
    j = np.searchsorted(gs, t, side="right") - 1
    running = (j >= 0) & (t < ge[np.maximum(j, 0)]) if len(ge) else np.zeros(len(t), bool)
    perf = GPUS[spec.gpu]
    idle = idle_memory_gib(perf) * GIB
    body_peak = [peak_memory_gib(perf, b)[0] * GIB for b in log.bodies]
    peaks = np.array([body_peak[b] for b in r["body"][mine].tolist()] or [idle])
    loaded_e = clock.epoch(loaded)
    gpu = SimulatedGpu.create(spec.gpu, index=0, seed=name)
    ident = src.identity(Identity(namespace=spec.namespace, pod=name, container=spec.container,
                                  service=spec.service, configuration=spec.configuration,
                                  revision=spec.name))
    collector = GpuCollector(SimulatedBackend([gpu]), naming=src.naming, identity=ident,
                             clock=lambda: 0.0)
    lines: dict[str, list[str]] = {}
    meta: dict[str, tuple[str, str]] = {}
    cache: dict[tuple, str] = {}
    target = f'instance="{instance}",job="{src.job}"'
    running_l, frac_l, j_l = running.tolist(), frac.tolist(), j.tolist()
    for i, ts in enumerate(grid.tolist()):
        if ts >= loaded_e:
            mem = peaks[j_l[i]] if running_l[i] else idle
            gpu.load_model(int(mem), pid=1)
        else:
            gpu.load_model(0, pid=1)
        gpu.utilization = frac_l[i] * GPU_BUSY_UTILIZATION
        gpu.advance(options.scrape_interval if i else 0.0)
        gpu.utilization = GPU_BUSY_UTILIZATION if running_l[i] else 0.0
        stamp = str(ts)
        for fam in src.families(collector, float(ts)):
            if fam.name not in meta:
                meta[fam.name] = (fam.type, fam.documentation)
                lines[fam.name] = []
            bucket = lines[fam.name]
            for s in fam.samples:
                key = (s.name, *s.labels.items())
                prefix = cache.get(key)
                if prefix is None:
                    lt = labels_text(s.labels)
                    prefix = f"{s.name}{{{target}{',' if lt else ''}{lt}}} "
                    cache[key] = prefix
                bucket.append(f"{prefix}{fmt(s.value)} {stamp}\n")
    for fam_name, fam_lines in lines.items():
        typ, help_ = meta[fam_name]
        out = writer.family(fam_name, typ, help_)
        writer.lines(out, "".join(fam_lines), len(fam_lines))
    _render_up(writer, src.job, instance, src.up_labels(spec.namespace, name), clock,
               started, started, gone)


# -- activator and autoscaler ----------------------------------------------------------------------
def _render_activator(writer: OpenMetricsWriter, dialect: Dialect, log: ServiceLog,
                      rev_idx: int, rev: RevisionLog, clock: Clock, options: RenderOptions,
                      acts: list[tuple[str, str]]) -> None:
    if rev.spec.autoscaler_class == "mpa":
        return  # ACK's MSE gateway holds the queue; the Knative activator is not in the path
    r = log.requests
    sel = np.flatnonzero((r["rev"] == rev_idx) & r["via"] & (r["t_end"] >= 0))
    reports = rev.activator
    oc = dialect.code_class_label is not None
    fam = dialect.activator_requests
    lm = dialect.labels
    ms = fam is not None and fam.scale_to_base != 1
    for a, (act_name, act_ip) in enumerate(acts):
        mine = sel[r["act"][sel] == a]
        mine = mine[np.argsort(r["t_end"][mine], kind="stable")]
        t_end = clock.epoch(r["t_end"][mine])
        codes = r["code"][mine]
        lat = r["t_end"][mine] - r["t"][mine]
        rm = reports["activator"] == a
        rt = clock.epoch(reports["t"][rm])
        rc = reports["concurrency"][rm]
        target = {"job": ACTIVATOR_JOB, "instance": f"{act_ip}:{CONTROL_PLANE_PORT}",
                  "namespace": KNATIVE_NAMESPACE, "pod": act_name}
        ident = revision_labels(dialect, rev.spec)
        if oc:
            exposed = {**ident, lm.pod: act_name, dialect.container_label: "activator"}
            base = {**exposed, **target}
            activity = np.sort(np.concatenate([t_end, rt]))
            segments = _segments(activity, options.oc_expiry, clock.epoch(clock.hi))
            conc_base = base
        else:
            base = {**target, **ident, **scope_labels(dialect, "http"),
                    "http_request_method": "POST",
                    "url_scheme": "http", "network_protocol_name": "http",
                    "network_protocol_version": "1.1",
                    "server_address": f"{rev.spec.service}.{rev.spec.namespace}.{options.domain}"}
            first = min([x[0] for x in (t_end, rt) if len(x)], default=None)
            segments = [] if first is None else [(float(first), clock.epoch(clock.hi))]
            conc_base = {**target, **ident, **scope_labels(dialect, "activator")}
        grid_all = clock.grid(f"{ACTIVATOR_JOB}/{act_ip}", clock.lo, clock.hi)
        counters = dialect.activator_counters
        for s0, s1 in segments:
            grid = grid_all[(grid_all >= s0) & (grid_all < s1)]
            if not len(grid):
                continue
            in_seg = (t_end >= s0) & (t_end < s1)
            for code in np.unique(codes[in_seg]).tolist():
                m = in_seg & (codes == code)
                g = grid[grid >= t_end[m][0]]
                if not len(g):
                    continue
                st = _stamps(g)
                labels = {**base, dialect.code_label: str(code)}
                if oc:
                    labels[dialect.code_class_label] = _code_class(code)
                values = lat[m] * (1000.0 if ms else 1.0)
                if ms:
                    values = np.floor(values)
                if fam is not None:
                    _histogram(writer, fam, dialect, labels, _Events(t_end[m], values), g, st, ms)
                for c in counters:
                    _counter(writer, c, labels, t_end[m], g, st)
            rs = (rt >= s0) & (rt < s1)
            if rs.any():
                g = grid[grid >= rt[rs][0]]
                _gauge(writer, dialect.activator_concurrency, conc_base, rt[rs], rc[rs], g,
                       _stamps(g))


def _render_autoscaler(writer: OpenMetricsWriter, dialect: Dialect, log: ServiceLog,
                       rev: RevisionLog, clock: Clock,
                       autoscaler: tuple[str, str]) -> None:
    name, ip = autoscaler
    target = {"job": AUTOSCALER_JOB, "instance": f"{ip}:{CONTROL_PLANE_PORT}",
              "namespace": KNATIVE_NAMESPACE, "pod": name}
    labels = {**revision_labels(dialect, rev.spec), **target}
    if dialect.code_class_label is None:
        labels.update(scope_labels(dialect, "autoscaler"))
    grid = clock.grid(f"{AUTOSCALER_JOB}/{ip}", clock.lo, clock.hi)
    if not len(grid):
        return
    stamps = _stamps(grid)
    ticks, counts = rev.ticks, rev.counts
    tt = clock.epoch(ticks["t"])
    valid = ticks["valid"] == 1
    ct = clock.epoch(counts["t"])
    fams = dialect.autoscaler
    series: list[tuple[str, np.ndarray, np.ndarray]] = [
        ("pods_desired", tt[valid], ticks["desired"][valid]),
        ("excess_burst_capacity", tt[valid], ticks["ebc"][valid]),
        ("panic_mode", tt[valid], ticks["panic_mode"][valid]),
        ("concurrency_stable", tt, ticks["stable"]),
        ("concurrency_panic", tt, ticks["panic"]),
        ("concurrency_target", tt, np.full(len(tt), rev.spec.kpa.target)),
        ("pods_actual", ct, counts["ready"]),
        ("pods_not_ready", ct, counts["not_ready"]),
        ("pods_pending", ct, counts["pending"]),
        ("pods_terminating", ct, counts["terminating"]),
    ]
    req = counts["requested"] >= 0
    series.append(("pods_requested", ct[req], counts["requested"][req]))
    for key, t, v in series:
        if key.startswith("concurrency") and rev.spec.kpa.metric.value != "concurrency":
            continue
        _gauge(writer, fams[key], labels, t, v, grid, stamps)


def render_service(log: ServiceLog, writer: OpenMetricsWriter, options: RenderOptions,
                   progress: Callable[[int], None] | None = None) -> None:
    """Everything one simulated Service's pods and its revisions' control plane expose."""
    clock = Clock(log, options)
    acts, autoscaler = control_plane_pods(options)
    r = log.requests
    p = log.pods
    order = np.argsort(r["pod"], kind="stable")
    bounds = np.searchsorted(r["pod"][order], p["id"], side="left")
    bounds_hi = np.searchsorted(r["pod"][order], p["id"], side="right")
    d = log.depth
    dorder = np.argsort(d["pod"], kind="stable")
    d_lo = np.searchsorted(d["pod"][dorder], p["id"], side="left")
    d_hi = np.searchsorted(d["pod"][dorder], p["id"], side="right")
    for i in range(len(p["id"])):
        rev = log.revisions[int(p["rev"][i])]
        sel = np.sort(order[bounds[i]:bounds_hi[i]])
        view = _PodView(log, clock, sel)
        di = dorder[d_lo[i]:d_hi[i]]
        di = di[np.argsort(d["t"][di], kind="stable")]
        depth = (clock.epoch(d["t"][di]), d["depth"][di].astype(float))
        for k, dialect in enumerate(options.dialects):
            _render_queue_proxy(writer, dialect, log, rev, i, view, depth, clock, options)
            if k == 0:
                target = {"namespace": rev.spec.namespace, "pod": log.pod_names[i]}
                if dialect.code_class_label is None:
                    lm = dialect.labels
                    target.update({lm.namespace: rev.spec.namespace, lm.pod: log.pod_names[i],
                                   lm.service: rev.spec.service,
                                   lm.configuration: rev.spec.configuration,
                                   lm.revision: rev.spec.name})
                _render_up(writer, QUEUE_PROXY_JOB, f"{log.pod_ips[i]}:{QUEUE_PROXY_PORT}",
                           target, clock, p["scheduled"][i], p["started"][i], p["gone"][i])
        render_gpu(writer, log, rev, i, clock, options)
        if options.sd_exporter:
            from sdobs.sim.sdexporter import render_sd

            render_sd(writer, log, rev, i, clock, options)
        if options.cluster_series:
            from sdobs.sim.cluster import render_pod_cluster_series

            render_pod_cluster_series(writer, log, rev, i, clock, options, sel)
        if progress:
            progress(1)
    for ri, rev in enumerate(log.revisions):
        for dialect in options.dialects:
            _render_activator(writer, dialect, log, ri, rev, clock, options, acts)
            _render_autoscaler(writer, dialect, log, rev, clock, autoscaler)


def render_control_plane_up(writer: OpenMetricsWriter, options: RenderOptions, start: float,
                            end: float) -> None:
    """``up`` of the activator and autoscaler targets over the rendered window (epoch seconds)."""
    acts, autoscaler = control_plane_pods(options)
    interval = int(options.scrape_interval)
    grid = np.arange(math.ceil(start / interval) * interval, math.ceil(end), interval,
                     dtype=np.int64)
    out = writer.family("up", "gauge", UP_HELP)
    for job, (name, ip) in [*((ACTIVATOR_JOB, a) for a in acts), (AUTOSCALER_JOB, autoscaler)]:
        labels = {"job": job, "instance": f"{ip}:{CONTROL_PLANE_PORT}",
                  "namespace": KNATIVE_NAMESPACE, "pod": name}
        writer.series(out, "up", labels_text(labels), [1] * len(grid), _stamps(grid))


def render_to_file(logs: Iterable[ServiceLog], path: str | Path, options: RenderOptions,
                   *, control_plane: bool = True) -> RenderStats:
    """Render simulation logs into one OpenMetrics file for ``promtool``."""
    writer = OpenMetricsWriter(path)
    try:
        lo = hi = None
        for log in logs:
            render_service(log, writer, options)
            clock = Clock(log, options)
            lo = clock.epoch(log.start) if lo is None else min(lo, clock.epoch(log.start))
            hi = clock.epoch(log.end) if hi is None else max(hi, clock.epoch(log.end))
        if control_plane and lo is not None:
            render_control_plane_up(writer, options, lo, hi)
    except BaseException:
        writer.abort()
        raise
    return writer.close()
