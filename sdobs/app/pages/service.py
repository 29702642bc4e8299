"""Service page: the reference console's panels, headline numbers and revision comparison."""

from __future__ import annotations

import dash
import numpy as np
from dash import Dash, Input, Output, State, dcc, html, no_update

from ... import catalog
from .. import data, figures, sdlatency
from ..data import PageData
from ..figures import CODE_CLASS_COLORS, fmt, series, timeseries
from ..state import Parsed, ViewState, parse_search
from ..units import UNIT_COUNT, UNIT_RATIO, UNIT_RPS, UNIT_SECONDS, UNIT_WHOLE
from .common import Extra, Graph, card, register_data_callback, skeleton

NAME = "service"
TITLE = "Service"
LATENCY_KEYS = tuple(f"latency_{q:g}" for q in catalog.QUANTILES)
POD_KEYS = tuple(f"pods_{s}" for s in data.POD_TREND)
HEADLINE_KEYS = ("h_volume", "h_success", "h_4xx", "h_5xx", "h_pods",
                 *(f"h_latency_{q:g}" for q in catalog.QUANTILES))
COMPARE_KEYS = ("c_volume", "c_success", "c_4xx", "c_5xx", "c_latency_0.5", "c_latency_0.95",
                "c_latency_0.99", "c_latency_series", "c_volume_series")


def _one(key: str, unit: str, name: str = "", empty_text: str = figures.NO_REQUESTS):
    def build(page: PageData, state: ViewState) -> dict:
        return timeseries(series(page.frame(key), page.window, name=name), page.window, unit,
                          empty_text=empty_text)

    return build


def _errors(key: str, code_class: str):
    """An error-rate panel: a range with no such responses says so, with series or without.

    A service that answered 4xx earlier keeps a 4xx series whose rate is 0 in a quiet range;
    drawn, that is a flat line where the 5xx panel beside it says "no 5xx responses".
    """
    text = f"no {code_class} responses in this range"

    def build(page: PageData, state: ViewState) -> dict:
        lines = series(page.frame(key), page.window)
        if all(not np.nansum(np.abs(y)) for _, y in lines):
            return figures.empty(page.window, text)
        return timeseries(lines, page.window, UNIT_RPS, empty_text=text)

    return build


def _grouped(key: str, label: str, unit: str, colors: dict[str, str] | None = None):
    def build(page: PageData, state: ViewState) -> dict:
        lines = series(page.frame(key), page.window, (label,))
        return timeseries(lines, page.window, unit, colors=colors)

    return build


def _latency(page: PageData, state: ViewState) -> dict:
    lines = []
    if sdlatency.source_of(page) == sdlatency.SOURCE_SD:
        # The exporter's quantiles, and Knative's P99 beside them to show what it cannot see.
        for q in catalog.QUANTILES:
            lines += series(page.frame(f"sd_latency_{q:g}"), page.window,
                            name=f"P{q * 100:g} (SD exporter)")
        knative = "P99 (Knative queue-proxy)"
        lines += series(page.frame("latency_0.99"), page.window, name=knative)
        return timeseries(lines, page.window, UNIT_SECONDS, dashes={knative: "dot"})
    for q, key in zip(catalog.QUANTILES, LATENCY_KEYS, strict=True):
        lines += series(page.frame(key), page.window, name=f"P{q * 100:g}")
    return timeseries(lines, page.window, UNIT_SECONDS)


def _pods(page: PageData, state: ViewState) -> dict:
    lines = []
    for s, key in zip(data.POD_TREND, POD_KEYS, strict=True):
        lines += series(page.frame(key), page.window, name=s)
    return timeseries(lines, page.window, UNIT_COUNT, shape="hv", empty_text=figures.NO_DATA,
                      dashes={"desired": "dot", "requested": "dash"})


def _success(page: PageData, state: ViewState) -> dict:
    lines = series(page.frame("success"), page.window)
    low = min((float(np.nanmin(y)) for _, y in lines if np.isfinite(y).any()), default=0.0)
    # Success is near 100 %: show the dip, and never an axis above 100 %.
    return timeseries(lines, page.window, UNIT_RATIO, y_range=(max(0.0, low - 0.02), 1.005))


GRAPHS = (
    Graph("service-volume", "request_volume", ("volume",), _one("volume", UNIT_RPS)),
    Graph("service-success", "success_rate", ("success",), _success),
    Graph("service-4xx", "rate_4xx", ("rate_4xx",), _errors("rate_4xx", "4xx")),
    Graph("service-5xx", "rate_5xx", ("rate_5xx",), _errors("rate_5xx", "5xx")),
    Graph("service-by-revision", "volume_by_revision", ("by_revision",),
          _grouped("by_revision", "revision", UNIT_RPS)),
    Graph("service-by-code", "volume_by_code_class", ("by_code_class",),
          _grouped("by_code_class", "code_class", UNIT_RPS, CODE_CLASS_COLORS)),
    Graph("service-latency", "latency_quantiles", LATENCY_KEYS, _latency),
    Graph("service-pods", "pod_trend", POD_KEYS, _pods),
)


