"""Engine behaviour beyond the fidelity answers: canary splits, activator partitions, CC > 1,
batched gateway stats."""

from __future__ import annotations

import gc
import heapq
import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from sim_helpers import SD20, kpa, service, service_yaml

from sdobs.sim.engine import _STATS, ServiceLog, ServiceSim, SimOptions, _Rev, simulate_service
from sdobs.sim.manifest import ClusterConfig, load_files, load_text
from sdobs.sim.requestpath import Request
from sdobs.sim.scenarios import REFERENCE_MANIFEST
from sdobs.sim.traffic import ClosedLoop, Poisson, Recorded, Traffic


def test_a_canary_split_sends_each_revision_its_share() -> None:
    v2 = service_yaml(kpa(max_scale="2")) + """  traffic:
  - {revisionName: sd-00001, percent: 80}
  - {latestRevision: true, percent: 20}
"""
    (svc,), _ = load_text(service_yaml(kpa(min_scale="1")) + "---\n" + v2)
    log = simulate_service(svc, Traffic(sources=[Poisson(0.3)], mix=SD20),
                           SimOptions(duration=3600, seed=4))
    revs = log.requests["rev"]
    assert (revs == 1).mean() == pytest.approx(0.2, abs=0.03)
    pods_rev = log.pods["rev"]
    assert set(pods_rev.tolist()) == {0, 1}
    # Each revision's pods serve only its own requests.
    r = log.requests
    served = r["pod"] >= 0
    pod_rev = dict(zip(log.pods["id"].tolist(), pods_rev.tolist(), strict=True))
    assert all(pod_rev[p] == v for p, v in zip(r["pod"][served].tolist(),
                                               revs[served].tolist(), strict=True))


def test_two_activators_split_the_pods_and_the_queue() -> None:
    svc = service(kpa(min_scale="1", max_scale="1"))
    traffic = Traffic(closed=[ClosedLoop(8, 8, start=5)], mix=SD20)
    one = simulate_service(svc, traffic, SimOptions(duration=200, spread=False))
    cluster = replace(ClusterConfig(), activators=2)
    two = simulate_service(svc, traffic, SimOptions(duration=200, spread=False, cluster=cluster))
    # One activator holds the queue and sends the pod one request at a time. Two activators
    # both use the single pod and each sends it one, so its queue-proxy queues the second
    # (the partitioned queues of knative/serving#13331).
    assert set(one.requests["act"].tolist()) == {0}
    assert one.depth["depth"].max() == 0
    assert set(two.requests["act"].tolist()) == {0, 1}
    assert two.depth["depth"].max() == 1
    assert set(two.requests["code"].tolist()) == {200}


def test_containerconcurrency_two_queues_on_the_webui_lock() -> None:
    svc = service(kpa(min_scale="1", max_scale="1"), cc=2)
    log = simulate_service(svc, Traffic(closed=[ClosedLoop(2, 2, start=5)], mix=SD20),
                           SimOptions(duration=120, spread=False))
    r = log.requests
    order = np.argsort(r["t"], kind="stable")
    t_app = r["t_app"][order]
    gpu = r["gpu_start"][order]
    assert t_app[0] == t_app[1]  # both admitted by queue-proxy at once...
    assert gpu[1] == pytest.approx(r["gpu_end"][order][0])  # ...but generated one after another


def test_pod_lifecycles_are_ordered_and_pods_deleted_early_never_ran() -> None:
    from sdobs.sim.manifest import load_files
    from sdobs.sim.scenarios import REFERENCE_MANIFEST

    (svc,), _ = load_files([REFERENCE_MANIFEST])
    log = simulate_service(svc, Traffic(sources=[Poisson(0.3)], mix=SD20),
                           SimOptions(duration=3600, seed=8))
    p = log.pods
    assert len(p["id"]) > 20  # TU 100 % with 60 s windows and 75 s cold starts: churn
    order = ("created", "scheduled", "started", "ready", "deleted", "gone")
    for a, b in itertools.pairwise(order):
        both = np.isfinite(p[a]) & np.isfinite(p[b])
        assert (p[a][both] <= p[b][both] + 1e-9).all(), (a, b)
    never = np.isfinite(p["deleted"]) & ~np.isfinite(p["started"])
    assert never.any()  # some were deleted while still starting
    assert (p["gone"][never] - p["deleted"][never] <= 1.0 + 1e-9).all()
    ran = np.isfinite(p["started"]) & np.isfinite(p["gone"])
    assert (p["gone"][ran] - p["deleted"][ran] >= 30 - 1e-9).all()  # the drain


class _StatsEverySecond(ServiceSim):
    """The engine with a gateway's stats always one heap event a second (no batching)."""

    def _stats(self, rev: _Rev, t: float) -> None:
        super()._stats(rev, t)
        if rev.next_stats < math.inf:  # the batch was chosen: back to a heap event
            self.at(rev.next_stats, _STATS, rev)
            rev.next_stats = math.inf


