"""Capacity-analysis signals of the catalog: service-time distributions and GPU models.

Capacity planning (``sdobs.capacity.history``) needs what the dashboards do not: the whole
bucket distribution of the app-latency histogram (not one quantile), its mean from ``_sum`` /
``_count``, both for one response class, and which GPU model each revision ran on.
"""

from __future__ import annotations

from collections.abc import Sequence

from sdobs_exporters.gpu import naming

from sdobs.catalog import gpu_sources, promql
from sdobs.catalog.promql import Matcher
from sdobs.catalog.query import UNIT_COUNT, UNIT_RPS, UNIT_SECONDS, Query, Selection, check_by
from sdobs.errors import InputError
from sdobs.knative.dialects import CODE_CLASS, Dialect, Family

GPU_INFO = naming.GPU_INFO[0]
GPU_MODEL_GROUPABLE = ("namespace", "service", "configuration", "revision")


class CapacitySignals:
    """Mixed into :class:`sdobs.catalog.Catalog`; uses its dialect and its request helpers
    (``_check_by``, ``_series``, ``_canonical``, ``_sum_by``, ``_class_matcher``, ``_counter``)."""

    dialect: Dialect

    def _latency_family(self, app: bool) -> Family:
        return self.dialect.app_requests if app else self.dialect.requests

    def _code_matchers(self, code_class: str | None) -> list[Matcher]:
        return [] if code_class is None else [self._class_matcher(code_class)]

    def latency_bucket_scale(self, *, app: bool = False) -> float:
        """Seconds per unit of the histogram's ``le`` bounds (0.001 for OpenCensus' ms)."""
        return self._latency_family(app).scale_to_base

    def latency_histogram(self, sel: Selection, by: Sequence[str] = (), *, app: bool = False,
                          code_class: str | None = None,
                          native: bool = False) -> Query:
        """Requests per second falling at or under each ``le`` bound (cumulative buckets).

        ``le`` keeps the dialect's unit (multiply by :meth:`latency_bucket_scale` for seconds);
        ``code_class`` (e.g. ``"2xx"``) keeps only those responses; ``native`` groups on the
        dialect's own label names (``Catalog._sum_by``), for reads that cover a whole fleet.
        """
        by = self._check_by(by)
        family = self._latency_family(app)
        series = self._series(family.bucket, sel, self._code_matchers(code_class))
        inner = f"rate({series}[{sel.window}])"
        expr = self._sum_by(inner, by, ("le",), native=native)
        stage = "model container" if app else "queue-proxy"
        return Query("latency_histogram", expr, UNIT_RPS, (*by, "le"),
                     f"Requests per second at or under each latency bound at the {stage}")

    def latency_per_group(self, sel: Selection, quantile: float,
                          by: Sequence[str] = ("namespace", "service"), *,
                          app: bool = False) -> Query:
        """:meth:`latency` grouped by ``by``, computed on the dialect's own label names, the
        canonical names copied onto the results afterwards.

        Same numbers as ``latency(sel, quantile, by)``, but ``label_replace`` runs on one series
        per group instead of on every raw bucket series at every step: over a whole fleet the
        plain form cost about three times as much as one query per service. Grouping by the
        dialect's names also keeps Prometheus' sum in selector order (2.42 sums a
        ``label_replace``'d range in map order), so each group's value is exactly the one a
        query for that group alone returns.
        """
        if not 0 < quantile < 1:
            raise InputError(f"quantile {quantile} must be between 0 and 1, e.g. 0.99")
        by = self._check_by(by)
        if CODE_CLASS in by:
            raise InputError("latency_per_group groups by identity labels, not code_class")
        family = self._latency_family(app)
        keys = [self.dialect.labels.key(label) for label in by]
        inner = f"rate({self._series(family.bucket, sel)}[{sel.window}])"
        expr = f"histogram_quantile({quantile:g}, sum{promql.by((*keys, 'le'))} ({inner}))"
        if family.scale_to_base != 1:
            expr = f"{expr} / {1 / family.scale_to_base:g}"
        for label, key in zip(by, keys, strict=True):
            if key != label:
                expr = promql.copy_label(expr, label, key)
        stage = "model container" if app else "queue-proxy"
        return Query(f"latency_p{quantile * 100:g}", expr, UNIT_SECONDS, by,
                     f"P{quantile * 100:g} response time at the {stage}, seconds",
                     bounds=self.latency_bounds(app=app))

    def latency_mean(self, sel: Selection, by: Sequence[str] = (), *, app: bool = False,
                     code_class: str | None = None, native: bool = False) -> Query:
        """Mean response time in seconds over the window, from the histogram's sum and count
        (``native``: as in :meth:`latency_histogram`)."""
        by = self._check_by(by)
        family = self._latency_family(app)
        extra = self._code_matchers(code_class)
        parts = []
        for name in (family.sum, family.count):
            inner = f"rate({self._series(name, sel, extra)}[{sel.window}])"
            parts.append(self._sum_by(inner, by, native=native))
        expr = f"{parts[0]} / {parts[1]}"
        if family.scale_to_base != 1:
            expr = f"({expr}) / {1 / family.scale_to_base:g}"
        stage = "model container" if app else "queue-proxy"
        return Query("latency_mean", expr, UNIT_SECONDS, by,
                     f"Mean response time at the {stage}, seconds")

    def request_counter(self, sel: Selection,
                        by: Sequence[str] = ("revision", "pod", "code_class"), *,
                        app: bool = False, native: bool = False) -> Query:
        """Requests counted so far (the raw counters summed per group, no ``rate()``).

        ``rate()`` cannot count what a series held at its first sample, and every pod that
        scales up from zero starts new series; grouped per pod, the increments of this query
        (a new group counting from zero) give exact request counts per step. ``native``: as in
        :meth:`latency_histogram`.
        """
        by = self._check_by(by)
        inner = self._series(self._counter(app), sel)
        return Query("request_counter", self._sum_by(inner, by, native=native),
                     UNIT_COUNT, by, "Requests counted since each series started")

    def gpu_models(self, sel: Selection, by: Sequence[str] = ("revision",)) -> Query:
        """GPUs per model name (``name`` label) seen within the window, e.g. per revision."""
        by = check_by(by, GPU_MODEL_GROUPABLE, "GPU models")
        series = promql.selector(GPU_INFO, sel.canonical_matchers())
        expr = (f"count{promql.by((*by, 'name'))} "
                f"(last_over_time({series}[{promql.check_window(sel.window)}]))")
        return Query("gpu_models", expr, UNIT_COUNT, (*by, "name"),
                     "GPUs seen per model name within the window")

    def gpu_models_any_source(self, sel: Selection, by: Sequence[str] = ("revision",)) -> Query:
        """:meth:`gpu_models` from the sdobs exporter's sidecars, or else its node agents, or else
        dcgm-exporter's ``modelName`` label (the last two joined to revisions through
        ``kube_pod_labels``)."""
        own = self.gpu_models(sel, by)
        window = promql.check_window(sel.window)
        free = promql.selector("DCGM_FI_DEV_FB_FREE", gpu_sources.namespace_matchers(sel))
        named = promql.copy_label(f"last_over_time({free}[{window}])", "name", "modelName")
        joined = (f"({named} * on ({gpu_sources.JOIN}) group_left "
                  f"({', '.join(gpu_sources.IDENTITY)}) {gpu_sources.identity(sel, window)})")
        theirs = f"count{promql.by((*by, 'name'))} ({joined})"
        info = promql.selector(GPU_INFO, [*gpu_sources.namespace_matchers(sel),
                                          promql.raw("service", "=", ""),
                                          promql.raw("pod", "!=", "")])  # node mode
        node = (f"count{promql.by((*by, 'name'))} (last_over_time({info}[{window}]) "
                f"* on ({gpu_sources.JOIN}) group_left ({', '.join(gpu_sources.IDENTITY)}) "
                f"{gpu_sources.identity(sel, window)})")
        on = f" or on ({', '.join(by)}) "
        return Query("gpu_models", f"{own.expr}{on}{node}{on}{theirs}", own.unit, own.by,
                     own.description)