def _headline(page: PageData, state: ViewState) -> list:
    h = data.headline(page)
    span = fmt(page.window.span, UNIT_SECONDS) if page.window.span < 60 else _span(page.window.span)
    cards = [
        card("Request Volume (avg)", fmt(h["volume"], UNIT_RPS), id_="card-volume",
             hint=f"average over the {span} range"),
        card("Requests in range", fmt(h["requests"], UNIT_WHOLE), id_="card-requests"),
        card("Success Rate", fmt(h["success"], UNIT_RATIO), id_="card-success"),
        card("4xx (avg)", fmt(h["rate_4xx"], UNIT_RPS), id_="card-4xx"),
        card("5xx (avg)", fmt(h["rate_5xx"], UNIT_RPS), id_="card-5xx"),
    ]
    src = sdlatency.source_of(page)
    prefix = "h_sd_latency" if src == sdlatency.SOURCE_SD else "h_latency"
    for q in catalog.QUANTILES:
        label = f"P{q * 100:g}"
        text, reason = _reading(page, f"{prefix}_{q:g}", data.scalar(page, f"{prefix}_{q:g}"))
        cards.append(card(label, text, id_=f"card-p{q * 100:g}",
                          hint=f"{label} response time over the range. {reason}".strip()))
    name, why = sdlatency.SOURCE_TEXT[src]
    cards.append(card("Latency source", name, id_="card-latency-source", hint=why))
    if src == sdlatency.SOURCE_SD:
        text, reason = _reading(page, "h_latency_0.99", h["latency_0.99"])
        cards.append(card("P99 (Knative)", text, id_="card-p99-knative",
                          hint=f"P99 from Knative's queue-proxy histogram. {reason}".strip()))
        for phase in sdlatency.PHASES:
            cards.append(card(sdlatency.PHASE_TITLES[phase],
                              fmt(data.scalar(page, f"h_sd_{phase}"), UNIT_SECONDS),
                              id_=f"card-sd-{phase.replace('_', '-')}",
                              hint="Mean over the range, from the SD exporter"))
    cards.append(card("Pods now", fmt(h["pods"], UNIT_WHOLE), id_="card-pods"))
    return cards


def _reading(page: PageData, key: str, value: float | None) -> tuple[str, str]:
    """A quantile as the histogram can honestly tell it ("> 10 s", "20–50 s") and why."""
    result = page.results.get(key)
    if value is None or result is None or not result.spec.query.bounds:
        return fmt(value, UNIT_SECONDS), ""
    reading = result.spec.query.reading(value)
    return reading.text, reading.reason


def _span(seconds: float) -> str:
    if seconds % 86400 == 0:
        return f"{seconds / 86400:g} d"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:.0f} min"


def _pair(page: PageData, state: ViewState) -> tuple[str | None, str | None]:
    seen = data.revisions_seen(page)
    a, b = data.default_pair(seen)
    return state.compare_a or a, state.compare_b or b


def _compare_options(page: PageData, state: ViewState) -> list:
    seen = data.revisions_seen(page)
    for extra in (state.compare_a, state.compare_b):
        if extra and extra not in seen:
            seen.append(extra)
    opts = [{"label": r, "value": r} for r in seen]
    return [opts, opts]


def _compare_values(page: PageData, state: ViewState) -> list:
    a, b = _pair(page, state)
    return [a, b]


