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
from sdobs.catalog.promql import Matcher
from sdobs.duration import PROMQL_UNITS, parse_duration

UNIT_RATIO = "percentunit"
UNIT_BYTES = "bytes"
UNIT_WATTS = "watt"
UNIT_CELSIUS = "celsius"
UNIT_COUNT = "short"
UNIT_GPU_SECONDS = "s"
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
UNIT_HERTZ = "hertz"
TEMPERATURE = _metric("temperature_celsius")
EXPORTER_UP = naming.UP[0]
#: Families read through the union of GPU sources, by gpu_sources signal key.
_UNION = {UTILIZATION: "utilization", MEMORY_USED: "memory_used", MEMORY_TOTAL: "memory_total",
          POWER: "power", TEMPERATURE: "temperature", MEMORY_FREE: "memory_free",
          SM_CLOCK: "sm_clock"}  # fmt: skip


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration such as ``30s`` or ``1h30m``."""
    return parse_duration(promql.check_window(text), "window", units=PROMQL_UNITS)


class GpuSignals:
    """Mixed into :class:`sdobs.catalog.Catalog`; needs its ``Query`` and ``Selection``."""

    def _gpu_matchers(self, sel) -> list[Matcher]:
        out = []
        for label in ("namespace", "service", "configuration"):
            value = getattr(sel, label)
            if value is not None:
                out.append(promql.equals(label, value))
        if sel.revisions is not None:
            out.append(promql.one_of("revision", sel.revisions))
        return out

    def _gpu(self, signal: str, agg: str, metric: str, sel, by: Sequence[str], unit: str,
             description: str):  # fmt: skip
        from sdobs.catalog.catalog import Query

        for label in by:
            if label not in GPU_GROUPABLE:
                raise ValueError(f"cannot group GPU signals by {label!r}; "
                                 f"use some of: {', '.join(GPU_GROUPABLE)}")  # fmt: skip
        source = _UNION.get(metric)
        if source is None:
            series = promql.selector(metric, self._gpu_matchers(sel))
        else:  # sdobs sidecar, sdobs node mode or dcgm-exporter (sdobs.catalog.gpu_sources)
            series = gpu_sources.per_gpu(source, sel, self._gpu_matchers(sel))
        return Query(signal, f"{agg}{promql.by(by)} ({series})", unit, tuple(by), description)

    def gpu_utilization(self, sel, by: Sequence[str] = ()):
        """Mean share of time a kernel ran, over the selected GPUs."""
        return self._gpu("gpu_utilization", "avg", UTILIZATION, sel, by, UNIT_RATIO,
                         "Share of time a kernel ran on the GPU (mean over GPUs)")

    def gpu_memory_used(self, sel, by: Sequence[str] = ()):
        return self._gpu("gpu_memory_used", "sum", MEMORY_USED, sel, by, UNIT_BYTES,
                         "GPU memory in use, bytes")

    def gpu_memory_total(self, sel, by: Sequence[str] = ()):
        return self._gpu("gpu_memory_total", "sum", MEMORY_TOTAL, sel, by, UNIT_BYTES,
                         "GPU memory installed, bytes")

    def gpu_memory_free(self, sel, by: Sequence[str] = ()):
        return self._gpu("gpu_memory_free", "sum", MEMORY_FREE, sel, by, UNIT_BYTES,
                         "GPU memory free for allocation, bytes")

    def gpu_sm_clock(self, sel, by: Sequence[str] = ()):
        """SM clock; a busy GPU well below its boost clock is being throttled."""
        return self._gpu("gpu_sm_clock", "avg", SM_CLOCK, sel, by, UNIT_HERTZ,
                         "Streaming multiprocessor clock, hertz (mean over GPUs)")

    def gpu_power(self, sel, by: Sequence[str] = ()):
        return self._gpu("gpu_power", "sum", POWER, sel, by, UNIT_WATTS, "GPU board power, watts")

    def gpu_temperature(self, sel, by: Sequence[str] = ()):
        return self._gpu("gpu_temperature", "max", TEMPERATURE, sel, by, UNIT_CELSIUS,
                         "Hottest GPU die, degrees Celsius")

    def gpus_allocated(self, sel, by: Sequence[str] = ()):
        """GPUs held by the selected pods (billed whether busy or not)."""
        return self._gpu("gpus_allocated", "count", MEMORY_TOTAL, sel, by, UNIT_COUNT,
                         "GPUs held by the selected pods")

    def gpus_busy(self, sel, by: Sequence[str] = ()):
        """GPU-equivalents busy: the sum of utilisation ratios."""
        return self._gpu("gpus_busy", "sum", UTILIZATION, sel, by, UNIT_COUNT,
                         "GPU-equivalents busy (sum of utilisation)")

    def gpu_sources(self, sel, by: Sequence[str] = ()):
        """GPUs per metrics source (``source``: sdobs or dcgm-exporter): where numbers come from."""
        from sdobs.catalog.catalog import Query

        for label in by:
            if label not in GPU_GROUPABLE:
                raise ValueError(f"cannot group GPU signals by {label!r}; "
                                 f"use some of: {', '.join(GPU_GROUPABLE)}")  # fmt: skip
        series = gpu_sources.by_source(sel, self._gpu_matchers(sel))
        return Query("gpu_sources", f"count{promql.by((*by, 'source'))} ({series})", UNIT_COUNT,
                     (*by, "source"), "GPUs per metrics source")

    def gpu_exporter_up(self, sel, by: Sequence[str] = ()):
        """1 only when every selected exporter read its GPUs in its last collection."""
        return self._gpu("gpu_exporter_up", "min", EXPORTER_UP, sel, by, UNIT_COUNT,
                         "GPU exporter health (1 = every GPU read)")

    def gpu_seconds(self, sel, kind: str = "allocated", range_: str = "1h",
                    step: str = "30s", by: Sequence[str] = ()):  # fmt: skip
        """GPU-seconds allocated, busy or idle (allocated - busy: what idle GPUs cost) over
        ``range_`` (a subquery sampled every ``step``)."""
        if kind == "idle":
            alloc, busy = (self.gpu_seconds(sel, k, range_, step, by) for k in ("allocated",
                                                                                 "busy"))
            return type(alloc)("gpu_seconds_idle", f"{alloc.expr} - {busy.expr}",
                               UNIT_GPU_SECONDS, alloc.by, f"GPU-seconds idle over {range_}")
        if kind not in ("allocated", "busy"):
            raise ValueError(f"GPU-seconds kind {kind!r} must be allocated, busy or idle")
        base = self.gpus_allocated(sel, by) if kind == "allocated" else self.gpus_busy(sel, by)
        rng, stp = promql.check_window(range_), promql.check_window(step)
        expr = f"sum_over_time(({base.expr})[{rng}:{stp}]) * {duration_seconds(stp):g}"
        return type(base)(f"gpu_seconds_{kind}", expr, UNIT_GPU_SECONDS, base.by,
                          f"GPU-seconds {kind} over {rng}")
