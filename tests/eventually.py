"""``eventually()``: the one way tests wait for something real (a scrape, a pod, a server).

Real parts take their time — Prometheus scrapes on its interval, the twin's pods start and drain,
servers come up — so a test states the condition it waits for and a generous limit, and the
helper polls. Written once, a wait reads as a specification (``eventually(lambda: served() >= 20,
timeout=30)``) and every timeout says what did not happen and the last thing seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], *, timeout: float, interval: float = 0.2,
               until: Callable[[T], object] = bool, what: str = "",
               ignoring: tuple[type[Exception], ...] = ()) -> T:
    """Call ``probe`` until ``until(value)`` holds and return that value.

    Fails with ``AssertionError`` after ``timeout`` seconds, naming ``what`` (default: the
    probe) and the last value or exception seen. Exceptions of the ``ignoring`` types count as
    "not yet" (a server still starting refuses connections); any other propagates at once.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except ignoring as exc:
            last = exc
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            name = what or getattr(probe, "__name__", repr(probe))
            raise AssertionError(f"{name}: not so within {timeout:g} s (last: {last!r})")
        time.sleep(interval)
