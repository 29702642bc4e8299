"""Open loop: arrivals at a rate, latency from the intended send time, lag reported apart."""

from __future__ import annotations

import numpy as np
import pytest

from sdobs.loadtest import LoadTest, LoadTestConfig
from sdobs.loadtest.runner import arrivals


def test_constant_and_poisson_arrivals() -> None:
    constant = list(arrivals(LoadTestConfig(url="http://x", rate=4.0, requests=5)))
    assert constant == [0.0, 0.25, 0.5, 0.75, 1.0]
    cfg = LoadTestConfig(
        url="http://x", rate=50.0, requests=4000, arrival="poisson", arrival_seed=3
    )
    times = list(arrivals(cfg))
    assert times == list(arrivals(cfg))  # seeded: reproducible
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(1 / 50, rel=0.06)
    assert gaps.std() == pytest.approx(1 / 50, rel=0.1)  # exponential: std = mean
    bounded = list(arrivals(LoadTestConfig(url="http://x", rate=10.0, duration_s=1.0)))
    assert len(bounded) == 10 and bounded[-1] < 1.0


def test_open_loop_latency_counts_from_the_intended_send_time(fake_a1111) -> None:
    server = fake_a1111(delay=0.05)
    # 100/s arrivals but at most 2 in flight of 50 ms each (40/s): requests queue in the client.
    config = LoadTestConfig(url=server.url, rate=100.0, requests=30, max_in_flight=2)
    test = LoadTest(config)
    s = test.run()
    assert s.requests == 30 and s.success == 1.0 and server.max_in_flight <= 2
    recs = sorted(test.records, key=lambda r: r.seq)
    assert [r.scheduled for r in recs] == [i / 100 for i in range(30)]
    assert all(r.latency == pytest.approx(r.lag + (r.end - r.start)) for r in recs)
    assert s.scheduling_lag is not None and s.scheduling_lag.max > 0.2  # the backlog shows
    service = np.array([r.end - r.start for r in recs])
    assert s.latencies is not None and s.latencies.p50 > np.percentile(service, 50) + 0.1
    assert s.scheduling_lag.p99 == float(np.percentile([r.lag for r in recs], 99))
    table = s.table()
    assert "Scheduling lag" in table and "open loop" in table


@pytest.mark.timing
def test_open_loop_with_headroom_has_little_lag(fake_a1111) -> None:
    server = fake_a1111(delay=0.005)
    s = LoadTest(
        LoadTestConfig(url=server.url, rate=100.0, requests=50, arrival="poisson", arrival_seed=1)
    ).run()
    assert s.success == 1.0 and s.requests == 50
    assert s.scheduling_lag is not None and s.scheduling_lag.p50 < 0.02
    assert s.mode == "open" and s.settings["arrival"] == "poisson"


def test_open_loop_duration_bound(fake_a1111) -> None:
    server = fake_a1111()
    s = LoadTest(LoadTestConfig(url=server.url, rate=20.0, duration_s=0.5)).run()
    assert s.requests == 10 and s.stop_reason == "duration reached"
