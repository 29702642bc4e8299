"""Traffic, the WebUI's service times and errors (docs/service-times.md, docs/a1111-api.md §5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sim_helpers import SD20, kpa, service

from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.servicetime import GPUS, ServiceTimeModel, Txt2Img, mean_seconds
from sdobs.sim.traffic import Bursts, Diurnal, Poisson, Replay, RequestMix, Traffic


def test_poisson_rate_and_daily_profile() -> None:
    rng = np.random.default_rng(1)
    flat = Poisson(2.0).arrivals(0, 10_000, rng)
    assert len(flat) == pytest.approx(20_000, rel=0.03)
    assert np.all(np.diff(flat) >= 0) and flat[-1] < 10_000
    day = Diurnal(peak_hour=12, floor=0.0, utc_offset_hours=0)
    shaped = Poisson(1.0, diurnal=day).arrivals(0, 86_400, rng)
    hours = (shaped // 3600).astype(int)
    counts = np.bincount(hours, minlength=24)
    assert counts[12] > 10 * max(counts[0], 1)  # busy at noon, nearly idle at midnight
    assert len(shaped) == pytest.approx(86_400 / 2, rel=0.05)  # the mean of the wave is 1/2


def test_bursts_multiply_the_rate() -> None:
    rng = np.random.default_rng(2)
    src = Poisson(0.5, bursts=Bursts(per_day=24, multiplier=5, duration=600))
    _, rate = src.rates(0, 86_400, rng)
    assert rate.max() > 2.0 and np.median(rate) == pytest.approx(0.5)


def test_replay_from_a_series_and_a_csv(tmp_path) -> None:
    rng = np.random.default_rng(3)
    series = pd.Series([1.0, 0.0, 4.0], index=[0.0, 1000.0, 2000.0])
    arrivals = Replay.from_series(series).arrivals(0, 3000, rng)
    counts = np.histogram(arrivals, bins=[0, 1000, 2000, 3000])[0]
    assert counts[1] == 0
    assert counts[0] == pytest.approx(1000, rel=0.1) and counts[2] == pytest.approx(4000, rel=0.1)
    csv = tmp_path / "rates.csv"
    csv.write_text("time,rps\n2024-06-01T00:00:00Z,2\n2024-06-01T00:10:00Z,0\n")
    replay = Replay.from_csv(csv)
    assert replay.epoch
    start = pd.Timestamp("2024-06-01T00:00:00Z").timestamp()
    got = replay.arrivals(start, 1200, rng)
    assert got.max() < 600 and len(got) == pytest.approx(1200, rel=0.15)
    with pytest.raises(ValueError, match="increase"):
        Replay((1.0, 0.5), (1.0, 1.0))


def test_service_times_per_gpu() -> None:
    sd20 = Txt2Img(steps=20)
    t4 = mean_seconds(GPUS["t4"], sd20)
    assert 20 / 5.5 < t4 < 20 / 5.5 + 0.7  # sampling plus fixed costs
    order = sorted(GPUS, key=lambda g: mean_seconds(GPUS[g], sd20))
    assert order[0] == "h100-80gb" and order[-1] == "p4"
    assert mean_seconds(GPUS["p100"], sd20) > 1.8 * t4  # half the speed of a T4
    big = mean_seconds(GPUS["t4"], Txt2Img(steps=20, width=768, height=768))
    assert big > 2.25 * (t4 - 0.5)  # more than linear in pixels
    batch = mean_seconds(GPUS["t4"], Txt2Img(steps=20, batch_size=4))
    assert 3.5 * t4 < batch < 4 * t4  # a little cheaper per image
    assert mean_seconds(GPUS["t4"], Txt2Img(steps=20, n_iter=2)) > 1.95 * t4


def test_errors_the_webui_returns() -> None:
    t4 = ServiceTimeModel("t4", spread=False)
    assert t4.outcome(Txt2Img(sampler_name="Euler z")).status == 400
    assert t4.outcome(Txt2Img(steps=0)).status == 422
    assert not t4.outcome(Txt2Img(steps=0)).uses_gpu  # answered before the queue lock
    p4 = ServiceTimeModel("p4", spread=False)
    oom = p4.outcome(Txt2Img(steps=20, batch_size=4))
    assert (oom.status, oom.uses_gpu) == (500, True)  # 8 GB cannot hold it
    assert t4.outcome(Txt2Img(steps=20, batch_size=4)).status == 200
    late = ServiceTimeModel("t4", spread=False).outcome(Txt2Img(steps=20, width=1280,
                                                                height=1280))
    assert late.status == 500 and late.seconds > 10  # sampled, then the VAE decode failed
    with pytest.raises(ValueError, match="unknown GPU"):
        ServiceTimeModel("v99")


def test_spread_is_small_and_mean_preserving() -> None:
    model = ServiceTimeModel("a10")
    rng = np.random.default_rng(4)
    bodies = [Txt2Img(steps=30)]
    status, secs, uses = model.sample(bodies, np.zeros(20_000, dtype=int), rng)
    mean = mean_seconds(GPUS["a10"], bodies[0])
    assert secs.mean() == pytest.approx(mean, rel=0.005)
    assert 0.01 < secs.std() / mean < 0.06
    assert set(status.tolist()) == {200} and uses.all()


def test_mixed_errors_reach_the_metrics_log() -> None:
    mix = RequestMix(SD20.profiles, unknown_sampler=0.1, bad_body=0.05)
    svc = service(kpa(min_scale="1"))
    log = simulate_service(svc, Traffic(sources=[Poisson(0.2)], mix=mix),
                           SimOptions(duration=3600, seed=9))
    codes = log.requests["code"]
    share = {c: (codes == c).mean() for c in (200, 400, 422)}
    assert share[400] == pytest.approx(0.1, abs=0.03) and share[422] == pytest.approx(0.05,
                                                                                      abs=0.02)
    fast = (log.requests["code_app"] == 400)
    lat = (log.requests["t_app_done"] - log.requests["t_app"])[fast]
    assert lat.max() < 0.05  # validation errors take milliseconds


def test_recorded_arrivals_replay_exactly() -> None:
    from sdobs.sim.traffic import Recorded

    svc = service(kpa(min_scale="1"))
    log = simulate_service(svc, Traffic(sources=[Recorded((300.0, 10.0, 10.5, 9999.0))], mix=SD20),
                           SimOptions(duration=600))
    assert log.requests["t"].tolist() == [10.0, 10.5, 300.0]
