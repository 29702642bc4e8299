"""The tests' one waiting helper: returns what it waited for, says what did not happen."""

from __future__ import annotations

import itertools
import time

import pytest
from eventually import eventually


def test_returns_the_first_value_that_satisfies_until() -> None:
    counter = itertools.count()
    assert eventually(lambda: next(counter), until=lambda n: n >= 3, timeout=5, interval=0) == 3


def test_a_timeout_names_what_and_the_last_value() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"pods at zero: not so within 0.2 s \(last: 2\)"):
        eventually(lambda: 2, until=lambda n: n == 0, timeout=0.2, interval=0.05,
                   what="pods at zero")
    assert 0.2 <= time.monotonic() - started < 2


def test_ignored_exceptions_mean_not_yet_and_others_propagate() -> None:
    calls = itertools.count()

    def starting() -> str:
        if next(calls) < 2:
            raise ConnectionRefusedError("not listening yet")
        return "up"

    assert eventually(starting, timeout=5, interval=0, ignoring=(OSError,)) == "up"
    with pytest.raises(KeyError):
        eventually(lambda: {}["x"], timeout=5, ignoring=(OSError,))
    with pytest.raises(AssertionError, match="ConnectionRefusedError"):
        eventually(lambda: (_ for _ in ()).throw(ConnectionRefusedError()), timeout=0.1,
                   interval=0.05, ignoring=(OSError,))
