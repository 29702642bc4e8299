"""SD request signals of the catalog, over the sdobs SD request exporter's series.

The exporter (``exporters/sdobs_exporters/sd``) owns the names and buckets (its ``naming``
module) and puts the canonical labels ``namespace``, ``service``, ``configuration``, ``revision``
and ``pod`` on its series itself, so these queries are the same for every Knative dialect. Where
a service runs no exporter, :meth:`SdSignals.latency_by_source` falls back to Knative's own
histogram and says so in a ``source`` label (``sd-exporter`` or ``knative``): detected from the
data per selection, like the dialects are detected from the metric names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sdobs_exporters.sd import naming

from sdobs.catalog import promql
from sdobs.catalog.query import (
    QUANTILES,
    UNIT_COUNT,
    UNIT_RPS,
    UNIT_SECONDS,
    Query,
    Selection,
    check_by,
)
from sdobs.errors import InputError

UNIT_ITS = UNIT_COUNT  # steps per second
SD_GROUPABLE = ("namespace", "service", "configuration", "revision", "pod", "endpoint",
                "status", "sampler", "size_class", "gpu_model")
SOURCE_LABEL = "source"
SOURCE_SD, SOURCE_KNATIVE = "sd-exporter", "knative"
#: One histogram per phase of a request: total, waiting for the lock, generating, returning.
PHASES = {
    "request": naming.REQUEST_DURATION,
    "queue_wait": naming.QUEUE_WAIT,
    "generation": naming.GENERATION,
    "response": naming.RESPONSE,
}
PHASE_TEXT = {"request": "request duration (arrival to last byte)",
              "queue_wait": "wait for the generation lock", "generation": "generation",
              "response": "encoding and returning"}
BOUNDS = tuple(float(b) for b in naming.DURATION_BUCKETS)


class SdSignals:
    """Mixed into :class:`sdobs.catalog.Catalog`; the exporter's series carry the canonical
    labels, as the GPU exporter's do (:meth:`Selection.canonical_matchers`)."""

    @staticmethod
    def _sd_by(by: Sequence[str]) -> tuple[str, ...]:
        return check_by(by, SD_GROUPABLE, "SD signals")

    @staticmethod
    def _sd_series(name: str, sel: Selection) -> str:
        return promql.selector(name, sel.canonical_matchers())

    def _sd_phase(self, phase: str) -> str:
        if phase not in PHASES:
            raise InputError(f"unknown SD request phase {phase!r}; use one of: "
                             f"{', '.join(PHASES)}")
        return PHASES[phase]

    def sd_latency(self, sel: Selection, quantile: float, by: Sequence[str] = (), *,
                   phase: str = "request") -> Query:
        """A quantile of one phase of SD generation requests, seconds, from the exporter's
        SD-sized histogram (0.05 s … 600 s)."""
        if not 0 < quantile < 1:
            raise InputError(f"quantile {quantile} must be between 0 and 1, e.g. 0.99")
        by = self._sd_by(by)
        series = self._sd_series(f"{self._sd_phase(phase)}_bucket", sel)
        window = promql.check_window(sel.window)
        expr = (f"histogram_quantile({quantile:g}, sum{promql.by((*by, 'le'))} "
                f"(rate({series}[{window}])))")
        name = "sd_latency" if phase == "request" else f"sd_{phase}"
        return Query(f"{name}_p{quantile * 100:g}", expr, UNIT_SECONDS, by,
                      f"P{quantile * 100:g} SD {PHASE_TEXT[phase]}, seconds (SD exporter)",
                      bounds=BOUNDS)

    def sd_latencies(self, sel: Selection, by: Sequence[str] = (), *,
                     phase: str = "request") -> list[Query]:
        return [self.sd_latency(sel, q, by, phase=phase) for q in QUANTILES]

    def sd_phase_mean(self, sel: Selection, phase: str, by: Sequence[str] = ()) -> Query:
        """Mean seconds of one phase (queue_wait, generation, response, request) per request."""
        by = self._sd_by(by)
        name = self._sd_phase(phase)
        window = promql.check_window(sel.window)
        parts = [f"sum{promql.by(by)} (rate({self._sd_series(f'{name}_{s}', sel)}[{window}]))"
                 for s in ("sum", "count")]
        return Query(f"sd_{phase}_mean", f"{parts[0]} / {parts[1]}", UNIT_SECONDS, by,
                      f"Mean SD {PHASE_TEXT[phase]}, seconds (SD exporter)")

    def sd_request_rate(self, sel: Selection, by: Sequence[str] = ()) -> Query:
        """Generation requests per second the SD servers answered."""
        by = self._sd_by(by)
        series = self._sd_series(f"{naming.REQUEST_DURATION}_count", sel)
        expr = f"sum{promql.by(by)} (rate({series}[{promql.check_window(sel.window)}]))"
        return Query("sd_request_rate", expr, UNIT_RPS, by,
                      "Generation requests per second (SD exporter)")

    def sd_its(self, sel: Selection, by: Sequence[str] = ("gpu_model",)) -> Query:
        """Sampling steps per second of generation time (it/s), by GPU model by default."""
        by = self._sd_by(by)
        window = promql.check_window(sel.window)
        steps = f"sum{promql.by(by)} (rate({self._sd_series(naming.STEPS + '_total', sel)}" \
                f"[{window}]))"
        busy = f"sum{promql.by(by)} (rate({self._sd_series(naming.GENERATION + '_sum', sel)}" \
               f"[{window}]))"
        return Query("sd_its", f"{steps} / {busy}", UNIT_ITS, by,
                      "Sampling steps per second of generation (it/s, SD exporter)")

    def sd_cold_start(self, sel: Selection, by: Sequence[str] = ("revision",)) -> Query:
        """Mean cold start (container start → checkpoint loaded, ready) of the pods seen in the
        window, seconds."""
        by = self._sd_by(by)
        series = self._sd_series(naming.COLD_START, sel)
        expr = (f"avg{promql.by(by)} (max_over_time({series}"
                f"[{promql.check_window(sel.window)}]) > 0)")
        return Query("sd_cold_start", expr, UNIT_SECONDS, by,
                      "Cold start: container start to ready to serve, seconds (SD exporter)")

    def sd_model_load(self, sel: Selection, by: Sequence[str] = ("revision",)) -> Query:
        """Mean checkpoint load time of the pods up now (each pod's loads since it started),
        seconds."""
        by = self._sd_by(by)
        parts = [f"sum{promql.by(by)} ({self._sd_series(f'{naming.MODEL_LOAD}_{s}', sel)})"
                 for s in ("sum", "count")]
        return Query("sd_model_load", f"{parts[0]} / {parts[1]}", UNIT_SECONDS, by,
                      "Mean checkpoint load time, seconds (SD exporter)")

    def sd_generation_histogram(self, sel: Selection, by: Sequence[str] = ("revision",)) -> Query:
        """Generations per second at or under each ``le`` bound (seconds): the time requests held
        the GPU, i.e. the service-time distribution capacity planning reads."""
        by = self._sd_by(by)
        series = self._sd_series(f"{naming.GENERATION}_bucket", sel)
        expr = (f"sum{promql.by((*by, 'le'))} "
                f"(rate({series}[{promql.check_window(sel.window)}]))")
        return Query("sd_generation_histogram", expr, UNIT_RPS, (*by, "le"),
                      "Generations per second at or under each duration bound (SD exporter)")

    def sd_present(self, sel: Selection) -> Query:
        """How many SD exporter request series the selection has (empty: no exporter)."""
        series = self._sd_series(f"{naming.REQUEST_DURATION}_count", sel)
        return Query("sd_present", f"count({series})", UNIT_COUNT, (),
                      "SD exporter request series in the selection")

    def latency_by_source(self, sel: Selection, quantile: float,
                          by: Sequence[str] = ()) -> Query:
        """The SD exporter's request quantile where it has series, else Knative's queue-proxy
        quantile; a ``source`` label says which (``sd-exporter`` / ``knative``)."""
        sd = self.sd_latency(sel, quantile, by)
        kn = self.latency(sel, quantile, by)
        tag = lambda q, v: promql.copy_label(q.expr, SOURCE_LABEL, "__name__",  # noqa: E731
                                             replacement=v, pattern=".*")
        expr = f"{tag(sd, SOURCE_SD)} or on ({', '.join(by)}) {tag(kn, SOURCE_KNATIVE)}"
        return Query(f"latency_by_source_p{quantile * 100:g}", expr, UNIT_SECONDS,
                      (*by, SOURCE_LABEL),
                      f"P{quantile * 100:g} response time, seconds: the SD exporter's where "
                      "present, else Knative's queue-proxy histogram (source label)")


#: Metric names whose presence says a Prometheus holds SD exporter series (for detection).
MARKERS = (f"{naming.REQUEST_DURATION}_count",)


def sd_exporter_in(metric_names: Iterable[str]) -> bool:
    """Whether a set of metric names (Prometheus' ``__name__`` values) has the SD exporter's."""
    names = set(metric_names)
    return any(m in names for m in MARKERS)
