"""SLO PromQL: objectives as data, SLI error ratios per window, burn rates and budget left.

Three SLOs per service (namespace, service), each an error ratio over the recorded per-revision
rates of :mod:`sdobs.catalog.recorded`:

- ``availability``: 5xx responses (queue-proxy's, its own 503 overflow and 504 timeout included,
  plus the activator's own 5xx beyond those it relayed) over all responses;
- ``latency``: responses slower than the service's threshold (``total - bucket{le=T}``) over all
  responses; T must be a bucket bound of the histogram in use (checked when rules are generated);
- ``cold_start``: requests that went through the activator while the revision had no ready pod.

Objectives and latency thresholds are recorded series (``slo:objective:ratio``,
``slo:latency_threshold:seconds``), so one alert rule serves every service and a per-service
override is one constant rule. Record names follow Sloth's ``slo:sli_error:ratio_rate<window>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sdobs.catalog import promql
from sdobs.catalog import recorded as rec
from sdobs.catalog.gpu import duration_seconds
from sdobs.catalog.query import Selection
from sdobs.errors import InputError

if TYPE_CHECKING:  # catalog.py builds on the modules these helpers read
    from sdobs.catalog.catalog import Catalog

SLOS = ("availability", "latency", "cold_start")
#: Short and long windows of the SRE workbook's multiwindow multi-burn-rate alerts, 30-day period:
#: (severity, short, long, factor, for).
BURN_WINDOWS: tuple[tuple[str, str, str, float, str], ...] = (
    ("page", "5m", "1h", 14.4, "2m"),
    ("page", "30m", "6h", 6.0, "15m"),
    ("ticket", "2h", "1d", 3.0, "1h"),
    ("ticket", "6h", "3d", 1.0, "3h"),
)
RATIO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

OBJECTIVE = "slo:objective:ratio"
THRESHOLD = "slo:latency_threshold:seconds"
ERRORS = "service_slo:sdobs_slo_errors:rate5m"
TOTAL = "service_slo:sdobs_slo_requests:rate5m"
ERRORS_1H = "service_slo:sdobs_slo_errors:rate1h"
TOTAL_1H = "service_slo:sdobs_slo_requests:rate1h"
BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
BURN_RATE = "slo:current_burn_rate:ratio"
SOURCE_DEFAULT = "default"
SOURCE_OVERRIDE = "annotation"
_ON = "on (namespace, service, slo)"
_SVC = "on (namespace, service)"


def ratio_record(window: str) -> str:
    """``slo:sli_error:ratio_rate<window>``."""
    return f"slo:sli_error:ratio_rate{promql.check_window(window)}"


def _check_slo(slo: str) -> str:
    if slo not in SLOS:
        raise InputError(f"unknown SLO {slo!r}; use one of: {', '.join(SLOS)}")
    return slo


def _slo(name: str, slo: str, *extra: promql.Matcher) -> str:
    return promql.selector(name, [promql.raw("slo", "=", _check_slo(slo)), *extra])


def known_services(catalog: Catalog) -> str:
    """One series per (namespace, service) the autoscaler manages (also at zero scale)."""
    pods = catalog.pods(Selection(), "desired", by=rec.SERVICE_LEVEL).expr
    return f"group by (namespace, service) ({pods})"


def default_objective(catalog: Catalog, slo: str, ratio: float) -> str:
    """``ratio`` for every known service without an override of this SLO."""
    override = _slo(OBJECTIVE, slo, promql.raw("source", "=", SOURCE_OVERRIDE))
    return f"({known_services(catalog)} * 0 + {ratio!r}) unless {_SVC} {override}"


def default_threshold(catalog: Catalog, seconds: float) -> str:
    override = promql.selector(THRESHOLD, [promql.raw("source", "=", SOURCE_OVERRIDE)])
    return f"({known_services(catalog)} * 0 + {seconds!r}) unless {_SVC} {override}"


def constant(value: float) -> str:
    """A constant series (its labels come from the rule): overrides and test fixtures."""
    return f"vector({value!r})"


def _by_service(expr: str) -> str:
    return f"sum by (namespace, service) ({expr})"


def total_rate() -> str:
    """All responses per second per service (the denominator of every SLO)."""
    return _by_service(rec.REQUESTS)


def error_rate(slo: str, thresholds: Iterable[float] = ()) -> str:
    """Bad events per second per service for one SLO (the numerator)."""
    _check_slo(slo)
    total = total_rate()
    if slo == "availability":
        qp = _by_service(f'{rec.REQUESTS}{{code_class="5xx"}} or {rec.REQUESTS} * 0')
        act = _by_service(rec.ACTIVATOR_ERRORS)
        return f"{qp} + {_SVC} ({act} or {qp} * 0)"
    if slo == "cold_start":
        return f"{_by_service(rec.COLD_REQUESTS)} or {total} * 0"
    bounds = sorted(set(thresholds))
    if not bounds:
        raise InputError("a latency SLO needs at least one threshold")
    good = " or ".join(
        f"({_by_service(promql.selector(rec.BUCKETS, [promql.raw('le', '=', rec.le_text(t))]))}"
        f" and {_SVC} ({THRESHOLD} == {t!r}))"
        for t in bounds
    )
    inf = _by_service(promql.selector(rec.BUCKETS, [promql.raw("le", "=", "+Inf")]))
    return f"clamp_min({inf} - {_SVC} ({good}), 0)"


#: Windows at least this long read the hourly averages (recorded every 5 minutes) instead of
#: the 5-minute rates: a 3-day window then reads 864 samples per series, not 8,640.
HOURLY_FROM = 6 * 3600


def error_ratio(slo: str, window: str) -> str:
    """The SLI error ratio over ``window``, traffic-weighted, from the recorded rates."""
    errors, total = _slo(ERRORS, slo), _slo(TOTAL, slo)
    if window == rec.RECORD_WINDOW:
        return f"clamp_max({errors} / {total}, 1)"
    w = promql.check_window(window)
    if duration_seconds(w) >= HOURLY_FROM:
        errors, total = _slo(ERRORS_1H, slo), _slo(TOTAL_1H, slo)
    # Counted by different components (activator, queue-proxy), bad events can outnumber the
    # responses inside a short window; a ratio is never above 1.
    return f"clamp_max(sum_over_time({errors}[{w}]) / sum_over_time({total}[{w}]), 1)"


def hourly(name: str) -> str:
    """The hourly average of a 5m rate, recorded every 5 minutes for the period's ratio."""
    return f"avg_over_time({name}[1h])"


