"""What-if replays: the twin's KPA, request path and pods under a service's recorded traffic.

Each :class:`Setting` changes some Knative knobs of the deployed revisions (utilisation target,
``containerConcurrency``, min/max scale, scale-to-zero retention, scale-down delay, stable
window, GPU instance spec) with ``dataclasses.replace``; :func:`replay` runs the twin
(``sdobs.sim.engine``) over the same arrivals for each one and :func:`sweep` runs settings in
parallel processes. Every setting sees the same arrival times and request bodies (common random
numbers: the same seed draws them before anything the setting changes), so differences between
rows come from the settings, not from sampling.

Service times come from the recording: each revision's app-latency distribution is cut into
equally likely points and each point becomes a txt2img body whose mean time on the deployed GPU
is that point (512×512, as many steps as it takes). On another GPU the twin's own per-GPU speed
model (``sdobs.sim.servicetime``) times the same bodies.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from sdobs.capacity.cost import (
    PriceTable,
    UnknownSpec,
    always_on_cost,
    billed_seconds_per_pod,
    savings_ratio,
)
from sdobs.errors import InputError
from sdobs.sim.engine import ServiceLog, SimOptions, simulate_service
from sdobs.sim.manifest import RevisionSpec, ServiceSpec, TrafficTarget
from sdobs.sim.pods import cold_start_for
from sdobs.sim.servicetime import GPUS, Txt2Img, mean_seconds
from sdobs.sim.traffic import Recorded, RequestMix, Traffic

AUTOSCALING = "autoscaling.knative.dev/"
#: Price-table GPU names → the twin's GPU models (A10G is timed as an A10).
GPU_KEYS = {"t4": "t4", "p4": "p4", "p100": "p100", "a10": "a10", "a10g": "a10", "l4": "l4",
            "a100": "a100-80gb", "h100": "h100-80gb"}
_KNOBS = ("target_utilization", "container_concurrency", "min_scale", "max_scale",
          "retention_s", "scale_down_delay_s", "window_s", "spec")


def gpu_key(gpu_name: str) -> str:
    """The twin's GPU model for a price-table GPU name ("T4", "A10G", "A100", ...)."""
    key = GPU_KEYS.get(gpu_name.strip().lower())
    if key is None:
        raise InputError(f"GPU {gpu_name!r} is not modelled by the twin; "
                         f"known: {', '.join(sorted(GPU_KEYS))}")
    return key


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s % 3600 == 0 and s:
        return f"{s // 3600}h"
    if s % 60 == 0 and s:
        return f"{s // 60}m"
    return f"{s}s"


