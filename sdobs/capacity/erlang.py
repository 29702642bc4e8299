"""Erlang B and C, their large-c (Halfin–Whitt) limits, and the least server count meeting a
condition along the Erlang B recursion (docs/queueing.md §2–§3).

Erlang B is computed by its recursion, never from factorials, so it stays finite for hundreds of
pods and vectorises over any broadcastable arguments.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import log_ndtr

from sdobs.capacity.inputs import Floats, as_floats, as_servers, scalar_or_array

__all__ = ["erlang_b", "erlang_c", "halfin_whitt_prob_wait", "square_root_staffing"]


def erlang_b(servers: ArrayLike, offered_load: ArrayLike) -> Floats:
    """Erlang B blocking probability B(c, a) by the stable recursion B_k = aB/(k + aB).

    Work is proportional to the sum of the server counts; each element only runs the recursion
    up to its own c (elements are sorted by c and the active tail shrinks as k grows).
    """
    c, a = np.broadcast_arrays(
        as_servers(servers, minimum=0), as_floats("offered_load", offered_load)
    )
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
    return scalar_or_array(out.reshape(c.shape))


def erlang_c(servers: ArrayLike, offered_load: ArrayLike) -> Floats:
    """Erlang C probability of waiting C(c, a) = cB/(c − a(1 − B)); 1 where a ≥ c."""
    c, a = np.broadcast_arrays(as_servers(servers), as_floats("offered_load", offered_load))
    b = np.asarray(erlang_b(c, a), dtype=float)
    return scalar_or_array(erlang_c_from_b(c, a, b))


def erlang_c_from_b(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Erlang C from an Erlang B value already at hand (broadcast arrays; 1 where a ≥ c)."""
    stable = a < c
    with np.errstate(divide="ignore", invalid="ignore"):
        cw = np.where(stable, c * b / (c - a * (1.0 - b)), 1.0)
    return np.clip(cw, 0.0, 1.0)


def halfin_whitt_prob_wait(offered_load: ArrayLike, servers: ArrayLike) -> Floats:
    """Halfin–Whitt limit of P(wait) with β = (c − a)/√a: [1 + βΦ(β)/φ(β)]⁻¹ (large-c check)."""
    a = as_floats("offered_load", offered_load, strict=True)
    c = as_servers(servers)
    beta = (c - a) / np.sqrt(a)
    # Φ(β)/φ(β) in logs: φ underflows long before the ratio overflows.
    log_ratio = log_ndtr(beta) + 0.5 * beta**2 + 0.5 * np.log(2 * np.pi)
    with np.errstate(over="ignore"):
        pw = 1.0 / (1.0 + beta * np.exp(log_ratio))
    return scalar_or_array(np.where(beta > 0, pw, 1.0))


def square_root_staffing(offered_load: ArrayLike, beta: ArrayLike) -> Floats:
    """Square-root staffing c = ceil(a + β√a), the Halfin–Whitt rule of thumb."""
    a = as_floats("offered_load", offered_load)
    return scalar_or_array(
        np.ceil(a + np.asarray(beta, dtype=float) * np.sqrt(a) - 1e-9).astype(np.int64)
    )


def least_servers(
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
