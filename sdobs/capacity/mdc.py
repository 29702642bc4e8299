"""The exact FCFS waiting-time distribution of the M/D/c queue, stable for hundreds of servers.

Why a module of its own: SD inference time is near-deterministic, so M/D/c is the model the
approximations in ``mgc`` are judged against (docs/queueing.md §4), and computing it
stably for large c takes some care.

Method. Let D be the service time, a = λD and X the number of customers *waiting* at an
arbitrary time. Every customer in service at time s leaves by s + D, so X obeys the embedded
recursion X' = max(X + A − c, 0) with A ~ Poisson(a) (Crommelin 1932). Its generating function
is the classical root form (Crommelin 1932; Franx 2001; Janssen & van Leeuwaarden 2008)

    P_X(z) = (c − a)(z − 1) / (z^c − e^{a(z−1)}) · Π_{k=1}^{c−1} (z − z_k) / (1 − z_k),

where z_1 … z_{c−1} are the roots of z^c = e^{a(z−1)} inside the unit disk other than 1. With
ρ = a/c, writing z = −w/ρ turns z = ω^k e^{ρ(z−1)} into w e^w = −ρe^{−ρ}ω^k, so
z_k = −W₀(−ρ e^{−ρ} ω^k)/ρ with ω = e^{2πi/c} and W₀ the principal Lambert W branch
(|ρe^{−ρ}ω^k| < 1/e, where W₀ is analytic: no iterative root finding is needed). P_X is bounded by
1 on the unit circle, so its coefficients P(X = m) come from one FFT of P_X sampled at M-th roots
of unity with absolute error near machine precision; M is chosen past the geometric tail
z₀^{−m}, z₀ = −W₋₁(−ρe^{−ρ})/ρ > 1 the root outside the disk. No factorials, no polynomial
coefficients and no unstable forward recursion are involved.

Waiting time (Crommelin 1932; Franx 2001 derives it by a shorter route): for t = (k−1)D + y with
0 ≤ y < D, a FCFS arrival at time τ starts service by τ + t iff fewer than kc of the customers
ahead of it are present at τ + y, and that number is X(τ + y − D) plus the Poisson(λ(D − y))
arrivals in (τ + y − D, τ). Hence, with μ = λ(kD − t),

    P(W ≤ t) = Σ_{i=0}^{kc−1} e^{−μ} μ^i / i! · P(X ≤ kc − 1 − i),

and the mean follows from Little's law, E[W] = E[X]/λ. The tests check the queue-length law
against Spitzer's identity (an all-positive series that needs no roots) to 1e-12, the c = 1
case against Erlang's 1909 M/D/1 formula, and the waits against simulation.

References: C. D. Crommelin, "Delay probability formulae when the holding times are constant",
P.O. Elect. Engrs. J. 25 (1932) 41-50; G. J. Franx, "A simple solution for the M/D/c waiting
time distribution", Oper. Res. Lett. 29(5) (2001) 221-229, doi:10.1016/S0167-6377(01)00108-0;
A. J. E. M. Janssen & J. S. H. van Leeuwaarden, "Back to the roots of the M/D/s queue and the
works of Erlang, Crommelin and Pollaczek", Statistica Neerlandica 62(3) (2008) 299-313.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.special import gammaln, lambertw, pdtrc, xlogy

from sdobs.errors import InputError

# Largest FFT length, and grid points × roots, for the queue-length distribution: the grid
# grows like 1/(1 − ρ), so only utilisations within about 1e-4 of 1 reach these.
_MAX_GRID = 1 << 21
_MAX_WORK = 1 << 26
# Grid points evaluated at once when summing the c − 1 root factors (bounds memory at c = 500+).
_CHUNK_ELEMENTS = 1 << 20


class MDcUnstable(InputError):
    """The M/D/c queue has no steady state because the offered load reaches the server count."""

    def __init__(self, rate: float, service_time: float, servers: int) -> None:
        self.rate, self.service_time, self.servers = rate, service_time, servers
        super().__init__(
            f"M/D/c has no steady state at rate={rate}, service_time={service_time}, "
            f"servers={servers}: utilisation {rate * service_time / servers:.4g} is not below 1"
        )


class MDcGridTooLarge(InputError):
    """The exact method would need too fine a grid: utilisation within about 1e-4 of 1."""

    def __init__(self, utilisation: float, servers: int, points: int) -> None:
        self.utilisation, self.servers, self.points = utilisation, servers, points
        super().__init__(
            f"exact M/D/c at utilisation {utilisation:.6f} with {servers} servers needs a "
            f"queue-length grid of {points} points, more than the exact method allows; "
            "use the approximations this close to saturation"
        )


def _poisson_pmf(i: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Poisson probabilities in log space, so that large means neither overflow nor underflow."""
    return np.exp(xlogy(i, mu) - mu - gammaln(i + 1.0))


