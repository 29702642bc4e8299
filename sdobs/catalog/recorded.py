"""Recorded forms of the catalog's signals: what the recording rules compute, and how to read it.

At fleet scale the dashboards and the app should not run ``histogram_quantile`` over every
revision's raw buckets on each refresh. The recording rules (``rules/``, ``sdobs rules``) store
each hot signal once per evaluation, per revision, with the canonical labels ``namespace``,
``service``, ``configuration``, ``revision`` whatever the Knative dialect, named by the
``level:metric:operations`` convention (``revision`` level = those four labels). This module is
the one place that knows those names: :class:`RecordedSignals` builds both the expression a rule
records (``record_*``, from the raw catalog signals) and the fleet queries that read the recorded
series (``recorded_*``), so a recorded panel and its raw twin can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence

from sdobs.catalog import promql
from sdobs.catalog.gpu import duration_seconds
from sdobs.catalog.promql import Matcher
from sdobs.catalog.query import (
    GROUPABLE,
    UNIT_COUNT,
    UNIT_RATIO,
    UNIT_RPS,
    UNIT_SECONDS,
    Query,
    Selection,
    check_by,
)
from sdobs.errors import InputError
from sdobs.knative.dialects import CODE_CLASS, Dialect

#: The window every revision-level rate is recorded at; longer windows are built from it.
RECORD_WINDOW = "5m"
#: Labels of the ``revision`` level: a revision's full identity.
REVISION_LEVEL = ("namespace", "service", "configuration", "revision")
SERVICE_LEVEL = ("namespace", "service")

REQUESTS = "revision_code_class:sdobs_requests:rate5m"
ACTIVATOR_ERRORS = "revision:sdobs_activator_5xx_only:rate5m"
COLD_REQUESTS = "revision:sdobs_cold_requests:rate5m"
BUCKETS = "revision_le:sdobs_request_duration_seconds_bucket:rate5m"
PODS = "revision_state:sdobs_pods:sum"
ACTIVATOR_CONCURRENCY = "revision:sdobs_activator_concurrency:sum"
QUEUE_DEPTH = "revision:sdobs_queue_depth:sum"
PANIC_MODE = "revision:sdobs_panic_mode:max"
GPUS_BUSY = "revision:sdobs_gpus_busy:sum"
GPUS_ALLOCATED = "revision:sdobs_gpus_allocated:count"
GPU_UTILIZATION = "revision:sdobs_gpu_utilization:avg"
RECORDED_POD_STATES = ("desired", "requested", "actual", "pending", "not_ready", "terminating")
#: A series every Prometheus with the Knative recording rules holds: how consumers detect them.
MARKER = PODS


def le_text(seconds: float) -> str:
    """An ``le`` label value as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` prints a bound."""
    if seconds == int(seconds) and abs(seconds) < 1e15:
        return str(int(seconds))
    return repr(float(seconds))


class RecordedSignals:
    """Mixed into :class:`sdobs.catalog.Catalog`: recording-rule expressions and their readers.

    The ``record_*`` methods read the catalog's raw signals and request helpers."""

    dialect: Dialect

    # -- what the rules record (raw → revision level) ------------------------------------------
    @staticmethod
    def _everything(window: str = RECORD_WINDOW) -> Selection:
        return Selection(window=window)

    def record_requests(self) -> str:
        """Requests per second by revision and code class (queue-proxy's outer count)."""
        return self.request_rate(self._everything(), by=(*REVISION_LEVEL, CODE_CLASS)).expr

    def record_buckets(self) -> str:
        """Latency bucket rates by revision and ``le``, with ``le`` in seconds in every dialect.

        OpenCensus buckets are in milliseconds (and count ``v < le``); their ``le`` values are
        rewritten one bound at a time so both dialects record bounds in seconds.
        """
        d = self.dialect
        family = d.requests
        inner = f"rate({self._series(family.bucket, self._everything())}[{RECORD_WINDOW}])"
        expr = f"sum{promql.by((*REVISION_LEVEL, 'le'))} ({self._canonical(inner, REVISION_LEVEL)})"
        if family.scale_to_base != 1:
            for bound in family.bounds:
                own = le_text(bound)
                base = le_text(round(bound * family.scale_to_base, 9))
                expr = (f"label_replace({expr}, \"le\", {promql.quote(base)}, \"le\", "
                        f"{promql.quote(promql.regex_literal(own))})")
        return expr

    def _activator_rate(self, extra: Sequence[Matcher] = ()) -> str:
        """Requests per second the activator answered, by revision."""
        d = self.dialect
        if d.activator_counters:
            name, matchers = d.activator_counters[0].name, []
        else:
            # Queue-proxy series carry the pod label; the activator's (same name) do not.
            name = d.activator_requests.count if d.activator_requests else d.request_count
            matchers = [promql.raw(d.labels.pod, "=", ""), promql.raw(d.labels.revision, "!=", "")]
        inner = f"rate({promql.selector(name, [*matchers, *extra])}[{RECORD_WINDOW}])"
        return f"sum{promql.by(REVISION_LEVEL)} ({self._canonical(inner, REVISION_LEVEL)})"

    def record_activator_errors(self) -> str:
        """503 and 504 the activator answered beyond those queue-proxy answered: its own
        (timeouts waiting for capacity, overload), not the ones it relayed from a pod."""
        code = promql.raw(self.dialect.code_label, "=~", "50[34]")
        act = self._activator_rate([code])
        inner = f"rate({self._series(self.dialect.request_count, self._everything(), [code])}" \
                f"[{RECORD_WINDOW}])"
        qp = f"sum{promql.by(REVISION_LEVEL)} ({self._canonical(inner, REVISION_LEVEL)})"
        return f"clamp_min({act} - ({qp} or {act} * 0), 0)"

    def record_cold_requests(self) -> str:
        """Requests through the activator in 5-minute windows in which the revision had no
        ready pod at some point: an upper bound of the requests that waited for a cold start."""
        act = self._activator_rate()
        zero = f"min_over_time({PODS}{{state=\"actual\"}}[{RECORD_WINDOW}]) == 0"
        return f"{act} and on ({', '.join(REVISION_LEVEL)}) ({zero})"

    def record_pods(self, state: str) -> str:
        return self.pods(self._everything(), state, by=REVISION_LEVEL).expr

    def record_activator_concurrency(self) -> str:
        return self.activator_concurrency(self._everything(), by=REVISION_LEVEL).expr

    def record_queue_depth(self) -> str:
        return self.queue_depth(self._everything(), by=REVISION_LEVEL).expr

    def record_panic_mode(self) -> str:
        expr = self.panic_mode(self._everything(), by=REVISION_LEVEL).expr
        return "max" + expr[len("sum"):] if expr.startswith("sum") else expr

    def record_gpus_busy(self) -> str:
        return self.gpus_busy(self._everything(), by=REVISION_LEVEL).expr

    def record_gpus_allocated(self) -> str:
        return self.gpus_allocated(self._everything(), by=REVISION_LEVEL).expr

    def record_gpu_utilization(self) -> str:
        return self.gpu_utilization(self._everything(), by=REVISION_LEVEL).expr

    # -- reading the recorded series (the fleet's queries) -------------------------------------
    @staticmethod
    def _recorded(name: str, sel: Selection, extra: Sequence[Matcher] = ()) -> str:
        return promql.selector(name, [*sel.canonical_matchers(), *extra])

    def _over(self, name: str, sel: Selection, extra: Sequence[Matcher] = (),
              fn: str = "avg") -> str:
        """The recorded 5-minute series, averaged over the selection's window when longer.

        Sampled every 5 minutes (a subquery): consecutive 5-minute rates tile the window, so
        their mean is the window's rate, from a tenth of the samples a raw ``rate`` reads at
        30 s scrapes.
        """
        series = self._recorded(name, sel, extra)
        window = str(sel.window)
        if window == RECORD_WINDOW:
            return series
        w = promql.check_window(sel.window)
        if w.startswith("$"):  # a Grafana interval: the recorded 5-minute rate as it is
            return series
        if duration_seconds(w) < duration_seconds(RECORD_WINDOW):
            return series
        return f"{fn}_over_time({series}[{w}:{RECORD_WINDOW}])"

    def recorded_request_rate(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        by = check_by(by, GROUPABLE)
        return Query("request_rate", f"sum{promql.by(by)} ({self._over(REQUESTS, sel)})",
                     UNIT_RPS, by, "Requests per second (recorded)")

    def recorded_success_ratio(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        by = check_by(by, GROUPABLE)
        good = self._over(REQUESTS, sel, [promql.raw(CODE_CLASS, "!=", "5xx")])
        total = self._over(REQUESTS, sel)
        return Query("success_ratio", f"sum{promql.by(by)} ({good}) / sum{promql.by(by)} "
                     f"({total})", UNIT_RATIO, by, "Share of responses that are not 5xx "
                     "(recorded)")

    def recorded_latency(self, sel: Selection, quantile: float,
                         by: Sequence[str] = ()) -> Query:
        if not 0 < quantile < 1:
            raise InputError(f"quantile {quantile} must be between 0 and 1, e.g. 0.99")
        by = check_by(by, GROUPABLE)
        grouped = f"sum{promql.by((*by, 'le'))} ({self._over(BUCKETS, sel)})"
        return Query(f"latency_p{quantile * 100:g}", f"histogram_quantile({quantile:g}, {grouped})",
                     UNIT_SECONDS, by, f"P{quantile * 100:g} response time (recorded), seconds",
                     bounds=self.latency_bounds())  # the raw histogram's, recorded in seconds

    def recorded_pods(self, sel: Selection, state: str = "actual",
                      by: Sequence[str] = ()) -> Query:
        if state not in RECORDED_POD_STATES:
            raise InputError(f"unknown pod state {state!r}; use one of: "
                             f"{', '.join(RECORDED_POD_STATES)}")
        by = check_by(by, GROUPABLE)
        series = self._recorded(PODS, sel, [promql.raw("state", "=", state)])
        return Query(f"pods_{state}", f"sum{promql.by(by)} ({series})", UNIT_COUNT, by,
                     f"Pods {state} (recorded)")

    def recorded_gpu_utilization(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        by = check_by(by, GROUPABLE)
        busy = f"sum{promql.by(by)} ({self._recorded(GPUS_BUSY, sel)})"
        alloc = f"sum{promql.by(by)} ({self._recorded(GPUS_ALLOCATED, sel)})"
        return Query("gpu_utilization", f"{busy} / {alloc}", UNIT_RATIO, by,
                     "Mean GPU utilisation (recorded)")

    def recorded_gpus_allocated(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        by = check_by(by, GROUPABLE)
        expr = f"sum{promql.by(by)} ({self._recorded(GPUS_ALLOCATED, sel)})"
        return Query("gpus_allocated", expr, UNIT_COUNT, by, "GPUs held by the pods (recorded)")

    def recorded_rate_5xx(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """Server-error (5xx) responses per second from the recorded code classes: the raw
        ``rate_5xx`` (queue-proxy's count, its own 503/504 included) at the recorded window."""
        by = check_by(by, GROUPABLE)
        series = self._over(REQUESTS, sel, [promql.raw(CODE_CLASS, "=", "5xx")])
        return Query("rate_5xx", f"sum{promql.by(by)} ({series})", UNIT_RPS, by,
                     "5xx responses per second (recorded)")

    def recorded_services_at_zero(self, sel: Selection) -> Query:
        """How many services have no ready pod at the last evaluation; 0 rather than no data."""
        actual = self.recorded_pods(sel, "actual", by=SERVICE_LEVEL)
        return Query("services_at_zero", f"count({actual.expr} == 0) or vector(0)", UNIT_COUNT,
                     (), "Services scaled to zero (recorded)")

    # -- SLOs and alerts of a service (what the SLO rules record) -------------------------------
    @staticmethod
    def _service_matchers(sel: Selection) -> list[Matcher]:
        return [promql.equals(label, getattr(sel, label)) for label in ("namespace", "service")
                if getattr(sel, label) is not None]

    def slo_budget_remaining(self, sel: Selection) -> Query:
        """Error budget left over the SLO period, per SLO (1 = untouched, < 0 = overspent)."""
        from sdobs.catalog import slo  # not at the top: slo reads this module's names

        expr = f"min by (slo) ({slo.read_budget_remaining(self._service_matchers(sel))})"
        return Query("slo_budget_remaining", expr, UNIT_RATIO, ("slo",),
                     "Error budget left over the SLO period")

    def slo_burn_rate(self, sel: Selection) -> Query:
        """How fast each SLO's budget burns over 5 minutes (1 = exactly on budget)."""
        from sdobs.catalog import slo  # not at the top: slo reads this module's names

        expr = f"max by (slo) ({slo.read_burn_rate(self._service_matchers(sel))})"
        return Query("slo_burn_rate", expr, UNIT_COUNT, ("slo",), "Error budget burn rate")

    def alerts_firing(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """sdobs alerts firing for the selection (0 rather than no data when none)."""
        from sdobs.catalog import slo  # not at the top: slo reads this module's names

        for label in by:
            promql.check_label_name(label)
        series = slo.firing_alerts(self._service_matchers(sel))
        expr = f"count{promql.by(by)} ({series}) or vector(0)"
        return Query("alerts_firing", expr, UNIT_COUNT, tuple(by), "sdobs alerts firing")

    def recorded_marker(self) -> str:
        """A selector that returns series only where the Knative recording rules run."""
        return promql.selector(MARKER, [])

