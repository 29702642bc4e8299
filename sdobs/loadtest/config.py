"""Settings of one load test and the maxima that the library enforces for every caller."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sdobs.loadtest.coldstart import ColdStartPolicy
from sdobs.loadtest.errors import LoadTestConfigError
from sdobs.loadtest.payload import Txt2ImgOptions

# Knative's revision-timeout-seconds defaults to 300 s; a client that gives up first hides 504s.
DEFAULT_TIMEOUT_S = 330.0
DEFAULT_CONNECT_TIMEOUT_S = 30.0
# The reference portal's test: 5 in flight, 20 in total.
DEFAULT_CONCURRENCY = 5
DEFAULT_REQUESTS = 20


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what one run may do, shared by the command line and the app."""

    max_concurrency: int = 1000
    max_requests: int = 200_000
    max_duration_s: float = 24 * 3600.0
    max_rate: float = 10_000.0
    max_timeout_s: float = 3600.0


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class LoadTestConfig:
    """One load test: where, what, how much (closed loop unless ``rate`` is set) and how long.

    A run always stops by itself: at ``requests`` (default 20 when neither bound is given),
    at ``duration_s``, and never later than the limits allow.
    """

    url: str
    payload: Txt2ImgOptions = field(default_factory=Txt2ImgOptions)
    concurrency: int = DEFAULT_CONCURRENCY
    requests: int | None = None
    duration_s: float | None = None
    rate: float | None = None
    arrival: Literal["constant", "poisson"] = "constant"
    arrival_seed: int | None = None
    max_in_flight: int | None = None
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    insecure: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    decode_images: bool = True
    record_prompts: bool = False
    cold_start: ColdStartPolicy = field(default_factory=ColdStartPolicy)
    limits: Limits = DEFAULT_LIMITS

    @property
    def mode(self) -> str:
        """``open`` (arrivals at a rate) or ``closed`` (a fixed number in flight)."""
        return "open" if self.rate is not None else "closed"

    @property
    def in_flight_cap(self) -> int:
        """Most requests in flight at once: the concurrency, or the open loop's cap."""
        if self.mode == "closed":
            return self.concurrency
        return self.max_in_flight or self.limits.max_concurrency

    @property
    def total_cap(self) -> int:
        """How many requests the run sends at most."""
        if self.requests is None and self.duration_s is None:
            return DEFAULT_REQUESTS
        return min(self.requests or self.limits.max_requests, self.limits.max_requests)

    @property
    def deadline_s(self) -> float:
        """Seconds after which no new request is sent."""
        return min(self.duration_s or self.limits.max_duration_s, self.limits.max_duration_s)

    def validated(self) -> LoadTestConfig:
        """Return self, or raise LoadTestConfigError naming the first setting out of range."""
        lim = self.limits
        self.payload.validate()
        _check_int("concurrency", self.concurrency, lim.max_concurrency)
        if self.requests is not None:
            _check_int("the number of requests", self.requests, lim.max_requests)
        if self.max_in_flight is not None:
            _check_int("max in flight", self.max_in_flight, lim.max_concurrency)
        _check_float("the duration", self.duration_s, lim.max_duration_s, "s")
        _check_float("the rate", self.rate, lim.max_rate, "requests/s")
        _check_float("the client timeout", self.timeout_s, lim.max_timeout_s, "s")
        _check_float("the connect timeout", self.connect_timeout_s, lim.max_timeout_s, "s")
        if self.arrival not in ("constant", "poisson"):
            raise LoadTestConfigError(f"arrivals must be constant or poisson, not {self.arrival!r}")
        if self.cold_start.idle_gap_s <= 0 or self.cold_start.factor < 1:
            raise LoadTestConfigError(
                "the cold-start idle gap must be positive and the factor at least 1"
            )
        return self

    def settings(self) -> dict[str, Any]:
        """The settings a summary echoes (no prompts, no credentials)."""
        s: dict[str, Any] = {
            "requests": self.total_cap if self.requests or not self.duration_s else None,
            "duration": self.duration_s,
            "timeout": self.timeout_s,
            "steps": self.payload.steps,
            "width": self.payload.width,
            "height": self.payload.height,
            "batch_size": self.payload.batch_size,
            "n_iter": self.payload.n_iter,
            "sampler_name": self.payload.sampler_name,
            "prompts": len(self.payload.prompts),
        }
        if self.mode == "open":
            s.update(
                rate=self.rate,
                arrival=self.arrival,
                arrival_seed=self.arrival_seed,
                max_in_flight=self.in_flight_cap,
            )
        else:
            s.update(concurrency=self.concurrency)
        return s

    def with_(self, **changes: Any) -> LoadTestConfig:
        """A copy with some settings changed."""
        return replace(self, **changes)


def _check_int(name: str, value: int, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LoadTestConfigError(f"{name} must be a whole number of at least 1, not {value!r}")
    if value > maximum:
        raise LoadTestConfigError(f"{name} is {value}, above the maximum of {maximum}")


def _check_float(name: str, value: float | None, maximum: float, unit: str) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise LoadTestConfigError(f"{name} must be a positive number of {unit}, not {value!r}")
    if value > maximum:
        raise LoadTestConfigError(
            f"{name} is {value:g} {unit}, above the maximum of {maximum:g} {unit}"
        )
