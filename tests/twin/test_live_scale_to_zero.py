"""The live twin goes back to zero pods as long after the last response as virtual time does.

Issue 19: the reference Service (ACK's ``mpa`` class: the gateway always in the path, the KPA fed
by the gateway's concurrency) went to zero about 37 s after its last response live, against the
stable window (60 s) plus a few seconds in virtual time. The load tester keeps the cookie the
Service's session affinity sets, and the live gateway sent every pinned request straight to its
pod's queue-proxy, past the gateway's concurrency stats: the KPA's windows saw only each
client's first request. A pinned request now goes through the gateway like any other (which
forwards it to its pod), in the engine's one request entry shared by both clocks.
"""

from __future__ import annotations

import time

import pytest
from eventually import eventually

from sdobs.knative.dialects import get_dialect
from sdobs.loadtest import LoadTestConfig, Txt2ImgOptions, run_loadtest
from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.live.service import LiveService
from sdobs.sim.live.twin import LiveTwin, TwinThread
from sdobs.sim.manifest import ServiceSpec, load_text
from sdobs.sim.scenarios import REFERENCE_MANIFEST
from sdobs.sim.servicetime import Txt2Img
from sdobs.sim.traffic import ClosedLoop, RequestMix, Traffic

# The stable window the test gives the reference Service, longer than the load: each client's
# first request (cold start, unpinned) ends about 8 s in and its pinned ones follow for about
# 12 s more, so a gateway that missed pinned requests would let the window empty about 12 s
# early. (With a window shorter than the load the missed requests let pods go, their clients
# lose their pins and are counted again, which hides the miss.)
WINDOW = 20.0
CLIENTS, PER_CLIENT, STEPS = 5, 5, 6
TICK = 2.0  # the decider's tick


def _reference(window: float = WINDOW, cold_start: str = "1s") -> ServiceSpec:
    """The reference manifest, its stable window and cold start shortened (annotations)."""
    text = REFERENCE_MANIFEST.read_text()
    anchor = "        autoscaling.knative.dev/targetUtilizationPercentage"
    assert anchor in text
    text = text.replace(anchor, f'        autoscaling.knative.dev/window: "{window:g}s"\n'
                                f'        twin.sdobs.dev/cold-start: "{cold_start}"\n' + anchor, 1)
    services, _ = load_text(text)
    return services[0]


def _virtual_time_to_zero(svc: ServiceSpec, seed: int) -> float:
    """Seconds from the last response to zero ready pods in virtual time, same load."""
    traffic = Traffic(closed=[ClosedLoop(CLIENTS, CLIENTS * PER_CLIENT, start=1.0)],
                      mix=RequestMix(((1.0, Txt2Img(steps=STEPS)),)))
    log = simulate_service(svc, traffic, SimOptions(duration=900.0, seed=seed))
    assert (log.requests["code"] == 200).all()
    last = float(log.requests["t_end"].max())
    counts = log.revisions[0].counts
    zero = counts["t"][(counts["t"] > last) & (counts["ready"] == 0)]
    assert len(zero), "virtual time never went back to zero"
    return float(zero.min()) - last


def test_a_cookie_pinned_request_counts_in_the_gateways_concurrency() -> None:
    """Session affinity picks the pod; the gateway still holds, counts and forwards it."""
    svc = LiveService(_reference(), SimOptions(duration=float("inf"), seed=7),
                      get_dialect("opencensus"))
    svc.start()
    first = svc.submit(0.0, profile=Txt2Img(steps=STEPS))
    t = 0.0
    while first.t_end < 0:
        t = svc.next_time()
        svc.advance(t)
    pod = first.pod
    assert pod is not None
    rev = svc.revs[pod.rev]
    gateway = rev.acts[0]
    assert gateway.conc == 0
    pinned = svc.submit(t + 0.5, profile=Txt2Img(steps=STEPS), pod=pod)
    assert pinned.pod is pod and pinned.via
    assert gateway.conc == 1 and gateway.inflight[pod.id] == 1
    while pinned.t_end < 0:
        svc.advance(svc.next_time())
    assert pinned.code == 200
    assert gateway.conc == 0 and gateway.inflight[pod.id] == 0


def _wait_for_zero(runner: TwinThread, key: tuple[str, str], after: float,
                   limit: float) -> float | None:
    """The twin-clock time its revision first logged zero ready pods after ``after``."""
    live = runner.twin
    rev = live.services[key].revs[0]

    def first_zero() -> float | None:
        times = [c[0] for c in rev.counts if c[0] > after and c[1] == 0]
        return min(times) if times else None

    return eventually(lambda: runner.call(first_zero), timeout=limit, interval=0.1,
                      until=lambda found: found is not None,
                      what="the live twin back at zero pods")


@pytest.mark.timeout(240)
def test_live_twin_returns_to_zero_when_virtual_time_does() -> None:
    spec = _reference()
    runner = TwinThread(LiveTwin([spec]))
    runner.start()
    live = runner.twin
    key = (spec.namespace, spec.name)
    svc = live.services[key]
    try:
        config = LoadTestConfig(url=f"{live.gateway_url}/services/{key[0]}/{key[1]}",
                                concurrency=CLIENTS, requests=CLIENTS * PER_CLIENT,
                                payload=Txt2ImgOptions(steps=STEPS, seed=3), timeout_s=120.0)
        summary = run_loadtest(config)
        assert summary.status_codes == {"200": CLIENTS * PER_CLIENT}, summary.status_codes
        time.sleep(0.3)  # the last responses' bookkeeping runs on the twin's loop
        # Times on the twin's clock, as its events ran: a slow machine delays when they run,
        # not the times they carry.
        last = runner.call(lambda: max(r.t_end for r in svc.requests))
        assert runner.call(lambda: sum(1 for r in svc.requests if r.via)) == CLIENTS * PER_CLIENT
        zero = _wait_for_zero(runner, key, last, limit=WINDOW + 60.0)
        assert zero is not None, "the live twin never went back to zero pods"
        live_ttz = zero - last
    finally:
        runner.stop()
    # Same revision seed: the same decider tick and gateway stat phases as the live Service.
    virtual_ttz = _virtual_time_to_zero(spec, svc.options.seed)
    assert live_ttz >= WINDOW, (live_ttz, virtual_ttz)
    assert virtual_ttz >= WINDOW, virtual_ttz
    assert abs(live_ttz - virtual_ttz) <= 2.0 + TICK, (live_ttz, virtual_ttz)
