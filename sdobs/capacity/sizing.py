"""Sizing GPU pods for a latency SLO: the formulas, and the plan over a recorded history.

The formulas (docs/queueing.md §3): ``pods_for_p99`` finds, for every (broadcast) rate at once,
the least pod count whose M/G/c response-time percentile meets the SLO, along one vectorised
Erlang B recursion; ``size_for_slo`` adds the queue's figures at that count.

The plan applies §3 to the history: the recorded rate, smoothed over 15 minutes and taken one
cold start ahead (step 3), sizes the pods a P99 target needs (``pods_for_p99``, M/G/c); the KPA
target utilisation that holds that count (step 4); and the scale-to-zero retention that keeps
cold requests near 1 % (step 5), weighted by when requests come.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from sdobs.capacity.erlang import erlang_c_from_b, least_servers
from sdobs.capacity.inputs import (
    QueueInputError,
    ServiceScv,
    as_floats,
    as_quantile,
    as_scv,
    scalar_or_array,
)
from sdobs.capacity.kpa_model import (
    cold_request_fraction,
    kpa_steady_state_pods,
    kpa_target_utilization_percent,
)
from sdobs.capacity.mdc import (
    MDcGridTooLarge,
    mdc_mean_wait,
    mdc_prob_wait,
    mdc_response_quantile,
    mdc_wait_distribution,
)
from sdobs.capacity.mgc import (
    MeanWaitMethod,
    mean_wait_from,
    mgc_parts,
    mgc_response_quantile,
    mgc_response_tail_of,
    service_sf,
)
from sdobs.capacity.whatif import Setting
from sdobs.sim.manifest import RevisionSpec

SMOOTH_S = 900.0
#: Scale-to-zero retention periods the plan chooses from (seconds).
RETENTIONS = (0.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)
COLD_TARGET = 0.01


# --------------------------------------------------------------------------- pods for an SLO


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
    lam = as_floats("rate", rate)
    s = as_floats("service_time_mean", service_time_mean, strict=True)
    cs2 = as_scv(service_time_scv)
    slo = as_floats("slo_seconds", slo_seconds)
    pp = as_quantile(quantile)
    lam, s, cs2, slo, pp = np.broadcast_arrays(lam, s, cs2, slo, pp)
    shape = lam.shape
    lam, s, cs2, slo, pp = (x.ravel().astype(float) for x in (lam, s, cs2, slo, pp))
    q = 1.0 - pp
    pods = np.full(lam.size, -1, dtype=np.int64)
    pods[lam == 0] = 0
    feasible = (lam > 0) & (service_sf(slo, s, cs2) <= q)
    idx = np.nonzero(feasible)[0]
    lr, sr, cr, slr, qr = lam[idx], s[idx], cs2[idx], slo[idx], q[idx]
    ar = lr * sr

    def meets(r: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
        pw = erlang_c_from_b(k, ar[r], b)
        wq = mean_wait_from(lr[r], sr[r], k, cr[r], pw, pw * sr[r] / (k - ar[r]), mean_wait)
        tail = mgc_response_tail_of(slr[r], lr[r], sr[r], k, cr[r], mean_wait, pw, wq)
        return tail <= qr[r]

    pods[idx] = least_servers(ar, meets, max_pods)
    if method == "exact":
        _refine_exact_mdc(pods, lam, s, cs2, slo, q)
    return scalar_or_array(pods.reshape(shape))


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
        as_floats("rate", rate),
        as_floats("service_time_mean", service_time_mean, strict=True),
        as_scv(service_time_scv),
        as_quantile(quantile),
        pods,
    )[:4]
    c = np.maximum(pods, 1)
    pw, wq = mgc_parts(lam, s, c, cs2, mean_wait)
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


# ------------------------------------------------------------------ the plan over a history


def cold_start_seconds(rev: RevisionSpec) -> float:
    """Mean time from pod creation until it can serve: instance, image, port, checkpoint."""
    c = rev.cold_start
    return c.schedule + c.image_pull + max(c.process_start, c.initial_delay) + c.model_load


def idle_before_zero(rev: RevisionSpec, retention_s: float | None = None) -> float:
    """How long a revision stays up without requests: window, grace or retention, delay."""
    k = rev.kpa
    retention = k.scale_to_zero_pod_retention if retention_s is None else retention_s
    return k.stable_window + max(k.scale_to_zero_grace_period, retention) + k.scale_down_delay


def service_time(history) -> tuple[float, float]:
    """(mean seconds, SCV) of the busiest revision's successful requests."""
    st = max(history.service_times.values(), key=lambda s: s.requests, default=None)
    if st is None or not math.isfinite(st.mean_s):
        raise ValueError(f"{history.namespace}/{history.service} recorded no successful "
                         "request in the range, so its service time is unknown")
    return st.mean_s, st.scv


