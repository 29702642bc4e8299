"""Pod sizing for a latency SLO, the KPA mapping and scale-to-zero, against the reference."""

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import gamma

from sdobs.capacity.inputs import QueueInputError
from sdobs.capacity.kpa_model import (
    cold_request_fraction,
    idle_time_for_cold_fraction,
    kpa_steady_state_pods,
    kpa_target_utilization_percent,
)
from sdobs.capacity.mdc import mdc_response_quantile
from sdobs.capacity.mgc import _conv_tail, mgc_response_quantile, mgc_response_tail
from sdobs.capacity.mmc import mmc_response_quantile, mmc_response_tail
from sdobs.capacity.sizing import pods_for_p99, size_for_slo


def test_reference_example_ten_pods_and_target_utilization():
    # docs/queueing.md §4: P99 <= 8 s at lam = 2/s, S = 4 s needs c = 10 vs KPA's 12 at
    # TU 0.7; TU ~ 89 % (L(10)/10 = 8.88/10) holds 10 pods.
    assert pods_for_p99(2.0, 4.0, "deterministic", 8.0) == 10
    assert pods_for_p99(2.0, 4.0, 0.0, 8.0, method="exact") == 10
    assert kpa_target_utilization_percent(2.0, 4.0, 10) == 89
    assert kpa_steady_state_pods(2.0, 4.0, 0.7) == 12
    sizing = size_for_slo(2.0, 4.0, 0.0, 8.0)
    assert sizing.pods == 10 and sizing.kpa_target_utilization_percent == 89
    assert sizing.utilisation == pytest.approx(0.8) and sizing.response_quantile <= 8.0


def test_kpa_steady_state_pods_from_the_reference():
    # docs/queueing.md §4: TU 0.7, CC 1, S 4 s: lam = 0.25 -> 2, 0.5 -> 4, 1 -> 7, 2 -> 12, 4 -> 23.
    pods = kpa_steady_state_pods([0.25, 0.5, 1.0, 2.0, 4.0], 4.0, 0.7)
    np.testing.assert_array_equal(pods, [2, 4, 7, 12, 23])


@pytest.mark.parametrize("scv", [0.0, 0.1, 0.5, 1.0, 2.0])
def test_sizing_is_minimal_and_matches_a_scalar_search(scv):
    rng = np.random.default_rng(int(scv * 10))
    rates = rng.uniform(0.05, 30.0, 40)
    s = rng.uniform(1.0, 8.0, 40)
    # SLOs from just above the service time's own 99.5th percentile to well beyond it.
    s995 = s if scv == 0 else gamma.ppf(0.995, 1 / scv, scale=s * scv)
    slo = s995 + rng.uniform(0.0, 3.0, 40) * s
    pods = pods_for_p99(rates, s, scv, slo)
    assert np.all(pods > 0)
    for lam, si, sl, c in zip(rates, s, slo, pods, strict=True):
        # Scalar reference: walk c up from the stability bound with the public tail function.
        cc = int(np.floor(lam * si)) + 1
        while mgc_response_tail(sl, lam, si, cc, scv) > 0.01:
            cc += 1
        assert c == cc
        assert mgc_response_quantile(0.99, lam, si, c, scv) <= sl * (1 + 1e-9)
        if c - 1 > lam * si:
            assert mgc_response_quantile(0.99, lam, si, c - 1, scv) > sl


def test_exponential_sizing_uses_the_exact_mmc_tail():
    rates = np.array([0.3, 1.0, 5.0, 40.0])
    pods = pods_for_p99(rates, 2.0, "exponential", 15.0)
    for lam, c in zip(rates, pods, strict=True):
        assert mmc_response_quantile(0.99, lam, 2.0, c) <= 15.0
        assert c - 1 <= lam * 2.0 or mmc_response_quantile(0.99, lam, 2.0, c - 1) > 15.0


def test_exact_method_finds_the_exact_mdc_optimum():
    rates = np.array([0.05, 0.5, 1.0, 2.0, 8.0, 30.0])
    approx = pods_for_p99(rates, 4.0, 0.0, 6.0)
    exact = pods_for_p99(rates, 4.0, 0.0, 6.0, method="exact")
    for lam, c in zip(rates, exact, strict=True):
        assert mdc_response_quantile(0.99, lam, 4.0, c) <= 6.0
        if c - 1 > lam * 4.0:
            assert mdc_response_quantile(0.99, lam, 4.0, c - 1) > 6.0
    assert np.all(np.abs(exact - approx) <= 1)


