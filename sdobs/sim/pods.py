"""Pod lifecycle of a Knative revision serving the SD WebUI: cold start, readiness, drain.

A pod goes Pending (GPU instance or node, then the multi-GB image) → Running, not ready (A1111
starts, the TCP readiness probe of the reference manifest passes once the port is open) → Ready;
the checkpoint loads in a background thread after the port opens, so the first request may block
on it (docs/a1111-api.md §3). A deleted pod leaves the endpoints at once and drains: queue-proxy
waits for in-flight requests and a 30 s quiet period (docs/kpa.md §8).

Cold-start figures are **assumptions** from the components in docs/service-times.md §4, since no
per-spec measurement is published: serverless GPU instances (ECI) ≈ 25–40 s to provision, the
image pulled from an image cache in ≈ 10 s, A1111 ≈ 8 s to open its port, SD 1.5 weights 10–20 s
to load. Each component varies log-normally (coefficient of variation 25 %). Nothing here reads
a clock; the live twin samples the same :class:`ColdStart` and waits in wall time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from enum import IntEnum

from sdobs.errors import InputError

#: queue-proxy drainSleepDuration (pkg/queue/sharedmain/main.go).
DRAIN_QUIET_PERIOD = 30.0
#: The activator probes new endpoints every 200 ms (revision_backends.go).
ACTIVATOR_PROBE_PERIOD = 0.2

_RS_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' rand.String alphabet


class Phase(IntEnum):
    PENDING = 0  # scheduling, GPU instance provisioning, image pull
    STARTING = 1  # containers running, not ready yet
    READY = 2
    TERMINATING = 3
    GONE = 4


@dataclass(frozen=True)
class ColdStart:
    """Mean seconds of each cold-start component; each is drawn log-normally around its mean."""

    schedule: float  # pod created → running on a GPU (instance provisioning or node scheduling)
    image_pull: float
    process_start: float  # A1111 launch → HTTP port open
    model_load: float  # checkpoint → GPU, in the background after the port opens
    cv: float = 0.25
    readiness_period: float = 1.0  # periodSeconds of the readiness probe
    initial_delay: float = 5.0  # initialDelaySeconds

    def scaled(self, **changes: float) -> ColdStart:
        return replace(self, **changes)

    def draw(self, rng: random.Random) -> tuple[float, float, float, float]:
        """Durations (schedule, pull, start, load) for one pod."""
        s = math.sqrt(math.log(1 + self.cv * self.cv))

        def one(mean: float) -> float:
            if mean <= 0:
                return 0.0
            return mean * math.exp(rng.gauss(0.0, s) - s * s / 2) if s > 0 else mean

        return one(self.schedule), one(self.image_pull), one(self.process_start), one(
            self.model_load)


#: Serverless GPU instances (Alibaba ECI specs), per GPU model: assumptions (module docstring).
ECI_COLD_START: dict[str, ColdStart] = {
    "t4": ColdStart(schedule=30.0, image_pull=10.0, process_start=8.0, model_load=12.0),
    "a10": ColdStart(schedule=35.0, image_pull=10.0, process_start=8.0, model_load=10.0),
    "p100": ColdStart(schedule=40.0, image_pull=12.0, process_start=9.0, model_load=15.0),
    "p4": ColdStart(schedule=35.0, image_pull=12.0, process_start=9.0, model_load=18.0),
}
#: Pods on GPU nodes that are already up (the image cached on the node).
WARM_NODE_COLD_START = ColdStart(schedule=1.0, image_pull=0.5, process_start=8.0, model_load=10.0)
#: Pods that need a new GPU node from the cluster autoscaler (> 2 min, kserve/kserve#1247).
NEW_NODE_COLD_START = ColdStart(schedule=150.0, image_pull=60.0, process_start=8.0,
                                model_load=12.0)


def cold_start_for(gpu: str, platform: str = "eci") -> ColdStart:
    """The cold-start profile of a GPU model on a platform (``eci``, ``nodes``, ``new-nodes``)."""
    if platform == "eci":
        return ECI_COLD_START.get(gpu, ECI_COLD_START["t4"])
    if platform == "nodes":
        return WARM_NODE_COLD_START
    if platform == "new-nodes":
        return NEW_NODE_COLD_START
    raise InputError(f"unknown platform {platform!r}; use eci, nodes or new-nodes")


class Pod:
    """One pod of a revision and its lifecycle times (seconds on the driver's clock)."""

    __slots__ = ("active", "check_at", "created", "deleted", "direct", "direct_acc",
                 "direct_last", "gone", "gpu_free_at", "id", "index", "ip", "last_done",
                 "loaded", "name", "order", "phase", "queue", "ready", "requests", "rev",
                 "scheduled", "started", "visible")

    def __init__(self, pid: int, rev: int, name: str, ip: str, created: float) -> None:
        self.id = pid
        self.rev = rev
        self.name = name
        self.ip = ip
        self.index = pid
        self.order = pid
        self.created = created
        self.scheduled = math.inf  # has an IP: Prometheus discovers it (scrapes fail until up)
        self.started = math.inf  # containers running: metrics endpoint up
        self.ready = math.inf
        self.loaded = math.inf  # checkpoint on the GPU
        self.deleted = math.inf
        self.gone = math.inf
        self.phase = Phase.PENDING
        self.visible = False  # the activator has probed it and routes to it
        self.active = 0  # requests holding a breaker slot
        self.queue: list | None = None  # requests waiting in the queue-proxy breaker
        self.gpu_free_at = 0.0  # A1111's queue lock is free from this time
        self.last_done = 0.0
        self.direct = 0  # non-proxied requests in queue-proxy (scraped by the autoscaler)
        self.direct_acc = 0.0
        self.direct_last = 0.0
        self.requests = 0
        self.check_at = math.inf  # pending queue-proxy timeout check

    def plan(self, cold: ColdStart, rng: random.Random, now: float) -> None:
        """Draw this pod's cold start from ``now``: scheduled, started, ready and loaded times."""
        sched, pull, start, load = cold.draw(rng)
        self.scheduled = now + sched
        self.started = self.scheduled + pull
        port_open = self.started + start
        first_probe = self.started + cold.initial_delay
        if port_open <= first_probe:
            self.ready = first_probe
        else:
            k = math.ceil((port_open - first_probe) / cold.readiness_period)
            self.ready = first_probe + k * cold.readiness_period
        self.loaded = port_open + load

    def warm(self, now: float) -> None:
        """A pod that has been serving since before ``now`` (a scenario's starting state)."""
        self.scheduled = self.started = self.ready = self.loaded = now - 3600.0
        self.phase = Phase.READY


def pod_name(revision: str, template_hash: str, rng: random.Random) -> str:
    """A Deployment pod name: ``<revision>-deployment-<template hash>-<5 chars>``."""
    suffix = "".join(rng.choice(_RS_CHARS) for _ in range(5))
    return f"{revision}-deployment-{template_hash}-{suffix}"


def template_hash(revision: str, rng: random.Random) -> str:
    return "".join(rng.choice(_RS_CHARS) for _ in range(10))


def scale_down_order(pods: list[Pod]) -> list[Pod]:
    """Which pods a ReplicaSet deletes first: unscheduled, not ready, then the newest."""
    return sorted(pods, key=lambda p: (p.phase == Phase.READY, p.phase >= Phase.STARTING,
                                       -p.ready if p.phase == Phase.READY else -p.created))
