"""The Prometheus text format's small rules, written once for every writer in the project.

The GPU exporter's renderer, the twin's history (OpenMetrics files for ``promtool``) and the
live twin's scrape targets all escape label values, order label pairs and format numbers; they
read these functions. They live in the light exporter package (standard library only) so that
the exporter installs without sdobs, and sdobs imports them from here, never the reverse.

Two number styles exist on purpose: the GPU exporter writes what prometheus-client writes
(``prometheus_client.utils.floatToGoString``: ``1.0``), the twin writes what the Go programs it
stands in for write (:func:`go_float`: ``1``). Sources: the text exposition format
(https://prometheus.io/docs/instrumenting/exposition_formats/) and OpenMetrics 1.0
(https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def escape_value(value: str) -> str:
    """A label value (or an OpenMetrics HELP text) with ``\\``, ``"`` and newline escaped."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def escape_help(text: str) -> str:
    """A text-format 0.0.4 HELP text: only ``\\`` and newline are escaped there."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def label_pairs(labels: Mapping[str, object], *, le_last: bool = False) -> str:
    """``a="1",b="2"`` sorted by name; with ``le_last`` the bucket label ``le`` goes last, as
    client_golang writes histogram buckets. Values are written with ``str()``."""
    if le_last:
        keys = sorted(k for k in labels if k != "le")
        if "le" in labels:
            keys.append("le")
    else:
        keys = sorted(labels)
    return ",".join(f'{k}="{escape_value(str(labels[k]))}"' for k in keys)


def go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` for the values the twin writes: whole
    numbers without a fraction (below 1e15), ``NaN``, ``+Inf``/``-Inf``, else Python's
    shortest round-tripping repr (the same digits Go chooses; numpy floats alike)."""
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return str(value)  # a float's shortest repr; numpy's str() gives the same digits