def period_ratio(slo: str, period: str) -> str:
    w = promql.check_window(period)
    return f"sum_over_time({_slo(ERRORS_1H, slo)}[{w}]) / sum_over_time({_slo(TOTAL_1H, slo)}[{w}])"


def objective(slo: str) -> str:
    """A service's objective: its override where one is recorded, else the default (one series
    per service even while an override and the default briefly coexist)."""
    over = _slo(OBJECTIVE, slo, promql.raw("source", "=", SOURCE_OVERRIDE))
    default = _slo(OBJECTIVE, slo, promql.raw("source", "=", SOURCE_DEFAULT))
    return f"(max without (source) ({over}) or max without (source) ({default}))"


def budget_remaining(slo: str, period: str) -> str:
    """1 - (errors over the period / errors the objective allows); negative once overspent."""
    return f"1 - ({_slo(ratio_record(period), slo)} / {_ON} (1 - {objective(slo)}))"


def current_burn_rate(slo: str) -> str:
    """How fast the budget burns now (5m ratio over the allowed ratio; 1 = exactly on budget)."""
    return f"{_slo(ratio_record('5m'), slo)} / {_ON} (1 - {objective(slo)})"


def burn_alert(slo: str, short: str, long: str, factor: float) -> str:
    """Both windows burn faster than ``factor`` times the allowed error ratio."""
    allowed = f"({factor!r} * (1 - {objective(slo)}))"
    return (f"({_slo(ratio_record(long), slo)} > {_ON} {allowed}) and {_ON} "
            f"({_slo(ratio_record(short), slo)} > {_ON} {allowed})")


def latency_quantile_over_threshold(quantile: float, window: str = "5m") -> str:
    """Services whose recorded ``quantile`` latency is above their latency threshold."""
    buckets = rec.BUCKETS if window == rec.RECORD_WINDOW else \
        f"avg_over_time({rec.BUCKETS}[{promql.check_window(window)}])"
    q = f"histogram_quantile({quantile:g}, sum by (namespace, service, le) ({buckets}))"
    return f"{q} > {_SVC} group_left () max by (namespace, service) ({THRESHOLD})"


# -- reading (the app's SLO view) --------------------------------------------------------------
def read_budget_remaining(service_matchers: Iterable[promql.Matcher] = ()) -> str:
    return promql.selector(BUDGET_REMAINING, list(service_matchers))


def read_burn_rate(service_matchers: Iterable[promql.Matcher] = ()) -> str:
    return promql.selector(BURN_RATE, list(service_matchers))


def read_objectives(service_matchers: Iterable[promql.Matcher] = ()) -> str:
    return promql.selector(OBJECTIVE, list(service_matchers))


def firing_alerts(service_matchers: Iterable[promql.Matcher] = ()) -> str:
    """sdobs' alerts firing now (Prometheus' ``ALERTS`` series)."""
    return promql.selector("ALERTS", [promql.raw("alertstate", "=", "firing"),
                                      promql.raw("sdobs", "=", "true"),
                                      *service_matchers])