def test_gamma_response_tail_tends_to_the_deterministic_one():
    t = np.linspace(0, 30, 61)
    det = mgc_response_tail(t, 2.0, 4.0, 10, 0.0)
    near = mgc_response_tail(t, 2.0, 4.0, 10, 1e-6)
    np.testing.assert_allclose(near[t > 4.1], det[t > 4.1], atol=1e-4)
    general = mgc_response_tail(t, 2.0, 4.0, 10, 1.0, method="mmc")
    np.testing.assert_allclose(general, mmc_response_tail(t, 2.0, 4.0, 10), atol=1e-12)


def test_sizing_edges_and_shapes():
    rates = np.linspace(0.0, 20.0, 24)[None, :] * np.linspace(0.5, 2.0, 500)[:, None]
    s = np.linspace(2.0, 6.0, 500)[:, None]
    pods = pods_for_p99(rates, s, 0.05, 3 * s)
    assert pods.shape == (500, 24) and pods.dtype.kind == "i"
    assert np.all(pods[:, 0] == 0)  # no traffic, no pods
    assert np.all(np.diff(pods, axis=1) >= 0)  # more traffic never needs fewer pods
    assert pods_for_p99(1.0, 4.0, 0.0, 3.9) == -1  # the service time alone misses the SLO
    assert pods_for_p99(1.0, 4.0, 0.0, 4.0) > 4  # meetable only without waiting
    assert pods_for_p99(1.0, 4.0, 0.2, 4.0) == -1  # over 1 % of gamma services exceed 4 s
    with pytest.raises(QueueInputError):
        pods_for_p99(1.0, 4.0, 0.0, 8.0, method="simulate")
    with pytest.raises(QueueInputError):
        pods_for_p99(1.0, 4.0, 0.0, 8.0, quantile=99)


def test_five_hundred_pods():
    # lam = 120/s, S = 4 s: a = 480 Erlangs; the answer must be finite, above a, and consistent.
    c = pods_for_p99(120.0, 4.0, 0.0, 5.0)
    assert 480 < c < 560
    assert mgc_response_quantile(0.99, 120.0, 4.0, c, 0.0) <= 5.0
    assert mgc_response_quantile(0.99, 120.0, 4.0, c - 1, 0.0) > 5.0
    assert pods_for_p99(120.0, 4.0, 0.0, 5.0, method="exact") in (c - 1, c)


def test_scale_to_zero_cold_fraction_example():
    # docs/queueing.md §3 step 5: lam .05/s, T_cold 120, SLO 20, S 4 s -> T_idle ~ ln(620)/.05 - 4.
    t_idle = idle_time_for_cold_fraction(0.05, 4.0, 120.0, 20.0, 0.01)
    assert t_idle == pytest.approx(np.log(620) / 0.05 - 4, rel=1e-12)
    assert 124 < t_idle < 126
    assert cold_request_fraction(0.05, t_idle, 4.0, 120.0, 20.0) == pytest.approx(0.01)
    # With a 60 s stable window alone, far more requests hit a cold start.
    assert cold_request_fraction(0.05, 60.0, 4.0, 120.0, 20.0) > 0.2
    assert cold_request_fraction(0.0, 60.0, 4.0, 120.0, 20.0) == 0.0
    assert cold_request_fraction(0.001, 0.0, 4.0, 600.0, 20.0) <= 1.0


def test_gamma_response_tail_matches_numerical_integration():
    # P(T > t) = P(S > t) + P_w * int_0^t f_S(x) exp(-theta (t - x)) dx, theta = P_w/Wq, against
    # scipy's adaptive quadrature over both branches (closed form and Gauss-Legendre).
    rng = np.random.default_rng(3)
    for _ in range(60):
        s, scv = rng.uniform(0.5, 8), 10 ** rng.uniform(-2.5, 0.5)
        pw, wq, t = rng.uniform(0.01, 0.99), 10 ** rng.uniform(-3, 1.5) * s, rng.uniform(0, 6) * s
        theta, shape, scale = pw / wq, 1 / scv, s * scv
        breaks = [p for p in (s, t - 1 / theta, t - 5 / theta) if 0 < p < t] or None
        integral, _ = integrate.quad(
            lambda x: gamma.pdf(x, shape, scale=scale) * np.exp(-theta * (t - x)),  # noqa: B023
            0,
            t,
            points=breaks,
            limit=500,
            epsabs=1e-14,
            epsrel=1e-12,
        )
        expected = gamma.sf(t, shape, scale=scale) + pw * integral
        got = _conv_tail(np.array(t), np.array(s), np.array(scv), np.array(pw), np.array(wq))
        assert got == pytest.approx(expected, abs=2e-6)
