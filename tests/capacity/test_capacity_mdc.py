"""Exact M/D/c waiting time against closed forms, an independent series and the approximations."""

import math

import numpy as np
import pytest
from scipy.stats import poisson

from sdobs.capacity.erlang import erlang_c
from sdobs.capacity.mdc import (
    MDcGridTooLarge,
    MDcUnstable,
    mdc_mean_wait,
    mdc_prob_wait,
    mdc_response_quantile,
    mdc_wait_distribution,
    mdc_wait_tail,
)
from sdobs.capacity.mgc import allen_cunneen_mean_wait, cosmetatos_mean_wait, mgc_wait_quantile
from sdobs.capacity.sizing import pods_for_p99


def spitzer_queue_pmf(a: float, c: int, size: int, terms: int) -> np.ndarray:
    """P(X = m) for X' = max(X + Poisson(a) - c, 0) from Spitzer's identity: no roots, no FFT.

    log E[z^X] = sum_{j>=1} nu_j (z^j - 1), nu_j = sum_n P(Poisson(na) = nc + j)/n, a compound
    Poisson law whose pmf follows from m*Q_m = sum_j j*nu_j*Q_{m-j}; every term is positive.
    """
    n = np.arange(1, terms + 1)[:, None]
    j = np.arange(1, size)[None, :]
    nu = (poisson.pmf(n * c + j, n * a) / n).sum(axis=0)
    total = (poisson.sf(n[:, 0] * c, n[:, 0] * a) / n[:, 0]).sum()
    pmf = np.zeros(size)
    pmf[0] = math.exp(-total)
    jnu = np.arange(1, size) * nu
    for m in range(1, size):
        pmf[m] = np.dot(jnu[:m], pmf[m - 1 :: -1][:m]) / m
    return pmf


@pytest.mark.parametrize(
    "c, rho, terms",
    [(1, 0.8, 3000), (2, 0.9, 3000), (5, 0.7, 2000), (20, 0.9, 1000), (500, 0.95, 120)],
)
def test_queue_length_law_matches_spitzers_series(c, rho, terms):
    exact = mdc_wait_distribution(rho * c, 1.0, c).queue_pmf
    size = min(exact.size, 300)
    series = spitzer_queue_pmf(rho * c, c, size, terms)
    np.testing.assert_allclose(exact[:size], series, rtol=0, atol=1e-12)
    assert np.all(np.isfinite(exact)) and exact.sum() == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("rho", [0.3, 0.5, 0.8, 0.95])
