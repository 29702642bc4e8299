"""Argument checking and broadcasting shared by the queueing models (``erlang``, ``mmc``, ``mgc``,
``kpa_model``, ``sizing``).

Every model takes numpy-broadcastable arguments and rejects values outside its domain with
:class:`QueueInputError`, which names the parameter and the offending values; a scalar call
returns a numpy scalar, an array call an array.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from sdobs.errors import InputError

Floats = float | np.ndarray
ServiceScv = float | Literal["deterministic", "exponential"] | ArrayLike


class QueueInputError(InputError):
    """An argument outside the domain of the queueing formulas; carries the offending values."""

    def __init__(self, parameter: str, values: object, requirement: str) -> None:
        self.parameter, self.values, self.requirement = parameter, values, requirement
        super().__init__(f"{parameter} must be {requirement}, got {values!r}")


def as_floats(
    name: str, value: ArrayLike, *, minimum: float = 0.0, strict: bool = False
) -> np.ndarray:
    """``value`` as finite floats ≥ ``minimum`` (> when ``strict``)."""
    arr = np.asarray(value, dtype=float)
    bad = ~np.isfinite(arr) | ((arr <= minimum) if strict else (arr < minimum))
    if np.any(bad):
        sign = ">" if strict else ">="
        raise QueueInputError(name, arr[bad][:5].tolist(), f"finite and {sign} {minimum}")
    return arr


def as_servers(value: ArrayLike, minimum: int = 1) -> np.ndarray:
    """``value`` as integer server counts ≥ ``minimum``."""
    arr = np.asarray(value)
    as_float = np.asarray(arr, dtype=float)
    bad = ~np.isfinite(as_float) | (as_float < minimum) | (as_float != np.round(as_float))
    if np.any(bad):
        raise QueueInputError("servers", as_float[bad][:5].tolist(), f"integers >= {minimum}")
    return as_float.astype(np.int64)


def as_scv(value: ServiceScv) -> np.ndarray:
    """A service-time SCV: a number ≥ 0 or ``deterministic`` (0) / ``exponential`` (1)."""
    if isinstance(value, str):
        named = {"deterministic": 0.0, "exponential": 1.0}
        if value not in named:
            raise QueueInputError(
                "service_time_scv", value, "a number or one of " + str(list(named))
            )
        return np.asarray(named[value])
    return as_floats("service_time_scv", value)


def as_quantile(value: ArrayLike) -> np.ndarray:
    """A probability strictly inside (0, 1)."""
    arr = np.asarray(value, dtype=float)
    if np.any(~((arr > 0) & (arr < 1))):
        raise QueueInputError("quantile", arr[~((arr > 0) & (arr < 1))][:5].tolist(), "in (0, 1)")
    return arr


def scalar_or_array(arr: np.ndarray) -> Floats:
    """Return numpy scalars for scalar inputs and arrays otherwise."""
    return arr[()] if arr.ndim == 0 else arr


def broadcast_load(
    rate: ArrayLike, service_time: ArrayLike, servers: ArrayLike, *extra: np.ndarray
) -> tuple[np.ndarray, ...]:
    lam = as_floats("rate", rate)
    s = as_floats("service_time", service_time, strict=True)
    c = as_servers(servers)
    return np.broadcast_arrays(lam, s, c, *extra)
