"""The Knative Pod Autoscaler as Knative implements it, driven by whatever clock the caller has.

Nothing here reads a clock: every method takes ``now`` in seconds (virtual time for history and
what-if replays, ``time.monotonic()`` for the live twin), so both drivers share one copy of the
algorithm. The pieces mirror knative/serving (docs/kpa.md):

- :class:`LinearBuckets` / :class:`WeightedBuckets` — ``pkg/autoscaler/aggregation/bucketing.go``
- :class:`MaxTimeWindow` — ``aggregation/max/timewindow.go`` (scale-down delay)
- :class:`MetricCollector` — ``pkg/autoscaler/metrics/collector.go`` (stable and panic windows)
- :class:`Decider` — ``pkg/autoscaler/scaling/autoscaler.go`` ``Scale()``
- :class:`PodAutoscaler` — ``pkg/reconciler/autoscaling/kpa/{kpa.go,scaler.go}`` (bounds,
  initial scale, scale to zero, serverless-service mode)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

#: Decider tick, metric bucket and scrape periods (hard-coded in Knative).
TICK_INTERVAL = 2.0
BUCKET_SIZE = 1.0
SCRAPE_INTERVAL = 1.0
#: Knative's MinActivators: a revision never gets fewer activators in its subset.
MIN_ACTIVATORS = 2
#: scaler.go: the PA scales a revision that never activates to zero after this buffer.
ACTIVATION_TIMEOUT_BUFFER = 30.0
#: Value of "no scale decision yet" (scaleUnknown).
SCALE_UNKNOWN = -1

_NEVER = -1e18
_floor = math.floor


def round6(value: float) -> float:
    """``roundToNDigits(6, f)`` of bucketing.go: ``math.Round(f*1e6) / 1e6``, half away from
    zero (not floor, not Python's half to even). ``x - trunc(x)`` is exact in binary floating
    point, so the half test is exact. A -0.0 (float drift below zero) comes back as 0.0."""
    return _round_scaled(value * 1e6)


def _round_scaled(x: float) -> float:
    """``math.Round(x) / 1e6`` for ``x`` = f * 1e6."""
    if x >= 0.0:
        r = math.floor(x)
        return (r + 1 if x - r >= 0.5 else r) / 1e6
    r = math.ceil(x)
    return (r - 1 if r - x >= 0.5 else r) / 1e6 + 0.0


class Metric(StrEnum):
    CONCURRENCY = "concurrency"
    RPS = "rps"


@dataclass(frozen=True)
class AutoscalerConfig:
    """Cluster-wide defaults: the ``config-autoscaler`` ConfigMap and friends, as defaulted.

    Values are in base units (seconds, ratios); ConfigMap strings are parsed by ``manifest``.
    """

    container_concurrency_target_percentage: float = 0.7  # ratio
    container_concurrency_target_default: float = 100.0
    requests_per_second_target_default: float = 200.0
    target_burst_capacity: float = 211.0
    stable_window: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold_percentage: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    enable_scale_to_zero: bool = True
    scale_to_zero_grace_period: float = 30.0
    scale_to_zero_pod_retention_period: float = 0.0
    scale_down_delay: float = 0.0
    initial_scale: int = 1
    allow_zero_initial_scale: bool = False
    min_scale: int = 0
    max_scale: int = 0
    max_scale_limit: int = 0
    activator_capacity: float = 100.0
    #: autoscalerconfig ``TargetUtilization``: the RPS metric's utilisation, fixed at 0.7 in
    #: config.go (no ConfigMap key; ``container-concurrency-target-percentage`` is concurrency's)
    rps_target_utilization: float = 0.7
    #: config-deployment progress-deadline
    progress_deadline: float = 600.0
    #: config-defaults revision-timeout-seconds / max-revision-timeout-seconds
    revision_timeout_seconds: float = 300.0
    max_revision_timeout_seconds: float = 600.0


@dataclass(frozen=True)
class KpaSpec:
    """Everything the KPA needs about one revision, resolved from annotations and defaults."""

    container_concurrency: int = 0
    target: float = 70.0  # per-pod target (total × utilisation), ≥ 0.01
    total: float = 100.0  # per-pod total capacity (target-burst-capacity and activators use it)
    metric: Metric = Metric.CONCURRENCY
    target_burst_capacity: float = 211.0
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_threshold: float = 2.0  # ratio (200 % → 2.0)
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_down_delay: float = 0.0
    activation_scale: int = 1
    min_scale: int = 0
    max_scale: int = 0  # 0 = unbounded
    initial_scale: int = 1
    enable_scale_to_zero: bool = True
    scale_to_zero_grace_period: float = 30.0
    scale_to_zero_pod_retention: float = 0.0
    progress_deadline: float = 600.0
    activator_capacity: float = 100.0
    weighted: bool = False  # metric-aggregation-algorithm: weighted-exponential
    reachable: bool = True  # routed to by some traffic target

    def with_reachable(self, reachable: bool) -> KpaSpec:
        return replace(self, reachable=reachable)

    @property
    def scrapes_pods(self) -> bool:
        """Whether the autoscaler scrapes queue-proxies (no scrape target when TBC is −1)."""
        return self.target_burst_capacity != -1


def resolve_target(
    container_concurrency: int,
    utilization: float,
    target_annotation: float | None,
    metric: Metric,
    cfg: AutoscalerConfig,
) -> tuple[float, float]:
    """``ResolveMetricTarget`` (resources/target.go): per-pod (target, total)."""
    if target_annotation is not None:
        total = target_annotation
        if metric is Metric.CONCURRENCY and container_concurrency > 0:
            total = min(total, float(container_concurrency))
    elif metric is Metric.RPS:
        total = cfg.requests_per_second_target_default
    elif container_concurrency > 0:
        total = float(container_concurrency)
    else:
        total = cfg.container_concurrency_target_default
    return max(0.01, total * utilization), total


# -- window averaging ------------------------------------------------------------------------------
class LinearBuckets:
    """``TimedFloat64Buckets``: one-second ring buffer, linear window average."""

    __slots__ = ("buckets", "first_write", "granularity", "last_write", "n", "step", "total",
                 "window")

    def __init__(self, window: float, granularity: float = BUCKET_SIZE) -> None:
        self.granularity = granularity
        self.window = window
        # The last write's bucket time that makes a write the next bucket's: last + g, when a
        # gap of one bucket is shorter than the window (else it empties the window).
        self.step = granularity if granularity < window else math.nan
        self.n = max(1, math.ceil(window / granularity))
        self.buckets = [0.0] * self.n
        self.first_write = _NEVER
        self.last_write = _NEVER
        self.total = 0.0

    def _index(self, t: float) -> int:
        return int(t // self.granularity)

    def record(self, now: float, value: float) -> None:
        g = self.granularity
        q = now // g
        bucket_time = q * g
        write_idx = int(q)
        last = self.last_write
        if last == bucket_time:  # the same bucket again
            self.buckets[write_idx % self.n] += value
            self.total += value
            return
        if last == bucket_time - self.step:
            # The next bucket (every second while stats flow): the general path's arithmetic.
            buckets = self.buckets
            idx = write_idx % self.n
            self.total -= buckets[idx]
            buckets[idx] = 0.0 + value
            self.total += value
            self.last_write = bucket_time
            return
        if bucket_time + self.window > last:
            if self.first_write == _NEVER or self.first_write > bucket_time:
                self.first_write = bucket_time
            if bucket_time > last:
                if bucket_time - last >= self.window:
                    self.first_write = bucket_time
                    self.buckets = [0.0] * self.n
                    self.total = 0.0
                else:
                    buckets, n = self.buckets, self.n
                    for i in range(self._index(last) + 1, write_idx + 1):
                        idx = i % n
                        self.total -= buckets[idx]
                        buckets[idx] = 0.0
                self.last_write = bucket_time
        else:
            return  # older than a window: ignored
        self.buckets[write_idx % self.n] += value
        self.total += value

    def is_empty(self, now: float) -> bool:
        g = self.granularity
        return (now // g) * g - self.last_write > self.window

    def average(self, now: float) -> float:
        """The window's mean, rounded to six decimals (bucketing.go ``roundToNDigits(6, f)``)."""
        g = self.granularity
        now = (now // g) * g
        last = self.last_write
        d = now - last
        n = self.n
        valid = (last - self.first_write) // g + 1
        if d <= 0:
            x = self.total / (valid if valid <= n else n) * 1e6
            if x >= 0.0:  # round6, inlined (once per window per decider tick)
                r = _floor(x)
                return (r + 1 if x - r >= 0.5 else r) / 1e6
            return _round_scaled(x)
        if d < self.window:
            st, e = int(last // g), int(now // g)
            ret = self.total
            buckets = self.buckets
            if e == st + 1:  # a tick a second after the last stat
                ret -= buckets[e % n]
            else:
                for i in range(st + 1, e + 1):
                    ret -= buckets[i % n]
            left = n - (e - st)
            x = ret / (valid if valid <= left else left) * 1e6
            if x >= 0.0:
                r = _floor(x)
                return (r + 1 if x - r >= 0.5 else r) / 1e6
            return _round_scaled(x)
        return 0.0


class WeightedBuckets(LinearBuckets):
    """``WeightedFloat64Buckets``: the ``weighted-exponential`` aggregation algorithm."""

    __slots__ = ("alpha",)

    def __init__(self, window: float, granularity: float = BUCKET_SIZE) -> None:
        super().__init__(window, granularity)
        self.alpha = max(1 - (1 - 0.9999) ** (1 / self.n), 0.2)

    def average(self, now: float) -> float:
        g = self.granularity
        now = (now // g) * g
        if self.is_empty(now):
            return 0.0
        num_b, mult = self.n, self.alpha
        if now > self.last_write:
            num_z = int((now - self.last_write) // g)
            mult *= (1 - self.alpha) ** num_z
            num_b -= num_z
        start = self._index(self.last_write) + self.n
        ret = 0.0
        for i in range(num_b):
            ret += self.buckets[(start - i) % self.n] * mult
            mult *= 1 - self.alpha
        return ret


class MaxTimeWindow:
    """``max.TimeWindow``: the largest value recorded over the last ``size`` seconds."""

    __slots__ = ("granularity", "n", "values")

    def __init__(self, size: float, granularity: float = TICK_INTERVAL) -> None:
        self.granularity = granularity
        self.n = max(1, math.ceil(size / granularity))
        self.values: deque[tuple[int, int]] = deque()  # (bucket index, max), increasing index

    def record(self, now: float, value: int) -> None:
        idx = int(now // self.granularity)
        vals = self.values
        while vals and vals[0][0] <= idx - self.n:
            vals.popleft()
        if vals and vals[-1][0] == idx:
            vals[-1] = (idx, max(vals[-1][1], value))
        else:
            vals.append((idx, value))

    def current(self) -> int:
        return max(v for _, v in self.values) if self.values else 0


# -- metric collection -----------------------------------------------------------------------------
class MetricCollector:
    """Stable and panic windows of one revision's observed concurrency (and requests per second).

    Stats from activators and from the queue-proxy scraper recorded in the same second add up,
    as in ``collection.record``; proxied requests are subtracted by the caller's arithmetic.
    """

    __slots__ = ("by_rps", "panic", "panic_rps", "scrape_target", "stable", "stable_rps")

    def __init__(self, spec: KpaSpec) -> None:
        make = WeightedBuckets if spec.weighted else LinearBuckets
        self.stable = make(spec.stable_window)
        self.panic = make(spec.panic_window)
        self.stable_rps = make(spec.stable_window)
        self.panic_rps = make(spec.panic_window)
        self.scrape_target = spec.scrapes_pods
        # The decider reads one metric's windows; the other's are only kept when it is RPS
        # (concurrency's stable window still says whether there is data).
        self.by_rps = spec.metric is Metric.RPS

    def record(self, now: float, concurrency: float, rps: float = 0.0) -> None:
        self.stable.record(now, concurrency)
        self.panic.record(now, concurrency)
        if self.by_rps:
            self.stable_rps.record(now, rps)
            self.panic_rps.record(now, rps)

    def stable_and_panic(self, now: float) -> tuple[float, float] | None:
        """The decider's metric's window averages, or None for ``ErrNoData`` (empty and a
        scrape target exists)."""
        stable, panic = (self.stable_rps, self.panic_rps) if self.by_rps else (
            self.stable, self.panic)
        if self.scrape_target and stable.is_empty(now):
            return None
        return stable.average(now), panic.average(now)

    def has_data(self, now: float) -> bool:
        return not self.stable.is_empty(now)


# -- decider ---------------------------------------------------------------------------------------
class ScaleResult(NamedTuple):
    """One decider tick: what the autoscaler wants and what it reports as metrics."""

    desired: int
    excess_burst_capacity: int
    num_activators: int
    stable: float
    panic: float
    panic_mode: bool


class Decider:
    """``autoscaler.Scale()`` for one revision: panic mode, rate limits, scale-down delay, EBC."""

    __slots__ = ("delay_window", "max_panic_pods", "panic_time", "spec")

    def __init__(self, spec: KpaSpec, ready: int = 0, now: float | None = None) -> None:
        self.spec = spec
        self.delay_window = MaxTimeWindow(spec.scale_down_delay) if spec.scale_down_delay > 0 else (
            None)
        # A new autoscaler starts in panic when more than one pod is ready (autoscaler.go).
        self.panic_time: float | None = now if (ready > 1 and now is not None) else None
        self.max_panic_pods = ready

    @property
    def in_panic(self) -> bool:
        return self.panic_time is not None

    def scale(self, now: float, ready: int, observed: tuple[float, float]) -> ScaleResult:
        spec = self.spec
        stable, panic = observed
        ready_f = float(ready) if ready > 1 else 1.0
        max_up = math.ceil(spec.max_scale_up_rate * ready_f)
        max_down = math.floor(ready_f / spec.max_scale_down_rate) if spec.reachable else 0
        target = spec.target
        dspc = math.ceil(stable / target)
        dppc = math.ceil(panic / target)
        # min(max(x, max_down), max_up), spelled out (this runs every 2 s per revision).
        dsp = dspc if dspc > max_down else max_down
        dsp = dsp if dsp < max_up else max_up
        dpp = dppc if dppc > max_down else max_down
        dpp = dpp if dpp < max_up else max_up
        if spec.activation_scale > 1:
            if dspc > 0:
                dsp = max(dsp, spec.activation_scale)
            if dppc > 0:
                dpp = max(dpp, spec.activation_scale)
        over = dppc / ready_f >= spec.panic_threshold
        if over:
            self.panic_time = now
        elif self.panic_time is not None and self.panic_time + spec.stable_window < now:
            self.panic_time = None
            self.max_panic_pods = 0
        desired = dsp
        if self.panic_time is not None:
            if dpp > desired:
                desired = dpp
            if desired > self.max_panic_pods:
                self.max_panic_pods = desired
            desired = self.max_panic_pods
        if spec.reachable and self.delay_window is not None:
            self.delay_window.record(now, desired)
            desired = self.delay_window.current()
        tbc = spec.target_burst_capacity
        num_act = MIN_ACTIVATORS
        if tbc == 0:
            ebc = 0.0
        elif tbc > 0:
            cap = ready * spec.total
            ebc = math.floor(cap - tbc - panic)
            num_act = math.ceil((cap + tbc) / spec.activator_capacity)
        else:
            ebc = -1.0
            num_act = math.ceil(ready * spec.total / spec.activator_capacity)
        if num_act < MIN_ACTIVATORS:
            num_act = MIN_ACTIVATORS
        return ScaleResult(desired, int(ebc), num_act, stable, panic, self.panic_time is not None)


# -- PodAutoscaler reconciler ----------------------------------------------------------------------
class Active(StrEnum):
    ACTIVE = "Active"
    ACTIVATING = "Activating"
    INACTIVE = "Inactive"


class SksMode(StrEnum):
    SERVE = "Serve"
    PROXY = "Proxy"


# Members as module constants for the per-decision code: in Python 3.11 reading an Enum member
# off its class costs more than the comparison it is read for.
_ACTIVE, _ACTIVATING, _INACTIVE = Active.ACTIVE, Active.ACTIVATING, Active.INACTIVE
_PROXY, _SERVE = SksMode.PROXY, SksMode.SERVE


class PodCounts(NamedTuple):
    ready: int = 0
    not_ready: int = 0
    pending: int = 0
    terminating: int = 0


class Reconciled(NamedTuple):
    """What one PA reconcile decided."""

    want: int  # -1: no decision (nothing applied)
    apply: bool  # patch the deployment's replicas to ``want``
    mode: SksMode
    requeue_at: float | None  # reconcile again at this time


class PodAutoscaler:
    """The KPA reconciler for one revision: bounds, initial scale, scale to zero, SKS mode.

    ``activator_programmed_delay`` models how long after switching the serverless service to
    Proxy the activator probe first succeeds (network programming); it gates scale to zero when
    the activator was not already in the path.
    """

    __slots__ = ("activator_programmed_delay", "initialized", "mode", "proxy_since", "spec",
                 "state", "state_since")

    def __init__(self, spec: KpaSpec, now: float, *, ready: int = 0, ebc: int = -1,
                 activator_programmed_delay: float = 1.0) -> None:
        self.spec = spec
        self.activator_programmed_delay = activator_programmed_delay
        self.initialized = ready >= max(1, spec.min_scale, spec.initial_scale)
        self.state = _ACTIVE if ready > 0 else _INACTIVE
        self.state_since = now - 1e6  # as if long settled
        self.mode = _PROXY if ready == 0 or ebc < 0 else _SERVE
        self.proxy_since = now - 1e6

    def _bounds(self) -> tuple[int, int]:
        spec = self.spec
        mn = spec.min_scale if spec.reachable else 0
        return mn, spec.max_scale

    def _active_threshold(self) -> int:
        mn, _ = self._bounds()
        if not self.initialized:
            return max(mn, self.spec.initial_scale)
        return max(mn, 1)

    def _mark(self, state: Active, now: float) -> None:
        if self.state is not state:
            self.state, self.state_since = state, now

    def _scale_to_zero(self, now: float, desired: int) -> tuple[int, bool, float | None]:
        spec = self.spec
        if desired != 0:
            return desired, True, None
        if not spec.enable_scale_to_zero:
            return 1, True, None
        if self.state is _ACTIVATING:
            # handleScaleToZero: CanFailActivation is inStatusFor(Unknown) > activationTimeout
            # (strictly), else enqueueCB(pa, activationTimeout) from now. A real reconcile runs
            # at least a moment after the transition it follows, so a requeue from the very
            # instant of the transition lands a microsecond past the timeout.
            timeout = spec.progress_deadline + ACTIVATION_TIMEOUT_BUFFER
            if now - self.state_since > timeout:
                return 0, True, None
            return SCALE_UNKNOWN, False, now + timeout + (1e-6 if now <= self.state_since
                                                          else 0.0)
        # Durations are compared as deadlines (now >= since + d): the requeue times returned
        # are exactly those deadlines, so a reconcile at one never finds itself short of it.
        if self.state is _ACTIVE:
            if now >= self.state_since + spec.stable_window:
                # Re-enqueued after 3 s in Proxy mode, else by the serverless service's update.
                again = 3.0 if self.mode is _PROXY else self.activator_programmed_delay
                return 0, False, now + again
            return 1, True, self.state_since + spec.stable_window
        # Inactive: the activator must be in the path (probe) for the grace period.
        in_path = spec.target_burst_capacity == -1 or (
            self.mode is _PROXY
            and now >= self.proxy_since + self.activator_programmed_delay)
        if not in_path:
            return 0, False, now + 1.0  # async probe, re-enqueued
        retention = spec.scale_to_zero_pod_retention if spec.reachable else 0.0
        grace = spec.scale_to_zero_grace_period
        if now >= self.state_since + max(grace, retention):
            return 0, True, None
        if retention > 0 and now < self.state_since + retention:
            return 0, False, self.state_since + retention
        proxy_since = self.proxy_since if self.mode is _PROXY else now
        if now >= proxy_since + grace:
            return 0, True, None
        return 0, False, proxy_since + grace

    def reconcile(self, now: float, desired: int, ebc: int, counts: PodCounts) -> Reconciled:
        """One ``ReconcileKind``: the replicas to apply and the serverless-service mode."""
        spec = self.spec
        requeue: float | None = None
        apply = False
        if desired < 0 and self.state is not _ACTIVATING:
            want = desired
        else:
            mn, mx = self._bounds()
            # scaler.go scale(): initial scale is ignored for an unreachable revision too.
            if spec.initial_scale > 1 and not self.initialized and spec.reachable:
                mn = max(spec.initial_scale, mn)
            want = desired
            if want < mn:
                want = mn
            if mx and want > mx:
                want = mx
            want, apply, requeue = self._scale_to_zero(now, want)
        if want == 0 or ebc < 0 or (want == SCALE_UNKNOWN and self.state is _INACTIVE):
            mode = _PROXY
        else:
            mode = _SERVE
        if mode is not self.mode:
            self.mode = mode
            if mode is _PROXY:
                self.proxy_since = now
        self._compute_active(now, want, counts.ready)
        return Reconciled(want, apply and want >= 0, mode, requeue)

    def _compute_active(self, now: float, want: int, ready: int) -> None:
        min_ready = self._active_threshold()
        if ready >= min_ready:
            self.initialized = True
        if want == 0 or min_ready == 0:
            self._mark(_INACTIVE, now)
        elif ready < min_ready:
            if want > 0 or self.state is not _INACTIVE:
                self._mark(_ACTIVATING, now)
            else:
                self._mark(_INACTIVE, now)
        elif want > 0 or self.state is not _INACTIVE:
            self._mark(_ACTIVE, now)


# -- one revision's autoscaler -------------------------------------------------------------------
class RevisionAutoscaler:
    """Collector, decider and PA reconciler of one revision, with the multiscaler's bookkeeping.

    Callers feed stats (:meth:`record`), call :meth:`tick` every :data:`TICK_INTERVAL` and when
    :meth:`wants_poke` says so, and call :meth:`reconcile` after a tick that changed something,
    when pod counts change, and at the returned requeue times.
    """

    __slots__ = ("collector", "decider", "desired", "ebc", "last", "pa", "spec")

    def __init__(self, spec: KpaSpec, now: float, *, ready: int = 0,
                 activator_programmed_delay: float = 1.0) -> None:
        self.spec = spec
        self.collector = MetricCollector(spec)
        self.decider = Decider(spec)
        # A settled revision: its decider reports the current scale and burst capacity.
        self.desired = ready if ready > 0 else 0
        tbc = spec.target_burst_capacity
        self.ebc = math.floor(ready * spec.total - tbc) if tbc > 0 else (0 if tbc == 0 else -1)
        self.pa = PodAutoscaler(spec, now, ready=ready, ebc=self.ebc,
                                activator_programmed_delay=activator_programmed_delay)
        self.last: ScaleResult | None = None

    def restart(self, now: float, ready: int, initial_scale: int) -> None:
        """The autoscaler process restarted: metric history is lost, and the new decider is
        built as Knative builds one. ``newAutoscaler`` (scaling/autoscaler.go) starts it in
        panic when more than one pod is ready, holding ``maxPanicPods`` = ready until it has
        data; ``createScaler`` (scaling/multiscaler.go) sets ``DesiredScale`` -1 (no
        decision: the PA keeps the current scale) and ``ExcessBurstCapacity`` to
        ``int32(InitialScale*TotalValue - TBC)``, which truncates toward zero."""
        spec = self.spec
        self.collector = MetricCollector(spec)
        self.decider = Decider(spec, ready=ready, now=now)
        self.desired = SCALE_UNKNOWN
        tbc = spec.target_burst_capacity
        self.ebc = int(tbc) if tbc in (-1, 0) else int(initial_scale * spec.total - tbc)
        self.last = None

    def record(self, now: float, concurrency: float, rps: float = 0.0) -> None:
        self.collector.record(now, concurrency, rps)

    def wants_poke(self, concurrency: float) -> bool:
        """multiscaler Poke: a stat with concurrency arrives while the last decision was 0."""
        return self.desired == 0 and concurrency != 0

    def has_data(self, now: float) -> bool:
        return self.collector.has_data(now) or not self.collector.scrape_target

    def tick(self, now: float, ready: int) -> bool:
        """Run the decider; True when desired scale or the sign of the EBC changed."""
        observed = self.collector.stable_and_panic(now)
        if observed is None:
            self.last = None
            return False
        result = self.decider.scale(now, ready, observed)
        self.last = result
        changed = result.desired != self.desired or (
            (result.excess_burst_capacity < 0) != (self.ebc < 0))
        self.desired, self.ebc = result.desired, result.excess_burst_capacity
        return changed

    def reconcile(self, now: float, counts: PodCounts) -> Reconciled:
        return self.pa.reconcile(now, self.desired, self.ebc, counts)
