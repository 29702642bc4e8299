"""The M/M/c queue, exactly: probability of waiting, mean wait, wait and response-time tails
and percentiles (docs/queueing.md §2).

Its exponential conditional wait, P(Wq > t) = P_w·e^{−t·P_w/Wq}, is also the wait shape the
M/G/c approximations (``mgc``) use, so it lives here with the bisection that inverts tails.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from sdobs.capacity.erlang import erlang_c
from sdobs.capacity.inputs import Floats, as_quantile, broadcast_load, scalar_or_array

__all__ = [
    "mmc_mean_wait",
    "mmc_prob_wait",
    "mmc_response_quantile",
    "mmc_response_tail",
    "mmc_wait_quantile",
    "mmc_wait_tail",
]

_BISECTION_STEPS = 64


def mmc_parts(lam: np.ndarray, s: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P_w, Wq) for broadcast M/M/c inputs; Wq = inf where unstable."""
    a = lam * s
    pw = np.asarray(erlang_c(c, a), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        wq = np.where(a < c, pw * s / (c - a), np.inf)
    return pw, wq


def mmc_prob_wait(rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike) -> Floats:
    """M/M/c probability that an arrival waits, P(Wq > 0) = C(c, λS)."""
    lam, s, c = broadcast_load(rate, service_time, servers)
    return scalar_or_array(mmc_parts(lam, s, c)[0])


def mmc_mean_wait(rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike) -> Floats:
    """M/M/c mean wait in queue Wq = P_w/(cμ − λ)."""
    lam, s, c = broadcast_load(rate, service_time, servers)
    return scalar_or_array(mmc_parts(lam, s, c)[1])


def mmc_wait_tail(
    t: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> Floats:
    """M/M/c P(Wq > t) = P_w·e^{−(cμ−λ)t}."""
    lam, s, c, tt = broadcast_load(rate, service_time, servers, np.asarray(t, dtype=float))
    pw, wq = mmc_parts(lam, s, c)
    return scalar_or_array(exp_wait_tail(tt, pw, wq))


def mmc_wait_quantile(
    p: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> Floats:
    """M/M/c wait percentile w_p = max(0, ln(P_w/(1−p))/(cμ − λ))."""
    lam, s, c, pp = broadcast_load(rate, service_time, servers, as_quantile(p))
    pw, wq = mmc_parts(lam, s, c)
    return scalar_or_array(exp_wait_quantile(pp, pw, wq))


def _g(x: np.ndarray) -> np.ndarray:
    """(1 − e^{−x})/x with its limit 1 at 0, stable for all x ≥ 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 1e-12, -np.expm1(-x) / np.where(x > 0, x, 1.0), 1.0 - x / 2.0)


def mmc_response_tail_of(
    tt: np.ndarray, lam: np.ndarray, s: np.ndarray, c: np.ndarray, pw: np.ndarray | None = None
) -> np.ndarray:
    """``mmc_response_tail`` on checked, broadcast arrays (P_w passed in when known)."""
    if pw is None:
        pw = mmc_parts(lam, s, c)[0]
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
    lam, s, c, tt = broadcast_load(rate, service_time, servers, np.asarray(t, dtype=float))
    return scalar_or_array(mmc_response_tail_of(tt, lam, s, c))


def mmc_response_quantile(
    p: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> Floats:
    """M/M/c response-time percentile, inverting the exact tail by vectorised bisection."""
    lam, s, c, pp = broadcast_load(rate, service_time, servers, as_quantile(p))
    pw, wq = mmc_parts(lam, s, c)
    q = 1.0 - pp
    # Union bound: P(T > s_p' + w_p') ≤ (1 − p) with p' = 1 − (1 − p)/2.
    hi = s * np.log(2.0 / q) + exp_wait_quantile(1.0 - q / 2.0, pw, wq)
    out = bisect_tail(lambda x: mmc_response_tail_of(x, lam, s, c, pw), q, np.zeros_like(hi), hi)
    return scalar_or_array(np.where(lam * s < c, out, np.inf))


def exp_wait_tail(tt: np.ndarray, pw: np.ndarray, wq: np.ndarray) -> np.ndarray:
    """P(Wq > t) = P_w·exp(−t·P_w/Wq): an atom at 0 and an exponential conditional wait."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tail = pw * np.exp(-np.maximum(tt, 0.0) * pw / wq)
    tail = np.where(wq > 0, tail, 0.0)
    tail = np.where(np.isinf(wq), 1.0, tail)
    return np.where(tt < 0, 1.0, tail)


def exp_wait_quantile(pp: ArrayLike, pw: np.ndarray, wq: np.ndarray) -> np.ndarray:
    """The p-th percentile of that wait, (Wq/P_w)·ln(P_w/(1−p)), 0 when P_w ≤ 1 − p."""
    q = 1.0 - np.asarray(pp, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(pw > q, wq / pw * np.log(pw / q), 0.0)
    return np.where(np.isinf(wq), np.inf, w)


def bisect_tail(tail_fn, q: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
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
