"""The PromQL catalog: every query sdobs runs, built from named signals for one Knative dialect.

Dashboards, the app, rules and notebooks call this module and nothing else writes PromQL
(docs/architecture.md, contract 1). Results carry canonical labels (``namespace``, ``service``,
``configuration``, ``revision``, ``pod``, ``code_class``) and base units (seconds, ratios,
requests per second) whatever the dialect, so the same panel shows the same number on
OpenCensus-era and OpenTelemetry-era Knative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sdobs.catalog import promql
from sdobs.catalog.capacity import CapacitySignals
from sdobs.catalog.client import ClientSignals
from sdobs.catalog.gpu import GPU_GROUPABLE, MEMORY_TOTAL, GpuSignals
from sdobs.catalog.gpu_health import GpuHealthSignals
from sdobs.catalog.promql import Matcher, Var
from sdobs.catalog.query import (
    GROUPABLE,
    QUANTILES,
    UNIT_COUNT,
    UNIT_RATIO,
    UNIT_RPS,
    UNIT_SECONDS,
    Query,
    Selection,
    check_by,
)
from sdobs.catalog.recorded import RecordedSignals
from sdobs.catalog.resources import ResourceSignals
from sdobs.catalog.sd import SdSignals
from sdobs.errors import InputError
from sdobs.knative.dialects import (
    AUTOSCALER_SIGNALS,
    CODE_CLASS,
    Dialect,
    Family,
    get_dialect,
)

CodeClass = Literal["1xx", "2xx", "3xx", "4xx", "5xx"]
POD_STATES = ("desired", "requested", "actual", "pending", "not_ready", "terminating")

#: Re-exported: ``Query``, ``Selection``, the units and ``GROUPABLE`` live in
#: :mod:`sdobs.catalog.query` so the signal mixins can import them without a cycle.
__all__ = ["GROUPABLE", "POD_STATES", "QUANTILES", "UNIT_COUNT", "UNIT_RATIO", "UNIT_RPS",
           "UNIT_SECONDS", "Catalog", "CodeClass", "LabelValuesQuery", "Query", "Selection", "Var",
           "check_by"]


class Catalog(GpuSignals, ClientSignals, CapacitySignals, SdSignals, GpuHealthSignals,
              ResourceSignals, RecordedSignals):
    """Builds the PromQL of every signal for one dialect (GPU signals: ``sdobs.catalog.gpu``)."""

    def __init__(self, dialect: Dialect | str) -> None:
        self.dialect = get_dialect(dialect)

    # -- helpers -------------------------------------------------------------------------------
    def _series(self, name: str, sel: Selection, extra: Sequence[Matcher] = (),
                queue_proxy: bool = True) -> str:
        matchers = [*sel.matchers(self.dialect), *extra]
        if queue_proxy:
            matchers += [promql.raw(*m) for m in self.dialect.queue_proxy_matchers]
        return promql.selector(name, matchers)

    def _canonical(self, expr: str, by: Sequence[str]) -> str:
        """Copy dialect labels onto canonical names (innermost, per series) for ``by``."""
        for label in by:
            if label == CODE_CLASS:
                expr = self._code_class(expr)
            else:
                key = self.dialect.labels.key(label)
                if key != label:
                    expr = promql.copy_label(expr, label, key)
        return expr

    def _native_key(self, label: str) -> str:
        """The dialect's own label a canonical ``label`` is read from (``code_class``: the
        dialect's class label, or its numeric status code label)."""
        if label == CODE_CLASS:
            return self.dialect.code_class_label or self.dialect.code_label
        return self.dialect.labels.key(label)

    def _sum_by(self, inner: str, by: Sequence[str], extra: Sequence[str] = (),
                native: bool = False) -> str:
        """``sum by (by, extra)`` of ``inner`` with canonical label names on the result.

        Plain: the canonical names are copied onto every raw series before the sum. ``native``:
        the sum groups on the dialect's own names and the canonical names are copied onto its
        few result series, then summed once more by the canonical names (which merges status
        codes of one class); the same answer for a fraction of the ``label_replace`` work when
        the query covers many series (a whole fleet), and Prometheus sums each group in selector
        order (it sums a ``label_replace``'d vector in map order).
        """
        if not native:
            return f"sum{promql.by((*by, *extra))} ({self._canonical(inner, by)})"
        keys = tuple(dict.fromkeys(self._native_key(label) for label in by))
        grouped = f"sum{promql.by((*keys, *extra))} ({inner})"
        return f"sum{promql.by((*by, *extra))} ({self._canonical(grouped, by)})"

    def _code_class(self, expr: str) -> str:
        d = self.dialect
        if d.code_class_label:
            return promql.copy_label(expr, CODE_CLASS, d.code_class_label)
        return promql.copy_label(expr, CODE_CLASS, d.code_label, replacement="${1}xx",
                                 pattern="([1-5])[0-9][0-9]")

    def _class_matcher(self, code_class: CodeClass, negate: bool = False) -> Matcher:
        d = self.dialect
        if code_class not in ("1xx", "2xx", "3xx", "4xx", "5xx"):
            raise InputError(f"response code class {code_class!r} must be one of 1xx ... 5xx")
        if d.code_class_label:
            return promql.raw(d.code_class_label, "!=" if negate else "=", code_class)
        return promql.raw(d.code_label, "!~" if negate else "=~", f"{code_class[0]}..")

    @staticmethod
    def _check_by(by: Sequence[str]) -> tuple[str, ...]:
        return check_by(by, GROUPABLE)

    def _rate_sum(self, counter: str, sel: Selection, by: Sequence[str],
                  extra: Sequence[Matcher] = ()) -> str:
        inner = f"rate({self._series(counter, sel, extra)}[{sel.window}])"
        return f"sum{promql.by(by)} ({self._canonical(inner, by)})"

    def _counter(self, app: bool) -> str:
        return self.dialect.app_request_count if app else self.dialect.request_count

    # -- request signals -----------------------------------------------------------------------
    def request_rate(self, sel: Selection, by: Sequence[str] = (), *, app: bool = False) -> Query:
        """Requests per second (outer: as queue-proxy saw them, incl. its own 503/504)."""
        by = self._check_by(by)
        return Query("request_rate", self._rate_sum(self._counter(app), sel, by), UNIT_RPS, by,
                     "Requests per second" + (" reaching the model container" if app else ""))

    def requests_served(self, sel: Selection, range_: str, by: Sequence[str] = (), *,
                        app: bool = False) -> Query:
        """Requests counted by series that lived in ``range_``: each series' highest value.

        Exact when the counters began inside the range (pods a load test brought up from
        zero; ``increase()`` would miss each series' first scrape); counters older than the
        range count their earlier requests too, so use :meth:`request_rate` over long windows.
        """
        by = self._check_by(by)
        rng = promql.check_window(range_)
        inner = f"max_over_time({self._series(self._counter(app), sel)}[{rng}])"
        return Query("requests_served", f"sum{promql.by(by)} ({self._canonical(inner, by)})",
                     UNIT_COUNT, by, f"Requests answered within {rng}")

    def request_rate_by_revision(self, sel: Selection) -> Query:
        return self.request_rate(sel, by=("revision",))

    def request_rate_by_code_class(self, sel: Selection) -> Query:
        return self.request_rate(sel, by=(CODE_CLASS,))

    def error_rate(self, sel: Selection, code_class: CodeClass, by: Sequence[str] = ()) -> Query:
        """Responses per second of one code class (4xx: client errors, 5xx: server errors)."""
        by = self._check_by(by)
        expr = self._rate_sum(self._counter(False), sel, by, [self._class_matcher(code_class)])
        return Query(f"rate_{code_class}", expr, UNIT_RPS, by,
                     f"{code_class} responses per second")

    def rate_4xx(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        return self.error_rate(sel, "4xx", by)

    def rate_5xx(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        return self.error_rate(sel, "5xx", by)

    def success_ratio(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """Share of responses that are not 5xx (Knative's dashboards' definition)."""
        by = self._check_by(by)
        counter = self._counter(False)
        good = self._rate_sum(counter, sel, by, [self._class_matcher("5xx", negate=True)])
        total = self._rate_sum(counter, sel, by)
        return Query("success_ratio", f"{good} / {total}", UNIT_RATIO, by,
                     "Share of responses that are not 5xx")

    def latency(self, sel: Selection, quantile: float, by: Sequence[str] = (), *,
                app: bool = False) -> Query:
        """A latency quantile in seconds, from Knative's histogram (interpolated in buckets)."""
        if not 0 < quantile < 1:
            raise InputError(f"quantile {quantile} must be between 0 and 1, e.g. 0.99")
        by = self._check_by(by)
        family: Family = self.dialect.app_requests if app else self.dialect.requests
        inner = f"rate({self._series(family.bucket, sel)}[{sel.window}])"
        grouped = f"sum{promql.by((*by, 'le'))} ({self._canonical(inner, by)})"
        expr = f"histogram_quantile({quantile:g}, {grouped})"
        if family.scale_to_base != 1:
            expr = f"{expr} / {1 / family.scale_to_base:g}"
        stage = "model container" if app else "queue-proxy"
        return Query(f"latency_p{quantile * 100:g}", expr, UNIT_SECONDS, by,
                     f"P{quantile * 100:g} response time at the {stage}, seconds",
                     bounds=self.latency_bounds(app=app))

    def latency_bounds(self, *, app: bool = False) -> tuple[float, ...]:
        """The finite bucket bounds, in seconds, of the latency histogram quantiles read."""
        family: Family = self.dialect.app_requests if app else self.dialect.requests
        return tuple(b * family.scale_to_base for b in family.bounds)

    def latencies(self, sel: Selection, by: Sequence[str] = (), *,
                  app: bool = False) -> list[Query]:
        """P50, P90, P95 and P99."""
        return [self.latency(sel, q, by, app=app) for q in QUANTILES]

    def queue_depth(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """Requests waiting in queue-proxy, summed over pods."""
        by = self._check_by(by)
        inner = self._series(self.dialect.queue_depth.name, sel)
        return Query("queue_depth", f"sum{promql.by(by)} ({self._canonical(inner, by)})",
                     UNIT_COUNT, by, "Requests queued in queue-proxy")

    # -- autoscaler and activator --------------------------------------------------------------
    def autoscaler(self, sel: Selection, signal: str, by: Sequence[str] = (), *,
                   native: bool = False) -> Query:
        """One autoscaler gauge (see ``AUTOSCALER_SIGNALS``), summed over revisions.

        ``native``: grouped on the dialect's own label names (see :meth:`_sum_by`), for reads
        that cover a whole fleet."""
        if signal not in self.dialect.autoscaler:
            raise InputError(f"unknown autoscaler signal {signal!r}; "
                             f"use one of: {', '.join(AUTOSCALER_SIGNALS)}")
        by = self._check_by(by)
        if "pod" in by or CODE_CLASS in by:
            raise InputError("autoscaler signals are per revision; group by revision at most")
        family = self.dialect.autoscaler[signal]
        inner = self._series(family.name, sel, queue_proxy=False)
        return Query(signal, self._sum_by(inner, by, native=native), UNIT_COUNT, by,
                     family.help)

    def pods(self, sel: Selection, state: str = "actual", by: Sequence[str] = (), *,
             native: bool = False) -> Query:
        """Pod count of one state: desired, requested, actual (ready), pending, not_ready, ..."""
        if state not in POD_STATES:
            raise InputError(f"unknown pod state {state!r}; use one of: {', '.join(POD_STATES)}")
        return self.autoscaler(sel, f"pods_{state}", by, native=native)

    def pod_trend(self, sel: Selection, by: Sequence[str] = ()) -> list[Query]:
        """The console's pod scaling trend: desired, requested, actual, pending, terminating."""
        return [self.pods(sel, s, by) for s in ("desired", "requested", "actual", "pending",
                                                "terminating")]

    def concurrency(self, sel: Selection, kind: str = "stable", by: Sequence[str] = ()) -> Query:
        """Autoscaler concurrency: stable or panic window average, or the per-pod target."""
        if kind not in ("stable", "panic", "target"):
            raise InputError(f"concurrency kind {kind!r} must be stable, panic or target")
        return self.autoscaler(sel, f"concurrency_{kind}", by)

    def panic_mode(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        return self.autoscaler(sel, "panic_mode", by)

    def excess_burst_capacity(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        return self.autoscaler(sel, "excess_burst_capacity", by)

    def activator_concurrency(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """Requests held or proxied by the activator (queued at zero scale or under burst)."""
        by = self._check_by(by)
        inner = self._series(self.dialect.activator_concurrency.name, sel, queue_proxy=False)
        return Query("activator_concurrency",
                     f"sum{promql.by(by)} ({self._canonical(inner, by)})", UNIT_COUNT, by,
                     self.dialect.activator_concurrency.help)

    def scale_events(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """How often the autoscaler changed its desired pod count within the window."""
        by = self._check_by(by)
        if "pod" in by or CODE_CLASS in by:
            raise InputError("scale events are per revision; group by revision at most")
        series = self._series(self.dialect.autoscaler["pods_desired"].name, sel,
                              queue_proxy=False)
        inner = f"changes({series}[{sel.window}])"
        return Query("scale_events", f"sum{promql.by(by)} ({self._canonical(inner, by)})",
                     UNIT_COUNT, by, "Changes of the desired pod count (scale decisions)")

    def services_at_zero(self, sel: Selection) -> Query:
        """How many services have no ready pod (scaled to zero); 0 rather than no data."""
        actual = self.pods(sel, "actual", by=("namespace", "service"))
        return Query("services_at_zero", f"count({actual.expr} == 0) or vector(0)", UNIT_COUNT,
                     (), "Services scaled to zero (no ready pod)")

    # -- Grafana variables ---------------------------------------------------------------------
    def label_values_query(
        self, label: str, sel: Selection | None = None,
        source: Literal["knative", "gpu"] = "knative",
    ) -> LabelValuesQuery:
        """The ``label_values(...)`` query of a Grafana variable listing ``label``'s values.

        Knative variables read the autoscaler's desired-pods gauge, which every revision has
        (also at zero scale); GPU variables read the exporter's memory-total gauge.
        """
        sel = sel or Selection()
        if source == "gpu":
            if label not in GPU_GROUPABLE:
                raise InputError(f"no GPU variable for {label!r}; use one of: "
                                 f"{', '.join(GPU_GROUPABLE)}")
            return LabelValuesQuery(promql.selector(MEMORY_TOTAL, sel.canonical_matchers()),
                                    label)
        if source != "knative":
            raise InputError(f"variable source {source!r} must be knative or gpu")
        if label not in ("namespace", "service", "configuration", "revision"):
            raise InputError(f"no Knative variable for {label!r}; use namespace, service, "
                             "configuration or revision")
        series = self._series(self.dialect.autoscaler["pods_desired"].name, sel,
                              queue_proxy=False)
        return LabelValuesQuery(series, self.dialect.labels.key(label))


@dataclass(frozen=True)
class LabelValuesQuery:
    """A Grafana ``label_values(series, label)`` variable query (``series`` is a selector)."""

    series: str
    label: str

    def __str__(self) -> str:
        return f"label_values({self.series}, {promql.check_label_name(self.label)})"
