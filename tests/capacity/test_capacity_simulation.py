"""Analytic M/D/c and M/M/c values against discrete-event simulations of the same FCFS queues.

Tolerances are set from the seed-to-seed spread of these simulations (measured over 6-10 seeds
at the lengths used here), not tuned to one seed: the fixed seeds only make runs repeatable.
"""

import heapq

import numpy as np
import pytest

from sdobs.capacity.erlang import erlang_c
from sdobs.capacity.mdc import mdc_response_quantile, mdc_wait_distribution
from sdobs.capacity.mmc import mmc_mean_wait, mmc_prob_wait, mmc_wait_quantile

WARM_UP = 0.05  # fraction of arrivals dropped while the empty start-up state washes out


def simulate_mdc_waits(rate: float, service: float, servers: int, n: int, seed: int) -> np.ndarray:
    """FCFS waits in M/D/c, vectorised: with equal service times customer i takes the server
    that customer i - c freed, so start_i = max(arrival_i, start_{i-c} + D), a Lindley recursion
    per residue class i mod c, solved by a running maximum of (arrival_j - jD)."""
    rng = np.random.default_rng(seed)
    n -= n % servers
    arrivals = np.cumsum(rng.exponential(1.0 / rate, n)).reshape(-1, servers)
    lag = np.arange(arrivals.shape[0])[:, None] * service
    starts = lag + np.maximum.accumulate(arrivals - lag, axis=0)
    waits = (starts - arrivals).ravel()
    return waits[int(WARM_UP * n) :]


def simulate_mmc_waits(rate: float, service: float, servers: int, n: int, seed: int) -> np.ndarray:
    """FCFS waits in M/M/c with a heap of server free times: each arrival takes the earliest."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, n)).tolist()
    services = rng.exponential(service, n).tolist()
    free = [0.0] * servers
    waits = np.empty(n)
    for i in range(n):
        a, f = arrivals[i], free[0]
        start = a if a > f else f
        waits[i] = start - a
        heapq.heapreplace(free, start + services[i])
    return waits[int(WARM_UP * n) :]


# docs/queueing.md §4 rows: S = 4 s, rho from 0.67 to 0.8.
MDC_ROWS = [(0.5, 3), (1.0, 5), (1.0, 6), (2.0, 10), (2.0, 11)]


@pytest.mark.parametrize("rate, servers", MDC_ROWS)
def test_mdc_simulation_matches_exact_distribution(rate, servers):
    # 1M arrivals: seed-to-seed spread about +-1 % (P_w), +-2 % (mean), +-2.5 % (P99).
    waits = simulate_mdc_waits(rate, 4.0, servers, 1_000_000, seed=servers)
    exact = mdc_wait_distribution(rate, 4.0, servers)
    assert np.mean(waits > 0) == pytest.approx(exact.p_wait, rel=0.05)
    assert np.mean(waits) == pytest.approx(exact.mean, rel=0.05)
    assert np.quantile(waits, 0.99) == pytest.approx(exact.quantile(0.99), rel=0.04)
    # The deterministic response-time quantile is S + W99 exactly.
    assert np.quantile(waits + 4.0, 0.99) == pytest.approx(
        mdc_response_quantile(0.99, rate, 4.0, servers), rel=0.03
    )


def test_mdc_simulation_at_five_hundred_servers():
    # rho = 0.95, 4M arrivals (each server chain is only 8000 long): spread +-4 % (P_w), +-6 %
    # (mean), +-6 % (P99) over six seeds, hence the looser bounds. Erlang C is 12 % high here.
    rate, servers = 475 / 4, 500
    waits = simulate_mdc_waits(rate, 4.0, servers, 4_000_000, seed=500)
    exact = mdc_wait_distribution(rate, 4.0, servers)
    assert np.mean(waits > 0) == pytest.approx(exact.p_wait, rel=0.07)
    assert np.mean(waits) == pytest.approx(exact.mean, rel=0.10)
    assert np.quantile(waits, 0.99) == pytest.approx(exact.quantile(0.99), rel=0.10)
    assert np.mean(waits > 0) < erlang_c(servers, rate * 4.0)


@pytest.mark.parametrize("rate, servers", [(0.5, 3), (1.0, 6)])
def test_mmc_simulation_matches_erlang_c(rate, servers):
    # rho = 0.67, 400k arrivals: spread about +-1.5 % (P_w) and +-3 % (mean) over ten seeds.
    waits = simulate_mmc_waits(rate, 4.0, servers, 400_000, seed=servers)
    assert np.mean(waits > 0) == pytest.approx(mmc_prob_wait(rate, 4.0, servers), rel=0.05)
    assert np.mean(waits) == pytest.approx(mmc_mean_wait(rate, 4.0, servers), rel=0.05)
    assert np.quantile(waits, 0.99) == pytest.approx(
        mmc_wait_quantile(0.99, rate, 4.0, servers), rel=0.08
    )


def test_mm_c_simulator_agrees_with_the_md_c_one_on_deterministic_service():
    # Guards the vectorised M/D/c recursion with the plain heap simulator on the same arrivals.
    rng = np.random.default_rng(7)
    arrivals = np.cumsum(rng.exponential(1.0, 30_000))
    free = [0.0] * 4
    heap_waits = np.empty(arrivals.size)
    for i, a in enumerate(arrivals):
        start = max(a, free[0])
        heap_waits[i] = start - a
        heapq.heapreplace(free, start + 3.2)
    n = arrivals.size
    lag = np.arange(n // 4)[:, None] * 3.2
    grid = arrivals.reshape(-1, 4)
    lindley = (lag + np.maximum.accumulate(grid - lag, axis=0) - grid).ravel()
    np.testing.assert_allclose(lindley, heap_waits, atol=1e-9)