def _compare(page: PageData, state: ViewState) -> list:
    a, b = _pair(page, state)
    table = data.comparison(page, a, b)
    if table.empty:
        return [html.Div("no requests in this range", className="empty-note")]
    head = html.Tr([html.Th("")] + [html.Th(r, className="rev-a" if i == 0 else "rev-b")
                                     for i, r in enumerate(table["revision"])])
    rows = [head]
    for col, label, unit in (
        ("share", "Traffic share", UNIT_RATIO), ("volume", "Requests/s", UNIT_RPS),
        ("success", "Success rate", UNIT_RATIO), ("rate_4xx", "4xx/s", UNIT_RPS),
        ("rate_5xx", "5xx/s", UNIT_RPS), ("latency_0.5", "P50", UNIT_SECONDS),
        ("latency_0.95", "P95", UNIT_SECONDS), ("latency_0.99", "P99", UNIT_SECONDS),
    ):
        if col.startswith("latency_"):
            cells = [_latency_cell(page, f"c_{col}", _num(v)) for v in table[col]]
        else:
            cells = [html.Td(fmt(_num(v), unit)) for v in table[col]]
        rows.append(html.Tr([html.Th(label), *cells]))
    pair = [r for r in (a, b) if r]
    lat = [(n, y) for n, y in series(page.frame("c_latency_series"), page.window,
                                     ("revision",)) if n in pair]
    vol = series(page.frame("c_volume_series"), page.window, ("revision",))
    colors = {r: figures.PALETTE[i] for i, r in enumerate(pair)}
    total = None
    for _, y in vol:
        total = y.copy() if total is None else _nansum(total, y)
    share = []
    if total is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            share = [(n, np.where(total > 0, y / total, np.nan)) for n, y in vol if n in pair]
    return [
        html.Table(className="compare", id="compare-table", children=rows),
        html.Div(className="compare-graphs", children=[
            html.Div(className="panel", children=[
                html.H3("P95 by revision"),
                dcc.Graph(id="compare-latency", figure=timeseries(
                    lat, page.window, UNIT_SECONDS, colors=colors, height=220),
                    style={"height": "220px"}, config={"displaylogo": False})]),
            html.Div(className="panel", children=[
                html.H3("Traffic share by revision"),
                dcc.Graph(id="compare-share", figure=timeseries(
                    share, page.window, UNIT_RATIO, colors=colors, height=220,
                    y_range=(0, 1)), style={"height": "220px"},
                    config={"displaylogo": False})]),
        ]),
    ]


def _latency_cell(page: PageData, key: str, value: float | None) -> html.Td:
    text, reason = _reading(page, key, value)
    return html.Td(text, title=reason or None)


def _num(v: object) -> float | None:
    try:
        return None if v is None else float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _nansum(a, b):
    out = np.where(np.isnan(a), 0, a) + np.where(np.isnan(b), 0, b)
    out[np.isnan(a) & np.isnan(b)] = np.nan
    return out


def layout(parsed: Parsed) -> html.Div:
    state = parsed.state
    who = state.service or "all services"
    where = state.namespace or "all namespaces"
    revs = f" · revisions {', '.join(state.revisions)}" if state.revisions else ""
    compare = html.Section(className="section", children=[
        html.H2("Revision comparison"),
        html.Div(className="compare-pick", children=[
            html.Label(["A", dcc.Dropdown(id="compare-a", value=state.compare_a,
                                          clearable=False, placeholder="revision A")]),
            html.Label(["B", dcc.Dropdown(id="compare-b", value=state.compare_b,
                                          clearable=False, placeholder="revision B")]),
        ]),
        html.Div(id="compare-body"),
    ])
    return skeleton(NAME, f"{who}", f"{where}{revs}", GRAPHS,
                    before=[html.Div(id="service-cards", className="cards")], after=[compare])


def register(app: Dash, ctx) -> None:
    compare = "Revision comparison"
    extras = [
        Extra(Output("service-cards", "children"), _headline, HEADLINE_KEYS, "Headline numbers"),
        Extra(Output("compare-body", "children"), _compare, COMPARE_KEYS, compare),
        Extra([Output("compare-a", "options"), Output("compare-b", "options")],
              _compare_options, COMPARE_KEYS, compare),
        Extra([Output("compare-a", "value"), Output("compare-b", "value")],
              _compare_values, COMPARE_KEYS, compare),
    ]
    ctx.callbacks[NAME] = register_data_callback(
        app, ctx, NAME, GRAPHS, _flatten(extras),
        lambda state: data.load_service(ctx.source, state, ctx.now()),
        page_local=("compare_a", "compare_b"))

    @app.callback(Output("url", "search", allow_duplicate=True),
                  Input("compare-a", "value"), Input("compare-b", "value"),
                  State("url", "search"), State("compare-a", "options"),
                  prevent_initial_call=True)
    def pick(a: str | None, b: str | None, search: str | None, opts: list | None):
        """Put the picked revisions into the URL (so the comparison is shared with it)."""
        state = parse_search(search).state
        if dash.ctx.triggered_id is None:
            return no_update
        seen = [o["value"] for o in opts or []]
        if state.compare_a is None and state.compare_b is None and \
                (a, b) == data.default_pair(seen):
            return no_update  # the page filled in its defaults: nothing the user chose
        new = state.with_(compare_a=a or None, compare_b=b or None).to_search()
        return no_update if new == (search or "") else new

    ctx.callbacks[f"{NAME}-pick"] = pick


def _flatten(extras: list[Extra]) -> list[Extra]:
    """Split extras with several outputs into one Extra per output."""
    out = []
    for e in extras:
        if isinstance(e.output, list):
            for i, o in enumerate(e.output):
                out.append(Extra(o, _nth(e.build, i), e.keys))
        else:
            out.append(e)
    return out


def _nth(build, i: int):
    return lambda page, state: build(page, state)[i]
