"""One parser for every duration sdobs reads: command-line flags, scenario files, manifests.

A duration is a bare number of seconds (``90``, ``1.5``) or numbers with units written one after
the other, Go-style (``90s``, ``1m30s``, ``500ms``, ``2h``, ``7d``). Each place names the units it
takes: Knative's own fields are parsed by Go's ``time.ParseDuration`` (ns to h, no days), so a
manifest that says ``1d`` is refused here as Knative would refuse it; sdobs' own flags and
scenario fields also take days and weeks; PromQL windows add years. Every refusal is the same one
sentence, naming the flag or field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from sdobs.errors import InputError

#: Seconds per unit.
SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
           "d": 86400.0, "w": 604800.0, "y": 31536000.0}
#: What Go's time.ParseDuration takes (Knative annotations and config fields).
GO_UNITS: tuple[str, ...] = ("ns", "us", "µs", "ms", "s", "m", "h")
#: sdobs' own flags and scenario fields: Go's units plus days and weeks.
UNITS: tuple[str, ...] = (*GO_UNITS, "d", "w")
#: Prometheus durations (windows and steps in PromQL).
PROMQL_UNITS: tuple[str, ...] = ("ms", "s", "m", "h", "d", "w", "y")

# Numbers as Go's time.ParseDuration reads them: 90, 1.5, .5 and 5. are all numbers. ASCII
# digits only: Python's \d also matches '٣' and other Unicode decimal digits.
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_BARE = re.compile(rf"{_NUMBER}")
# Longest unit names first, so "ms" is not read as "m" then "s".
_PART = re.compile(rf"({_NUMBER})(\s*)(ns|us|µs|ms|s|m|h|d|w|y)")


class DurationError(InputError):
    """A value that is not a duration; ``problem`` is the sentence without the flag or field."""

    def __init__(self, where: str, value: Any, units: Sequence[str] = UNITS) -> None:
        self.where = where
        example = "90s, 1m30s, 500ms, 2h" + (" or 7d" if "d" in units else "")
        self.problem = (f"{str(value)[:40]!r} is not a duration; write seconds (90) or a number "
                        f"with a unit ({', '.join(u for u in units if u != 'µs')}) "
                        f"such as {example}")
        super().__init__(f"{where}: {self.problem}" if where else self.problem)


def parse_duration(value: Any, where: str = "", *, units: Sequence[str] = UNITS,
                   spaces: bool = True) -> float:
    """Seconds in ``value``: a non-negative number, or parts like ``1m30s`` in ``units``.

    Whitespace around the value is allowed, and with ``spaces`` between a number and its unit
    (``90 s``, as ``sdobs loadtest`` always took); Knative's fields are Go's, without."""
    if isinstance(value, bool):
        raise DurationError(where, value, units)
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise DurationError(where, value, units)
        return float(value)
    text = str(value).strip()
    if _BARE.fullmatch(text):
        if not math.isfinite(seconds := float(text)):  # '1' * 400 reads as infinity
            raise DurationError(where, value, units)
        return seconds
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos or m.group(3) not in units or (m.group(2) and not spaces):
            break
        total += float(m.group(1)) * SECONDS[m.group(3)]
        pos = m.end()
    if not text or pos != len(text) or not math.isfinite(total):
        raise DurationError(where, value, units)
    return total


def duration_type(value: str) -> float:
    """``argparse`` type of a duration flag (argparse names the flag in its message)."""
    import argparse

    try:
        return parse_duration(value)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from None


def seconds_arg(low: float = 0.0, high: float = 365 * 86400.0, *,
                low_open: bool = True) -> Callable[[str], float]:
    """``argparse`` type of a bounded duration flag: in ``(low, high]`` (``[low, high]`` when not
    ``low_open``). For flags that were ``type=float``: nan, inf and -1 passed, and a timeout of
    0 or less is no timeout."""
    import argparse

    def parse(value: str) -> float:
        seconds = duration_type(value)
        if (seconds <= low if low_open else seconds < low) or seconds > high:
            side = "more than" if low_open else "at least"
            raise argparse.ArgumentTypeError(f"{str(value)[:40]!r} is out of range: use {side} "
                                             f"{low:g} s and at most {high:g} s")
        return seconds

    parse.__name__ = "duration"  # argparse names the type in its own messages
    return parse
