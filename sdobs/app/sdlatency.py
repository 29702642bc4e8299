"""The service page's SD latency: the SD request exporter's numbers where it runs, Knative's
histogram where it does not, and always which one is shown.

Whether a Prometheus holds SD exporter series at all is detected from its metric names (like the
Knative dialect) and cached until the source detects its dialect again; only then does a page
run the exporter's queries. Per selection, a service without exporter series falls back to
Knative's quantiles, labelled as such.
"""

from __future__ import annotations

from dataclasses import replace

from sdobs.catalog import QUANTILES, Catalog
from sdobs.catalog.sd import SOURCE_KNATIVE, SOURCE_SD, sd_exporter_in
from sdobs.prom.errors import PrometheusError

PHASES = ("queue_wait", "generation", "response")
PHASE_TITLES = {"queue_wait": "Waiting for the GPU (mean)", "generation": "Generating (mean)",
                "response": "Returning (mean)"}
SOURCE_TEXT = {
    SOURCE_SD: ("SD exporter", "Latency from the sdobs SD request exporter in the model "
                "container: request duration in SD-sized buckets (0.05 s to 10 min)."),
    SOURCE_KNATIVE: ("Knative queue-proxy", "Latency from Knative's queue-proxy histogram (no SD "
                     "exporter series for this selection): its buckets end at 10 s on Knative "
                     "1.19+ and are coarse above 2 s before, so high quantiles are ranges."),
}


def exporter_present(source) -> bool:
    """Whether the source's Prometheus holds SD exporter series (cached per detection)."""
    key = source.detected_at
    cached = getattr(source, "_sdobs_sd_exporter", None)
    if cached is None or cached[0] != key:
        try:
            present = sd_exporter_in(source.client.metric_names())
        except PrometheusError:
            present = False
        source._sdobs_sd_exporter = (key, present)
    return source._sdobs_sd_exporter[1]


def sd_specs(cat: Catalog, sel, span) -> list:
    """The exporter's quantiles (range and over the whole span) and phase means over the span."""
    from sdobs.app.data import Spec

    return [
        *[Spec(f"sd_latency_{q:g}", cat.sd_latency(sel, q)) for q in QUANTILES],
        *[Spec(f"h_sd_latency_{q:g}", cat.sd_latency(span, q), instant=True) for q in QUANTILES],
        *[Spec(f"h_sd_{p}", cat.sd_phase_mean(span, p), instant=True) for p in PHASES],
    ]


def source_of(page) -> str:
    """``sd-exporter`` when the page's exporter quantiles have a value, else ``knative``."""
    for q in QUANTILES:
        frame = page.frame(f"h_sd_latency_{q:g}")
        if frame is not None and not frame.empty and frame["value"].notna().any():
            return SOURCE_SD
    return SOURCE_KNATIVE


def with_sd(build, source, state, window):
    """Wrap a page's spec builder so it adds the exporter's queries when they can answer."""
    from sdobs.app.data import _selection

    def specs(cat: Catalog) -> list:
        out = build(cat)
        if exporter_present(source):
            sel = _selection(state, window.rate_window)
            out += sd_specs(cat, sel, replace(sel, window=window.span_window))
        return out

    return specs
