"""Duration flags: ``30``, ``2.5``, ``500ms``, ``30s``, ``5m``, ``1h``, ``7d``, ``1h30m``.

One parser for every command's seconds-valued option, so each accepts the same spellings and
refuses the same things with a sentence: ASCII digits only (``int('²')`` raises although
``'²'.isdigit()``), finite values only (``float('1' * 400)`` is infinity, ``float('nan')`` is
accepted by ``type=float``), and each option's own bounds (a negative or zero timeout is no
timeout). Standard library only.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NUMBER = r"(?:[0-9]{1,12}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})"
_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d|w)")
_WHOLE = re.compile(rf"{_NUMBER}|(?:{_NUMBER}(?:ms|s|m|h|d|w))+")
EXAMPLES = "e.g. 30, 500ms, 30s, 5m, 1h30m"


def parse_seconds(text: str) -> float:
    """Seconds from a duration; ValueError with a sentence when ``text`` is not one."""
    value = text.strip() if isinstance(text, str) else ""
    if not _WHOLE.fullmatch(value):
        raise ValueError(f"{_shown(text)} is not a duration ({EXAMPLES})")
    if _PART.match(value) is None:
        seconds = float(value)
    else:
        seconds = sum(float(n) * UNITS[u] for n, u in _PART.findall(value))
    if not math.isfinite(seconds):
        raise ValueError(f"{_shown(text)} is too long a duration")
    return seconds


def seconds_arg(low: float = 0.0, high: float = 365 * 86400.0, *,
                low_open: bool = True) -> Callable[[str], float]:  # fmt: skip
    """An argparse ``type``: a duration in ``(low, high]`` (``[low, high]`` if not low_open)."""

    def parse(text: str) -> float:
        try:
            seconds = parse_seconds(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        too_low = seconds <= low if low_open else seconds < low
        if too_low or seconds > high:
            side = "more than" if low_open else "at least"
            raise argparse.ArgumentTypeError(
                f"{_shown(text)} is out of range: use {side} {low:g} s and at most {high:g} s")
        return seconds

    parse.__name__ = "duration"  # argparse names the type in its own messages
    return parse


def _shown(text: object) -> str:
    s = str(text)
    return repr(s if len(s) <= 20 else s[:20] + "…")
