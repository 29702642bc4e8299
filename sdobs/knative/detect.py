"""Tell which Knative metric dialect(s) a Prometheus holds, from its metric names."""

from __future__ import annotations

from sdobs.errors import NotFound
from sdobs.knative.dialects import Dialect, dialects_in
from sdobs.prom.client import PrometheusClient, TimeLike


class NoDialectFound(NotFound):
    """A Prometheus holds no Knative metrics of any dialect."""


def detect_dialects(client: PrometheusClient, start: TimeLike | None = None,
                    end: TimeLike | None = None) -> list[Dialect]:
    """Dialects whose marker metrics exist (newest first; several during an upgrade).

    Uses the ``__name__`` label values, so it sees backfilled history as well as live series
    and costs one request however many services the Prometheus holds.
    """
    return dialects_in(client.metric_names(start=start, end=end))


def detect_dialect(client: PrometheusClient, start: TimeLike | None = None,
                   end: TimeLike | None = None) -> Dialect:
    """The newest dialect present; raises :class:`NoDialectFound` with advice when there is none."""
    found = detect_dialects(client, start, end)
    if not found:
        raise NoDialectFound(
            f"no Knative metrics found in Prometheus at {client.url}; check that queue-proxy, "
            "activator and autoscaler are scraped (Knative v1.19+ needs metrics-protocol and "
            "request-metrics-protocol set to prometheus)"
        )
    return found[0]
