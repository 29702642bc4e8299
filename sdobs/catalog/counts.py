"""Exact request counts from raw per-pod counters (the catalog's ``request_counter``).

``rate()`` and ``increase()`` extrapolate, and cannot count what a series held at its first
sample: every pod that scales up from zero starts new series, so on a scale-to-zero service
they miss a good share of the requests. Sampled raw, per pod, the counters give every request.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def increments(counters: pd.DataFrame, index: pd.DatetimeIndex, known: float) -> pd.DataFrame:
    """Requests per step and (revision, class) from per-pod counters sampled at each step.

    Within a series: the difference, or the value itself after a reset (as ``rate()``); a
    series first seen after ``known`` (where the history begins) counts its first value from
    zero, one seen by then holds requests from before the range.
    """
    cols = ["time", "revision", "code_class", "value"]
    if counters.empty:
        return pd.DataFrame({c: pd.Series([], dtype=float if c == "value" else object)
                             for c in cols})
    keys = ["revision", "pod", "code_class"]
    f = counters.sort_values([*keys, "time"], kind="stable").reset_index(drop=True)
    v = f["value"].to_numpy(dtype=float)
    group = f.groupby(keys, sort=False).ngroup().to_numpy()
    first = np.r_[True, group[1:] != group[:-1]]
    prev = np.r_[np.nan, v[:-1]]
    inc = np.where(v >= prev, v - prev, v)  # a drop is a counter reset
    seconds = (f["time"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    at_start = seconds <= known + 1e-3
    inc = np.where(first, np.where(at_start, 0.0, v), inc)
    f["value"] = inc
    out = f.groupby(["time", "revision", "code_class"], as_index=False)["value"].sum()
    out = out[out["time"].isin(index)]
    return out[cols].reset_index(drop=True)


def total(counters: pd.DataFrame, known: float) -> int:
    """Requests in a range query of ``request_counter`` per pod, after its first step ``known``.

    Series seen at ``known`` are the baseline; series first seen later count from zero.
    """
    if counters.empty:
        return 0
    inc = increments(counters, pd.DatetimeIndex(counters["time"].unique()), known)
    return round(float(inc["value"].sum()))