def _log_arrays(log: ServiceLog) -> dict[str, np.ndarray]:
    out = {f"requests.{k}": v for k, v in log.requests.items()}
    out.update({f"pods.{k}": v for k, v in log.pods.items()})
    out.update({f"depth.{k}": v for k, v in log.depth.items()})
    for i, rev in enumerate(log.revisions):
        for part in ("ticks", "counts", "activator"):
            out.update({f"{i}.{part}.{k}": v for k, v in getattr(rev, part).items()})
    return out


def test_batched_gateway_stats_leave_the_log_bit_for_bit_as_one_event_a_second() -> None:
    # The reference mpa Service: busy, idle long enough to scale to zero, busy again.
    (svc,), _ = load_files([REFERENCE_MANIFEST])
    rng = np.random.default_rng(11)
    times = np.sort(np.concatenate([rng.uniform(0, 3000, 1800), rng.uniform(6000, 9000, 1200)]))
    traffic = Traffic(sources=[Recorded(tuple(times.tolist()))], mix=SD20)
    options = SimOptions(duration=9600, seed=5)
    batched = simulate_service(svc, traffic, options)
    assert gc.isenabled()  # the collector's pause ends with the run
    plain = _StatsEverySecond(svc, traffic, options).run()
    assert batched.events < 0.75 * plain.events  # most stats did run in batches
    assert (batched.requests["code"] == 200).sum() > 2500
    ticks = batched.revisions[0].ticks  # at zero in the quiet hour: the stats went back and forth
    quiet = (ticks["t"] > 4500) & (ticks["t"] < 6000)
    assert (ticks["desired"][quiet] == 0).any() and (ticks["desired"] > 3).any()
    a, b = _log_arrays(batched), _log_arrays(plain)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=True), key


class _Ends(ServiceSim):
    """Records every call of the engine's public ``on_request_end`` hook."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.ended: list[tuple[int, int, float, float]] = []

    def on_request_end(self, req: Request, t: float) -> None:
        self.ended.append((req.id, req.code, req.t_end, t))


def test_the_request_end_hook_fires_once_per_request_and_leaves_the_log_as_it_was() -> None:
    # At most one pod, from zero, a 20 s timeout and more requests than it can serve:
    # responses, 504s in the container and activator timeouts (requests that never reached a
    # pod, during the cold start) all end through the hook.
    svc = service(kpa(max_scale="1"), timeout=20)
    traffic = Traffic(sources=[Poisson(0.2)], mix=SD20)
    options = SimOptions(duration=900, seed=8)
    plain = simulate_service(svc, traffic, options)
    hooked = _Ends(svc, traffic, options)
    log = hooked.run()
    a, b = _log_arrays(plain), _log_arrays(log)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=True), key
    ended = hooked.ended
    ids = [e[0] for e in ended]
    assert len(ids) == len(set(ids))  # once per request
    codes = log.requests["code"].tolist()  # a request's id is its row in the log
    t_ends = log.requests["t_end"].tolist()
    assert {200, 504} <= set(codes)
    assert all(codes[rid] == code and t_ends[rid] == t_end >= 0 for rid, code, t_end, _ in ended)
    # Every request that ended within the run ended through the hook.
    assert set(ids) == {rid for rid, t_end in enumerate(t_ends) if t_end >= 0}
    # Some timed out in the activator, never reaching a pod, and a 504 within 1 s of its deadline.
    pods = log.requests["pod"].tolist()
    assert any(code == 504 and pods[rid] < 0 and t_end <= t < t_end + 1
               for rid, code, t_end, t in ended)


def test_a_cancelled_request_frees_its_pod_slot_and_its_scheduled_end_is_ignored() -> None:
    svc = service(kpa(min_scale="1", max_scale="1"))
    sim = _Ends(svc, Traffic(), SimOptions(duration=math.inf, seed=1))
    sim.setup()

    def arrive(t: float) -> Request:
        req = Request(len(sim.requests), sim.draw_revision(), 0, t, 200, 10.0, True)
        sim.arrive(req, t)
        return req

    def run_until(t: float) -> None:
        while sim.heap and sim.heap[0][0] <= t:
            when, _, kind, obj = heapq.heappop(sim.heap)
            sim.handle(kind, obj, when)

    first, second = arrive(1.0), arrive(1.5)  # the second waits for the pod's only slot
    run_until(3.0)
    assert first.t_app == 1.0 and second.t_app < 0
    sim.cancel(first, 3.0)  # in the container: ends now (client 504), the slot goes to the next
    assert (first.code, first.t_end) == (504, 3.0)
    assert second.t_app == 3.0
    assert second.gpu_start == first.gpu_end == 11.0  # the GPU still finishes the first image
    sim.cancel(first, 4.0)  # nothing happens once it ended
    run_until(30.0)  # the first request's scheduled end (t = 11) is ignored
    assert [(rid, code) for rid, code, _, _ in sim.ended] == [(0, 504), (1, 200)]
    assert second.t_end == 21.0
