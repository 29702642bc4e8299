"""The virtual-time discrete-event loop of the serving twin: one Knative Service at a time.

Events sit in a heap; open-loop arrivals are drawn up front and merged in without entering it.
Requests flow through the request path (``requestpath``), pods follow their lifecycle
(``pods``), and each revision's :class:`~sdobs.sim.kpa.RevisionAutoscaler` gets its stats every
second and decides every 2 s — the same objects a wall-clock driver uses. Idle revisions cost
nothing: at zero scale with empty windows no timer runs until the next request pokes them.

The result is a log (per request, per pod, per autoscaler decision) that ``render`` turns into
the metrics Knative and the GPU exporter expose, and that capacity analysis can read directly.
"""

from __future__ import annotations

import gc
import heapq
import math
import random
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, count
from operator import attrgetter

import numpy as np

from sdobs.sim.kpa import (
    MIN_ACTIVATORS,
    SCRAPE_INTERVAL,
    TICK_INTERVAL,
    PodCounts,
    RevisionAutoscaler,
    SksMode,
)
from sdobs.sim.manifest import ClusterConfig, RevisionSpec, ServiceSpec
from sdobs.sim.pods import (
    ACTIVATOR_PROBE_PERIOD,
    DRAIN_QUIET_PERIOD,
    Phase,
    Pod,
    pod_name,
    scale_down_order,
    template_hash,
)
from sdobs.sim.requestpath import (
    CANCELLED_IN_QUEUE,
    CLIENT_CANCELLED,
    QUEUE_FULL,
    TIMEOUT,
    ActivatorState,
    Request,
    assign_subsets,
    queue_depth_limit,
)
from sdobs.sim.servicetime import ServiceTimeModel, Txt2Img
from sdobs.sim.traffic import Traffic

# Event kinds, most frequent first.
_DONE, _TICK, _STATS, _ARRIVE, _ACT_DEADLINE, _QP_DEADLINE = range(6)
_POD_STARTED, _POD_READY, _POD_VISIBLE, _POD_GONE, _RECONCILE, _SCALE, _MODE, _STOP = range(6, 14)
_RESTART = 14  # the autoscaler process restarts (a scenario event)

_INF = math.inf
# Members as module constants (in Python 3.11 reading an Enum member off its class costs more
# than the comparison it is read for, and these run per request and per pod event).
_PENDING, _STARTING, _READY, _TERMINATING, _GONE = (Phase.PENDING, Phase.STARTING, Phase.READY,
                                                    Phase.TERMINATING, Phase.GONE)
_PROXY = SksMode.PROXY
#: The per-request columns of the log, by dtype.
_FLOAT_COLUMNS = ("t", "t_end", "t_qp", "t_qp_end", "t_app", "t_app_done", "gpu_start", "gpu_end")
_INT_COLUMNS = ("rev", "body", "code", "act", "code_qp", "code_app", "client")


@dataclass
class RevisionLog:
    """What happened to one revision, as arrays ready for rendering and analysis."""

    spec: RevisionSpec
    ticks: dict[str, np.ndarray]  # t, desired, ebc, stable, panic, panic_mode, valid
    counts: dict[str, np.ndarray]  # t, ready, not_ready, pending, terminating, requested
    #: t, activator, concurrency: the Knative activators' reports (adjusted); empty for a
    #: gateway-class revision, whose gateway reports to the autoscaler and exposes no series
    activator: dict[str, np.ndarray]
    pod_ids: np.ndarray


@dataclass
class ServiceLog:
    """The log of one simulated Service."""

    service: ServiceSpec
    revisions: list[RevisionLog]
    requests: dict[str, np.ndarray]
    pods: dict[str, np.ndarray]
    pod_names: list[str]
    pod_ips: list[str]
    depth: dict[str, np.ndarray]  # pod, t, depth (queue-proxy breaker in-flight at arrival)
    bodies: list[Txt2Img]  # request bodies, indexed by requests["body"]
    start: float
    end: float
    events: int = 0


@dataclass
class SimOptions:
    duration: float
    warmup: float = 0.0
    seed: int = 1
    spread: bool = True
    start_epoch: float = 0.0  # wall-clock epoch of simulated time `warmup` (for daily profiles)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    #: pods ready at the start, per revision name (defaults to min-scale)
    initial_pods: dict[str, int] = field(default_factory=dict)


class SimulationStuck(RuntimeError):
    """The event loop ran far more events than the simulated time can need (a model bug)."""

    def __init__(self, service: str, t: float, events: int) -> None:
        self.service, self.t, self.events = service, t, events
        super().__init__(f"the twin of Service {service} stopped at simulated second {t:.1f} "
                         f"after {events} events, far more than this run needs; please report it "
                         "with the scenario")


