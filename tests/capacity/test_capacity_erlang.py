"""Erlang B/C and exact M/M/c against textbook values, independent formulas and large c."""

import numpy as np
import pytest
from scipy.stats import poisson

from sdobs.capacity.erlang import erlang_b, erlang_c, halfin_whitt_prob_wait, square_root_staffing
from sdobs.capacity.inputs import QueueInputError
from sdobs.capacity.mgc import mgc_mean_wait, mgc_wait_quantile
from sdobs.capacity.mmc import (
    mmc_mean_wait,
    mmc_response_quantile,
    mmc_response_tail,
    mmc_wait_quantile,
    mmc_wait_tail,
)


@pytest.mark.parametrize("a", [0.1, 0.5, 1.0, 3.0, 10.0])
def test_erlang_b_matches_its_definition_for_one_and_two_servers(a):
    # B(c, a) = (a^c/c!) / sum_{k<=c} a^k/k!  (Erlang 1917), written out for c = 1 and 2.
    assert erlang_b(1, a) == pytest.approx(a / (1 + a), rel=1e-14)
    assert erlang_b(2, a) == pytest.approx(a**2 / 2 / (1 + a + a**2 / 2), rel=1e-14)
    assert erlang_b(0, a) == 1.0
    assert erlang_b(3, 0.0) == 0.0


def test_erlang_b_textbook_values():
    # B(10, 5) = 0.018385 and the 1 % column of the Erlang B table (N = 10, 20, 50, 100 trunks
    # carry A = 4.461, 12.031, 37.901, 84.064 Erlangs; e.g. ITU-D/DTU Teletraffic Engineering
    # Handbook, Iversen, Table of Erlang's B-formula). A is printed to 4-5 digits, so B is 1 %
    # to within about 0.5 %.
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=5e-7)
    blocking = erlang_b([10, 20, 50, 100], [4.461, 12.031, 37.901, 84.064])
    np.testing.assert_allclose(blocking, 0.01, rtol=5e-3)


def test_erlang_b_recursion_matches_the_poisson_ratio_up_to_thousands_of_servers():
    # Independent formula: B(c, a) = P(Poisson(a) = c) / P(Poisson(a) <= c), in log space.
    c = np.array([1, 2, 5, 10, 50, 100, 500, 1000, 2000])[:, None]
    rho = np.array([0.1, 0.5, 0.8, 0.95, 1.0, 1.5])[None, :]
    a = c * rho
    expected = np.exp(poisson.logpmf(c, a) - poisson.logcdf(c, a))
    np.testing.assert_allclose(erlang_b(c, a), expected, rtol=1e-9)


def test_erlang_c_closed_forms_and_reference_values():
    a = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(erlang_c(1, a), a, rtol=1e-14)  # M/M/1: P(wait) = rho
    a2 = np.array([0.2, 1.0, 1.9])
    np.testing.assert_allclose(erlang_c(2, a2), a2**2 / (2 + a2), rtol=1e-14)  # M/M/2
    # docs/queueing.md §4 Erlang C column (S = 4 s): .444, .554, .285, .409, .245.
    got = erlang_c([3, 5, 6, 10, 11], [2.0, 4.0, 4.0, 8.0, 8.0])
    np.testing.assert_allclose(got, [0.444, 0.554, 0.285, 0.409, 0.245], atol=6e-4)
    assert erlang_c(4, 4.0) == 1.0 and erlang_c(4, 9.0) == 1.0  # unstable: everyone waits


def test_mmc_mean_wait_and_tail_closed_forms():
    lam, s = 0.6, 1.0  # M/M/1, rho = 0.6
    assert mmc_mean_wait(lam, s, 1) == pytest.approx(lam / (1 / s) / (1 / s - lam))
    t = np.array([0.0, 0.5, 2.0, 10.0])
    np.testing.assert_allclose(mmc_wait_tail(t, lam, s, 1), 0.6 * np.exp(-(1 - lam) * t))
    # M/M/1 response time is exponential with rate mu - lambda.
    np.testing.assert_allclose(
        mmc_response_tail(t, lam, s, 1), np.exp(-(1 - lam) * t), rtol=1e-12
    )
    assert mmc_response_quantile(0.99, lam, s, 1) == pytest.approx(np.log(100) / 0.4, rel=1e-9)
    assert mmc_wait_quantile(0.99, lam, s, 1) == pytest.approx(np.log(60) / 0.4, rel=1e-12)
    assert mmc_wait_quantile(0.3, lam, s, 1) == 0.0  # P(wait) = 0.6 < 0.7: most never wait


