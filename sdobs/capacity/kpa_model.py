"""What the KPA makes of the queue: the target utilisation that holds c pods, the pods it
settles at, and the requests that scale-to-zero makes miss the SLO (docs/queueing.md §3 steps
4–5).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from sdobs.capacity.erlang import erlang_c_from_b, least_servers
from sdobs.capacity.inputs import (
    Floats,
    ServiceScv,
    as_floats,
    as_quantile,
    as_scv,
    broadcast_load,
    scalar_or_array,
)
from sdobs.capacity.mgc import MeanWaitMethod, mean_wait_from, mgc_parts

__all__ = [
    "cold_request_fraction",
    "idle_time_for_cold_fraction",
    "kpa_steady_state_pods",
    "kpa_target_utilization_percent",
]


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
    lam, s, c, cs2 = broadcast_load(rate, service_time, servers, as_scv(service_time_scv))
    wq = mgc_parts(lam, s, c, cs2, mean_wait)[1]
    with np.errstate(invalid="ignore"):
        tu = np.ceil(100.0 * (lam * s + lam * wq) / c - 1e-9)
    return scalar_or_array(tu)


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
        as_floats("rate", rate),
        as_floats("service_time", service_time, strict=True),
        as_floats("target_utilization", target_utilization, strict=True),
        as_scv(service_time_scv),
    )
    shape = lam.shape
    lam, s, tu, cs2 = (x.ravel().astype(float) for x in (lam, s, tu, cs2))
    target = container_concurrency * tu
    pods = np.zeros(lam.size, dtype=np.int64)
    idx = np.nonzero(lam > 0)[0]
    lr, sr, cr, tr = lam[idx], s[idx], cs2[idx], target[idx]
    ar = lr * sr

    def meets(r: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
        pw = erlang_c_from_b(k, ar[r], b)
        wq = mean_wait_from(lr[r], sr[r], k, cr[r], pw, pw * sr[r] / (k - ar[r]), mean_wait)
        return np.ceil((ar[r] + lr[r] * wq) / tr[r] - 1e-9) <= k

    pods[idx] = least_servers(ar, meets, max_pods)
    return scalar_or_array(pods.reshape(shape))


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
    lam = as_floats("rate", rate)
    t_idle = as_floats("idle_before_zero_s", idle_before_zero_s)
    s = as_floats("service_time", service_time)
    t_cold = as_floats("cold_start_s", cold_start_s)
    slo = as_floats("slo_seconds", slo_seconds)
    frac = np.exp(-lam * (t_idle + s)) * (1.0 + lam * np.maximum(0.0, t_cold - slo + s))
    return scalar_or_array(np.where(lam > 0, np.minimum(frac, 1.0), 0.0))


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
    lam = as_floats("rate", rate, strict=True)
    s = as_floats("service_time", service_time)
    t_cold = as_floats("cold_start_s", cold_start_s)
    slo = as_floats("slo_seconds", slo_seconds)
    f = as_quantile(fraction)
    need = np.log((1.0 + lam * np.maximum(0.0, t_cold - slo + s)) / f) / lam - s
    return scalar_or_array(np.maximum(need, 0.0))