def smoothed_rate(history, smooth_s: float = SMOOTH_S) -> pd.Series:
    """GPU requests per second (4xx left out), a centred rolling mean over ``smooth_s``."""
    by_class = history.rates_by_class
    gpu = by_class[by_class["code_class"] != "4xx"].groupby("time")["value"].sum()
    rate = gpu.reindex(history.rates.index).fillna(0.0)
    points = max(1, round(smooth_s / history.step))
    return rate.rolling(points, center=True, min_periods=1).mean()


def queueing_need(history, rev: RevisionSpec, slo_seconds: float, *,
                  quantile: float = 0.99) -> pd.DataFrame:
    """Per step: rate, rate one cold start ahead, pods the P99 target needs (M/G/c), pods KPA
    holds at the deployed target in steady state, and the pods actually ready."""
    s, scv = service_time(history)
    rate = smoothed_rate(history)
    lead = max(1, round(cold_start_seconds(rev) / history.step))
    ahead = rate[::-1].rolling(lead + 1, min_periods=1).max()[::-1]
    need = np.asarray(pods_for_p99(ahead.to_numpy(), s, scv, slo_seconds, quantile))
    tu = rev.kpa.target / max(rev.kpa.total, 1e-9)
    steady = kpa_steady_state_pods(rate.to_numpy(), s, tu,
                                   max(1, rev.container_concurrency), scv)
    return pd.DataFrame({
        "rate": rate, "rate_ahead": ahead, "need": np.where(need < 0, np.nan, need),
        "kpa_steady": steady, "ready": history.pods_wide("actual").sum(axis=1),
    }, index=history.rates.index)


@dataclass(frozen=True)
class Plan:
    """What the queueing model recommends for one revision over the recorded traffic."""

    service_s: float
    scv: float
    peak_rate: float  # 95th percentile of the smoothed rate
    pods_at_peak: int  # P99 ≤ SLO at the peak rate
    max_pods: int  # at the highest smoothed rate, one cold start ahead
    target_utilization: float  # percent that holds pods_at_peak at the peak rate
    cold_fraction: float  # request-weighted, at the deployed idle time
    retention_s: float | None  # least retention with cold requests ≤ 1 %, None: none does
    cold_fraction_planned: float
    deployed_target_utilization: float = 100.0

    def setting(self, name: str = "queueing model") -> Setting:
        """The plan as a what-if setting (min-scale 1 when no retention is enough).

        max-scale is left as deployed: the smoothed rate hides bursts, and a lower cap would
        only queue them."""
        tu = self.target_utilization
        return Setting(name, target_utilization=None if tu == round(
                           self.deployed_target_utilization) else tu,
                       min_scale=1 if self.retention_s is None else None,
                       retention_s=self.retention_s if self.retention_s else None)


def _weighted_cold(rate: np.ndarray, idle: float, s: float, cold: float, slo: float) -> float:
    total = rate.sum()
    if total <= 0:
        return 0.0
    frac = np.asarray(cold_request_fraction(rate, idle, s, cold, slo), dtype=float)
    return float((rate * frac).sum() / total)


def plan(history, rev: RevisionSpec, slo_seconds: float, *, quantile: float = 0.99) -> Plan:
    """Size the revision for the recorded traffic with the recipe of docs/queueing.md §3."""
    s, scv = service_time(history)
    need = queueing_need(history, rev, slo_seconds, quantile=quantile)
    rate = need["rate"].to_numpy()
    busy = rate[rate > 0]
    peak = float(np.quantile(busy, 0.95)) if len(busy) else 0.0
    pods = int(pods_for_p99(peak, s, scv, slo_seconds, quantile)) if peak > 0 else 1
    if pods < 0:
        raise ValueError(f"no pod count meets P{quantile * 100:g} ≤ {slo_seconds:g} s: the "
                         f"service time alone ({s:.1f} s mean) is too long for it")
    # docs/queueing.md §3 step 4 maps c* to a target only where ceil() has room: with 1 or 2 pods a
    # single request would already ask for ceil(1 / TU) pods, so the deployed target stays.
    deployed = 100.0 * rev.kpa.target / max(rev.kpa.total, 1e-9)
    tu = deployed
    if peak > 0 and pods > 2:
        tu = float(np.clip(kpa_target_utilization_percent(peak, s, pods, scv), 50, 100))
    top = np.nanmax(need["need"].to_numpy()) if need["need"].notna().any() else pods
    cold_s = cold_start_seconds(rev)
    now = _weighted_cold(rate, idle_before_zero(rev), s, cold_s, slo_seconds)
    chosen, planned = None, math.nan
    for retention in RETENTIONS:
        frac = _weighted_cold(rate, idle_before_zero(rev, retention), s, cold_s, slo_seconds)
        if frac <= COLD_TARGET:
            chosen, planned = retention, frac
            break
    if chosen is None:
        planned = 0.0  # min-scale 1: no scale to zero
    return Plan(service_s=s, scv=scv, peak_rate=peak, pods_at_peak=max(pods, 1),
                max_pods=int(max(top, pods, 1)), target_utilization=round(tu),
                cold_fraction=now, retention_s=chosen, cold_fraction_planned=planned,
                deployed_target_utilization=deployed)
