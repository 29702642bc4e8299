"""Queueing models for sizing GPU pods with ``containerConcurrency: 1`` (docs/queueing.md).

With the activator in the path, one Knative revision is an M/G/c queue with one central FCFS
queue: c ready pods, Poisson arrivals, inference time S. Everything here is vectorised with
numpy over arrival rates (and any other broadcastable argument) and stays finite for hundreds of
pods: Erlang B is computed by its recursion, never from factorials.

Notation as in docs/queueing.md: λ ``rate`` (1/s), S ``service_time`` (s), c ``servers`` (pods),
a = λS offered load (Erlangs), ρ = a/c, c_s² ``scv`` the squared coefficient of variation of
S (0 deterministic, 1 exponential). An unstable point (ρ ≥ 1) gives P(wait) = 1 and infinite
waits instead of an error, so a sweep over rates can cross saturation.

The exact M/D/c distribution lives in ``sdobs.capacity.mdc`` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammainc, gammaincc, gammainccinv, log_ndtr

from sdobs.capacity.mdc import (
    MDcGridTooLarge,
    MDcUnstable,
    MDcWaitingTime,
    mdc_mean_wait,
    mdc_prob_wait,
    mdc_response_quantile,
    mdc_wait_distribution,
    mdc_wait_quantile,
    mdc_wait_tail,
)

__all__ = [
    "MDcGridTooLarge",
    "MDcUnstable",
    "MDcWaitingTime",
    "MeanWaitMethod",
    "QueueInputError",
    "SloSizing",
    "allen_cunneen_mean_wait",
    "cold_request_fraction",
    "cosmetatos_mean_wait",
    "erlang_b",
    "erlang_c",
    "halfin_whitt_prob_wait",
    "idle_time_for_cold_fraction",
    "kimura_mean_wait",
    "kpa_steady_state_pods",
    "kpa_target_utilization_percent",
    "mdc_mean_wait",
    "mdc_prob_wait",
    "mdc_response_quantile",
    "mdc_wait_distribution",
    "mdc_wait_quantile",
    "mdc_wait_tail",
    "mgc_mean_wait",
    "mgc_prob_wait",
    "mgc_response_quantile",
    "mgc_response_tail",
    "mgc_wait_quantile",
    "mgc_wait_tail",
    "mmc_mean_wait",
    "mmc_prob_wait",
    "mmc_response_quantile",
    "mmc_response_tail",
    "mmc_wait_quantile",
    "mmc_wait_tail",
    "pods_for_p99",
    "size_for_slo",
    "square_root_staffing",
]

Floats = float | np.ndarray
MeanWaitMethod = Literal["auto", "cosmetatos", "kimura", "allen-cunneen", "mmc"]
ServiceScv = float | Literal["deterministic", "exponential"] | ArrayLike

# Gauss-Legendre nodes on [0, 1] for the response-time convolution when no closed form applies.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(32)
_GL_X, _GL_W = (_GL_X + 1.0) / 2.0, _GL_W / 2.0
_BISECTION_STEPS = 64


class QueueInputError(ValueError):
    """An argument outside the domain of the queueing formulas; carries the offending values."""

    def __init__(self, parameter: str, values: object, requirement: str) -> None:
        self.parameter, self.values, self.requirement = parameter, values, requirement
        super().__init__(f"{parameter} must be {requirement}, got {values!r}")


# --------------------------------------------------------------------------- input handling


def _floats(
    name: str, value: ArrayLike, *, minimum: float = 0.0, strict: bool = False
) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    bad = ~np.isfinite(arr) | ((arr <= minimum) if strict else (arr < minimum))
    if np.any(bad):
        sign = ">" if strict else ">="
        raise QueueInputError(name, arr[bad][:5].tolist(), f"finite and {sign} {minimum}")
    return arr


def _servers(value: ArrayLike, minimum: int = 1) -> np.ndarray:
    arr = np.asarray(value)
    as_float = np.asarray(arr, dtype=float)
    bad = ~np.isfinite(as_float) | (as_float < minimum) | (as_float != np.round(as_float))
    if np.any(bad):
        raise QueueInputError("servers", as_float[bad][:5].tolist(), f"integers >= {minimum}")
    return as_float.astype(np.int64)


def _scv(value: ServiceScv) -> np.ndarray:
    if isinstance(value, str):
        named = {"deterministic": 0.0, "exponential": 1.0}
        if value not in named:
            raise QueueInputError(
                "service_time_scv", value, "a number or one of " + str(list(named))
            )
        return np.asarray(named[value])
    return _floats("service_time_scv", value)


def _quantile(value: ArrayLike) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if np.any(~((arr > 0) & (arr < 1))):
        raise QueueInputError("quantile", arr[~((arr > 0) & (arr < 1))][:5].tolist(), "in (0, 1)")
    return arr


def _out(arr: np.ndarray) -> Floats:
    """Return numpy scalars for scalar inputs and arrays otherwise."""
    return arr[()] if arr.ndim == 0 else arr


def _load(
    rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike, *extra: np.ndarray
) -> tuple[np.ndarray, ...]:
    lam = _floats("rate", rate)
    s = _floats("service_time", service_time, strict=True)
    c = _servers(servers)
    return np.broadcast_arrays(lam, s, c, *extra)


# --------------------------------------------------------------------------- Erlang B / C


def erlang_b(servers: ArrayLike, offered_load: ArrayLike) -> Floats:
    """Erlang B blocking probability B(c, a) by the stable recursion B_k = aB/(k + aB).

    Work is proportional to the sum of the server counts; each element only runs the recursion
    up to its own c (elements are sorted by c and the active tail shrinks as k grows).
    """
    c, a = np.broadcast_arrays(_servers(servers, minimum=0), _floats("offered_load", offered_load))
    flat_c, flat_a = c.ravel(), a.ravel().astype(float)
    order = np.argsort(flat_c, kind="stable")
    cs, as_ = flat_c[order], flat_a[order]
    b = np.ones(cs.size)
    cmax = int(cs[-1]) if cs.size else 0
    starts = np.searchsorted(cs, np.arange(cmax + 1), side="left")
    for k in range(1, cmax + 1):
        lo = starts[k]
        ab = as_[lo:] * b[lo:]
        b[lo:] = ab / (k + ab)
    out = np.empty(cs.size)
    out[order] = b
    return _out(out.reshape(c.shape))


def erlang_c(servers: ArrayLike, offered_load: ArrayLike) -> Floats:
    """Erlang C probability of waiting C(c, a) = cB/(c − a(1 − B)); 1 where a ≥ c."""
    c, a = np.broadcast_arrays(_servers(servers), _floats("offered_load", offered_load))
    b = np.asarray(erlang_b(c, a), dtype=float)
    return _out(_erlang_c_from_b(c, a, b))


def _erlang_c_from_b(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    stable = a < c
    with np.errstate(divide="ignore", invalid="ignore"):
        cw = np.where(stable, c * b / (c - a * (1.0 - b)), 1.0)
    return np.clip(cw, 0.0, 1.0)


def halfin_whitt_prob_wait(offered_load: ArrayLike, servers: ArrayLike) -> Floats:
    """Halfin–Whitt limit of P(wait) with β = (c − a)/√a: [1 + βΦ(β)/φ(β)]⁻¹ (large-c check)."""
    a = _floats("offered_load", offered_load, strict=True)
    c = _servers(servers)
    beta = (c - a) / np.sqrt(a)
    # Φ(β)/φ(β) in logs: φ underflows long before the ratio overflows.
    log_ratio = log_ndtr(beta) + 0.5 * beta**2 + 0.5 * np.log(2 * np.pi)
    with np.errstate(over="ignore"):
        pw = 1.0 / (1.0 + beta * np.exp(log_ratio))
    return _out(np.where(beta > 0, pw, 1.0))


def square_root_staffing(offered_load: ArrayLike, beta: ArrayLike) -> Floats:
    """Square-root staffing c = ceil(a + β√a), the Halfin–Whitt rule of thumb."""
    a = _floats("offered_load", offered_load)
    return _out(np.ceil(a + np.asarray(beta, dtype=float) * np.sqrt(a) - 1e-9).astype(np.int64))


# --------------------------------------------------------------------------- M/M/c exact


def _mmc_parts(lam: np.ndarray, s: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P_w, Wq) for broadcast M/M/c inputs; Wq = inf where unstable."""
    a = lam * s
    pw = np.asarray(erlang_c(c, a), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        wq = np.where(a < c, pw * s / (c - a), np.inf)
    return pw, wq


def mmc_prob_wait(rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike) -> Floats:
    """M/M/c probability that an arrival waits, P(Wq > 0) = C(c, λS)."""
    lam, s, c = _load(rate, service_time, servers)
    return _out(_mmc_parts(lam, s, c)[0])


def mmc_mean_wait(rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike) -> Floats:
    """M/M/c mean wait in queue Wq = P_w/(cμ − λ)."""
    lam, s, c = _load(rate, service_time, servers)
    return _out(_mmc_parts(lam, s, c)[1])


def mmc_wait_tail(
    t: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> Floats:
    """M/M/c P(Wq > t) = P_w·e^{−(cμ−λ)t}."""
    lam, s, c, tt = _load(rate, service_time, servers, np.asarray(t, dtype=float))
    pw, wq = _mmc_parts(lam, s, c)
    return _out(_exp_wait_tail(tt, pw, wq))


def mmc_wait_quantile(
    p: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> Floats:
    """M/M/c wait percentile w_p = max(0, ln(P_w/(1−p))/(cμ − λ))."""
    lam, s, c, pp = _load(rate, service_time, servers, _quantile(p))
    pw, wq = _mmc_parts(lam, s, c)
    return _out(_exp_wait_quantile(pp, pw, wq))


def _g(x: np.ndarray) -> np.ndarray:
    """(1 − e^{−x})/x with its limit 1 at 0, stable for all x ≥ 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 1e-12, -np.expm1(-x) / np.where(x > 0, x, 1.0), 1.0 - x / 2.0)


def _mmc_response_tail(
    tt: np.ndarray, lam: np.ndarray, s: np.ndarray, c: np.ndarray, pw: np.ndarray | None = None
) -> np.ndarray:
    if pw is None:
        pw = _mmc_parts(lam, s, c)[0]
    mu = 1.0 / s
    theta = (c - lam * s) / s
    t0 = np.maximum(tt, 0.0)
    # e^{−μt} + P_w·μ(e^{−μt} − e^{−θt})/(θ − μ), written without cancellation near θ = μ.
    extra = mu * t0 * np.exp(-np.minimum(mu, theta) * t0) * _g(np.abs(theta - mu) * t0)
    tail = np.exp(-mu * t0) + pw * extra
    return np.where(lam * s < c, np.where(tt < 0, 1.0, np.clip(tail, 0.0, 1.0)), 1.0)


def mmc_response_tail(
    t: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> Floats:
    """M/M/c response-time tail P(T > t) = (1−P_w)e^{−μt} + P_w(θe^{−μt} − μe^{−θt})/(θ − μ)."""
    lam, s, c, tt = _load(rate, service_time, servers, np.asarray(t, dtype=float))
    return _out(_mmc_response_tail(tt, lam, s, c))


def mmc_response_quantile(
    p: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> Floats:
    """M/M/c response-time percentile, inverting the exact tail by vectorised bisection."""
    lam, s, c, pp = _load(rate, service_time, servers, _quantile(p))
    pw, wq = _mmc_parts(lam, s, c)
    q = 1.0 - pp
    # Union bound: P(T > s_p' + w_p') ≤ (1 − p) with p' = 1 − (1 − p)/2.
    hi = s * np.log(2.0 / q) + _exp_wait_quantile(1.0 - q / 2.0, pw, wq)
    out = _bisect(lambda x: _mmc_response_tail(x, lam, s, c, pw), q, np.zeros_like(hi), hi)
    return _out(np.where(lam * s < c, out, np.inf))


# --------------------------------------------------------------------------- M/G/c approximations


def allen_cunneen_mean_wait(
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv,
    arrival_scv: ArrayLike = 1.0,
) -> Floats:
    """Allen–Cunneen GI/G/c mean wait Wq ≈ Wq(M/M/c)·(c_a² + c_s²)/2."""
    lam, s, c, cs2, ca2 = _load(
        rate, service_time, servers, _scv(service_time_scv), _floats("arrival_scv", arrival_scv)
    )
    return _out(_mmc_parts(lam, s, c)[1] * (ca2 + cs2) / 2.0)


def _cosmetatos(lam: np.ndarray, s: np.ndarray, c: np.ndarray, wq_mmc: np.ndarray) -> np.ndarray:
    rho = lam * s / c
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (1.0 - rho) * (c - 1) * (np.sqrt(4.0 + 5.0 * c) - 2.0) / (16.0 * rho * c)
        wq = 0.5 * (1.0 + corr) * wq_mmc
    return np.where(lam > 0, wq, 0.0)


def cosmetatos_mean_wait(rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike) -> Floats:
    """Cosmetatos (1975) M/D/c mean wait ½[1 + (1−ρ)(c−1)(√(4+5c) − 2)/(16ρc)]·Wq(M/M/c)."""
    lam, s, c = _load(rate, service_time, servers)
    return _out(_cosmetatos(lam, s, c, _mmc_parts(lam, s, c)[1]))


def _kimura(w_mmc: np.ndarray, w_mdc: np.ndarray, cs2: np.ndarray) -> np.ndarray:
    # (1 + c_s²)/(2c_s²/W_MMc + (1 − c_s²)/W_MDc), multiplied out so that zero waits stay zero.
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (1.0 + cs2) * w_mmc * w_mdc / (2.0 * cs2 * w_mdc + (1.0 - cs2) * w_mmc)
    return np.where(np.isinf(w_mmc), np.inf, np.where(w_mmc > 0, w, 0.0))


def kimura_mean_wait(
    rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike, service_time_scv: ServiceScv
) -> Floats:
    """Kimura (1994) M/G/c mean wait interpolating M/D/c (Cosmetatos) and M/M/c for c_s² ≤ 1."""
    lam, s, c, cs2 = _load(rate, service_time, servers, _scv(service_time_scv))
    wq = _mmc_parts(lam, s, c)[1]
    return _out(_kimura(wq, _cosmetatos(lam, s, c, wq), cs2))


def _mgc_parts(
    lam: np.ndarray, s: np.ndarray, c: np.ndarray, cs2: np.ndarray, method: MeanWaitMethod
) -> tuple[np.ndarray, np.ndarray]:
    """(P_w ≈ Erlang C, approximate Wq) for broadcast inputs."""
    pw, wq_mmc = _mmc_parts(lam, s, c)
    return pw, _mean_wait_from(lam, s, c, cs2, pw, wq_mmc, method)


def _mean_wait_from(
    lam: np.ndarray,
    s: np.ndarray,
    c: np.ndarray,
    cs2: np.ndarray,
    pw: np.ndarray,
    wq_mmc: np.ndarray,
    method: MeanWaitMethod,
) -> np.ndarray:
    if method == "mmc":
        return wq_mmc
    if method == "allen-cunneen":
        return wq_mmc * (1.0 + cs2) / 2.0
    wq_mdc = _cosmetatos(lam, s, c, wq_mmc)
    if method == "cosmetatos":
        return wq_mdc
    if method == "kimura":
        return _kimura(wq_mmc, wq_mdc, cs2)
    if method == "auto":
        # Kimura covers [0, 1] (Cosmetatos at 0, exact M/M/c at 1); Allen–Cunneen beyond.
        if not np.any(cs2):
            return wq_mdc
        return np.where(
            cs2 <= 1.0, _kimura(wq_mmc, wq_mdc, np.minimum(cs2, 1.0)), wq_mmc * (1.0 + cs2) / 2.0
        )
    raise QueueInputError(
        "mean_wait", method, "one of auto, cosmetatos, kimura, allen-cunneen, mmc"
    )


def mgc_prob_wait(rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike) -> Floats:
    """M/G/c probability of waiting, approximated by Erlang C (Tijms 1994; Whitt 1993)."""
    return mmc_prob_wait(rate, service_time, servers)


def mgc_mean_wait(
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv,
    method: MeanWaitMethod = "auto",
) -> Floats:
    """M/G/c mean wait by a named approximation; ``auto`` is Kimura for c_s² ≤ 1, else AC."""
    lam, s, c, cs2 = _load(rate, service_time, servers, _scv(service_time_scv))
    return _out(_mgc_parts(lam, s, c, cs2, method)[1])


def _exp_wait_tail(tt: np.ndarray, pw: np.ndarray, wq: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tail = pw * np.exp(-np.maximum(tt, 0.0) * pw / wq)
    tail = np.where(wq > 0, tail, 0.0)
    tail = np.where(np.isinf(wq), 1.0, tail)
    return np.where(tt < 0, 1.0, tail)


def _exp_wait_quantile(pp: ArrayLike, pw: np.ndarray, wq: np.ndarray) -> np.ndarray:
    q = 1.0 - np.asarray(pp, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(pw > q, wq / pw * np.log(pw / q), 0.0)
    return np.where(np.isinf(wq), np.inf, w)


def mgc_wait_tail(
    t: ArrayLike,
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv,
    method: MeanWaitMethod = "auto",
) -> Floats:
    """M/G/c P(Wq > t) ≈ P_w·exp(−t·P_w/Wq): an atom at 0 and an exponential conditional wait."""
    lam, s, c, cs2, tt = _load(
        rate, service_time, servers, _scv(service_time_scv), np.asarray(t, dtype=float)
    )
    pw, wq = _mgc_parts(lam, s, c, cs2, method)
    return _out(_exp_wait_tail(tt, pw, wq))


def mgc_wait_quantile(
    p: ArrayLike,
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv,
    method: MeanWaitMethod = "auto",
) -> Floats:
    """M/G/c wait percentile w_p ≈ (Wq/P_w)·ln(P_w/(1−p)), exact for M/M/c."""
    lam, s, c, cs2, pp = _load(rate, service_time, servers, _scv(service_time_scv), _quantile(p))
    pw, wq = _mgc_parts(lam, s, c, cs2, method)
    return _out(_exp_wait_quantile(pp, pw, wq))


def _service_sf(x: np.ndarray, s: np.ndarray, cs2: np.ndarray) -> np.ndarray:
    """P(S > x) for a gamma service time of mean s and SCV cs2 (a step at s when cs2 = 0)."""
    pos = cs2 > 0
    shape = np.where(pos, 1.0 / np.where(pos, cs2, 1.0), 1.0)
    scale = s * np.where(pos, cs2, 1.0)
    gamma_sf = gammaincc(shape, np.maximum(x, 0.0) / scale)
    return np.where(pos, gamma_sf, (x < s).astype(float))


def _service_quantile(pp: np.ndarray, s: np.ndarray, cs2: np.ndarray) -> np.ndarray:
    pos = cs2 > 0
    shape = np.where(pos, 1.0 / np.where(pos, cs2, 1.0), 1.0)
    return np.where(pos, s * np.where(pos, cs2, 1.0) * gammainccinv(shape, 1.0 - pp), s)


def _conv_tail(
    tt: np.ndarray, s: np.ndarray, cs2: np.ndarray, pw: np.ndarray, wq: np.ndarray
) -> np.ndarray:
    """P(T > t) for T = Wq + S with Wq an atom plus exponential, S gamma(mean s, SCV cs2)."""
    bc = np.broadcast_arrays(tt, s, cs2, pw, wq)
    out_shape = bc[0].shape
    tt, s, cs2, pw, wq = (np.ravel(x).astype(float) for x in bc)
    out = np.ones(tt.size)
    live = (tt >= 0) & np.isfinite(wq)  # t < 0 or an unstable queue: the tail is 1
    det = np.nonzero(live & (cs2 <= 0))[0]
    if det.size:
        # Deterministic service: P(T > t) = P(Wq > t − S).
        td = tt[det] - s[det]
        out[det] = np.where(td < 0, 1.0, _exp_wait_tail(td, pw[det], wq[det]))
    gen = np.nonzero(live & (cs2 > 0))[0]
    if gen.size:
        out[gen] = _gamma_conv_tail(tt[gen], s[gen], cs2[gen], pw[gen], wq[gen])
    return np.clip(out, 0.0, 1.0).reshape(out_shape)


def _gamma_conv_tail(
    t0: np.ndarray, s: np.ndarray, cs2: np.ndarray, pw: np.ndarray, wq: np.ndarray
) -> np.ndarray:
    """``_conv_tail`` for t ≥ 0, finite Wq and gamma service: P(S > t) + P_w·I(t)."""
    shape, scale = 1.0 / cs2, s * cs2
    sf_s = gammaincc(shape, t0 / scale)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        theta = np.where(wq > 0, pw / wq, np.inf)
        tb = theta * scale
    closed = tb < 1.0
    i_val = np.zeros(t0.size)
    c = np.nonzero(closed)[0]
    if c.size:
        # I(t) = ∫₀ᵗ f_S(x)e^{−θ(t−x)}dx = e^{−θt}(1−θβ)^{−k}·GammaCDF(t; k, β/(1−θβ)), θβ < 1.
        with np.errstate(divide="ignore", over="ignore"):
            inner = gammainc(shape[c], t0[c] * (1.0 - tb[c]) / scale[c])
            log_i = -theta[c] * t0[c] - shape[c] * np.log1p(-tb[c]) + np.log(inner)
        i_val[c] = np.exp(log_i)
    g = np.nonzero(~closed & np.isfinite(theta))[0]
    if g.size:
        # Integrating by parts, I = e^{−θt} − P(S > t) + ∫₀ᵗ θe^{−θ(t−x)}P(S > x)dx; the weight
        # is negligible before t − 36/θ, so Gauss-Legendre on that last stretch is accurate.
        th, tq = theta[g], t0[g]
        x0 = np.maximum(tq - 36.0 / th, 0.0)
        x = x0[:, None] + (tq - x0)[:, None] * _GL_X[None, :]
        sf_nodes = gammaincc(shape[g][:, None], x / scale[g][:, None])
        weight = th[:, None] * np.exp(-th[:, None] * (tq[:, None] - x))
        j = (tq - x0) * ((weight * sf_nodes) @ _GL_W)
        i_val[g] = np.maximum(np.exp(-th * tq) - sf_s[g] + j, 0.0)
    # θ = inf (no waiting at all): T = S.
    return np.where(np.isinf(theta), sf_s, sf_s + pw * i_val)


def _bisect(tail_fn, q: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Smallest t in [lo, hi] with tail_fn(t) ≤ q, for non-increasing tails, element-wise."""
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    done = tail_fn(lo) <= q
    hi = np.where(done, lo, hi)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        ok = tail_fn(mid) <= q
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi


def mgc_response_tail(
    t: ArrayLike,
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv,
    method: MeanWaitMethod = "auto",
) -> Floats:
    """M/G/c response-time tail P(T > t), T = Wq + S, with the exponential-tail wait and gamma S.

    Deterministic S gives P(Wq > t − S) exactly in terms of the wait model; c_s² = 1 with
    ``auto`` uses the exact M/M/c formula.
    """
    lam, s, c, cs2, tt = _load(
        rate, service_time, servers, _scv(service_time_scv), np.asarray(t, dtype=float)
    )
    return _out(_mgc_response_tail(tt, lam, s, c, cs2, method))


def _mgc_response_tail(
    tt: np.ndarray,
    lam: np.ndarray,
    s: np.ndarray,
    c: np.ndarray,
    cs2: np.ndarray,
    method: MeanWaitMethod,
    pw: np.ndarray | None = None,
    wq: np.ndarray | None = None,
) -> np.ndarray:
    if pw is None or wq is None:
        pw, wq = _mgc_parts(lam, s, c, cs2, method)
    tail = _conv_tail(tt, s, cs2, pw, wq)
    if method == "auto" and np.any(cs2 == 1.0):
        # Exact for M/M/c; P_w is Erlang C for every method, so it can be passed through.
        tail = np.where(cs2 == 1.0, _mmc_response_tail(tt, lam, s, c, pw), tail)
    return tail


def mgc_response_quantile(
    p: ArrayLike,
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv,
    method: MeanWaitMethod = "auto",
) -> Floats:
    """M/G/c response-time percentile T_p; S + w_p for deterministic S, else by bisection."""
    lam, s, c, cs2, pp = _load(rate, service_time, servers, _scv(service_time_scv), _quantile(p))
    pw, wq = _mgc_parts(lam, s, c, cs2, method)
    q = 1.0 - pp
    hi = _service_quantile(1.0 - q / 2.0, s, cs2) + _exp_wait_quantile(1.0 - q / 2.0, pw, wq)
    out = _bisect(
        lambda x: _mgc_response_tail(x, lam, s, c, cs2, method, pw, wq), q, np.zeros_like(hi), hi
    )
    out = np.where(cs2 <= 0, s + _exp_wait_quantile(pp, pw, wq), out)
    return _out(np.where(np.isinf(wq), np.inf, out))


# --------------------------------------------------------------------------- sizing


def _least_servers(
    a: np.ndarray,
    meets: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    max_pods: int,
) -> np.ndarray:
    """Per row, the least k > a_row with ``meets(rows, k, B(k, a_rows))``, else −1.

    The Erlang B recursion first runs every row up to its stability bound floor(a) (sorted, as
    in ``erlang_b``), then continues in windows of k per row whose width doubles (4 … 256);
    each window's (row, k) pairs are judged in one vectorised call, so the cost is a few dozen
    numpy calls however many rates there are, and few pairs are judged in vain. ``meets``
    must be monotone in k (false, then true).
    """
    out = np.full(a.size, -1, dtype=np.int64)
    k_next = np.minimum(np.floor(a).astype(np.int64) + 1, max_pods + 1)
    b = np.atleast_1d(np.asarray(erlang_b(k_next - 1, a), dtype=float))
    rows, width = np.arange(a.size), 4
    while rows.size:
        ks = k_next[rows][:, None] + np.arange(width)[None, :]
        ar = a[rows]
        table = np.empty(ks.shape)
        for j in range(width):
            ab = ar * b
            b = ab / (ks[:, j] + ab)
            table[:, j] = b
        ok = np.zeros(ks.shape, dtype=bool)
        ri, kj = np.nonzero(ks <= max_pods)
        if ri.size:
            ok[ri, kj] = meets(rows[ri], ks[ri, kj], table[ri, kj])
        done = ok.any(axis=1)
        out[rows[done]] = ks[done, ok[done].argmax(axis=1)]
        keep = ~done & (ks[:, -1] < max_pods)
        k_next[rows[keep]] += width
        rows, b, width = rows[keep], b[keep], min(2 * width, 256)
    return out


def pods_for_p99(
    rate: ArrayLike,
    service_time_mean: ArrayLike,
    service_time_scv: ServiceScv,
    slo_seconds: ArrayLike,
    quantile: ArrayLike = 0.99,
    *,
    method: Literal["approx", "exact"] = "approx",
    mean_wait: MeanWaitMethod = "auto",
    max_pods: int = 100_000,
) -> np.ndarray | np.integer:
    """Minimal pod count c with response-time quantile ≤ SLO, for every (broadcast) rate.

    ``approx`` (default) applies docs/queueing.md §3: P_w by Erlang C, Wq by ``mean_wait``
    (Kimura/Cosmetatos for c_s² ≤ 1), an exponential conditional wait, gamma service time;
    exact for M/M/c. It runs one vectorised Erlang B recursion over c for all rates at once.
    ``exact`` then corrects deterministic-service points with the exact M/D/c distribution
    (a per-point computation, cached; slower). Returns int pods: 0 where the rate is 0, −1
    where no pod count can meet the SLO (the service time alone exceeds it) or none up to
    ``max_pods`` does.
    """
    if method not in ("approx", "exact"):
        raise QueueInputError("method", method, "'approx' or 'exact'")
    lam = _floats("rate", rate)
    s = _floats("service_time_mean", service_time_mean, strict=True)
    cs2 = _scv(service_time_scv)
    slo = _floats("slo_seconds", slo_seconds)
    pp = _quantile(quantile)
    lam, s, cs2, slo, pp = np.broadcast_arrays(lam, s, cs2, slo, pp)
    shape = lam.shape
    lam, s, cs2, slo, pp = (x.ravel().astype(float) for x in (lam, s, cs2, slo, pp))
    q = 1.0 - pp
    pods = np.full(lam.size, -1, dtype=np.int64)
    pods[lam == 0] = 0
    feasible = (lam > 0) & (_service_sf(slo, s, cs2) <= q)
    idx = np.nonzero(feasible)[0]
    lr, sr, cr, slr, qr = lam[idx], s[idx], cs2[idx], slo[idx], q[idx]
    ar = lr * sr

    def meets(r: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
        pw = _erlang_c_from_b(k, ar[r], b)
        wq = _mean_wait_from(lr[r], sr[r], k, cr[r], pw, pw * sr[r] / (k - ar[r]), mean_wait)
        tail = _mgc_response_tail(slr[r], lr[r], sr[r], k, cr[r], mean_wait, pw, wq)
        return tail <= qr[r]

    pods[idx] = _least_servers(ar, meets, max_pods)
    if method == "exact":
        _refine_exact_mdc(pods, lam, s, cs2, slo, q)
    return _out(pods.reshape(shape))


def _refine_exact_mdc(
    pods: np.ndarray,
    lam: np.ndarray,
    s: np.ndarray,
    cs2: np.ndarray,
    slo: np.ndarray,
    q: np.ndarray,
) -> None:
    """Move deterministic-service sizings to the exact M/D/c optimum, starting from the estimate.

    Per distinct point, not vectorised: each check builds one exact M/D/c distribution (cached).
    """
    memo: dict[tuple[float, ...], int] = {}
    for i in np.nonzero((pods > 0) & (cs2 == 0))[0]:
        key = (lam[i], s[i], slo[i], q[i])
        if key not in memo:
            memo[key] = _exact_mdc_pods(
                float(lam[i]), float(s[i]), float(slo[i]), float(q[i]), int(pods[i])
            )
        pods[i] = memo[key]


def _exact_mdc_pods(lam: float, s: float, slo: float, q: float, start: int) -> int:
    def meets(c: int) -> bool:
        if c <= lam * s:
            return False
        try:
            return float(mdc_wait_distribution(lam, s, c).sf(slo - s)) <= q
        except MDcGridTooLarge:
            return False  # utilisation within 0.05 % of 1: conservatively, one more pod

    c = start
    if meets(c):
        while c - 1 > lam * s and meets(c - 1):
            c -= 1
        return c
    while not meets(c):
        c += 1
    return c


@dataclass(frozen=True)
class SloSizing:
    """Pods needed to meet a response-time SLO and the queue's figures at that pod count."""

    pods: np.ndarray
    utilisation: np.ndarray
    p_wait: np.ndarray
    mean_wait: np.ndarray
    response_quantile: np.ndarray
    kpa_target_utilization_percent: np.ndarray


def size_for_slo(
    rate: ArrayLike,
    service_time_mean: ArrayLike,
    service_time_scv: ServiceScv,
    slo_seconds: ArrayLike,
    quantile: ArrayLike = 0.99,
    *,
    method: Literal["approx", "exact"] = "approx",
    mean_wait: MeanWaitMethod = "auto",
) -> SloSizing:
    """``pods_for_p99`` plus utilisation, P(wait), Wq, T_p and the KPA TU at the chosen count."""
    pods = np.asarray(
        pods_for_p99(
            rate,
            service_time_mean,
            service_time_scv,
            slo_seconds,
            quantile,
            method=method,
            mean_wait=mean_wait,
        )
    )
    lam, s, cs2, pp = np.broadcast_arrays(
        _floats("rate", rate),
        _floats("service_time_mean", service_time_mean, strict=True),
        _scv(service_time_scv),
        _quantile(quantile),
        pods,
    )[:4]
    c = np.maximum(pods, 1)
    pw, wq = _mgc_parts(lam, s, c, cs2, mean_wait)
    tq = np.asarray(mgc_response_quantile(pp, lam, s, c, cs2, mean_wait), dtype=float)
    if method == "exact" and np.any((cs2 == 0) & (pods > 0)):
        sel = (cs2 == 0) & (pods > 0)
        pw = np.where(sel, mdc_prob_wait(lam, s, c), pw)
        wq = np.where(sel, mdc_mean_wait(lam, s, c), wq)
        tq = np.where(sel, mdc_response_quantile(pp, lam, s, c), tq)
    valid = pods > 0
    nan = np.nan
    tu = np.where(valid, np.ceil(100.0 * (lam * s + lam * wq) / c - 1e-9), nan)
    return SloSizing(
        pods=pods,
        utilisation=np.where(valid, lam * s / c, nan),
        p_wait=np.where(valid, pw, nan),
        mean_wait=np.where(valid, wq, nan),
        response_quantile=np.where(valid, tq, nan),
        kpa_target_utilization_percent=tu,
    )


# --------------------------------------------------------------------------- Knative mapping


def kpa_target_utilization_percent(
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv = 0.0,
    mean_wait: MeanWaitMethod = "auto",
) -> Floats:
    """KPA ``target-utilization-percentage`` that holds c pods: ceil(100·L(c)/c), L = λS + λWq.

    KPA sizes on the in-system concurrency L (queued in the activator plus in flight), so the
    target must cover L(c*)/c* for c* pods to be an equilibrium (docs/queueing.md §3 step 4). Values
    above 100 cannot be set: then KPA with CC=1 holds more than c pods.
    """
    lam, s, c, cs2 = _load(rate, service_time, servers, _scv(service_time_scv))
    wq = _mgc_parts(lam, s, c, cs2, mean_wait)[1]
    with np.errstate(invalid="ignore"):
        tu = np.ceil(100.0 * (lam * s + lam * wq) / c - 1e-9)
    return _out(tu)


def kpa_steady_state_pods(
    rate: ArrayLike,
    service_time: ArrayLike,
    target_utilization: ArrayLike = 0.7,
    container_concurrency: int = 1,
    service_time_scv: ServiceScv = 0.0,
    mean_wait: MeanWaitMethod = "auto",
    max_pods: int = 100_000,
) -> np.ndarray:
    """Pods KPA settles at in steady state: the least stable c with ceil(L(c)/target) ≤ c."""
    lam, s, tu, cs2 = np.broadcast_arrays(
        _floats("rate", rate),
        _floats("service_time", service_time, strict=True),
        _floats("target_utilization", target_utilization, strict=True),
        _scv(service_time_scv),
    )
    shape = lam.shape
    lam, s, tu, cs2 = (x.ravel().astype(float) for x in (lam, s, tu, cs2))
    target = container_concurrency * tu
    pods = np.zeros(lam.size, dtype=np.int64)
    idx = np.nonzero(lam > 0)[0]
    lr, sr, cr, tr = lam[idx], s[idx], cs2[idx], target[idx]
    ar = lr * sr

    def meets(r: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
        pw = _erlang_c_from_b(k, ar[r], b)
        wq = _mean_wait_from(lr[r], sr[r], k, cr[r], pw, pw * sr[r] / (k - ar[r]), mean_wait)
        return np.ceil((ar[r] + lr[r] * wq) / tr[r] - 1e-9) <= k

    pods[idx] = _least_servers(ar, meets, max_pods)
    return _out(pods.reshape(shape))


def cold_request_fraction(
    rate: ArrayLike,
    idle_before_zero_s: ArrayLike,
    service_time: ArrayLike,
    cold_start_s: ArrayLike,
    slo_seconds: ArrayLike,
) -> Floats:
    """Fraction of requests that miss the SLO through scale-to-zero (Poisson approximation).

    A request is cold when the previous one came more than T_idle + S earlier; requests in the
    first T_cold − (SLO − S) seconds of that cold start miss too (docs/queueing.md §3 step 5):
    e^{−λ(T_idle+S)}·(1 + λ·max(0, T_cold − SLO + S)), capped at 1. T_idle ≈ stable window
    (+ scale-to-zero retention, + scale-down delay).
    """
    lam = _floats("rate", rate)
    t_idle = _floats("idle_before_zero_s", idle_before_zero_s)
    s = _floats("service_time", service_time)
    t_cold = _floats("cold_start_s", cold_start_s)
    slo = _floats("slo_seconds", slo_seconds)
    frac = np.exp(-lam * (t_idle + s)) * (1.0 + lam * np.maximum(0.0, t_cold - slo + s))
    return _out(np.where(lam > 0, np.minimum(frac, 1.0), 0.0))


def idle_time_for_cold_fraction(
    rate: ArrayLike,
    service_time: ArrayLike,
    cold_start_s: ArrayLike,
    slo_seconds: ArrayLike,
    fraction: ArrayLike = 0.01,
) -> Floats:
    """Idle time before scale-to-zero that keeps cold SLO misses at ``fraction``.

    T_idle ≥ ln((1 + λ·max(0, T_cold − SLO + S))/fraction)/λ − S, ≥ 0 (docs/queueing.md §3 step 5).
    """
    lam = _floats("rate", rate, strict=True)
    s = _floats("service_time", service_time)
    t_cold = _floats("cold_start_s", cold_start_s)
    slo = _floats("slo_seconds", slo_seconds)
    f = _quantile(fraction)
    need = np.log((1.0 + lam * np.maximum(0.0, t_cold - slo + s)) / f) / lam - s
    return _out(np.maximum(need, 0.0))