@dataclass(frozen=True)
class Setting:
    """Knative settings to try; ``None`` keeps what the revision has."""

    name: str = "as deployed"
    target_utilization: float | None = None  # percent, 1..100
    container_concurrency: int | None = None
    min_scale: int | None = None
    max_scale: int | None = None  # 0: unbounded
    retention_s: float | None = None  # scale-to-zero-pod-retention-period
    scale_down_delay_s: float | None = None
    window_s: float | None = None  # the stable window
    spec: str | None = None  # a GPU instance spec of the price table

    def __post_init__(self) -> None:
        tu = self.target_utilization
        if tu is not None and not 1 <= tu <= 100:
            raise InputError(f"setting {self.name!r}: target utilisation {tu:g} % must be "
                             "between 1 and 100")
        for name in ("container_concurrency", "min_scale", "max_scale"):
            value = getattr(self, name)
            if value is not None and (value < 0 or value != int(value)):
                raise InputError(f"setting {self.name!r}: {name} must be a whole number >= 0")
        if self.window_s is not None and not 6 <= self.window_s <= 3600:
            raise InputError(f"setting {self.name!r}: the stable window must be 6 s to 1 h")
        for name in ("retention_s", "scale_down_delay_s"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InputError(f"setting {self.name!r}: {name} must be >= 0")
        if (self.min_scale and self.max_scale and self.min_scale > self.max_scale):
            raise InputError(f"setting {self.name!r}: min-scale is above max-scale")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Setting:
        """A setting from a YAML/JSON mapping with the field names above."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"unknown setting keys {sorted(unknown)}; use {sorted(known)}")
        return cls(**dict(data))

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _KNOBS if getattr(self, k) is not None}

    def describe(self) -> str:
        """A short human description, e.g. ``TU 85 %, min-scale 1``."""
        parts = []
        for key, value in self.changes().items():
            parts.append({
                "target_utilization": lambda v: f"TU {v:g} %",
                "container_concurrency": lambda v: f"CC {v}",
                "min_scale": lambda v: f"min-scale {v}",
                "max_scale": lambda v: f"max-scale {v}",
                "retention_s": lambda v: f"retention {_duration(v)}",
                "scale_down_delay_s": lambda v: f"scale-down delay {_duration(v)}",
                "window_s": lambda v: f"window {_duration(v)}",
                "spec": lambda v: f"{v}",
            }[key](value))
        return ", ".join(parts) or "as deployed"

    def apply(self, rev: RevisionSpec, prices: PriceTable | None = None) -> RevisionSpec:
        """The revision with this setting's changes (a new RevisionSpec; ``rev`` is kept)."""
        kpa = rev.kpa
        cc = rev.container_concurrency if self.container_concurrency is None else int(
            self.container_concurrency)
        tu = (kpa.target / kpa.total) if self.target_utilization is None else (
            self.target_utilization / 100.0)
        if self.container_concurrency is not None or self.target_utilization is not None:
            total = kpa.total
            by_cc = kpa.metric.value == "concurrency" and (
                rev.container_concurrency == 0 or kpa.total == rev.container_concurrency)
            if by_cc and cc > 0:
                total = float(cc)  # the per-pod total follows containerConcurrency
            elif kpa.metric.value == "concurrency" and cc > 0:
                total = min(total, float(cc))
            target = max(0.01, total * tu)
        else:
            target, total = kpa.target, kpa.total
        window = kpa.stable_window if self.window_s is None else float(self.window_s)
        pwp = kpa.panic_window / kpa.stable_window
        changes: dict[str, Any] = dict(
            container_concurrency=cc, target=target, total=total, stable_window=window,
            panic_window=float(max(1, round(window * pwp))), reachable=True,
        )
        if self.min_scale is not None:
            changes["min_scale"] = int(self.min_scale)
        if self.max_scale is not None:
            changes["max_scale"] = int(self.max_scale)
        if self.retention_s is not None:
            changes["scale_to_zero_pod_retention"] = float(self.retention_s)
        if self.scale_down_delay_s is not None:
            changes["scale_down_delay"] = float(self.scale_down_delay_s)
        out = replace(rev, container_concurrency=cc, kpa=replace(kpa, **changes))
        if self.spec is not None:
            row = (prices or PriceTable())[self.spec]
            gpu = gpu_key(row.gpu)
            platform = "eci" if row.provider == "alibaba" else "nodes"
            out = replace(out, gpu=gpu, instance_spec=row.spec, platform=platform,
                          cold_start=cold_start_for(gpu, platform))
        return out

    def annotations(self, rev: RevisionSpec) -> dict[str, str]:
        """What to write into the revision template for this setting (Knative's spellings)."""
        out: dict[str, str] = {}
        if self.target_utilization is not None:
            out[AUTOSCALING + "target-utilization-percentage"] = f"{self.target_utilization:g}"
        if self.min_scale is not None:
            out[AUTOSCALING + "min-scale"] = str(int(self.min_scale))
        if self.max_scale is not None:
            out[AUTOSCALING + "max-scale"] = str(int(self.max_scale))
        if self.retention_s is not None:
            out[AUTOSCALING + "scale-to-zero-pod-retention-period"] = _duration(self.retention_s)
        if self.scale_down_delay_s is not None:
            out[AUTOSCALING + "scale-down-delay"] = _duration(self.scale_down_delay_s)
        if self.window_s is not None:
            out[AUTOSCALING + "window"] = _duration(self.window_s)
        if self.spec is not None and self.spec.startswith("ecs."):
            out["k8s.aliyun.com/eci-use-specs"] = self.spec
        return out


def price_spec(rev: RevisionSpec, prices: PriceTable, spec: str | None = None) -> str:
    """The price-table spec a revision is billed at: given, its own, or its GPU's cheapest."""
    if spec is not None:
        prices[spec]
        return spec
    if rev.instance_spec in prices:
        return rev.instance_spec
    same = [p for p in prices if GPU_KEYS.get(p.gpu.lower()) == rev.gpu]
    if not same:
        raise UnknownSpec(rev.instance_spec, [p.spec for p in prices])
    return min(same, key=lambda p: p.hourly_usd_per_gpu).spec


def pod_hourly_usd(rev: RevisionSpec, prices: PriceTable, spec: str) -> float:
    """What one pod of ``rev`` costs per hour: its GPUs' share of the instance price."""
    row = prices[spec]
    return row.hourly_usd_per_gpu * max(1, rev.gpu_count) if row.gpus > 1 else row.hourly_usd


# -- replay inputs ---------------------------------------------------------------------------------
def mix_for(service_times: Sequence[float], gpu: str, share_4xx: float = 0.0) -> RequestMix:
    """Equally likely txt2img bodies whose mean time on ``gpu`` are ``service_times``."""
    perf = GPUS[gpu]
    fixed = mean_seconds(perf, Txt2Img(steps=0))
    per_step = mean_seconds(perf, Txt2Img(steps=1)) - fixed
    weights: dict[int, float] = {}
    for t in service_times:
        steps = max(1, round((float(t) - fixed) / per_step))
        weights[steps] = weights.get(steps, 0.0) + 1.0
    profiles = tuple((w, Txt2Img(steps=k)) for k, w in sorted(weights.items()))
    return RequestMix(profiles or ((1.0, Txt2Img(steps=20)),),
                      unknown_sampler=min(max(share_4xx, 0.0), 1.0))


@dataclass(frozen=True)
class RevisionReplay:
    """One revision's recorded traffic and how it was deployed."""

    spec: RevisionSpec
    arrivals: tuple[float, ...]  # seconds from the replay's start
    mix: RequestMix
    initial_pods: int = 0


@dataclass(frozen=True)
class ReplayInput:
    """Everything a replay needs, picklable for worker processes."""

    namespace: str
    service: str
    revisions: tuple[RevisionReplay, ...]
    duration: float
    start_epoch: float = 0.0
    step: float = 60.0  # resolution of the pod-count series in results
    seed: int = 1
    base_spec: str | None = None  # price-table spec of the deployed revisions

    def traffic(self, i: int) -> Traffic:
        rr = self.revisions[i]
        return Traffic(sources=(Recorded(rr.arrivals),), mix=rr.mix)


def _cold_start_arrivals(counts: np.ndarray, desired: np.ndarray, ready: np.ndarray,
                         target: float) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    """Requests that queued through a cold start, moved back into it.

    At zero scale the first request pokes the autoscaler (desired pods rise from zero) and
    waits with later ones until a pod is ready; all of them complete together afterwards, so
    their completion counts would replay as one burst. The queue is read from the desired
    pods during the cold start (desired ≈ queued / per-pod target); that many completions of
    the ready step and the next are moved into the cold start. Returns the remaining counts
    and, per cold start, (poke step, ready step, requests moved).
    """
    counts = counts.astype(float).copy()
    early: list[tuple[int, int, float]] = []
    k, n = 1, len(counts)
    while k < n:
        if desired[k] > 0 and desired[k - 1] == 0 and ready[k - 1] == 0:
            j = k
            while j < n and ready[j] == 0 and desired[j] > 0:
                j += 1
            if j < n and ready[j] > 0:
                queued = max(1.0, round(float(desired[k:j].max(initial=1.0)) * target))
                moved = 0.0
                for i in (j, j + 1):
                    if i < n and moved < queued:
                        take = min(counts[i], queued - moved)
                        counts[i] -= take
                        moved += take
                if moved > 0:
                    early.append((k, j, moved))
            k = j + 1
        else:
            k += 1
    return counts, early


def arrivals_from_counts(starts: np.ndarray, counts: np.ndarray, step: float, duration: float,
                         rng: np.random.Generator, *, poisson: bool = False) -> np.ndarray:
    """Arrival times for requests counted per step: each step's count placed uniformly at
    random within it (what a Poisson process looks like given its count), or with ``poisson``
    a Poisson number at the step's rate. Fractional counts round at random."""
    starts = np.asarray(starts, dtype=float)
    counts = np.maximum(np.asarray(counts, dtype=float), 0.0)
    if poisson:
        n = rng.poisson(counts)
    else:
        whole = np.floor(counts)
        n = (whole + (rng.random(len(counts)) < counts - whole)).astype(np.int64)
    piece = np.repeat(np.arange(len(starts)), n)
    t = starts[piece] + rng.random(len(piece)) * step
    t = t[(t >= 0) & (t < duration)]
    return np.sort(t)


def _revision_for(name: str, specs: Sequence[RevisionSpec]) -> RevisionSpec:
    for spec in specs:
        if spec.name == name:
            return spec
    # Not in the manifest (an older revision): replay it with the latest template.
    return replace(specs[-1], name=name)


def replay_input(history: Any, specs: ServiceSpec | Sequence[RevisionSpec], *, seed: int = 1,
                 points: int = 20, base_spec: str | None = None,
                 poisson: bool = False, cold_starts: bool = True) -> ReplayInput:
    """Replay input from a :class:`~sdobs.capacity.history.ServiceHistory` and the manifest.

    Arrivals: each step's recorded request count placed uniformly at random within the step
    (``poisson``: a Poisson number at the recorded rate), seeded. Counts are by completion
    time at the scrape before each step's end, so steps are moved back by half a scrape
    interval plus the revision's mean service time. Revisions with no recorded requests are
    left out; service times are each revision's own distribution (the busiest revision's when
    it had no successful request).
    """
    revs = list(specs.revisions if isinstance(specs, ServiceSpec) else specs)
    if not revs:
        raise InputError("replay needs at least one revision spec from the manifest")
    busiest = max(history.service_times.values(), key=lambda s: s.requests, default=None)
    actual = history.pods_wide("actual")
    rng = np.random.default_rng(seed)
    out = []
    for name in history.revisions:
        if history.requests(revision=name) <= 0:
            continue
        spec = _revision_for(name, revs)
        starts, rates = history.replay_rates(name)
        st = history.service_times.get(name, busiest)
        profile = st.profile(points) if st is not None else [mean_seconds(GPUS[spec.gpu],
                                                                          Txt2Img(steps=20))]
        lag = history.scrape_interval / 2 + float(np.mean(profile))
        counts = rates * history.step
        desired = history.pods_wide("desired")[name].to_numpy(dtype=float)
        ready = actual[name].to_numpy(dtype=float)
        early: list[tuple[int, int, float]] = []
        if cold_starts:
            counts, early = _cold_start_arrivals(counts, desired, ready, spec.kpa.target)
        times = arrivals_from_counts(starts - lag, counts, history.step, history.duration, rng,
                                     poisson=poisson)
        spread = []
        for a, b, n in early:  # the poking request in the poke step, the rest until ready
            t_poke = starts[a] - history.scrape_interval / 2
            spread.append(arrivals_from_counts(np.array([t_poke]), np.array([1.0]),
                                               history.step, history.duration, rng))
            if n > 1:
                spread.append(arrivals_from_counts(
                    np.array([t_poke]), np.array([n - 1]), max(starts[b] - starts[a], 1.0),
                    history.duration, rng))
        times = np.sort(np.concatenate([times, *spread]))
        mix = mix_for(profile, spec.gpu, history.class_share("4xx", name))
        first = round(float(actual[name].iloc[0])) if name in actual and len(actual) else 0
        out.append(RevisionReplay(spec, tuple(times.tolist()), mix, first))
    if not out:
        raise InputError(f"{history.namespace}/{history.service} had no requests in the range; "
                         "nothing to replay")
    return ReplayInput(history.namespace, history.service, tuple(out), history.duration,
                       history.start, history.step, seed, base_spec)


# -- metrics ---------------------------------------------------------------------------------------
@dataclass
class ReplayResult:
    """One setting's outcome: a table row and its pod counts over time."""

    setting: Setting
    row: dict[str, Any]
    ready: np.ndarray  # ready pods at the end of each step (all revisions)
    allocated: np.ndarray  # pods that exist (ready, starting or draining)
    latencies: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))


