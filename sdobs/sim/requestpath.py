"""The request path of a Knative revision: activator throttler, queue-proxy breaker, timeouts.

Facts (docs/kpa.md §7): with the activator in the path a revision's requests wait in the
activator in arrival order, without a depth limit, each pod taking at most
``containerConcurrency`` of them (first available pod for CC ≤ 3); waiting counts toward
``timeoutSeconds`` and ends in 504. Without it (target-burst-capacity 0 with pods up) the
ingress spreads requests over pods at random and each queue-proxy admits CC in flight plus
10 × CC queued; the next one gets 503 at once. With several activators each owns a slice of the
pods and its own queue. The SD WebUI behind queue-proxy runs one generation at a time (its
queue lock) and keeps generating after a client gave up.

The activator's per-revision stats follow ``concurrency_reporter.go``: the first request of a
reporting period is reported at once with concurrency 1 (which pokes a revision at zero scale),
and that 1 is subtracted from the period's time-weighted average.
"""

from __future__ import annotations

import math
from collections import deque

from sdobs.sim.pods import Pod

# How a request ended at queue-proxy, besides the WebUI's own status code.
QUEUE_FULL = -1  # breaker queue full: 503 "pending request queue full"
TIMEOUT = -2  # queue-proxy's timeout fired (direct path): 504, the app saw a cancel (502)
CLIENT_CANCELLED = -3  # the activator's timeout fired: client 504, queue-proxy 502
CANCELLED_IN_QUEUE = -4  # cancelled while waiting in the breaker: queue-proxy 500

_INF = math.inf


def queue_depth_limit(container_concurrency: int) -> float:
    """queue-proxy's breaker queue depth: 10 × CC (no breaker when CC is 0)."""
    return 10 * container_concurrency if container_concurrency > 0 else _INF


class Request:
    """One request's journey; times are on the driver's clock, -1 or inf when not reached."""

    __slots__ = ("act", "app_end", "body", "client", "code", "code_app", "code_qp",
                 "deadline", "gpu_end", "gpu_start", "id", "pod", "qp_deadline", "rev", "secs",
                 "status", "t", "t_app", "t_app_done", "t_end", "t_qp", "t_qp_end", "uses_gpu",
                 "via")

    def __init__(self, rid: int, rev: int, body: int, t: float, status: int, secs: float,
                 uses_gpu: bool, client: int = -1) -> None:
        self.id = rid
        self.rev = rev
        self.body = body
        self.t = t
        self.status = status  # what the WebUI answers
        self.secs = secs  # how long the WebUI works on it
        self.uses_gpu = uses_gpu
        self.client = client
        self.via = False
        self.act = -1
        self.pod: Pod | None = None
        self.deadline = _INF  # the activator's timeout
        self.qp_deadline = _INF  # queue-proxy's timeout
        self.t_qp = -1.0
        self.t_app = -1.0
        self.app_end = -1.0
        self.t_qp_end = -1.0
        self.t_app_done = -1.0
        self.t_end = -1.0
        self.code = 0
        self.code_qp = 0
        self.code_app = 0
        self.gpu_start = -1.0
        self.gpu_end = -1.0


class ActivatorState:
    """One activator's view of one revision: its queue, its pods and its request stats."""

    __slots__ = ("acc", "check_at", "conc", "count", "entry", "first", "index", "inflight",
                 "last", "pods", "queue", "since")

    def __init__(self, index: int) -> None:
        self.index = index
        self.queue: deque = deque()
        self.pods: list[Pod] = []
        self.inflight: dict[int, int] = {}
        self.check_at = _INF
        # RequestStats of the concurrency reporter
        self.entry = False
        self.conc = 0
        self.last = 0.0
        self.acc = 0.0
        self.since = 0.0
        self.count = 0
        self.first = 0.0

    def enter(self, t: float) -> bool:
        """A request enters; True when it is the first of a reporting period (immediate stat)."""
        created = not self.entry
        if created:  # (a gateway's entry exists from the start, so it never gets here)
            self.entry = True
            self.since = self.last = t
            self.acc = 0.0
            self.first = 1.0
            self.count = 0
        else:
            self.acc += self.conc * (t - self.last)
            self.last = t
        self.conc += 1
        self.count += 1
        return created

    def leave(self, t: float) -> None:
        self.acc += self.conc * (t - self.last)
        self.last = t
        self.conc -= 1

    def report(self, t: float, *, keep: bool = False) -> tuple[float, float]:
        """The periodic stat: (concurrency, request count), net of the immediate stat."""
        self.acc += self.conc * (t - self.last)
        self.last = t
        span = t - self.since
        avg = self.acc / span if span > 0 else 0.0
        conc = avg - self.first
        if conc < 0.0:
            conc = 0.0
        n = self.count - self.first
        self.first = 0.0
        self.acc = 0.0
        self.count = 0
        self.since = t
        if avg == 0 and not keep:
            self.entry = False
        return conc, n

    def pick(self, cap: float) -> Pod | None:
        """The first assigned pod with a free slot (first-available policy)."""
        inflight = self.inflight
        for pod in self.pods:
            if inflight.get(pod.id, 0) < cap:
                return pod
        return None


def assign_subsets(acts: list[ActivatorState], pods: list[Pod], num_activators: int) -> None:
    """Split a revision's pods between its activators as the throttler does (``assignSlice``).

    Sorted pods are cut into equal slices, the remainder spread one per activator; with fewer
    pods than activators each activator uses pod ``index % pods``, so a pod can be shared and
    queue in queue-proxy (knative/serving#13331).
    """
    k = min(len(acts), max(1, num_activators))
    n = len(pods)
    for a in acts:
        a.pods = []
    if n == 0:
        return
    if k == 1:
        for a in acts:
            a.pods = list(pods)
        return
    if n < k:
        for i, a in enumerate(acts):
            a.pods = [pods[i % n]]
        return
    q, r = divmod(n, k)
    for i, a in enumerate(acts[:k]):
        a.pods = pods[i * q:(i + 1) * q] + ([pods[k * q + i]] if i < r else [])
