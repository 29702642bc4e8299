"""GPU signals of the catalog, over the sdobs GPU exporter's series or dcgm-exporter's.

The exporter (``exporters/sdobs_exporters/gpu``) owns the sdobs metric names (its ``naming``
module); as a sidecar its series carry the canonical Knative labels ``namespace``, ``service``,
``configuration``, ``revision`` and ``pod`` themselves, so GPU queries are the same for every
Knative dialect. Node-mode sdobs series and dcgm-exporter's ``DCGM_FI_*`` series get the
service, configuration and revision by a join with kube-state-metrics' pod labels
(:mod:`sdobs.catalog.gpu_sources`); health signals: :mod:`sdobs.catalog.gpu_health`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sdobs_exporters.gpu import naming

from sdobs.catalog import gpu_sources, promql
from sdobs.catalog.query import (
    UNIT_BYTES,
    UNIT_CELSIUS,
    UNIT_COUNT,
    UNIT_HERTZ,
    UNIT_RATIO,
    UNIT_SECONDS,
    UNIT_WATTS,
    Query,
    Selection,
    check_by,
)
from sdobs.duration import PROMQL_UNITS, parse_duration
from sdobs.errors import InputError

UNIT_GPU_SECONDS = UNIT_SECONDS
GPU_GROUPABLE = ("namespace", "service", "configuration", "revision", "pod", "gpu")


def _metric(attr: str) -> str:
    for signal in naming.GPU_SIGNALS:
        if signal.attr == attr:
            return signal.name
    raise KeyError(attr)


UTILIZATION = _metric("utilization_percent")
MEMORY_USED = _metric("memory_used_bytes")
MEMORY_TOTAL = _metric("memory_total_bytes")
POWER = _metric("power_milliwatts")
MEMORY_FREE = _metric("memory_free_bytes")
SM_CLOCK = _metric("sm_clock_mhz")
TEMPERATURE = _metric("temperature_celsius")
EXPORTER_UP = naming.UP[0]
#: Families read through the union of GPU sources, by gpu_sources signal key.
_UNION = {UTILIZATION: "utilization", MEMORY_USED: "memory_used", MEMORY_TOTAL: "memory_total",
          POWER: "power", TEMPERATURE: "temperature", MEMORY_FREE: "memory_free",
          SM_CLOCK: "sm_clock"}


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration such as ``30s`` or ``1h30m``."""
    return parse_duration(promql.check_window(text), "window", units=PROMQL_UNITS)


class GpuSignals:
    """Mixed into :class:`sdobs.catalog.Catalog`: GPU series carry the canonical labels
    (:meth:`Selection.canonical_matchers`), so these need nothing of the dialect."""

    def _gpu(self, signal: str, agg: str, metric: str, sel: Selection, by: Sequence[str],
             unit: str, description: str) -> Query:
        by = check_by(by, GPU_GROUPABLE, "GPU signals")
        source = _UNION.get(metric)
        if source is None:
            series = promql.selector(metric, sel.canonical_matchers())
        else:  # sdobs sidecar, sdobs node mode or dcgm-exporter (sdobs.catalog.gpu_sources)
            series = gpu_sources.per_gpu(source, sel, sel.canonical_matchers())
        return Query(signal, f"{agg}{promql.by(by)} ({series})", unit, by, description)

    def gpu_utilization(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """Mean share of time a kernel ran, over the selected GPUs."""
        return self._gpu("gpu_utilization", "avg", UTILIZATION, sel, by, UNIT_RATIO,
                         "Share of time a kernel ran on the GPU (mean over GPUs)")

    def gpu_memory_used(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        return self._gpu("gpu_memory_used", "sum", MEMORY_USED, sel, by, UNIT_BYTES,
                         "GPU memory in use, bytes")

    def gpu_memory_total(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        return self._gpu("gpu_memory_total", "sum", MEMORY_TOTAL, sel, by, UNIT_BYTES,
                         "GPU memory installed, bytes")

    def gpu_memory_free(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        return self._gpu("gpu_memory_free", "sum", MEMORY_FREE, sel, by, UNIT_BYTES,
                         "GPU memory free for allocation, bytes")

    def gpu_sm_clock(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """SM clock; a busy GPU well below its boost clock is being throttled."""
        return self._gpu("gpu_sm_clock", "avg", SM_CLOCK, sel, by, UNIT_HERTZ,
                         "Streaming multiprocessor clock, hertz (mean over GPUs)")

    def gpu_power(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        return self._gpu("gpu_power", "sum", POWER, sel, by, UNIT_WATTS, "GPU board power, watts")

    def gpu_temperature(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        return self._gpu("gpu_temperature", "max", TEMPERATURE, sel, by, UNIT_CELSIUS,
                         "Hottest GPU die, degrees Celsius")

    def gpus_allocated(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """GPUs held by the selected pods (billed whether busy or not)."""
        return self._gpu("gpus_allocated", "count", MEMORY_TOTAL, sel, by, UNIT_COUNT,
                         "GPUs held by the selected pods")

    def gpus_busy(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """GPU-equivalents busy: the sum of utilisation ratios."""
        return self._gpu("gpus_busy", "sum", UTILIZATION, sel, by, UNIT_COUNT,
                         "GPU-equivalents busy (sum of utilisation)")

    def gpu_sources(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """GPUs per metrics source (``source``: sdobs or dcgm-exporter): where numbers come from."""
        by = check_by(by, GPU_GROUPABLE, "GPU signals")
        series = gpu_sources.by_source(sel, sel.canonical_matchers())
        return Query("gpu_sources", f"count{promql.by((*by, 'source'))} ({series})", UNIT_COUNT,
                     (*by, "source"), "GPUs per metrics source")

    def gpu_exporter_up(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """1 only when every selected exporter read its GPUs in its last collection."""
        return self._gpu("gpu_exporter_up", "min", EXPORTER_UP, sel, by, UNIT_COUNT,
                         "GPU exporter health (1 = every GPU read)")

    def gpu_seconds(self, sel: Selection, kind: str = "allocated", range_: str = "1h",
                    step: str = "30s", by: Sequence[str] = ()) -> Query:
        """GPU-seconds allocated, busy or idle (allocated - busy: what idle GPUs cost) over
        ``range_`` (a subquery sampled every ``step``)."""
        if kind == "idle":
            alloc, busy = (self.gpu_seconds(sel, k, range_, step, by) for k in ("allocated",
                                                                                 "busy"))
            return Query("gpu_seconds_idle", f"{alloc.expr} - {busy.expr}", UNIT_GPU_SECONDS,
                         alloc.by, f"GPU-seconds idle over {range_}")
        if kind not in ("allocated", "busy"):
            raise InputError(f"GPU-seconds kind {kind!r} must be allocated, busy or idle")
        base = self.gpus_allocated(sel, by) if kind == "allocated" else self.gpus_busy(sel, by)
        rng, stp = promql.check_window(range_), promql.check_window(step)
        expr = f"sum_over_time(({base.expr})[{rng}:{stp}]) * {duration_seconds(stp):g}"
        return Query(f"gpu_seconds_{kind}", expr, UNIT_GPU_SECONDS, base.by,
                     f"GPU-seconds {kind} over {rng}")