def _grid_size(offered_load: float, servers: int) -> int:
    """FFT length that covers the queue-length distribution down to about 1e-18."""
    rho = offered_load / servers
    if rho < 1e-12:
        return 64
    z0 = float(np.real(-lambertw(-rho * np.exp(-rho), -1) / rho))
    need = 1.25 * (41.5 + np.log(servers)) / np.log(z0) + 16
    if need > _MAX_GRID or need * max(servers - 1, 1) > _MAX_WORK:
        raise MDcGridTooLarge(rho, servers, int(need))
    return max(64, 1 << int(np.ceil(np.log2(need))))


@lru_cache(maxsize=512)
def _queue_pmf(offered_load: float, servers: int) -> np.ndarray:
    """P(X = m), m = 0..M−1, for the number waiting in M/D/c (module docstring)."""
    a, c = offered_load, servers
    if a == 0.0:
        return np.array([1.0])
    rho = a / c
    grid = _grid_size(a, c)
    theta = 2.0 * np.pi * np.arange(grid) / grid
    z = np.exp(1j * theta)
    # z^c computed from the reduced angle keeps full precision for large c.
    zc = np.exp(1j * np.mod(c * theta, 2.0 * np.pi))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.log((c - a) * (z - 1.0)) - np.log(zc - np.exp(a * (z - 1.0)))
    if c > 1:
        k = np.arange(1, c)
        roots = -lambertw(-rho * np.exp(-rho) * np.exp(2j * np.pi * k / c), 0) / rho
        log_norm = np.sum(np.log(1.0 - roots))
        step = max(1, _CHUNK_ELEMENTS // (c - 1))
        for lo in range(0, grid, step):
            zz = z[lo : lo + step, None]
            log_p[lo : lo + step] += np.sum(np.log(zz - roots[None, :]), axis=1) - log_norm
    pgf = np.exp(log_p)
    pgf[0] = 1.0  # removable singularity at z = 1, where a pgf equals 1
    pmf = np.fft.fft(pgf).real / grid
    np.clip(pmf, 0.0, None, out=pmf)
    pmf /= pmf.sum()
    pmf.setflags(write=False)
    return pmf


@dataclass(frozen=True, eq=False)
class MDcWaitingTime:
    """The exact FCFS waiting-time distribution of one M/D/c queue (module docstring)."""

    rate: float
    service_time: float
    servers: int
    queue_pmf: np.ndarray  # P(X = m): number waiting at an arbitrary time, m = 0, 1, ...

    @property
    def utilisation(self) -> float:
        return self.rate * self.service_time / self.servers

    @property
    def mean_queue_length(self) -> float:
        """E[X], the time-average number waiting (Lq)."""
        return float(np.dot(np.arange(self.queue_pmf.size), self.queue_pmf))

    @property
    def mean(self) -> float:
        """E[W] = Lq/λ (Little's law)."""
        return 0.0 if self.rate == 0 else self.mean_queue_length / self.rate

    @property
    def p_wait(self) -> float:
        """P(W > 0), the exact M/D/c probability of waiting."""
        return float(self.sf(0.0))

    def _tail_above(self) -> np.ndarray:
        """T_j = P(X > j) for j = 0..M−1, summed from the small end for accuracy."""
        rev = np.cumsum(self.queue_pmf[::-1])[::-1]
        return np.append(rev[1:], 0.0)

    def sf(self, t: float | np.ndarray) -> float | np.ndarray:
        """P(W > t): Crommelin's sum in its complementary form, accurate in the far tail too."""
        t_arr = np.asarray(t, dtype=float)
        flat = t_arr.ravel()
        out = np.empty(flat.shape)
        if self.rate == 0:
            out[:] = 0.0
            return out.reshape(t_arr.shape)[()]
        tail = self._tail_above()
        size = tail.size
        c, d, lam = self.servers, self.service_time, self.rate
        for idx, tv in enumerate(flat):
            if tv < 0:
                out[idx] = 1.0
                continue
            k = int(np.floor(tv / d)) + 1
            mu = max(lam * (k * d - tv), 0.0)
            n = k * c
            # Only i > n − 1 − M can meet a non-zero P(X > n − 1 − i).
            i = np.arange(max(0, n - size), n, dtype=float)
            terms = _poisson_pmf(i, mu) * tail[(n - 1 - i).astype(np.int64)]
            out[idx] = min(1.0, float(terms.sum() + pdtrc(n - 1, mu)))
        return out.reshape(t_arr.shape)[()]

    def cdf(self, t: float | np.ndarray) -> float | np.ndarray:
        """P(W ≤ t)."""
        return 1.0 - self.sf(t)

    def quantile(self, p: float) -> float:
        """The smallest t with P(W ≤ t) ≥ p."""
        if not 0.0 <= p < 1.0:
            raise InputError(f"quantile must be in [0, 1), got {p}")
        q = 1.0 - p
        if self.rate == 0 or self.sf(0.0) <= q:
            return 0.0
        d = self.service_time
        # P(W > (k−1)D) = P(N ≥ kc): find the period [(k−1)D, kD) that holds the quantile.
        k = 1
        while self.sf(k * d) > q:
            k += 1
        lo, hi = (k - 1) * d, k * d
        return float(brentq(lambda x: float(self.sf(x)) - q, lo, hi, xtol=1e-12 * d, rtol=1e-12))


def mdc_wait_distribution(rate: float, service_time: float, servers: int) -> MDcWaitingTime:
    """Build the exact waiting-time distribution of one M/D/c queue (cached per offered load)."""
    rate, service_time = float(rate), float(service_time)
    if servers != int(servers) or servers < 1:
        raise InputError(f"servers must be a positive integer, got {servers}")
    if rate < 0 or service_time <= 0:
        raise InputError(
            f"rate must be >= 0 and service_time > 0, got rate={rate}, service_time={service_time}"
        )
    servers = int(servers)
    if rate * service_time >= servers:
        raise MDcUnstable(rate, service_time, servers)
    pmf = _queue_pmf(rate * service_time, servers)
    return MDcWaitingTime(rate, service_time, servers, pmf)


def _per_point(fn: Callable[..., float], *arrays: ArrayLike) -> float | np.ndarray:
    """Apply a scalar exact computation over broadcast inputs, once per distinct point."""
    bcast = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in arrays))
    out = np.empty(bcast[0].shape)
    flat = [b.ravel() for b in bcast]
    cache: dict[tuple[float, ...], float] = {}
    for idx in range(out.size):
        key = tuple(float(f[idx]) for f in flat)
        if key not in cache:
            cache[key] = fn(*key)
        out.flat[idx] = cache[key]
    return out[()]


