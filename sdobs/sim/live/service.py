"""One Knative Service of the twin on the wall clock: the virtual-time engine, driven live.

:class:`LiveService` is the engine's :class:`~sdobs.sim.engine.ServiceSim` (the same KPA,
activator, queue-proxy and pod objects) with three additions: requests arrive from outside
(:meth:`submit`), the caller learns when each one ends (a future per request), and a client that
goes away frees its slot (:meth:`cancel`). Events run at their own times as the clock reaches
them (:meth:`advance`); per-pod counters for the metrics endpoints are kept as requests end.
It uses only the engine's public driving API (``setup``, ``handle``, ``draw_revision``,
``arrive``, ``cancel``) and its ``on_request_end`` hook.
"""

from __future__ import annotations

import asyncio
import heapq
import math

from sdobs.knative.dialects import Dialect
from sdobs.sim.engine import ServiceSim, SimOptions
from sdobs.sim.live import exposition as ex
from sdobs.sim.manifest import ServiceSpec
from sdobs.sim.pods import Phase, Pod
from sdobs.sim.requestpath import Request
from sdobs.sim.servicetime import Txt2Img
from sdobs.sim.traffic import Traffic

_INF = math.inf


class LiveRequest(Request):
    """A request from a real client: ``waiter`` resolves when it ends."""

    __slots__ = ("waiter",)


class LiveService(ServiceSim):
    """A Service whose requests come from the network and whose clock is the wall clock."""

    def __init__(self, service: ServiceSpec, options: SimOptions, dialect: Dialect, *,
                 index: int = 0) -> None:
        super().__init__(service, Traffic(), options, pod_id_base=index * 1_000_000,
                         ip_base=index * 65536)
        self.dialect = dialect
        self.stats: dict[int, ex.PodStats] = {}
        self.started = False

    # -- driving -------------------------------------------------------------------------------
    def start(self) -> None:
        self.setup()
        self.started = True

    def next_time(self) -> float:
        return self.heap[0][0] if self.heap else _INF

    def advance(self, now: float) -> int:
        """Run every event due by ``now`` at its own time; returns how many ran."""
        heap, pop, n = self.heap, heapq.heappop, 0
        while heap and heap[0][0] <= now:
            t, _, kind, obj = pop(heap)
            self.handle(kind, obj, t)
            n += 1
        if n:
            self._trim()
        return n

    def _trim(self) -> None:
        """Keep memory flat in a long live run: the logs only ever need their latest entry."""
        for rev in self.revs:
            for log in (rev.ticks, rev.counts, rev.act_reports):
                if len(log) > 64:
                    del log[:-1]
        if len(self.stats) > 2 * sum(len(r.pods) for r in self.revs) + 16:
            alive = {p.id for r in self.revs for p in r.pods}
            for pid in [p for p in self.stats if p not in alive]:
                del self.stats[pid]

    # -- requests ------------------------------------------------------------------------------
    def submit(self, now: float, *, profile: Txt2Img | None = None, status: int = 200,
               seconds: float = 0.003, pod: Pod | None = None,
               waiter: asyncio.Future | None = None, gpu: bool = False) -> LiveRequest:
        """A request arriving now: a txt2img ``profile`` (timed and failed by the GPU model) or
        a light API call answered with ``status`` after ``seconds`` (on the GPU, behind the
        WebUI's queue lock, when ``gpu``: a checkpoint load). ``pod``
        pins it to one ready pod (cookie session affinity: the gateway sends it straight to that
        pod's queue-proxy)."""
        self.advance(now)
        if pod is not None and pod.phase != Phase.READY:
            pod = None
        rev_idx = pod.rev if pod is not None else self.draw_revision()
        rev = self.revs[rev_idx]
        if profile is not None:
            out = rev.model.outcome(profile, self.rng.gauss(0, 1), self.rng.gauss(0, 1))
            status, seconds, uses_gpu = out.status, out.seconds, out.uses_gpu
        else:
            uses_gpu = gpu
        req = LiveRequest(len(self.requests), rev_idx, 0, now, status, seconds, uses_gpu)
        req.waiter = waiter
        self.arrive(req, now, pin=pod)
        return req

    def cancel(self, req: LiveRequest, now: float) -> None:
        """The client went away: the engine frees what the request holds (``ServiceSim.cancel``)."""
        self.advance(now)
        super().cancel(req, now)

    def on_request_end(self, req: Request, t: float) -> None:
        """Count the request in its pod's queue-proxy and container metrics, answer its client."""
        pod = req.pod
        if pod is not None:
            stats = self.stats.get(pod.id)
            if stats is None:
                stats = self.stats[pod.id] = ex.PodStats()
            if req.t_qp >= 0 and req.t_qp_end >= 0:
                ex.observe(self.dialect, stats, False, req.code_qp, req.t_qp_end - req.t_qp)
            if req.t_app >= 0 and req.t_app_done >= 0:
                ex.observe(self.dialect, stats, True, req.code_app, req.t_app_done - req.t_app)
        waiter = getattr(req, "waiter", None)
        if waiter is not None and not waiter.done():
            waiter.set_result(req)
        # Live runs never read the per-request log back: keep memory flat.
        self.depth.clear()

    # -- what the metrics endpoints show -------------------------------------------------------
    def pods_up(self, now: float) -> list[Pod]:
        """Pods whose containers run (queue-proxy and the GPU exporter answer scrapes)."""
        return [p for rev in self.revs for p in rev.pods
                if p.started <= now and p.phase != Phase.GONE]

    def revision_now(self, idx: int) -> ex.RevisionNow:
        rev = self.revs[idx]
        tick = rev.ticks[-1] if rev.ticks else (0.0, 0, 0, 0.0, 0.0, 0, 0)
        counts = rev.counts[-1] if rev.counts else (0.0, 0, 0, 0, 0, -1)
        conc = float(sum(a.conc for a in rev.acts))
        return ex.RevisionNow(spec=rev.spec, desired=tick[1], ebc=tick[2], stable=tick[3],
                              panic=tick[4], panic_mode=int(tick[5]), valid=bool(tick[6]),
                              ready=counts[1], not_ready=counts[2], pending=counts[3],
                              terminating=counts[4], requested=counts[5],
                              activator_concurrency=conc)

    def queue_depth(self, pod: Pod) -> int | None:
        """In-flight requests at the pod's breaker (queue-proxy's depth gauge; CC >= 1 only)."""
        if not self.revs[pod.rev].cc:
            return None
        return pod.active + (len(pod.queue) if pod.queue else 0)

    def gpu_busy(self, pod: Pod, now: float) -> bool:
        return pod.active > 0 and pod.gpu_free_at > now >= pod.loaded

    def pod_by_name(self, name: str) -> Pod | None:
        for rev in self.revs:
            for p in rev.pods:
                if p.name == name:
                    return p
        return None