class _Rev:
    """Runtime state of one revision inside the loop."""

    def __init__(self, idx: int, spec: RevisionSpec, sim: ServiceSim) -> None:
        self.idx = idx
        self.spec = spec
        self.kpa = spec.kpa
        self.cc = spec.container_concurrency
        self.cap = spec.container_concurrency or _INF
        self.qdepth = queue_depth_limit(spec.container_concurrency)
        self.timeout = spec.timeout_seconds
        self.gateway = spec.autoscaler_class == "mpa"
        self.model = ServiceTimeModel(spec.gpu, spread=sim.options.spread)
        self.hash = template_hash(spec.name, sim.rng)
        self.pods: list[Pod] = []  # live (not gone), creation order
        self.ready: list[Pod] = []  # endpoints
        self.visible: list[Pod] = []  # probed by the activator
        self.replicas = 0
        self.data_mode = SksMode.PROXY
        self.acts: list[ActivatorState] = []
        self.tick_armed = False
        self.stats_armed = False
        self.tick_phase = sim.rng.uniform(0, TICK_INTERVAL)
        self.stats_phase = sim.rng.uniform(0, SCRAPE_INTERVAL)
        self.requeue_at = _INF
        self.last_scrape = 0.0
        # A gateway's next stat while its decider wants pods, run late in a batch (``_catch_up``);
        # inf while its stats are heap events.
        self.next_stats = _INF
        self.direct_active = 0
        self.direct_seen = False
        self.auto: RevisionAutoscaler | None = None
        self.pod_ids: list[int] = []
        # logs
        self.ticks: list[tuple] = []
        self.counts: list[tuple] = []
        self.act_reports: list[tuple] = []

    def via_activator(self) -> bool:
        return self.gateway or self.data_mode is _PROXY or not self.ready

    def pod_counts(self) -> PodCounts:
        ready = not_ready = pending = terminating = 0
        for p in self.pods:
            ph = p.phase
            if ph == _READY:
                ready += 1
            elif ph == _STARTING:
                not_ready += 1
            elif ph == _PENDING or (ph == _TERMINATING and p.started == _INF):
                pending += 1  # (a pod deleted before it ran is still pending)
                not_ready += 1
            elif ph == _TERMINATING:
                terminating += 1
                not_ready += 1
        return PodCounts(ready, not_ready, pending, terminating)


