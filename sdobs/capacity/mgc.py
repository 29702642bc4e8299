"""M/G/c approximations: mean waits (Allen–Cunneen, Cosmetatos, Kimura) and the wait and
response-time tails and percentiles built on them (docs/queueing.md §2–§3).

With the activator in the path one Knative revision is an M/G/c queue with one central FCFS
queue: c ready pods, Poisson arrivals, inference time S of squared coefficient of variation c_s²
(0 deterministic, 1 exponential). P(wait) is Erlang C; the conditional wait is exponential
(``mmc.exp_wait_tail``) and S gamma. An unstable point (ρ ≥ 1) gives P(wait) = 1 and infinite
waits instead of an error, so a sweep over rates can cross saturation.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammainc, gammaincc, gammainccinv

from sdobs.capacity.inputs import (
    Floats,
    QueueInputError,
    ServiceScv,
    as_floats,
    as_quantile,
    as_scv,
    broadcast_load,
    scalar_or_array,
)
from sdobs.capacity.mmc import (
    bisect_tail,
    exp_wait_quantile,
    exp_wait_tail,
    mmc_parts,
    mmc_prob_wait,
    mmc_response_tail_of,
)

__all__ = [
    "MeanWaitMethod",
    "allen_cunneen_mean_wait",
    "cosmetatos_mean_wait",
    "kimura_mean_wait",
    "mgc_mean_wait",
    "mgc_prob_wait",
    "mgc_response_quantile",
    "mgc_response_tail",
    "mgc_wait_quantile",
    "mgc_wait_tail",
]

MeanWaitMethod = Literal["auto", "cosmetatos", "kimura", "allen-cunneen", "mmc"]

# Gauss-Legendre nodes on [0, 1] for the response-time convolution when no closed form applies.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(32)
_GL_X, _GL_W = (_GL_X + 1.0) / 2.0, _GL_W / 2.0


def allen_cunneen_mean_wait(
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv,
    arrival_scv: ArrayLike = 1.0,
) -> Floats:
    """Allen–Cunneen GI/G/c mean wait Wq ≈ Wq(M/M/c)·(c_a² + c_s²)/2."""
    lam, s, c, cs2, ca2 = broadcast_load(
        rate, service_time, servers, as_scv(service_time_scv), as_floats("arrival_scv", arrival_scv)
    )
    return scalar_or_array(mmc_parts(lam, s, c)[1] * (ca2 + cs2) / 2.0)


def cosmetatos_of(lam: np.ndarray, s: np.ndarray, c: np.ndarray, wq_mmc: np.ndarray) -> np.ndarray:
    """Cosmetatos' M/D/c Wq from the M/M/c one (broadcast arrays)."""
    rho = lam * s / c
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (1.0 - rho) * (c - 1) * (np.sqrt(4.0 + 5.0 * c) - 2.0) / (16.0 * rho * c)
        wq = 0.5 * (1.0 + corr) * wq_mmc
    return np.where(lam > 0, wq, 0.0)


def cosmetatos_mean_wait(rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike) -> Floats:
    """Cosmetatos (1975) M/D/c mean wait ½[1 + (1−ρ)(c−1)(√(4+5c) − 2)/(16ρc)]·Wq(M/M/c)."""
    lam, s, c = broadcast_load(rate, service_time, servers)
    return scalar_or_array(cosmetatos_of(lam, s, c, mmc_parts(lam, s, c)[1]))


def kimura_of(w_mmc: np.ndarray, w_mdc: np.ndarray, cs2: np.ndarray) -> np.ndarray:
    """Kimura's interpolation between the M/M/c and M/D/c waits (broadcast arrays)."""
    # (1 + c_s²)/(2c_s²/W_MMc + (1 − c_s²)/W_MDc), multiplied out so that zero waits stay zero.
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (1.0 + cs2) * w_mmc * w_mdc / (2.0 * cs2 * w_mdc + (1.0 - cs2) * w_mmc)
    return np.where(np.isinf(w_mmc), np.inf, np.where(w_mmc > 0, w, 0.0))


def kimura_mean_wait(
    rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike, service_time_scv: ServiceScv
) -> Floats:
    """Kimura (1994) M/G/c mean wait interpolating M/D/c (Cosmetatos) and M/M/c for c_s² ≤ 1."""
    lam, s, c, cs2 = broadcast_load(rate, service_time, servers, as_scv(service_time_scv))
    wq = mmc_parts(lam, s, c)[1]
    return scalar_or_array(kimura_of(wq, cosmetatos_of(lam, s, c, wq), cs2))


def mgc_parts(
    lam: np.ndarray, s: np.ndarray, c: np.ndarray, cs2: np.ndarray, method: MeanWaitMethod
) -> tuple[np.ndarray, np.ndarray]:
    """(P_w ≈ Erlang C, approximate Wq) for broadcast inputs."""
    pw, wq_mmc = mmc_parts(lam, s, c)
    return pw, mean_wait_from(lam, s, c, cs2, pw, wq_mmc, method)


