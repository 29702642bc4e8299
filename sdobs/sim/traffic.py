"""Request traffic for the twin: open-loop arrivals (Poisson with a daily profile and bursts, or a
replayed rate series) and closed-loop clients ("N in flight, M in total", like ``hey -c -n``).

Open-loop arrivals are drawn at once, vectorised, by inverting the cumulative intensity of a
piecewise-constant rate; the engine merges them with its own events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdobs.errors import InputError
from sdobs.sim.servicetime import Txt2Img

DAY = 86400.0


@dataclass(frozen=True)
class Diurnal:
    """A daily rate profile: 1 at ``peak_hour`` local time, ``floor`` at the opposite hour."""

    peak_hour: float = 14.0
    floor: float = 0.3
    sharpness: float = 1.0  # >1 makes the busy part of the day narrower
    utc_offset_hours: float = 8.0  # the users' time zone (Alibaba Cloud's regions: UTC+8)

    def factor(self, epoch_seconds: np.ndarray) -> np.ndarray:
        hours = ((epoch_seconds / 3600.0) + self.utc_offset_hours) % 24.0
        wave = (1 + np.cos(2 * np.pi * (hours - self.peak_hour) / 24.0)) / 2
        return self.floor + (1 - self.floor) * wave**self.sharpness


@dataclass(frozen=True)
class Bursts:
    """Random rectangular bursts: ``per_day`` on average, each ``multiplier`` × the rate."""

    per_day: float = 4.0
    multiplier: float = 4.0
    duration: float = 300.0

    def factor(self, t: np.ndarray, duration: float, rng: np.random.Generator) -> np.ndarray:
        out = np.ones_like(t)
        n = rng.poisson(self.per_day * duration / DAY)
        for start in rng.uniform(0, duration, n):
            length = self.duration * rng.uniform(0.5, 1.5)
            mult = self.multiplier * rng.uniform(0.7, 1.3)
            out[(t >= start) & (t < start + length)] *= mult
        return out


@dataclass(frozen=True)
class Poisson:
    """Open-loop Poisson arrivals at ``rate`` requests/s, shaped by a day and by bursts."""

    rate: float
    diurnal: Diurnal | None = None
    bursts: Bursts | None = None
    resolution: float = 10.0  # seconds per piece of the piecewise-constant rate

    def rates(self, start_epoch: float, duration: float, rng: np.random.Generator,
              ) -> tuple[np.ndarray, np.ndarray]:
        """(piece start times relative to the start, rate in each piece)."""
        step = self.resolution if (self.diurnal or self.bursts) else duration
        edges = np.arange(0.0, duration, step)
        rate = np.full(len(edges), float(self.rate))
        if self.diurnal:
            rate *= self.diurnal.factor(start_epoch + edges + step / 2)
        if self.bursts:
            rate *= self.bursts.factor(edges, duration, rng)
        return edges, rate

    def arrivals(self, start_epoch: float, duration: float, rng: np.random.Generator,
                 ) -> np.ndarray:
        edges, rate = self.rates(start_epoch, duration, rng)
        return arrivals_from_rates(edges, rate, duration, rng)


@dataclass(frozen=True)
class Replay:
    """Arrivals following a recorded rate series (requests/s), Poisson within each step.

    ``times`` are seconds from the start of the simulation (or epoch seconds, see ``epoch``);
    each rate holds until the next time. Build one from a CSV or a pandas Series.
    """

    times: tuple[float, ...]
    rates: tuple[float, ...]
    epoch: bool = False

    def __post_init__(self) -> None:
        if len(self.times) != len(self.rates) or not self.times:
            raise InputError("a replay needs as many rates as times, and at least one")
        if any(b <= a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise InputError("replay times must increase")
        if any(r < 0 or not math.isfinite(r) for r in self.rates):
            raise InputError("replay rates must be finite and not negative")

    @classmethod
    def from_series(cls, series: object) -> Replay:
        """A pandas Series of requests/s indexed by timestamps or by seconds."""
        import pandas as pd

        s = pd.Series(series).dropna().sort_index()
        if isinstance(s.index, pd.DatetimeIndex):
            idx = s.index.tz_localize("UTC") if s.index.tz is None else s.index
            times = (idx - pd.Timestamp(0, tz="UTC")).total_seconds().tolist()
            return cls(tuple(times), tuple(float(v) for v in s.to_numpy()), epoch=True)
        return cls(tuple(float(t) for t in s.index), tuple(float(v) for v in s.to_numpy()))

    @classmethod
    def from_csv(cls, path: str | Path) -> Replay:
        """A CSV with a time column (ISO timestamps or seconds) and a rate column."""
        import pandas as pd

        frame = pd.read_csv(path)
        if frame.shape[1] < 2:
            raise InputError(f"{path}: a replay CSV needs a time column and a rate column")
        tcol, rcol = frame.columns[0], frame.columns[1]
        times = frame[tcol]
        if not pd.api.types.is_numeric_dtype(times):
            times = pd.to_datetime(times, utc=True)
        return cls.from_series(pd.Series(frame[rcol].to_numpy(dtype=float), index=times))

    def arrivals(self, start_epoch: float, duration: float, rng: np.random.Generator,
                 ) -> np.ndarray:
        times = np.asarray(self.times, dtype=float)
        if self.epoch:
            times = times - start_epoch
        rates = np.asarray(self.rates, dtype=float)
        keep = times < duration
        times, rates = times[keep], rates[keep]
        if len(times) == 0 or times[0] > 0:
            times = np.concatenate([[0.0], times])
            rates = np.concatenate([[0.0], rates])
        times = np.maximum(times, 0.0)
        return arrivals_from_rates(times, rates, duration, rng)


@dataclass(frozen=True)
class Recorded:
    """Exact arrival times (seconds from the start), e.g. recorded ones for a what-if replay."""

    times: tuple[float, ...]

    def arrivals(self, start_epoch: float, duration: float, rng: np.random.Generator,
                 ) -> np.ndarray:
        t = np.sort(np.asarray(self.times, dtype=float))
        return t[(t >= 0) & (t < duration)]


def arrivals_from_rates(edges: np.ndarray, rate: np.ndarray, duration: float,
                        rng: np.random.Generator) -> np.ndarray:
    """Poisson arrival times for a piecewise-constant rate starting at ``edges``."""
    ends = np.append(edges[1:], duration)
    mass = rate * np.maximum(ends - edges, 0)
    cum = np.concatenate([[0.0], np.cumsum(mass)])
    total = cum[-1]
    n = rng.poisson(total) if total > 0 else 0
    if n == 0:
        return np.empty(0)
    u = np.sort(rng.uniform(0.0, total, n))
    piece = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(edges) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(rate[piece] > 0, (u - cum[piece]) / rate[piece], 0.0)
    return np.minimum(edges[piece] + offset, np.nextafter(duration, 0))


@dataclass(frozen=True)
class ClosedLoop:
    """``clients`` each keep one request in flight until ``total`` requests have been sent."""

    clients: int
    total: int
    start: float = 0.0
    think: float = 0.0  # seconds between a response and the client's next request

    def __post_init__(self) -> None:
        if self.clients < 1 or self.total < 0:
            raise InputError("a closed loop needs at least one client and a total ≥ 0")


@dataclass(frozen=True)
class RequestMix:
    """What the clients ask for: weighted txt2img bodies plus a share of broken requests."""

    profiles: tuple[tuple[float, Txt2Img], ...] = ((1.0, Txt2Img(steps=20)),)
    unknown_sampler: float = 0.0  # share answered 400 "Sampler not found"
    bad_body: float = 0.0  # share answered 422 by FastAPI's validation

    def bodies(self) -> list[Txt2Img]:
        """The distinct bodies: the profiles, then a broken-sampler and a broken body."""
        return [p for _, p in self.profiles] + [Txt2Img(sampler_name="Euler z"),
                                                  Txt2Img(steps=0)]

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Index into :meth:`bodies` for ``n`` requests."""
        k = len(self.profiles)
        weights = np.array([w for w, _ in self.profiles], dtype=float)
        good = max(0.0, 1.0 - self.unknown_sampler - self.bad_body)
        p = np.concatenate([weights / weights.sum() * good, [self.unknown_sampler,
                                                              self.bad_body]])
        return rng.choice(k + 2, size=n, p=p / p.sum())


@dataclass(frozen=True)
class Traffic:
    """All traffic to one Service: open-loop sources plus closed-loop clients, one mix."""

    sources: Sequence[Poisson | Replay | Recorded] = ()
    closed: Sequence[ClosedLoop] = ()
    mix: RequestMix = field(default_factory=RequestMix)
