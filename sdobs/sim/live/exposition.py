"""What the live twin's pods and control plane expose right now, as Prometheus text.

The same facts as the history renderer (``sdobs.sim.render``): names, units, buckets and label
keys from :mod:`sdobs.knative.dialects`, the exposed labels only (Prometheus adds ``job``,
``instance``, ``namespace``, ``pod`` and the PodMonitor relabelling from the twin's file-SD
targets), counters accumulated per pod from the moment a request ends, GPU series from the GPU
exporter's own collector. OpenCensus' 10-minute meter expiry is not reproduced live.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from sdobs_exporters.exposition_text import go_float

from sdobs.knative.dialects import Dialect, Family
from sdobs.sim.manifest import RevisionSpec
from sdobs.sim.render import labels_text, queue_proxy_labels, revision_labels, scope_labels

DOMAIN = "example.com"


@dataclass
class Histogram:
    """Bucket counts (not cumulative), sum and count of one series."""

    bounds: tuple[float, ...]
    inclusive: bool  # OpenTelemetry: v <= le; OpenCensus: v < le
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)
        find = bisect.bisect_left if self.inclusive else bisect.bisect_right
        self.counts[find(self.bounds, value)] += 1
        self.total += value
        self.n += 1


@dataclass
class PodStats:
    """Everything one pod's queue-proxy has counted since it started."""

    outer: dict[int, Histogram] = field(default_factory=dict)
    app: dict[int, Histogram] = field(default_factory=dict)


class Text:
    """Prometheus text exposition, one family at a time."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._seen: set[str] = set()

    def family(self, fam: Family | tuple[str, str, str]) -> None:
        name, typ, help_ = (fam.name, fam.type, fam.help) if isinstance(fam, Family) else fam
        if name not in self._seen:
            self._seen.add(name)
            self.parts.append(f"# HELP {name} {help_}\n# TYPE {name} {typ}\n")

    def sample(self, name: str, labels: dict[str, str], value: float) -> None:
        self.parts.append(f"{name}{{{labels_text(labels)}}} {go_float(value)}\n")

    def histogram(self, fam: Family, labels: dict[str, str], h: Histogram) -> None:
        self.family(fam)
        cum = 0
        for bound, count in zip(h.bounds, h.counts, strict=False):
            cum += count
            self.sample(fam.bucket, {**labels, "le": go_float(bound)}, cum)
        self.sample(fam.bucket, {**labels, "le": "+Inf"}, h.n)
        self.sample(fam.sum, labels, h.total)
        self.sample(fam.count, labels, h.n)

    def text(self) -> bytes:
        return "".join(self.parts).encode()


def observe(dialect: Dialect, stats: PodStats, app: bool, code: int, seconds: float) -> None:
    """Count one request that ended at the queue-proxy (outer) or the model container (app)."""
    fam = dialect.app_requests if app else dialect.requests
    ms = fam.scale_to_base != 1
    value = math.floor(seconds * 1000) if ms else seconds  # float64(latency.Milliseconds())
    table = stats.app if app else stats.outer
    h = table.get(code)
    if h is None:
        h = table[code] = Histogram(fam.bounds, dialect.bucket_upper_inclusive)
    h.observe(value)


def queue_proxy(dialect: Dialect, spec: RevisionSpec, pod_name: str, stats: PodStats,
                depth: int | None) -> bytes:
    """One pod's queue-proxy :9091 exposition."""
    out = Text()
    oc = dialect.code_class_label is not None
    counters = {f.name: f for f in dialect.counters}
    outer_base, app_base, depth_base = queue_proxy_labels(dialect, spec, pod_name, DOMAIN)
    for table, fam, base, counter in (
        (stats.outer, dialect.requests, outer_base, counters.get(dialect.request_count)),
        (stats.app, dialect.app_requests, app_base, counters.get(dialect.app_request_count)),
    ):
        for code in sorted(table):
            labels = {**base, dialect.code_label: str(code)}
            if oc:
                labels[dialect.code_class_label] = f"{code // 100}xx"
            out.histogram(fam, labels, table[code])
        if counter is not None:
            for code in sorted(table):
                labels = {**base, dialect.code_label: str(code),
                          dialect.code_class_label: f"{code // 100}xx"}
                out.family(counter)
                out.sample(counter.name, labels, table[code].n)
    if depth is not None:
        out.family(dialect.queue_depth)
        out.sample(dialect.queue_depth.name, depth_base, depth)
    return out.text()


@dataclass(frozen=True)
class RevisionNow:
    """A revision's control-plane state at one instant."""

    spec: RevisionSpec
    desired: float
    ebc: float
    stable: float
    panic: float
    panic_mode: int
    valid: bool
    ready: int
    not_ready: int
    pending: int
    terminating: int
    requested: int
    activator_concurrency: float


def autoscaler(dialect: Dialect, revisions: Iterable[RevisionNow]) -> bytes:
    """The autoscaler :9090 exposition (KPA gauges per revision)."""
    out = Text()
    rows = list(revisions)
    fams = dialect.autoscaler
    for key in ("pods_desired", "pods_requested", "pods_actual", "pods_not_ready",
                "pods_pending", "pods_terminating", "excess_burst_capacity",
                "concurrency_stable", "concurrency_panic", "concurrency_target",
                "panic_mode"):
        fam = fams[key]
        for r in rows:
            value = {
                "pods_desired": r.desired, "pods_requested": r.requested,
                "pods_actual": r.ready, "pods_not_ready": r.not_ready,
                "pods_pending": r.pending, "pods_terminating": r.terminating,
                "excess_burst_capacity": r.ebc, "concurrency_stable": r.stable,
                "concurrency_panic": r.panic, "concurrency_target": r.spec.kpa.target,
                "panic_mode": r.panic_mode,
            }[key]
            if key in ("pods_desired", "excess_burst_capacity", "panic_mode") and not r.valid:
                continue
            if key == "pods_requested" and r.requested < 0:
                continue
            out.family(fam)
            labels = {**revision_labels(dialect, r.spec), **scope_labels(dialect, "autoscaler")}
            out.sample(fam.name, labels, value)
    return out.text()


def activator(dialect: Dialect, revisions: Iterable[RevisionNow], pod_name: str) -> bytes:
    """The activator :9090 exposition (request concurrency per revision)."""
    out = Text()
    fam = dialect.activator_concurrency
    for r in revisions:
        if r.spec.autoscaler_class == "mpa":
            continue  # the MSE gateway holds the queue; no activator in the path
        labels = {**revision_labels(dialect, r.spec), **scope_labels(dialect, "activator")}
        if dialect.code_class_label is not None:
            labels.update({dialect.labels.pod: pod_name, dialect.container_label: "activator"})
        out.family(fam)
        out.sample(fam.name, labels, r.activator_concurrency)
    return out.text()
