"""GPU health signals: XID errors, ECC errors, row remapping, clock throttling.

Like every GPU signal they read the sdobs exporter (sidecar or node mode) or dcgm-exporter
(:mod:`sdobs.catalog.gpu_sources`). Event counts stay right from the first event: an XID
counter is born at 1 when the first XID arrives (there is no series to pre-create for an XID
code nobody has seen), and ``increase()`` never counts a series' first sample, so the count of
a series born within the range is its value, and ``increase()`` is used only for series that
existed at the range's start. dcgm-exporter exposes only the last XID code
(``DCGM_FI_DEV_XID_ERRORS``, a gauge): its events are the code's changes, plus one for a series
that appears with a non-zero code (a repeated identical XID is not seen there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sdobs_exporters.gpu import naming

from sdobs.catalog import gpu_sources, promql
from sdobs.catalog.promql import Matcher
from sdobs.catalog.query import UNIT_COUNT, Query, Selection, check_by
from sdobs.errors import InputError

#: Builds one signal's per-GPU series from a selection and its canonical matchers.
PerGpu = Callable[[Selection, list[Matcher]], str]
HEALTH_GROUPABLE = ("namespace", "service", "configuration", "revision", "pod", "gpu")
ECC = {"corrected": ("sdobs_gpu_ecc_corrected_errors_total", "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL"),
       "uncorrected": ("sdobs_gpu_ecc_uncorrected_errors_total",
                       "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL")}
REMAP = {"correctable": ("sdobs_gpu_remapped_rows_correctable",
                         "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS"),
         "uncorrectable": ("sdobs_gpu_remapped_rows_uncorrectable",
                           "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS"),
         "failure": ("sdobs_gpu_row_remap_failure", "DCGM_FI_DEV_ROW_REMAP_FAILURE")}
RETIRED_DBE = ("sdobs_gpu_retired_pages_double_bit", "DCGM_FI_DEV_RETIRED_DBE")
XID = naming.XID_ERRORS[0]
DCGM_XID = "DCGM_FI_DEV_XID_ERRORS"
THROTTLE = naming.THROTTLE[0]
#: dcgm-exporter's clock event reason bitmask, under its old and new field names.
DCGM_THROTTLE = ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS")
#: Reasons that mean the GPU is held back (idle and application settings are normal).
SLOWDOWN_REASONS = ("sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
                    "hw_power_brake_slowdown")
_BITS = dict(naming.THROTTLE_REASONS)


def counted_events(selector: str, window: str) -> str:
    """Increments of a counter within ``window``, counting a series born inside it in full."""
    return (f"((increase({selector}[{window}]) and {selector} offset {window}) or "
            f"({selector} unless {selector} offset {window}))")


def changed_events(selector: str, window: str) -> str:
    """Changes of a last-value gauge within ``window`` (a new non-zero series counts once)."""
    return (f"((changes({selector}[{window}]) and {selector} offset {window}) or "
            f"((changes({selector}[{window}]) + 1) unless {selector} offset {window} "
            f"and {selector} > 0))")


class GpuHealthSignals:
    """Mixed into :class:`sdobs.catalog.Catalog`; selects GPUs like :mod:`sdobs.catalog.gpu`."""

    def _health(self, name: str, agg: str, expr_by_source: PerGpu, sel: Selection,
                by: Sequence[str], extra_by: Sequence[str] = (),
                description: str = "") -> Query:
        by = check_by(by, (*HEALTH_GROUPABLE, *extra_by), "GPU health signals")
        series = expr_by_source(sel, sel.canonical_matchers())
        return Query(name, f"{agg}{promql.by(by)} ({series})", UNIT_COUNT, by, description)

    def gpu_xid_events(self, sel: Selection, range_: str | None = None,
                       by: Sequence[str] = ()) -> Query:
        """XID errors the driver reported within ``range_`` (default: the selection's window),
        counted from the first one."""
        rng = promql.check_window(sel.window if range_ is None else range_)

        def expr(s: Selection, own: list[Matcher]) -> str:
            join = f" or on ({gpu_sources.JOIN}) "
            sdobs = gpu_sources.union(s, own, XID, lambda x: counted_events(x, rng), None)
            dcgm = gpu_sources.joined(changed_events(
                promql.selector(DCGM_XID, gpu_sources.namespace_matchers(s)), rng), s)
            # Every GPU without an XID counts 0 (no XID seen is a true zero, not missing data).
            zero = f"{gpu_sources.per_gpu('memory_total', s, own)} * 0"
            return f"({sdobs}{join}{dcgm}{join}{zero})"

        return self._health("gpu_xid_events", "sum", expr, sel, by, ("xid",),
                            f"XID errors within {rng}")

    def gpu_ecc_errors(self, sel: Selection, kind: str = "uncorrected",
                       range_: str | None = None, by: Sequence[str] = ()) -> Query:
        """Corrected (single-bit) or uncorrected (double-bit) ECC errors within ``range_``
        (default: the selection's window)."""
        if kind not in ECC:
            raise InputError(f"ECC error kind {kind!r} must be corrected or uncorrected")
        rng = promql.check_window(sel.window if range_ is None else range_)
        sdobs, dcgm = ECC[kind]

        def expr(s: Selection, own: list[Matcher]) -> str:
            return gpu_sources.union(s, own, sdobs, lambda x: counted_events(x, rng), dcgm)

        return self._health(f"gpu_ecc_{kind}", "sum", expr, sel, by,
                            description=f"{kind.capitalize()} ECC errors within {rng}")

    def gpu_remapped_rows(self, sel: Selection, kind: str = "uncorrectable",
                          by: Sequence[str] = ()) -> Query:
        """Rows remapped after correctable or uncorrectable errors, or 1 where remapping failed."""
        if kind not in REMAP:
            raise InputError(f"row remap kind {kind!r} must be correctable, uncorrectable or "
                             "failure")
        sdobs, dcgm = REMAP[kind]

        def expr(s: Selection, own: list[Matcher]) -> str:
            return gpu_sources.union(s, own, sdobs, lambda x: x, dcgm)

        agg = "max" if kind == "failure" else "sum"
        return self._health(f"gpu_remapped_rows_{kind}", agg, expr, sel, by,
                            description=f"GPU memory rows remapped ({kind})")

    def gpu_memory_repairs(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """Memory repaired after uncorrectable errors: rows remapped (Ampere and newer) or
        pages retired after double-bit errors (older GPUs), whichever the GPU reports."""
        def expr(s: Selection, own: list[Matcher]) -> str:
            rows = gpu_sources.union(s, own, REMAP["uncorrectable"][0], lambda x: x,
                                     REMAP["uncorrectable"][1])
            pages = gpu_sources.union(s, own, RETIRED_DBE[0], lambda x: x, RETIRED_DBE[1])
            return f"({rows} or on ({gpu_sources.JOIN}) {pages})"

        return self._health("gpu_memory_repairs", "sum", expr, sel, by,
                            description="Rows remapped or pages retired after uncorrectable "
                                        "memory errors")

    def gpu_throttled(self, sel: Selection, reason: str, by: Sequence[str] = ()) -> Query:
        """GPUs whose clocks are held down for ``reason`` (0 or more per group)."""
        if reason not in _BITS:
            raise InputError(f"unknown throttle reason {reason!r}; use one of: "
                             f"{', '.join(_BITS)}")
        bit = _BITS[reason]

        def expr(s: Selection, own: list[Matcher]) -> str:
            ns = gpu_sources.namespace_matchers(s)
            dcgm = " or ".join(
                f"floor({promql.selector(n, ns)} / {bit}) % 2" for n in DCGM_THROTTLE)
            sdobs = gpu_sources.union(s, own, THROTTLE, lambda x: x, None,
                                      [promql.raw("reason", "=", reason)])
            return (f"{sdobs} or on ({gpu_sources.JOIN}) "
                    f"{gpu_sources.joined('(' + dcgm + ')', s)}")

        return self._health(f"gpu_throttled_{reason}", "sum", expr, sel, by,
                            description=f"GPUs throttled: {reason.replace('_', ' ')}")
