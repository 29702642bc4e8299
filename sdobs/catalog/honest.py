"""Honest readings of histogram quantiles: never a bucket bound passed off as a measurement.

``histogram_quantile`` interpolates linearly inside the bucket the quantile's rank falls in and,
when the rank falls in the ``+Inf`` bucket, returns the last finite bound. On OpenTelemetry-era
Knative (bounds end at 10 s) every P99 of a 30 s Stable Diffusion request therefore reads
"10 s"; on OpenCensus-era Knative the bounds jump 10 → 20 → 50 → 100 s, so a P99 of 31 s and one
of 49 s are the same interpolation. A :class:`QuantileReading` says what the histogram really
knows: "> 10 s" above the last finite bound, "20–50 s" inside a coarse bucket, the interpolated
value only where the bucket is narrow enough to mean something, and always why.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

#: A bucket whose upper bound is at least this multiple of its lower bound is "coarse": the
#: interpolated value inside it is shown as the interval it lies in.
COARSE_RATIO = 2.0


@dataclass(frozen=True)
class QuantileReading:
    """What one quantile value from ``histogram_quantile`` means, given the bucket bounds."""

    value: float | None  # seconds as Prometheus computed them (None: no data)
    lower: float | None  # the bucket's lower bound, seconds (0 for the first bucket)
    upper: float | None  # the bucket's upper bound, seconds (None above the last finite bound)
    above_top: bool  # the rank fell in the +Inf bucket: only "more than upper-most bound" is known
    coarse: bool  # the bucket spans a factor of COARSE_RATIO or more
    text: str  # what to show: "12.3 s", "> 10 s", "20–50 s", "no data"
    reason: str  # one sentence for a tooltip or a footnote ("" when the value is plain)


def seconds_text(value: float) -> str:
    """A duration in seconds, short: ``0.25 s``, ``10 s``, ``12.3 s``, ``2 min``."""
    if value >= 120 and value % 60 == 0:
        return f"{value / 60:g} min"
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 10:
        return f"{value:.3g} s" if value != int(value) else f"{value:.0f} s"
    return f"{value:.3g} s"


def _bound_text(value: float) -> str:
    return f"{value:g}"


def read_quantile(value: float | None, bounds: Sequence[float], *,
                  coarse_ratio: float = COARSE_RATIO) -> QuantileReading:
    """Interpret ``value`` (seconds) from a histogram whose finite bounds are ``bounds``
    (seconds, ascending). Without bounds the value is taken as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return QuantileReading(None, None, None, False, False, "no data", "")
    value = float(value)
    if not bounds:
        return QuantileReading(value, None, None, False, False, seconds_text(value), "")
    top = float(bounds[-1])
    if value >= top * (1 - 1e-9):
        return QuantileReading(
            value, top, None, True, True, f"> {seconds_text(top)}",
            f"The histogram's last finite bucket bound is {_bound_text(top)} s: this quantile "
            f"lies above it, and how far above is not measured (Prometheus reports the bound "
            f"itself).")
    i = bisect_left(bounds, value)
    upper = float(bounds[i])
    lower = float(bounds[i - 1]) if i > 0 else 0.0
    coarse = lower > 0 and upper / lower >= coarse_ratio
    if coarse:
        return QuantileReading(
            value, lower, upper, False, True,
            f"{_bound_text(lower)}–{seconds_text(upper)}",
            f"Interpolated {seconds_text(value)}, but the histogram's buckets jump from "
            f"{_bound_text(lower)} s to {_bound_text(upper)} s, so any value in between gives "
            f"the same reading.")
    return QuantileReading(value, lower, upper, False, False, seconds_text(value), "")
