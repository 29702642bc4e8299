"""Analytic pod sizing for a fleet: 500 services x 24 hourly rates against a P99 SLO, timed.

Goal: the whole fleet-day in at most 1 s. Baselines measured in the same run:
1. the same computation as a scalar per-rate Python loop (math module: Erlang B recursion,
   Erlang C, Cosmetatos, exponential tail) over all 12,000 rates; its answers must equal the
   vectorised ones;
2. one vectorised numpy pass of Erlang C alone over the same 12,000 points at their sized c,
   the floor that any Erlang-based sizing pays.
Also timed: gamma service times (SCV 0.02-0.3) and the exact M/D/c refinement on a sample.
Run: .venv/bin/python benchmarks/capacity_sizing.py
"""

from __future__ import annotations

import math
import time

import numpy as np

from sdobs.capacity.erlang import erlang_c
from sdobs.capacity.sizing import pods_for_p99

SERVICES, HOURS, QUANTILE = 500, 24, 0.99
SAMPLE_SERVICES = 20  # services the exact M/D/c method is timed on


def fleet(seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hourly rates (services x hours), service times, SCVs and SLOs of a synthetic SD fleet.

    About 100M requests a day across 500 services (the reference deployment), log-normal sizes,
    a diurnal cycle with a per-service phase; inference 1.5-8 s; SLO 2 x S + 4 s.
    """
    rng = np.random.default_rng(seed)
    daily_mean = rng.lognormal(mean=0.0, sigma=1.3, size=(SERVICES, 1))
    daily_mean *= (100e6 / 86400) / daily_mean.sum()
    hours = np.arange(HOURS)[None, :]
    phase = rng.uniform(0, 2 * np.pi, (SERVICES, 1))
    rates = daily_mean * (1.0 + 0.7 * np.sin(2 * np.pi * hours / HOURS + phase))
    service = rng.uniform(1.5, 8.0, (SERVICES, 1))
    scv = rng.uniform(0.02, 0.3, (SERVICES, 1))
    return rates, service, scv, 2.0 * service + 4.0


def scalar_pods(rate: float, s: float, slo: float, quantile: float = QUANTILE) -> int:
    """The deterministic-service approx sizing for one rate, in plain Python."""
    a = rate * s
    q_tail = 1.0 - quantile
    b, k = 1.0, 0
    while True:
        k += 1
        b = a * b / (k + a * b)
        if a >= k:
            continue
        pw = k * b / (k - a * (1.0 - b))
        wq_mmc = pw * s / (k - a)
        rho = a / k
        corr = (1 - rho) * (k - 1) * (math.sqrt(4 + 5 * k) - 2) / (16 * rho * k)
        wq = 0.5 * (1 + corr) * wq_mmc
        tail = pw * math.exp(-(slo - s) * pw / wq) if wq > 0 else 0.0
        if tail <= q_tail:
            return k


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    rates, service, scv, slo = fleet()
    n = rates.size
    pods_for_p99(rates[:2], service[:2], 0.0, slo[:2])  # import and first-call warm-up

    t_det, pods = best_of(lambda: pods_for_p99(rates, service, 0.0, slo))
    t_gamma, pods_gamma = best_of(lambda: pods_for_p99(rates, service, scv, slo))

    flat = list(
        zip(
            rates.ravel(),
            np.repeat(service[:, 0], HOURS),
            np.repeat(slo[:, 0], HOURS),
            strict=True,
        )
    )
    t_scalar, scalar = best_of(lambda: [scalar_pods(r, s, sl) for r, s, sl in flat], repeat=2)
    mismatches = int(np.sum(np.asarray(scalar) != pods.ravel()))

    t_erlang, _ = best_of(lambda: erlang_c(pods, rates * service))

    sample = slice(0, SAMPLE_SERVICES)
    t0 = time.perf_counter()
    exact = pods_for_p99(rates[sample], service[sample], 0.0, slo[sample], method="exact")
    t_exact = time.perf_counter() - t0
    moved = np.abs(exact - pods[sample])

    print(
        f"fleet: {SERVICES} services x {HOURS} hours = {n} rates, "
        f"{rates.sum() * 3600:,.0f} requests/day, peak service {rates.max():.0f}/s, "
        f"pods per hour: median {int(np.median(pods))}, max {int(pods.max())}"
    )
    print(f"vectorised sizing, deterministic S:      {t_det * 1e3:8.1f} ms  (goal <= 1000 ms)")
    print(
        f"vectorised sizing, gamma S (SCV .02-.3): {t_gamma * 1e3:8.1f} ms  "
        f"(max pods {int(pods_gamma.max())})"
    )
    print(
        f"scalar Python loop, same computation:    {t_scalar * 1e3:8.1f} ms  "
        f"({mismatches} of {n} answers differ)"
    )
    print(f"numpy Erlang C alone at the sized c:     {t_erlang * 1e3:8.1f} ms")
    print(
        f"exact M/D/c sizing, {exact.size} of the rates:  {t_exact * 1e3:8.1f} ms  "
        f"({t_exact / exact.size * 1e3:.2f} ms a rate; {int((moved > 0).sum())} pod counts "
        f"moved, by at most {int(moved.max())})"
    )
    print(
        f"ratio: scalar loop / vectorised = {t_scalar / t_det:.1f}x; "
        f"vectorised / Erlang C alone = {t_det / t_erlang:.1f}x; "
        f"goal {'met' if t_det <= 1.0 else 'MISSED'} ({1.0 / t_det:.0f}x under 1 s)"
    )


if __name__ == "__main__":
    main()