def _step_series(t: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A logged step function (changes at ``t``) sampled at ``grid``."""
    if not len(t):
        return np.zeros(len(grid))
    j = np.searchsorted(t, grid, side="right") - 1
    return np.where(j >= 0, v[np.maximum(j, 0)], 0.0)


def _log_metrics(log: ServiceLog, grid: np.ndarray) -> dict[str, Any]:
    """Raw sums of one revision's replay (combined across revisions by :func:`replay`)."""
    lo, hi = log.start, log.end
    r = {k: v[(log.requests["t"] >= lo) & (log.requests["t"] < hi)]
         for k, v in log.requests.items()}
    code = r["code"]
    done = code > 0
    client_err = (code >= 400) & (code < 500)
    answered = done & ~client_err
    latency = (r["t_end"] - r["t"])[answered]
    rev = log.revisions[0]
    counts = rev.counts
    order = np.argsort(counts["t"], kind="stable")
    ct, ready_v = counts["t"][order], counts["ready"][order]
    alloc_v = ready_v + counts["not_ready"][order]
    ready_at_arrival = _step_series(ct, ready_v, r["t"])
    pod_ready = np.full(len(code), np.inf)
    served = r["pod"] >= 0
    ids = log.pods["id"]
    index = np.searchsorted(ids, r["pod"][served])
    pod_ready[served] = log.pods["ready"][index]
    cold = (served & (pod_ready > r["t"])) | (~served & (ready_at_arrival == 0))
    cold &= ~client_err
    p = log.pods

    def clip(x: np.ndarray) -> np.ndarray:
        return np.clip(x, lo, hi)

    created = clip(p["created"])
    ready = clip(np.maximum(np.minimum(p["ready"], p["deleted"]), p["created"]))
    deleted = clip(np.maximum(p["deleted"], ready))
    gone = clip(np.maximum(p["gone"], deleted))
    billed = billed_seconds_per_pod(deleted - ready, cold_start_s=ready - created,
                                    drain_s=gone - deleted)
    gs = r["gpu_start"]
    busy = np.clip(r["gpu_end"], lo, hi) - np.clip(gs, lo, hi)
    return {
        "requests": len(code),
        "answered": int(answered.sum()),
        "ok": int(((code >= 200) & (code < 300)).sum()),
        "client_errors": int(client_err.sum()),
        "server_errors": int((code >= 500).sum()),
        "timeouts": int((code == 504).sum()),
        "unfinished": int((~done).sum()),
        "cold": int(cold.sum()),
        "latency": latency,
        "pod_seconds": float(np.sum(billed)),
        "ready_seconds": float(np.sum(deleted - ready)),
        "cold_start_seconds": float(np.sum(ready - created)),
        "gpu_busy_seconds": float(np.sum(busy[gs >= 0])),
        "gpus_per_pod": max(1, log.revisions[0].spec.gpu_count),
        "ready": _step_series(ct, ready_v, grid),
        "allocated": _step_series(ct, alloc_v, grid),
        "peak_ready": float(ready_v.max()) if len(ready_v) else 0.0,
        "pods_started": int(np.sum(p["created"] > lo)),
    }


def _initial_pods(rr: RevisionReplay, spec: RevisionSpec) -> int:
    """Pods ready at the start: min-scale. The recorded count is not used: the twin's warm
    pods above min-scale keep receiving requests after scale-down (engine ``_setup`` never
    marks them visible, so deletion does not remove them from the endpoints)."""
    del rr
    return spec.kpa.min_scale if spec.kpa.reachable else 0


def replay(inp: ReplayInput, setting: Setting = Setting(), prices: PriceTable | None = None,
           *, slo_seconds: float = math.inf) -> ReplayResult:
    """Run the twin over the recorded traffic under ``setting``; one row of the what-if table."""
    prices = prices or PriceTable()
    grid = np.arange(1, round(inp.duration / inp.step) + 1) * inp.step
    parts = []
    hourly = []
    for i, rr in enumerate(inp.revisions):
        spec = setting.apply(rr.spec, prices)
        svc = ServiceSpec(inp.service, inp.namespace, (spec,), (TrafficTarget(spec.name, 100.0),))
        options = SimOptions(duration=inp.duration, warmup=0.0, seed=inp.seed + 7919 * i,
                             start_epoch=inp.start_epoch,
                             initial_pods={spec.name: _initial_pods(rr, spec)})
        log = simulate_service(svc, inp.traffic(i), options)
        parts.append(_log_metrics(log, grid))
        spec_name = setting.spec or price_spec(rr.spec, prices, inp.base_spec)
        hourly.append(pod_hourly_usd(spec, prices, spec_name))
    total = {k: sum(p[k] for p in parts) for k in ("requests", "answered", "ok", "client_errors",
             "server_errors", "timeouts", "unfinished", "cold", "pod_seconds", "ready_seconds",
             "cold_start_seconds", "gpu_busy_seconds", "peak_ready", "pods_started")}
    latency = np.concatenate([p["latency"] for p in parts])
    ready = np.sum([p["ready"] for p in parts], axis=0)
    allocated = np.sum([p["allocated"] for p in parts], axis=0)
    cost = sum(p["pod_seconds"] / 3600 * h for p, h in zip(parts, hourly, strict=True))
    gpu_alloc = sum(p["pod_seconds"] * p["gpus_per_pod"] for p in parts)
    peak = float(ready.max()) if len(ready) else 0.0
    price = max(hourly) if hourly else 0.0
    always = always_on_cost(max(peak, 1.0), inp.duration, price)
    answered = max(total["answered"], 1)
    p50, p90, p99 = (np.quantile(latency, [0.5, 0.9, 0.99]) if len(latency)
                     else (math.nan, math.nan, math.nan))
    row = {
        "setting": setting.name,
        "changes": setting.describe(),
        "gpu": ", ".join(sorted({setting.apply(rr.spec, prices).gpu for rr in inp.revisions})),
        "requests": total["requests"],
        "p50_s": float(p50),
        "p90_s": float(p90),
        "p99_s": float(p99),
        "meets_slo": bool(p99 <= slo_seconds) if len(latency) else False,
        "cold_share": total["cold"] / answered,
        "timeouts_504": total["timeouts"],
        "share_504": total["timeouts"] / answered,
        "errors_5xx": total["server_errors"],
        "errors_4xx": total["client_errors"],
        "pods_started": total["pods_started"],
        "peak_pods": peak,
        "mean_pods": float(np.mean(allocated)) if len(allocated) else 0.0,
        "pod_hours": total["pod_seconds"] / 3600,
        "ready_pod_hours": total["ready_seconds"] / 3600,
        "cold_start_pod_hours": total["cold_start_seconds"] / 3600,
        "gpu_hours_allocated": gpu_alloc / 3600,
        "gpu_hours_busy": total["gpu_busy_seconds"] / 3600,
        "gpu_busy_share": total["gpu_busy_seconds"] / gpu_alloc if gpu_alloc else 0.0,
        "cost_usd": cost,
        "always_on_usd": always,
        "savings_vs_always_on": savings_ratio(always, cost),
    }
    return ReplayResult(setting, row, ready, allocated, latency)


def _replay_job(args: tuple[ReplayInput, Setting, PriceTable | None, float]) -> ReplayResult:
    inp, setting, prices, slo = args
    return replay(inp, setting, prices, slo_seconds=slo)


def sweep(inp: ReplayInput, settings: Iterable[Setting], prices: PriceTable | None = None, *,
          slo_seconds: float = math.inf, jobs: int = 2) -> list[ReplayResult]:
    """Replay every setting, ``jobs`` at a time in worker processes; results in the given order."""
    settings = list(settings)
    names = [s.name for s in settings]
    if len(set(names)) != len(names):
        raise InputError("setting names must be unique: "
                         + ", ".join(sorted({n for n in names if names.count(n) > 1})))
    work = [(inp, s, prices, slo_seconds) for s in settings]
    jobs = max(1, min(jobs, len(work), os.cpu_count() or 1))
    if jobs == 1:
        return [_replay_job(w) for w in work]
    ctx = multiprocessing.get_context("fork") if sys.platform != "win32" else None
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        return list(pool.map(_replay_job, work))

