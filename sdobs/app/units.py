"""The units the app draws and writes, by name: the catalog's, plus two only the app's text needs.

Axes and values take Grafana's unit ids, which the catalog's queries carry (one vocabulary for
the app and the dashboards, so a panel's unit is named once). Cards and tables also write a
whole count with thousands separators and GPU time as GPU-seconds or GPU-hours.
"""

from __future__ import annotations

from sdobs.catalog.query import (
    UNIT_BYTES,
    UNIT_COUNT,
    UNIT_RATIO,
    UNIT_RPS,
    UNIT_SECONDS,
    UNIT_WATTS,
)

#: A count written out whole ("1,234"; "2.5" when it is a fraction below 100).
UNIT_WHOLE = "count"
#: GPU time in seconds, written as GPU-s or, from ten hours, GPU-h.
UNIT_GPU_TIME = "gpu_seconds"

__all__ = ["UNIT_BYTES", "UNIT_COUNT", "UNIT_GPU_TIME", "UNIT_RATIO", "UNIT_RPS", "UNIT_SECONDS",
           "UNIT_WATTS", "UNIT_WHOLE"]
