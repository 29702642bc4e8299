"""Client-side signals of the catalog, over the load tester's own series (``sdobs.loadtest``).

Knative's histograms stop at 10 s (OpenTelemetry) or are coarse above 2 s (OpenCensus) and never
see activator queueing or cold starts; the load tester's 0.25 s … 600 s histogram shows the
latency a user had, beside Knative's. Series carry ``target`` (the Host header, or host:port)
and ``status_class``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sdobs.catalog import promql
from sdobs.catalog.promql import Matcher, Var
from sdobs.catalog.query import UNIT_RPS, UNIT_SECONDS, Query, check_by
from sdobs.errors import InputError
from sdobs.loadtest.metrics import PREFIX

REQUEST_DURATION = f"{PREFIX}request_duration_seconds"
CLIENT_GROUPABLE = ("target", "status_class")


class ClientSignals:
    """Mixed into :class:`sdobs.catalog.Catalog`: the load tester's series, selected by target."""

    def _client_series(self, name: str, target: str | Var | None,
                       extra: Sequence[Matcher] = ()) -> str:
        matchers = [promql.equals("target", target)] if target is not None else []
        return promql.selector(name, [*matchers, *extra])

    def client_latency(self, quantile: float, target: str | Var | None = None,
                       window: str | Var = "1m", by: Sequence[str] = ()) -> Query:
        """A latency quantile as the load tester's clients measured it, seconds (exact bucket
        interpolation of the client histogram; 2xx responses only)."""
        if not 0 < quantile < 1:
            raise InputError(f"quantile {quantile} must be between 0 and 1, e.g. 0.99")
        by = check_by(by, CLIENT_GROUPABLE, "client signals")
        series = self._client_series(f"{REQUEST_DURATION}_bucket", target,
                                     [promql.raw("status_class", "=", "2xx")])
        window = promql.check_window(window)
        expr = (f"histogram_quantile({quantile:g}, sum{promql.by((*by, 'le'))} "
                f"(rate({series}[{window}])))")
        return Query(f"client_latency_p{quantile * 100:g}", expr, UNIT_SECONDS, by,
                     f"P{quantile * 100:g} latency seen by load-test clients, seconds")

    def client_request_rate(self, target: str | Var | None = None, window: str | Var = "1m",
                            by: Sequence[str] = ()) -> Query:
        """Responses per second the load tester received, by status class if asked."""
        by = check_by(by, CLIENT_GROUPABLE, "client signals")
        series = self._client_series(f"{REQUEST_DURATION}_count", target)
        expr = f"sum{promql.by(by)} (rate({series}[{promql.check_window(window)}]))"
        return Query("client_request_rate", expr, UNIT_RPS, by,
                     "Responses per second received by load-test clients")
