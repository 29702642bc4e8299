"""Text exposition of metric families, byte for byte what prometheus-client writes, but cheaper.

prometheus-client formats every label set of every sample on every scrape. The collector's
label sets are stable (one per GPU, built once), so they are :class:`Labels` dicts that keep
their formatted text; only the values are formatted per scrape. Families this renderer does not
handle (histograms, summaries, exemplars, created series) make it hand the whole output to
prometheus-client, so the result is always the library's format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.exposition import generate_latest as _client_text
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as _client_openmetrics
from prometheus_client.utils import floatToGoString

from ..exposition_text import escape_help, escape_value, label_pairs

_SIMPLE_TYPES = frozenset({"gauge", "counter", "unknown", "info"})
_SPECIAL_SUFFIXES = ("_created", "_gsum", "_gcount")


class Labels(dict):
    """A label dict that remembers its formatted ``{k="v",...}`` text; never modify one."""

    __slots__ = ("text",)


def label_text(labels: dict[str, str]) -> str:
    """``{k="v",...}`` with sorted keys, as prometheus-client formats it ('' when empty)."""
    if type(labels) is Labels:
        try:
            return labels.text
        except AttributeError:
            pass
    text = "{" + label_pairs(labels) + "}" if labels else ""
    if type(labels) is Labels:
        labels.text = text
    return text


_HEADERS: dict[tuple[str, str, str, bool], str] = {}


def _header(metric: Metric, openmetrics: bool) -> str:
    key = (metric.name, metric.type, metric.documentation, openmetrics)
    header = _HEADERS.get(key)
    if header is None:
        name, typ, doc = metric.name, metric.type, metric.documentation
        if openmetrics:
            header = f"# HELP {name} {escape_value(doc)}\n# TYPE {name} {typ}\n"
            if metric.unit:
                header += f"# UNIT {name} {metric.unit}\n"
        else:
            if typ == "counter":
                name += "_total"
            elif typ == "info":
                name += "_info"
                typ = "gauge"
            elif typ == "unknown":
                typ = "untyped"
            header = f"# HELP {name} {escape_help(doc)}\n# TYPE {name} {typ}\n"
        if len(_HEADERS) > 4096:
            _HEADERS.clear()
        _HEADERS[key] = header
    return header


def _simple(families: list[Metric]) -> bool:
    for f in families:
        if f.type not in _SIMPLE_TYPES:
            return False
        for s in f.samples:
            if s.exemplar is not None or s.native_histogram is not None or \
                    s.name.endswith(_SPECIAL_SUFFIXES):
                return False
    return True


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def render(families: Iterable[Metric], *, openmetrics: bool = False) -> bytes:
    """Text 0.0.4 (or OpenMetrics 1.0) for ``families``, as prometheus-client writes it."""
    fams = list(families)
    if not _simple(fams):
        fallback: Callable[..., bytes] = _client_openmetrics if openmetrics else _client_text
        return fallback(_Families(fams))
    out: list[str] = []
    append = out.append
    fmt = floatToGoString
    for f in fams:
        append(_header(f, openmetrics))
        for s in f.samples:
            ts = s.timestamp
            if ts is None:
                append(f"{s.name}{label_text(s.labels)} {fmt(s.value)}\n")
            elif openmetrics:
                append(f"{s.name}{label_text(s.labels)} {fmt(s.value)} {ts}\n")
            else:
                append(f"{s.name}{label_text(s.labels)} {fmt(s.value)} "
                       f"{int(float(ts) * 1000):d}\n")
    if openmetrics:
        append("# EOF\n")
    return "".join(out).encode("utf-8")