class ServiceSim:
    """Simulates one Knative Service (all its revisions) under one traffic description."""

    def __init__(self, service: ServiceSpec, traffic: Traffic, options: SimOptions,
                 *, pod_id_base: int = 0, ip_base: int = 0) -> None:
        self.service = service
        self.traffic = traffic
        self.options = options
        self.rng = random.Random(options.seed)
        self.nrng = np.random.default_rng(options.seed)
        self.cluster = options.cluster
        self.end = options.warmup + options.duration
        self.heap: list = []
        self.seq = count()
        self.requests: list[Request] = []
        self.all_pods: list[Pod] = []
        self.pod_id_base = pod_id_base
        self.ip_base = ip_base
        self.depth: list[tuple[int, float, int]] = []
        self.events = 0
        self.revs = [_Rev(i, spec, self) for i, spec in enumerate(service.revisions)]
        self.split = np.array([service.percent(r.name) for r in service.revisions], dtype=float)
        self.bodies = traffic.mix.bodies()
        self.clients: list[list] = []  # [remaining, think] per closed-loop group

    # -- scheduling ---------------------------------------------------------------------------
    def at(self, t: float, kind: int, obj: object = None) -> None:
        heapq.heappush(self.heap, (t, next(self.seq), kind, obj))

    # -- setup --------------------------------------------------------------------------------
    def setup(self) -> None:
        """Put every revision in its state at time 0 (initial pods, deciders, activators).

        ``run`` calls it first; a driver that runs events itself (``handle``) and brings
        requests from outside (``arrive``), as the live twin does, calls it once instead."""
        t = 0.0
        for rev in self.revs:
            n = self.options.initial_pods.get(rev.spec.name, rev.kpa.min_scale if (
                rev.kpa.reachable) else 0)
            for _ in range(n):
                pod = self._new_pod(rev, t)
                pod.warm(t)
                pod.visible = True  # probed long ago: leaves the endpoints when deleted
                rev.ready.append(pod)
                rev.visible.append(pod)
            rev.replicas = n
            rev.auto = RevisionAutoscaler(rev.kpa, t, ready=n,
                                          activator_programmed_delay=self.cluster.network_programming)
            rev.data_mode = rev.auto.pa.mode
            rev.ticks.append((t, n, rev.auto.ebc, 0.0, 0.0, 0, 1))  # a settled decider
            # A revision's subset has MIN_ACTIVATORS activators unless the cluster runs fewer.
            k = 1 if rev.gateway else max(1, min(self.cluster.activators, MIN_ACTIVATORS))
            rev.acts = [ActivatorState(a) for a in range(k)]
            if rev.gateway:  # the gateway reports every second from the start, no first stat
                gw = rev.acts[0]
                gw.entry, gw.since, gw.last = True, t, t
            self._resubset(rev)
            if n:
                self._arm_stats(rev, t)
            if rev.gateway:
                self._arm_stats(rev, t)
            self._log_counts(rev, t, n)
        for at in self.cluster.autoscaler_restarts:
            self.at(at, _RESTART)

    def _arrivals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open-loop arrival times, their revision and body index."""
        opts = self.options
        epoch0 = opts.start_epoch - opts.warmup
        parts = [src.arrivals(epoch0, self.end, self.nrng) for src in self.traffic.sources]
        times = np.sort(np.concatenate(parts)) if parts else np.empty(0)
        revs = self._draw_revisions(len(times))
        bodies = self.traffic.mix.draw(len(times), self.nrng)
        return times, revs, bodies

    def _draw_revisions(self, n: int) -> np.ndarray:
        split = self.split
        if split.sum() <= 0:
            return np.zeros(n, dtype=np.int64)
        if np.count_nonzero(split) == 1:
            return np.full(n, int(np.argmax(split)), dtype=np.int64)
        return self.nrng.choice(len(split), size=n, p=split / split.sum())

    # -- pods ---------------------------------------------------------------------------------
    def _new_pod(self, rev: _Rev, t: float) -> Pod:
        pid = self.pod_id_base + len(self.all_pods)
        n = self.ip_base + len(self.all_pods) + 1
        ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        pod = Pod(pid, rev.idx, pod_name(rev.spec.name, rev.hash, self.rng), ip, t)
        pod.order = len(self.all_pods)
        self.all_pods.append(pod)
        rev.pods.append(pod)
        rev.pod_ids.append(pid)
        return pod

    def _scale(self, rev: _Rev, t: float) -> None:
        alive = [p for p in rev.pods if p.deleted == _INF]
        want = rev.replicas
        if len(alive) < want:
            cold = rev.spec.cold_start
            for _ in range(want - len(alive)):
                pod = self._new_pod(rev, t)
                pod.plan(cold, self.rng, t)
                self.at(pod.started, _POD_STARTED, pod)
                self.at(pod.ready, _POD_READY, pod)
        elif len(alive) > want:
            for pod in scale_down_order(alive)[: len(alive) - want]:
                self._delete_pod(rev, pod, t)
        self._reconcile(rev, t)

    def _delete_pod(self, rev: _Rev, pod: Pod, t: float) -> None:
        pod.deleted = t
        was_ready = pod.phase == _READY
        pod.phase = _TERMINATING
        # What had not happened yet never will: the log keeps only the lifecycle it lived. A
        # ready pod with requests still loading its checkpoint finishes loading while
        # queue-proxy drains them (the container is stopped only after the drain); without
        # this its queued requests would start at an infinite load time and time out (504).
        busy = was_ready and (pod.active or pod.queue)
        for name in ("scheduled", "started", "ready", "loaded"):
            if getattr(pod, name) > t and not (busy and name == "loaded"):
                setattr(pod, name, _INF)
        if was_ready:
            rev.ready.remove(pod)
        if pod.visible:
            pod.visible = False
            rev.visible.remove(pod)
            self._resubset(rev)
        if pod.started == _INF:  # never ran: gone once the sandbox is torn down
            pod.gone = t + 1.0
            self.at(pod.gone, _POD_GONE, pod)
        elif pod.active == 0 and not pod.queue:
            pod.gone = t + DRAIN_QUIET_PERIOD
            self.at(pod.gone, _POD_GONE, pod)

    def _resubset(self, rev: _Rev) -> None:
        k = len(rev.acts)
        if k == 1:
            rev.acts[0].pods = list(rev.visible)
            return
        assign_subsets(rev.acts, rev.visible, k)

    # -- autoscaler ---------------------------------------------------------------------------
    def _arm_tick(self, rev: _Rev, t: float) -> None:
        if rev.tick_armed:
            return
        rev.tick_armed = True
        n = math.ceil((t - rev.tick_phase) / TICK_INTERVAL)
        self.at(rev.tick_phase + max(n, 0) * TICK_INTERVAL, _TICK, rev)

    def _arm_stats(self, rev: _Rev, t: float) -> None:
        if rev.stats_armed:
            return
        rev.stats_armed = True
        n = math.floor(t - rev.stats_phase) + 1
        tt = rev.stats_phase + max(n, 0) * SCRAPE_INTERVAL
        if tt <= t:
            tt += SCRAPE_INTERVAL
        if not rev.last_scrape or t - rev.last_scrape > SCRAPE_INTERVAL:
            rev.last_scrape = tt - SCRAPE_INTERVAL
        self.at(tt, _STATS, rev)

    def _record(self, rev: _Rev, t: float, conc: float, rps: float) -> None:
        auto = rev.auto
        auto.record(t, conc, rps)
        self._arm_tick(rev, t)
        if auto.wants_poke(conc):
            self._tick(rev, t, poke=True)

    def _tick(self, rev: _Rev, t: float, poke: bool = False) -> None:
        auto = rev.auto
        if rev.next_stats < t:
            self._catch_up(rev, t)
        changed = auto.tick(t, len(rev.ready))
        if rev.next_stats < _INF and auto.desired == 0:  # a stat may poke: one event a second
            self.at(rev.next_stats, _STATS, rev)
            rev.next_stats = _INF
        res = auto.last
        if res is None:
            rev.ticks.append((t, auto.desired, auto.ebc, 0.0, 0.0, 0, 0))
        else:
            rev.ticks.append((t, res.desired, res.excess_burst_capacity, res.stable, res.panic,
                              int(res.panic_mode), 1))
        if changed:
            self._reconcile(rev, t)

    def _reconcile(self, rev: _Rev, t: float) -> None:
        counts = rev.pod_counts()
        res = rev.auto.reconcile(t, counts)
        rev.counts.append((t, counts.ready, counts.not_ready, counts.pending, counts.terminating,
                           res.want))
        if res.apply and res.want != rev.replicas:
            rev.replicas = res.want
            self.at(t + self.cluster.api_latency, _SCALE, rev)
        if res.mode is not rev.data_mode:
            self.at(t + self.cluster.network_programming, _MODE, (rev, res.mode))
        if res.requeue_at is not None and res.requeue_at < rev.requeue_at:
            # Never at the same instant: a reconcile that asks for itself now must not spin.
            rev.requeue_at = max(res.requeue_at, t + 1e-3)
            self.at(rev.requeue_at, _RECONCILE, rev)

    def _log_counts(self, rev: _Rev, t: float, want: int) -> None:
        c = rev.pod_counts()
        rev.counts.append((t, c.ready, c.not_ready, c.pending, c.terminating, want))

    def _stats(self, rev: _Rev, t: float) -> None:
        """Once a second: activator reports and the autoscaler's scrape of the pods."""
        if rev.gateway:  # one reporter that reports every second; no pods to scrape
            act = rev.acts[0]
            c, n = act.report(t, keep=True)
            rev.last_scrape = t
            self._record(rev, t, 0.0 + c, 0.0 + n)
            if rev.auto.desired != 0:
                rev.next_stats = t + SCRAPE_INTERVAL
            else:
                self.at(t + SCRAPE_INTERVAL, _STATS, rev)
            return
        conc = 0.0
        rps = 0.0
        reported = False
        for act in rev.acts:
            if act.entry:
                c, n = act.report(t)
                rev.act_reports.append((t, act.index, c))
                conc += c
                rps += n
                reported = True
        if rev.kpa.scrapes_pods and rev.ready:
            span = max(t - rev.last_scrape, 1e-9)
            n_ready = len(rev.ready)
            total = 0.0
            total_n = 0.0
            if rev.direct_seen or rev.direct_active:
                sample = rev.ready
                if self.cluster.scrape_sampling and n_ready > 3:
                    k = math.ceil(n_ready * 15.3664 / (n_ready + 15.3664 - 1))
                    sample = self.rng.sample(rev.ready, k)
                for p in rev.ready:
                    p.direct_acc += p.direct * (t - p.direct_last)
                    p.direct_last = t
                for p in sample:
                    total += p.direct_acc / span
                    total_n += p.requests
                for p in rev.ready:
                    p.direct_acc = 0.0
                    p.requests = 0
                scale = n_ready / len(sample)
                total *= scale
                total_n *= scale
                rev.direct_seen = rev.direct_active > 0
            conc += total
            rps += total_n
            reported = True
        rev.last_scrape = t
        if reported:
            self._record(rev, t, conc, rps)
        keep = any(a.entry for a in rev.acts) or (rev.kpa.scrapes_pods and bool(rev.ready))
        if keep:
            self.at(t + SCRAPE_INTERVAL, _STATS, rev)
        else:
            rev.stats_armed = False

    def _catch_up(self, rev: _Rev, t: float) -> None:
        """A gateway's stats due before ``t`` (callers check ``rev.next_stats < t``), exactly as
        one event a second would have run them.

        While the decider wants pods a stat cannot poke it, so the stats only feed the windows
        (a gateway's reports are not logged: nothing exposes them). They can wait until
        something reads the windows (a tick) or changes the gateway's request counts (a request
        entering or leaving), and then run in one loop instead of one heap event each. Ties at
        the same instant (measure zero with random phases) run the stat last.
        """
        ts = rev.next_stats
        report = rev.acts[0].report
        record = rev.auto.collector.record
        while ts < t:  # (the decider ticks all along while it wants pods: no tick to arm)
            c, n = report(ts, keep=True)
            record(ts, 0.0 + c, 0.0 + n)
            ts += SCRAPE_INTERVAL
        rev.last_scrape = ts - SCRAPE_INTERVAL
        rev.next_stats = ts

    # -- requests from outside (a wall-clock driver such as the live twin) --------------------
    def draw_revision(self) -> int:
        """The revision index a new request goes to, drawn from the Service's traffic split."""
        return int(self._draw_revisions(1)[0])

    def arrive(self, req: Request, t: float, *, pin: Pod | None = None) -> None:
        """``req`` (its ``rev``, outcome and service time set) reaches its revision at ``t``.

        ``pin``: a ready pod of that revision that session affinity binds the request to (the
        live twin's cookie); see ``_arrive`` for how each autoscaler class routes it.
        """
        self._arrive(self.revs[req.rev], req, t, pin)

    def cancel(self, req: Request, t: float) -> None:
        """The client of ``req`` went away at ``t``: free whatever it holds (its place in an
        activator's or queue-proxy's queue, or its pod slot). Nothing happens once it ended.

        A running generation keeps the GPU busy until it ends (A1111 does not stop on a
        disconnect), but queue-proxy's slot is released, as Knative's proxy does; the request's
        scheduled end is then ignored (``handle`` skips ends of requests already ended).
        """
        if req.t_end >= 0:
            return
        rev = self.revs[req.rev]
        if req.pod is None:  # waiting in the activator
            for act in rev.acts:
                if req in act.queue:
                    act.queue.remove(req)
                    break
            self._finish(rev, req, t, CANCELLED_IN_QUEUE)
        elif req.t_app < 0:  # waiting in the pod's queue-proxy breaker
            if req.pod.queue and req in req.pod.queue:
                req.pod.queue.remove(req)
            self._finish(rev, req, t, CLIENT_CANCELLED)
            act = rev.acts[req.act] if req.via else None
            if act is not None and act.queue:  # its activator got the pod's slot back
                self._dispatch(rev, act, t)
        else:  # in the model container: end it now
            self._done(req, t)

    def on_request_end(self, req: Request, t: float) -> None:
        """Hook, called once per request when its client's answer is settled, at time ``t``.

        By then ``req.code`` and ``req.t_end`` are set, and, where the request reached a pod,
        queue-proxy's and the container's view (``code_qp``/``t_qp_end``, ``code_app``/
        ``t_app_done``). It fires for every ending: a response, a 503 from a full breaker, a
        504 from either timeout (also for a request whose activator timeout passed while it
        waited, which never reached a pod: then ``t_end`` is its deadline) and a cancel. The
        engine's state is consistent when it fires, but the hook must not drive the engine
        (no ``arrive``/``cancel``/``handle``). The default does nothing; the live twin answers
        its client and counts the pod's metrics here.
        """

    # -- request path -------------------------------------------------------------------------
    def _arrive(self, rev: _Rev, req: Request, t: float, pin: Pod | None = None) -> None:
        """``req`` reaches the revision. ``pin``: a ready pod session affinity binds it to (the
        live twin's cookie). A gateway-class revision's gateway is always in the path, so it
        counts a pinned request in the concurrency it reports like any other and forwards it
        to that pod; for other classes the ingress sends it straight to that pod's
        queue-proxy (whose scrape counts it)."""
        self.requests.append(req)
        if rev.gateway if pin is not None else rev.via_activator():
            req.via = True
            act = rev.acts[0] if len(rev.acts) == 1 else rev.acts[
                self.rng.randrange(len(rev.acts))]
            req.act = act.index
            req.deadline = t + rev.timeout
            if rev.next_stats < t:
                self._catch_up(rev, t)
            if act.enter(t):
                if not rev.gateway:
                    # First request of a period: an immediate stat, and a poke at zero scale.
                    self._record(rev, t, 1.0, 1.0)
                self._arm_stats(rev, t)
            pod = pin if pin is not None else act.pick(rev.cap) if not act.queue else None
            if pod is not None:
                act.inflight[pod.id] = act.inflight.get(pod.id, 0) + 1
                self._qp_enter(rev, pod, req, t)
            else:
                if req.deadline < act.check_at:
                    act.check_at = req.deadline
                    self.at(req.deadline, _ACT_DEADLINE, (rev, act))
                act.queue.append(req)
        else:
            req.via = False
            pod = pin if pin is not None else rev.ready[self.rng.randrange(len(rev.ready))] if (
                len(rev.ready) > 1) else rev.ready[0]
            self._qp_enter(rev, pod, req, t)

    def _qp_enter(self, rev: _Rev, pod: Pod, req: Request, t: float) -> None:
        req.pod = pod
        req.t_qp = t
        queue = pod.queue
        inflight = pod.active + (len(queue) if queue else 0)
        if rev.cc:
            self.depth.append((pod.id, t, inflight))
        if not req.via:
            pod.direct_acc += pod.direct * (t - pod.direct_last)
            pod.direct_last = t
            pod.direct += 1
            pod.requests += 1
            rev.direct_active += 1
            rev.direct_seen = True
            req.qp_deadline = t + rev.timeout
        if pod.active < rev.cap:
            self._app_start(rev, pod, req, t)
        elif queue is None or len(queue) < rev.qdepth:
            if queue is None:
                queue = pod.queue = deque()
            limit = min(req.deadline, req.qp_deadline)
            if limit < pod.check_at:
                pod.check_at = limit
                self.at(limit, _QP_DEADLINE, (rev, pod))
            queue.append(req)
        else:
            self._finish(rev, req, t, QUEUE_FULL)

    def _app_start(self, rev: _Rev, pod: Pod, req: Request, t: float) -> None:
        pod.active += 1
        req.t_app = t
        if req.uses_gpu:
            start = t
            if pod.gpu_free_at > start:
                start = pod.gpu_free_at
            if pod.loaded > start:
                start = pod.loaded
            end = start + req.secs
            pod.gpu_free_at = end
            req.gpu_start = start
            req.gpu_end = end
        else:
            end = t + req.secs
        req.app_end = end
        limit = req.deadline if req.via else req.qp_deadline
        self.at(end if end <= limit else limit, _DONE, req)

    def _done(self, req: Request, t: float) -> None:
        rev = self.revs[req.rev]
        pod = req.pod
        pod.active -= 1
        if t < req.app_end:
            self._finish(rev, req, t, TIMEOUT if not req.via else CLIENT_CANCELLED)
        else:
            self._finish(rev, req, t, req.status)
        pod.last_done = t
        queue = pod.queue
        if queue:
            nxt = queue.popleft()
            self._app_start(rev, pod, nxt, t)
        if req.via:  # the activator got a slot back on this pod
            act = rev.acts[req.act]
            if act.queue:
                self._dispatch(rev, act, t)
        if pod.phase == _TERMINATING and pod.active == 0 and not pod.queue and (
                pod.gone == _INF):
            pod.gone = t + DRAIN_QUIET_PERIOD
            self.at(pod.gone, _POD_GONE, pod)

    def _finish(self, rev: _Rev, req: Request, t: float, outcome: int) -> None:
        """Record how queue-proxy, the activator and the client saw the end of ``req``."""
        pod = req.pod
        if outcome == QUEUE_FULL:
            req.code_qp, req.t_qp_end = 503, t
            req.code, req.t_end = 503, t
        elif outcome == TIMEOUT:  # queue-proxy's own timeout (direct path)
            req.code_qp, req.t_qp_end = 504, t
            if req.t_app >= 0:
                req.code_app, req.t_app_done = 502, t
            req.code, req.t_end = 504, t
        elif outcome == CLIENT_CANCELLED:  # the activator timed out; queue-proxy sees a cancel
            req.code_qp, req.t_qp_end = 502, t
            req.code_app, req.t_app_done = 502, t
            req.code, req.t_end = 504, t
        elif outcome == CANCELLED_IN_QUEUE:
            req.code_qp, req.t_qp_end = 500, t
            req.code, req.t_end = 504, t
        else:
            req.code_qp = req.code_app = req.code = outcome
            req.t_qp_end = req.t_app_done = req.t_end = t
        if pod is not None and not req.via:
            pod.direct_acc += pod.direct * (t - pod.direct_last)
            pod.direct_last = t
            pod.direct -= 1
            rev.direct_active -= 1
        if req.via:
            act = rev.acts[req.act]
            if rev.next_stats < t:
                self._catch_up(rev, t)
            act.leave(t)
            if pod is not None:
                act.inflight[pod.id] -= 1
        if req.client >= 0:
            group = self.clients[req.client]
            if group[0] > 0:
                group[0] -= 1
                self.at(t + group[1], _ARRIVE, req.client)
        self.on_request_end(req, t)

    def _dispatch(self, rev: _Rev, act: ActivatorState, t: float) -> None:
        queue = act.queue
        cap = rev.cap
        while queue:
            pod = act.pick(cap)
            if pod is None:
                return
            req = queue.popleft()
            act.inflight[pod.id] = act.inflight.get(pod.id, 0) + 1
            self._qp_enter(rev, pod, req, t)

    def _act_deadline(self, rev: _Rev, act: ActivatorState, t: float) -> None:
        act.check_at = _INF
        queue = act.queue
        if rev.next_stats < t and queue and queue[0].deadline <= t:
            self._catch_up(rev, t)
        while queue and queue[0].deadline <= t:
            req = queue.popleft()
            req.code, req.t_end = 504, req.deadline
            act.leave(t)
            if req.client >= 0:
                group = self.clients[req.client]
                if group[0] > 0:
                    group[0] -= 1
                    self.at(t + group[1], _ARRIVE, req.client)
            self.on_request_end(req, t)
        if queue:
            act.check_at = queue[0].deadline
            self.at(act.check_at, _ACT_DEADLINE, (rev, act))

    def _qp_deadline(self, rev: _Rev, pod: Pod, t: float) -> None:
        pod.check_at = _INF
        queue = pod.queue
        if not queue:
            return
        keep: deque[Request] = deque()
        for req in queue:
            if req.via and req.deadline <= t:
                self._finish(rev, req, t, CANCELLED_IN_QUEUE)
            elif not req.via and req.qp_deadline <= t:
                self._finish(rev, req, t, TIMEOUT)
            else:
                keep.append(req)
        pod.queue = keep
        if keep:
            pod.check_at = min(r.deadline if r.via else r.qp_deadline for r in keep)
            self.at(pod.check_at, _QP_DEADLINE, (rev, pod))
        for act in rev.acts:  # cancelled requests gave their activators a slot back
            if act.queue:
                self._dispatch(rev, act, t)

    def _make_request(self, rev_idx: int, body: int, t: float, client: int = -1) -> Request:
        rev = self.revs[rev_idx]
        status, secs, uses = self._outcome(rev, body)
        req = Request(len(self.requests), rev_idx, body, t, status, secs, uses, client)
        return req

    def _outcome(self, rev: _Rev, body: int) -> tuple[int, float, bool]:
        o = rev.model.outcome(self.bodies[body], self.rng.gauss(0, 1), self.rng.gauss(0, 1))
        return o.status, o.seconds, o.uses_gpu

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> ServiceLog:
        self.setup()
        times, revs, bodies = self._arrivals()
        # Outcomes for open-loop requests, vectorised per revision.
        status = np.zeros(len(times), dtype=np.int64)
        secs = np.zeros(len(times))
        uses = np.zeros(len(times), dtype=bool)
        for rev in self.revs:
            sel = np.flatnonzero(revs == rev.idx)
            if len(sel):
                s, d, u = rev.model.sample(self.bodies, bodies[sel], self.nrng)
                status[sel], secs[sel], uses[sel] = s, d, u
        for group in self.traffic.closed:
            gid = len(self.clients)
            self.clients.append([max(0, group.total - group.clients), group.think])
            for _ in range(min(group.clients, group.total)):
                self.at(group.start, _ARRIVE, gid)
        self.at(self.end, _STOP)
        # The open-loop arrivals as plain lists: indexing them in the loop below is several
        # times faster than indexing the numpy arrays (one arrival per iteration).
        arr_time = times.tolist()
        arr_rev = revs.tolist()
        arr_body = bodies.tolist()
        arr_status = status.tolist()
        arr_secs = secs.tolist()
        arr_gpu = uses.tolist()
        n = len(arr_time)
        i = 0
        heap = self.heap
        pop = heapq.heappop
        revobjs = self.revs
        next_arrival = arr_time[0] if n else _INF
        events = 0
        # A bound no healthy run comes near (a few events per request and per second): if the
        # model ever loops at one instant, stop with a clear error instead of eating memory.
        limit = 200 * (self.end + 1000) + 50 * n + 1_000_000
        while True:
            if heap[0][0] <= next_arrival:
                t, _, kind, obj = pop(heap)
            else:
                t = next_arrival
                r = arr_rev[i]
                req = Request(len(self.requests), r, arr_body[i], t, arr_status[i], arr_secs[i],
                              arr_gpu[i], -1)
                self._arrive(revobjs[r], req, t)
                i += 1
                next_arrival = arr_time[i] if i < n else _INF
                events += 1
                continue
            events += 1
            if events > limit:
                raise SimulationStuck(self.service.name, t, events)
            if kind == _STOP:
                for rev in revobjs:  # the stats a gateway still owes its windows
                    if rev.next_stats < t:
                        self._catch_up(rev, t)
                break
            self.handle(kind, obj, t)
        self.events = events
        return self._log()

    def handle(self, kind: int, obj: object, t: float) -> None:
        """Process one event of the heap at time ``t`` (the virtual and the wall clock share it)."""
        revobjs = self.revs
        if kind == _DONE:
            if obj.t_end < 0:  # not ended early by a cancel
                self._done(obj, t)
        elif kind == _TICK:
            rev = obj
            self._tick(rev, t)
            auto = rev.auto
            if rev.pods or auto.desired != 0 or auto.decider.in_panic or auto.has_data(t):
                self.at(t + TICK_INTERVAL, _TICK, rev)
            else:
                rev.tick_armed = False
        elif kind == _STATS:
            self._stats(obj, t)
        elif kind == _ARRIVE:
            rev_idx = self.draw_revision()
            body = int(self.traffic.mix.draw(1, self.nrng)[0])
            req = self._make_request(rev_idx, body, t, obj)
            self._arrive(revobjs[rev_idx], req, t)
        elif kind == _ACT_DEADLINE:
            self._act_deadline(obj[0], obj[1], t)
        elif kind == _QP_DEADLINE:
            self._qp_deadline(obj[0], obj[1], t)
        elif kind == _POD_STARTED:
            if obj.phase == _PENDING:
                obj.phase = _STARTING
                self._reconcile(revobjs[obj.rev], t)
        elif kind == _POD_READY:
            pod = obj
            if pod.phase == _STARTING:
                rev = revobjs[pod.rev]
                pod.phase = _READY
                pod.direct_last = t
                rev.ready.append(pod)
                self.at(t + self.rng.uniform(0, ACTIVATOR_PROBE_PERIOD), _POD_VISIBLE, pod)
                self._reconcile(rev, t)
                if rev.kpa.scrapes_pods:
                    self._arm_stats(rev, t)
        elif kind == _POD_VISIBLE:
            pod = obj
            if pod.phase == _READY and not pod.visible:
                rev = revobjs[pod.rev]
                pod.visible = True
                rev.visible.append(pod)
                rev.visible.sort(key=_order)
                self._resubset(rev)
                for act in rev.acts:
                    if act.queue:
                        self._dispatch(rev, act, t)
        elif kind == _POD_GONE:
            pod = obj
            pod.phase = _GONE
            rev = revobjs[pod.rev]
            rev.pods.remove(pod)
            self._reconcile(rev, t)
        elif kind == _RECONCILE:
            rev = obj
            if t >= rev.requeue_at:
                rev.requeue_at = _INF
                self._reconcile(rev, t)
        elif kind == _SCALE:
            self._scale(obj, t)
        elif kind == _MODE:
            rev, mode = obj
            if rev.auto.pa.mode is mode:
                rev.data_mode = mode
        elif kind == _RESTART:
            self._restart_autoscaler(t)

    def _restart_autoscaler(self, t: float) -> None:
        """Every revision gets a new decider (``RevisionAutoscaler.restart``): no metric
        history, no decision until data arrives (the PA keeps the scale), panic when more than
        one pod is ready. The PA and the pods are untouched; the PA reconciles at once."""
        for rev in self.revs:
            if rev.next_stats < t:
                self._catch_up(rev, t)
            auto = rev.auto
            auto.restart(t, len(rev.ready), rev.kpa.initial_scale)
            rev.ticks.append((t, auto.desired, auto.ebc, 0.0, 0.0,
                              int(auto.decider.in_panic), 0))
            self._arm_tick(rev, t)
            self._reconcile(rev, t)

    # -- output -------------------------------------------------------------------------------
    def _log(self) -> ServiceLog:
        reqs = self.requests
        end = self.end
        n = len(reqs)
        # One attrgetter pass per dtype (this runs once per Service but over every request).
        floats = _table(map(attrgetter(*_FLOAT_COLUMNS), reqs), n, len(_FLOAT_COLUMNS)).T.copy()
        ints = _table(map(attrgetter(*_INT_COLUMNS), reqs), n, len(_INT_COLUMNS),
                      np.int64).T.astype(np.int32)
        requests = dict(zip(_FLOAT_COLUMNS, floats, strict=True))
        requests.update(zip(_INT_COLUMNS, ints, strict=True))
        requests["via"] = np.fromiter(map(attrgetter("via"), reqs), dtype=bool, count=n)
        requests["pod"] = np.fromiter((r.pod.id if r.pod is not None else -1 for r in reqs),
                                      dtype=np.int64, count=n)
        pods = self.all_pods
        pod_cols = {
            name: np.array([getattr(p, name) for p in pods], dtype=float)
            for name in ("created", "scheduled", "started", "ready", "loaded", "deleted", "gone")
        }
        pod_cols["id"] = np.array([p.id for p in pods], dtype=np.int64)
        pod_cols["rev"] = np.array([p.rev for p in pods], dtype=np.int32)
        depth = _table(self.depth, len(self.depth), 3)
        revlogs = []
        for rev in self.revs:
            ticks = _table(rev.ticks, len(rev.ticks), 7)
            counts = _table(rev.counts, len(rev.counts), 6)
            acts = _table(rev.act_reports, len(rev.act_reports), 3)
            revlogs.append(RevisionLog(
                spec=rev.spec,
                ticks={k: ticks[:, i] for i, k in enumerate(
                    ("t", "desired", "ebc", "stable", "panic", "panic_mode", "valid"))},
                counts={k: counts[:, i] for i, k in enumerate(
                    ("t", "ready", "not_ready", "pending", "terminating", "requested"))},
                activator={k: acts[:, i] for i, k in enumerate(("t", "activator", "concurrency"))},
                pod_ids=np.array(rev.pod_ids, dtype=np.int64),
            ))
        return ServiceLog(
            service=self.service, revisions=revlogs, requests=requests, pods=pod_cols,
            pod_names=[p.name for p in pods], pod_ips=[p.ip for p in pods],
            depth={"pod": depth[:, 0].astype(np.int64), "t": depth[:, 1],
                   "depth": depth[:, 2].astype(np.int64)},
            bodies=self.bodies, start=self.options.warmup, end=end, events=self.events,
        )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The loop allocates millions of acyclic objects (requests, log rows) that live until the
    end; the cyclic collector only rescans them (12 % of a week's replay), and once more after
    the loop if they are still alive then. Reference counting frees them all."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _table(rows: Iterable[tuple], n: int, width: int, dtype: type = float) -> np.ndarray:
    """``n`` rows of ``width`` numbers as an (n, width) array (np.array of tuples is slower)."""
    flat = np.fromiter(chain.from_iterable(rows), dtype=dtype, count=n * width)
    return flat.reshape(n, width)


def _order(pod: Pod) -> int:
    return pod.order


def simulate_service(service: ServiceSpec, traffic: Traffic, options: SimOptions,
                     **kwargs: int) -> ServiceLog:
    """Run one Service's twin for ``options.warmup + options.duration`` virtual seconds."""
    with _cyclic_gc_paused():  # until the simulation's objects are freed, too
        return ServiceSim(service, traffic, options, **kwargs).run()