def _exact(
    value_if_unstable: float, fn: Callable[[MDcWaitingTime, float], float]
) -> Callable[[float, float, float, float], float]:
    def wrapped(rate: float, service_time: float, servers: float, extra: float) -> float:
        if rate * service_time >= servers:
            return value_if_unstable
        return fn(mdc_wait_distribution(rate, service_time, int(servers)), extra)

    return wrapped


def mdc_prob_wait(
    rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> float | np.ndarray:
    """Exact M/D/c P(W > 0) over broadcast inputs (1 where unstable)."""
    fn = _exact(1.0, lambda d, _: d.p_wait)
    return _per_point(fn, rate, service_time, servers, 0.0)


def mdc_mean_wait(
    rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> float | np.ndarray:
    """Exact M/D/c mean wait in queue over broadcast inputs (inf where unstable)."""
    fn = _exact(np.inf, lambda d, _: d.mean)
    return _per_point(fn, rate, service_time, servers, 0.0)


def mdc_wait_tail(
    t: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> float | np.ndarray:
    """Exact M/D/c P(W > t) over broadcast inputs (1 where unstable)."""
    fn = _exact(1.0, lambda d, tt: float(d.sf(tt)))
    return _per_point(fn, rate, service_time, servers, t)


def mdc_wait_quantile(
    p: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> float | np.ndarray:
    """Exact M/D/c p-quantile of the wait in queue over broadcast inputs (inf where unstable)."""
    fn = _exact(np.inf, lambda d, pp: d.quantile(pp))
    return _per_point(fn, rate, service_time, servers, p)


def mdc_response_quantile(
    p: ArrayLike, rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike
) -> float | np.ndarray:
    """Exact M/D/c p-quantile of the response time: T_p = D + W_p since service is constant."""
    wait = mdc_wait_quantile(p, rate, service_time, servers)
    return np.asarray(service_time, dtype=float) + wait
