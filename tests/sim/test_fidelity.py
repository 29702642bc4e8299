"""The twin against known answers (docs/kpa.md, docs/queueing.md): Knative's code, queueing theory.

Each test is a scenario with an answer fixed in advance: the KPA decisions at cold start, the
reference service under ``hey -c 5 -n 20``, activator queueing up to ``timeoutSeconds``,
queue-proxy overflow without the activator, and steady-state waits against M/D/c.
"""

from __future__ import annotations

import numpy as np
import pytest
from sim_helpers import SD20, kpa, service

from sdobs.capacity import cosmetatos_mean_wait, mdc_wait_quantile
from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.manifest import load_files
from sdobs.sim.scenarios import REFERENCE_MANIFEST as REFERENCE
from sdobs.sim.servicetime import ServiceTimeModel, Txt2Img
from sdobs.sim.traffic import ClosedLoop, Poisson, Traffic


def closed(clients: int, total: int, start: float = 5.0) -> Traffic:
    return Traffic(closed=[ClosedLoop(clients, total, start=start)], mix=SD20)


def test_one_request_at_zero_with_cc1_tu70_wants_two_pods_and_panics() -> None:
    svc = service(kpa(target_utilization_percentage="70"))
    log = simulate_service(svc, closed(1, 1), SimOptions(duration=120))
    ticks = log.revisions[0].ticks
    assert ticks["t"][0] == 0 and ticks["desired"][0] == 0  # settled at zero scale
    # The activator's immediate stat pokes the decider at the request's arrival.
    assert ticks["t"][1] == pytest.approx(5.0)
    assert ticks["desired"][1] == 2  # ceil(1 / 0.7)
    assert ticks["panic_mode"][1] == 1  # 2 / max(1, 0 ready) >= 2.0
    counts = log.revisions[0].counts
    assert counts["requested"].max() == 2
    assert log.requests["code"].tolist() == [200]


def test_reference_service_with_five_clients_scales_to_five_and_back_to_zero() -> None:
    services, _ = load_files([REFERENCE])
    svc = services[0]
    rev = svc.revisions[0]
    assert (rev.autoscaler_class, rev.container_concurrency, rev.kpa.target) == ("mpa", 1, 1.0)
    log = simulate_service(svc, closed(5, 20, start=10.0), SimOptions(duration=900, seed=3))
    req = log.requests
    assert len(req["code"]) == 20
    assert set(req["code"].tolist()) == {200}
    counts = log.revisions[0].counts
    assert counts["requested"].max() == 5  # five pods, no more
    assert len(log.pods["created"]) == 5
    last_response = req["t_end"].max()
    # Desired scale reaches 0 one stable window after the last busy second...
    ticks = log.revisions[0].ticks
    zero = ticks["t"][(ticks["t"] > last_response) & (ticks["desired"] == 0)][0]
    assert 60 <= zero - last_response <= 64
    # ... and the deployment is scaled to 0 at once (the gateway is in the path all along),
    # the last pods leaving after their 30 s drain.
    scaled_to_zero = counts["t"][(counts["t"] > last_response) & (counts["requested"] == 0)][0]
    assert scaled_to_zero - zero <= 4
    gone = log.pods["gone"].max()
    assert 60 <= gone - last_response <= 60 + 30 + 6


def test_requests_wait_in_the_activator_at_max_scale_and_time_out_with_504() -> None:
    svc = service(kpa(min_scale="1", max_scale="1"), timeout=60)
    log = simulate_service(svc, closed(30, 30), SimOptions(duration=300, spread=False))
    req = log.requests
    seconds = ServiceTimeModel("t4", spread=False).outcome(Txt2Img(steps=20)).seconds
    order = np.argsort(req["t"], kind="stable")
    codes = req["code"][order]
    latency = (req["t_end"] - req["t"])[order]
    served = int(60 // seconds)  # FCFS: the k-th finishes at k × S
    assert codes[:served].tolist() == [200] * served
    assert codes[served:].tolist() == [504] * (30 - served)
    np.testing.assert_allclose(latency[:served], seconds * np.arange(1, served + 1), rtol=1e-9)
    np.testing.assert_allclose(latency[served:], 60.0)
    # The one in service at the deadline was cancelled under queue-proxy (502 there);
    # the rest never left the activator's queue.
    assert req["code_qp"][order][served] == 502
    assert (req["pod"][order][served + 1:] == -1).all()
    assert log.revisions[0].counts["requested"].max() == 1


def test_without_the_activator_the_twelfth_concurrent_request_gets_503() -> None:
    svc = service(kpa(min_scale="1", max_scale="1", target_burst_capacity="0"))
    log = simulate_service(svc, closed(12, 12), SimOptions(duration=300, spread=False))
    req = log.requests
    assert not req["via"].any()  # served straight by queue-proxy
    order = np.argsort(req["t"], kind="stable")
    assert req["code"][order].tolist() == [200] * 11 + [503]
    assert req["code_qp"][order][-1] == 503
    assert req["t_end"][order][-1] == req["t"][order][-1]  # rejected at once


@pytest.mark.parametrize(("servers", "rho"), [(5, 0.75), (2, 0.7)])
def test_steady_state_waits_match_mdc(servers: int, rho: float) -> None:
    svc = service(kpa(min_scale=str(servers), max_scale=str(servers)))
    seconds = ServiceTimeModel("t4", spread=False).outcome(Txt2Img(steps=20)).seconds
    rate = rho * servers / seconds
    arrivals = 100_000
    log = simulate_service(
        svc, Traffic(sources=[Poisson(rate)], mix=SD20),
        SimOptions(duration=arrivals / rate, spread=False, seed=11),
    )
    req = log.requests
    done = req["code"] > 0  # a few are still in flight when the run stops
    assert set(req["code"][done].tolist()) == {200}
    assert (~done).sum() <= servers + 50
    steady = (req["t"] > 50 * seconds) & (req["t_qp"] >= 0)
    wait = (req["t_qp"] - req["t"])[steady]  # time queued in the activator
    mean_ref = float(cosmetatos_mean_wait(rate, seconds, servers))
    p99_ref = float(mdc_wait_quantile(0.99, rate, seconds, servers))
    assert wait.mean() == pytest.approx(mean_ref, rel=0.05)
    assert np.quantile(wait, 0.99) == pytest.approx(p99_ref, rel=0.10)
    # Pods stayed as configured: no scaling, every request through the activator.
    assert len(log.pods["created"]) == servers
    assert req["via"].all()