def mean_wait_from(
    lam: np.ndarray,
    s: np.ndarray,
    c: np.ndarray,
    cs2: np.ndarray,
    pw: np.ndarray,
    wq_mmc: np.ndarray,
    method: MeanWaitMethod,
) -> np.ndarray:
    """Wq by ``method`` from the M/M/c figures already at hand (broadcast arrays)."""
    if method == "mmc":
        return wq_mmc
    if method == "allen-cunneen":
        return wq_mmc * (1.0 + cs2) / 2.0
    wq_mdc = cosmetatos_of(lam, s, c, wq_mmc)
    if method == "cosmetatos":
        return wq_mdc
    if method == "kimura":
        return kimura_of(wq_mmc, wq_mdc, cs2)
    if method == "auto":
        # Kimura covers [0, 1] (Cosmetatos at 0, exact M/M/c at 1); Allen–Cunneen beyond.
        if not np.any(cs2):
            return wq_mdc
        return np.where(
            cs2 <= 1.0, kimura_of(wq_mmc, wq_mdc, np.minimum(cs2, 1.0)), wq_mmc * (1.0 + cs2) / 2.0
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
    lam, s, c, cs2 = broadcast_load(rate, service_time, servers, as_scv(service_time_scv))
    return scalar_or_array(mgc_parts(lam, s, c, cs2, method)[1])


def mgc_wait_tail(
    t: ArrayLike,
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv,
    method: MeanWaitMethod = "auto",
) -> Floats:
    """M/G/c P(Wq > t) ≈ P_w·exp(−t·P_w/Wq): an atom at 0 and an exponential conditional wait."""
    lam, s, c, cs2, tt = broadcast_load(
        rate, service_time, servers, as_scv(service_time_scv), np.asarray(t, dtype=float)
    )
    pw, wq = mgc_parts(lam, s, c, cs2, method)
    return scalar_or_array(exp_wait_tail(tt, pw, wq))


def mgc_wait_quantile(
    p: ArrayLike,
    rate: ArrayLike,
    service_time: ArrayLike,
    servers: ArrayLike,
    service_time_scv: ServiceScv,
    method: MeanWaitMethod = "auto",
) -> Floats:
    """M/G/c wait percentile w_p ≈ (Wq/P_w)·ln(P_w/(1−p)), exact for M/M/c."""
    lam, s, c, cs2, pp = broadcast_load(
        rate, service_time, servers, as_scv(service_time_scv), as_quantile(p)
    )
    pw, wq = mgc_parts(lam, s, c, cs2, method)
    return scalar_or_array(exp_wait_quantile(pp, pw, wq))


def service_sf(x: np.ndarray, s: np.ndarray, cs2: np.ndarray) -> np.ndarray:
    """P(S > x) for a gamma service time of mean s and SCV cs2 (a step at s when cs2 = 0)."""
    pos = cs2 > 0
    shape = np.where(pos, 1.0 / np.where(pos, cs2, 1.0), 1.0)
    scale = s * np.where(pos, cs2, 1.0)
    gamma_sf = gammaincc(shape, np.maximum(x, 0.0) / scale)
    return np.where(pos, gamma_sf, (x < s).astype(float))


def service_quantile(pp: np.ndarray, s: np.ndarray, cs2: np.ndarray) -> np.ndarray:
    """The p-th percentile of that gamma service time (s itself when cs2 = 0)."""
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
        out[det] = np.where(td < 0, 1.0, exp_wait_tail(td, pw[det], wq[det]))
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
    lam, s, c, cs2, tt = broadcast_load(
        rate, service_time, servers, as_scv(service_time_scv), np.asarray(t, dtype=float)
    )
    return scalar_or_array(mgc_response_tail_of(tt, lam, s, c, cs2, method))


def mgc_response_tail_of(
    tt: np.ndarray,
    lam: np.ndarray,
    s: np.ndarray,
    c: np.ndarray,
    cs2: np.ndarray,
    method: MeanWaitMethod,
    pw: np.ndarray | None = None,
    wq: np.ndarray | None = None,
) -> np.ndarray:
    """``mgc_response_tail`` on checked, broadcast arrays (P_w and Wq passed in when known)."""
    if pw is None or wq is None:
        pw, wq = mgc_parts(lam, s, c, cs2, method)
    tail = _conv_tail(tt, s, cs2, pw, wq)
    if method == "auto" and np.any(cs2 == 1.0):
        # Exact for M/M/c; P_w is Erlang C for every method, so it can be passed through.
        tail = np.where(cs2 == 1.0, mmc_response_tail_of(tt, lam, s, c, pw), tail)
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
    lam, s, c, cs2, pp = broadcast_load(
        rate, service_time, servers, as_scv(service_time_scv), as_quantile(p)
    )
    pw, wq = mgc_parts(lam, s, c, cs2, method)
    q = 1.0 - pp
    hi = service_quantile(1.0 - q / 2.0, s, cs2) + exp_wait_quantile(1.0 - q / 2.0, pw, wq)
    out = bisect_tail(
        lambda x: mgc_response_tail_of(x, lam, s, c, cs2, method, pw, wq), q, np.zeros_like(hi), hi
    )
    out = np.where(cs2 <= 0, s + exp_wait_quantile(pp, pw, wq), out)
    return scalar_or_array(np.where(np.isinf(wq), np.inf, out))