def test_md1_matches_erlangs_closed_form_and_pollaczek_khinchine(rho):
    # Erlang (1909), x_k = lam(kD - t): P(W <= t) = (1 - rho) sum_{k <= t/D} x_k^k/k! e^{-x_k}.
    d, lam = 2.0, rho / 2.0
    dist = mdc_wait_distribution(lam, d, 1)
    for t in np.linspace(0.0, 5.5 * d, 23):
        k = np.arange(0, int(t // d) + 1)
        x = lam * (k * d - t)
        erlang = (1 - rho) * np.sum(x**k / np.array([math.factorial(i) for i in k]) * np.exp(-x))
        assert dist.cdf(t) == pytest.approx(erlang, abs=1e-10)
    assert dist.mean == pytest.approx(rho * d / (2 * (1 - rho)), rel=1e-9)
    assert dist.p_wait == pytest.approx(rho, rel=1e-12)


def test_distribution_is_continuous_monotone_and_inverts():
    dist = mdc_wait_distribution(2.0, 4.0, 10)
    t = np.concatenate([np.linspace(0, 40, 801), 4.0 * np.arange(1, 9) - 1e-9])
    sf = np.array([dist.sf(x) for x in np.sort(t)])
    assert np.all(np.diff(sf) <= 1e-15)
    for k in range(1, 8):  # no jump at multiples of D
        assert dist.sf(4.0 * k - 1e-9) == pytest.approx(dist.sf(4.0 * k), abs=1e-8)
    for p in (0.7, 0.9, 0.99, 0.999):
        assert dist.sf(dist.quantile(p)) == pytest.approx(1 - p, rel=1e-7)
    assert dist.quantile(0.5) == 0.0  # P(wait) = 0.385
    assert dist.sf(np.array([-1.0, 0.0]))[0] == 1.0
    # The mean from Little's law equals the integral of the tail.
    grid = np.linspace(0, 80, 8001)
    integral = np.trapezoid(np.array([dist.sf(x) for x in grid]), grid)
    assert integral == pytest.approx(dist.mean, rel=1e-5)


def test_reference_table_simulation_column():
    # docs/queueing.md §4, S = 4 s, "sim" values (400k arrivals, one seed, 2-3 digits):
    # exact M/D/c must sit within that simulation's noise.
    rows = [  # (lam, c, P_w sim, Wq sim, W99 sim)
        (0.5, 3, 0.427, 0.93, 7.0),
        (1.0, 5, 0.534, 1.15, 7.5),
        (1.0, 6, 0.266, 0.31, 3.2),
        (2.0, 10, 0.386, 0.44, 3.6),
        (2.0, 11, 0.227, 0.18, 2.2),
    ]
    for lam, c, pw, wq, w99 in rows:
        d = mdc_wait_distribution(lam, 4.0, c)
        assert d.p_wait == pytest.approx(pw, rel=0.03)
        assert d.mean == pytest.approx(wq, rel=0.03)
        assert d.quantile(0.99) == pytest.approx(w99, rel=0.04)


def _errors(grid):
    out = {"cosmetatos": [], "allen-cunneen": [], "tail": [], "erlang_c": []}
    for c in (1, 2, 5, 10, 20):
        for rho in grid:
            lam = rho * c
            d = mdc_wait_distribution(lam, 1.0, c)
            out["cosmetatos"].append(cosmetatos_mean_wait(lam, 1.0, c) / d.mean - 1)
            out["allen-cunneen"].append(allen_cunneen_mean_wait(lam, 1.0, c, 0.0) / d.mean - 1)
            out["erlang_c"].append(erlang_c(c, lam) / d.p_wait - 1)
            exact99 = d.quantile(0.99)
            if exact99 > 0:  # c = 20, rho = 0.5 waits with probability 0.35 %: W99 = 0
                w99 = mgc_wait_quantile(0.99, lam, 1.0, c, 0.0, "cosmetatos")
                out["tail"].append(w99 / exact99 - 1)
    return {k: (100 * min(v), 100 * max(v)) for k, v in out.items()}


def test_approximation_errors_are_the_references_on_its_grid():
    # docs/queueing.md §4 states, against exact M/D/c for c in {1,2,5,10,20}: Cosmetatos mean
    # -1.3 % .. +0.6 %, Allen-Cunneen -33 % .. 0 %, exponential-tail P99 -9 % .. +18 %, Erlang C
    # overstating P(wait) by up to 11 %. Those figures are reproduced on rho in {0.5, 0.7, 0.9}.
    err = _errors((0.5, 0.7, 0.9))
    assert err["cosmetatos"] == pytest.approx((-1.27, 0.59), abs=0.05)
    assert err["allen-cunneen"] == pytest.approx((-33.4, 0.0), abs=0.1)
    assert err["tail"] == pytest.approx((-8.8, 18.2), abs=0.1)
    assert err["erlang_c"] == pytest.approx((0.0, 10.8), abs=0.1)


def test_approximation_errors_on_the_finer_load_grid():
    # At rho = 0.6 (c = 20) Cosmetatos errs by -2.4 %, outside docs/queueing.md's -1.3 % bound; the
    # other ranges barely move. Recorded here so the model notes stay honest.
    err = _errors((0.5, 0.6, 0.7, 0.8, 0.9))
    assert -2.5 < err["cosmetatos"][0] < -2.3 and err["cosmetatos"][1] < 0.6
    assert err["allen-cunneen"][0] > -33.5 and err["allen-cunneen"][1] <= 1e-9
    assert err["tail"][0] > -9.6 and err["tail"][1] < 18.3


def test_five_hundred_servers():
    lam, s, c = 475 / 4, 4.0, 500  # rho = 0.95
    d = mdc_wait_distribution(lam, s, c)
    assert np.all(np.isfinite(d.queue_pmf))
    pw_c = erlang_c(c, lam * s)
    assert 0.1 < d.p_wait < pw_c  # Erlang C overstates P(wait) for deterministic service
    assert pw_c / d.p_wait - 1 == pytest.approx(0.123, abs=0.005)
    assert cosmetatos_mean_wait(lam, s, c) == pytest.approx(d.mean, rel=0.005)
    assert mgc_wait_quantile(0.99, lam, s, c, 0.0, "cosmetatos") == pytest.approx(
        d.quantile(0.99), rel=0.01
    )
    light = mdc_wait_distribution(250 / 4, s, c)  # rho = 0.5: waiting is astronomically rare
    assert 0 <= light.p_wait < 1e-12 and light.quantile(0.99) == 0.0


def test_vectorised_wrappers_and_unstable_points():
    pw = mdc_prob_wait([0.5, 1.0, 2.0, 3.0], 4.0, [3, 5, 10, 10])
    assert pw[-1] == 1.0 and np.all(pw[:3] < 1)
    assert np.isinf(mdc_mean_wait(1.0, 4.0, 4))
    assert mdc_response_quantile(0.99, 2.0, 4.0, 10) == pytest.approx(
        4.0 + mdc_wait_distribution(2.0, 4.0, 10).quantile(0.99)
    )
    tail = mdc_wait_tail([0.0, 1.0, 100.0], 0.5, 4.0, 3)
    assert tail[0] == pytest.approx(pw[0]) and 0 < tail[2] < 1e-9
    with pytest.raises(MDcUnstable):
        mdc_wait_distribution(1.0, 4.0, 4)


def test_near_saturation_is_accurate_or_refused_clearly():
    heavy = mdc_wait_distribution(0.999, 1.0, 1)
    assert heavy.mean == pytest.approx(0.999 / (2 * 0.001), rel=1e-7)
    with pytest.raises(MDcGridTooLarge) as err:
        mdc_wait_distribution(0.9999 * 500, 1.0, 500)
    assert err.value.servers == 500 and "approximations" in str(err.value)
    # Sizing with the exact method still answers, treating such points as not meeting the SLO.
    assert pods_for_p99(99.97 / 4, 4.0, 0.0, 4.5, method="exact") > 100