def test_mmc_response_tail_is_continuous_where_theta_equals_mu():
    # c = 2, a = 1: theta = c*mu - lambda = mu, where the textbook formula is 0/0.
    t = np.linspace(0, 20, 41)
    at = mmc_response_tail(t, 1.0, 1.0, 2)
    pw = erlang_c(2, 1.0)
    np.testing.assert_allclose(at, (1 - pw) * np.exp(-t) + pw * (1 + t) * np.exp(-t), rtol=1e-12)
    near = mmc_response_tail(t, 1.0 + 1e-7, 1.0, 2)
    np.testing.assert_allclose(near, at, rtol=1e-5)


def test_mmc_response_quantile_inverts_the_tail():
    lam = np.array([0.5, 1.0, 2.0, 2.0])
    c = np.array([3, 5, 10, 11])
    tq = mmc_response_quantile(0.99, lam, 4.0, c)
    np.testing.assert_allclose(mmc_response_tail(tq, lam, 4.0, c), 0.01, rtol=1e-9)


def test_five_hundred_servers_are_finite_and_monotone():
    a = np.array([1e-3, 1.0, 100.0, 400.0, 475.0, 499.0, 499.999])
    b = erlang_b(500, a)
    cw = erlang_c(500, a)
    for arr in (b, cw):
        assert np.all(np.isfinite(arr)) and np.all((arr >= 0) & (arr <= 1))
    assert np.all(np.diff(cw) >= 0)  # more load, more waiting
    assert cw[-1] > 0.99 and cw[0] == 0.0
    cs = erlang_c(np.arange(476, 560), 475.0)
    assert np.all(np.diff(cs) < 0)  # more servers, less waiting
    assert erlang_b(5000, 4000.0) == pytest.approx(
        np.exp(poisson.logpmf(5000, 4000.0) - poisson.logcdf(5000, 4000.0)), rel=1e-9
    )


@pytest.mark.parametrize("beta, gap_at_500", [(0.5, 0.015), (1.0, 0.035), (2.0, 0.12)])
def test_erlang_c_approaches_halfin_whitt_as_servers_grow(beta, gap_at_500):
    # Halfin & Whitt (1981): with c = a + beta*sqrt(a), C(c, a) -> [1 + beta*Phi/phi]^-1 and the
    # relative gap shrinks like 1/sqrt(c): about sqrt(10) per decade of servers.
    gaps = []
    for c in (50, 500, 5000):
        a = ((-beta + np.sqrt(beta**2 + 4 * c)) / 2) ** 2
        gaps.append(erlang_c(c, a) / halfin_whitt_prob_wait(a, c) - 1)
    assert 0 < gaps[1] < gap_at_500
    assert 2.5 < gaps[0] / gaps[1] < 4.5 and 2.5 < gaps[1] / gaps[2] < 4.5
    assert square_root_staffing(400.0, 1.0) == 420


def test_broadcasting_and_scalars():
    rates = np.linspace(0.1, 2.0, 24)[None, :] * np.ones((500, 1))
    s = np.linspace(2, 6, 500)[:, None]
    c = np.ceil(rates * s).astype(int) + 2
    assert mmc_mean_wait(rates, s, c).shape == (500, 24)
    assert mgc_wait_quantile(0.99, rates, s, c, 0.2).shape == (500, 24)
    assert np.ndim(erlang_c(3, 2.0)) == 0
    assert np.isinf(mmc_mean_wait(1.0, 4.0, 4))


@pytest.mark.parametrize(
    "call",
    [
        lambda: erlang_b(2.5, 1.0),
        lambda: erlang_c(0, 1.0),
        lambda: mmc_mean_wait(-1.0, 1.0, 2),
        lambda: mmc_mean_wait(1.0, 0.0, 2),
        lambda: mgc_mean_wait(1.0, 1.0, 2, "lognormal"),
        lambda: mgc_mean_wait(1.0, 1.0, 2, 0.5, method="whitt"),
        lambda: mmc_wait_quantile(1.0, 1.0, 1.0, 2),
    ],
)
def test_bad_arguments_raise_a_named_error(call):
    with pytest.raises(QueueInputError):
        call()
