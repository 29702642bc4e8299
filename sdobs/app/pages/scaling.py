"""Scaling page: autoscaler concurrency, panic mode, burst capacity, activator, scale events."""

from __future__ import annotations

import pandas as pd
from dash import Dash, Output, html

from .. import data, figures
from ..data import PageData
from ..figures import fmt, series, timeseries, with_events
from ..state import Parsed, ViewState
from .common import Extra, Panel, described, register_data_callback, skeleton

NAME = "scaling"


def _concurrency(page: PageData, state: ViewState) -> dict:
    lines = []
    for kind in ("stable", "panic", "target"):
        lines += series(page.frame(f"concurrency_{kind}"), page.window, ("revision",),
                        name=kind)  # fmt: skip
    return timeseries(lines, page.window, "short", empty_text=figures.NO_DATA,
                      dashes={"target": "dot", "panic": "dash"})


def _by_revision(key: str, *, shape: str = "linear", y_range=None):
    def build(page: PageData, state: ViewState) -> dict:
        return timeseries(series(page.frame(key), page.window, ("revision",)), page.window,
                          "short", empty_text=figures.NO_DATA, shape=shape,
                          y_range=y_range)  # fmt: skip

    return build


def _events(page: PageData) -> pd.DataFrame:
    return data.scale_events(page.frame("pods_actual"))


def _pods(page: PageData, state: ViewState) -> dict:
    lines = series(page.frame("pods_desired"), page.window, ("revision",), name="desired")
    lines += series(page.frame("pods_actual"), page.window, ("revision",), name="actual")
    fig = timeseries(lines, page.window, "short", shape="hv", empty_text=figures.NO_DATA)
    return with_events(fig, _events(page), page.window)


PANELS = (
    Panel("scaling-pods", "Pods and scale events", ("pods_desired", "pods_actual"), _pods,
          "Desired and actual pods per revision; markers: scale-up ▲, scale-down ▼, "
          "scale-to-zero ✕", wide=True),
    Panel("scaling-concurrency", "Concurrency: stable / panic / target",
          ("concurrency_stable", "concurrency_panic", "concurrency_target"), _concurrency,
          described("concurrency")),
    Panel("scaling-panic", "Panic mode", ("panic_mode",),
          _by_revision("panic_mode", shape="hv", y_range=(-0.05, 1.05)),
          described("panic_mode")),
    Panel("scaling-ebc", "Excess burst capacity", ("excess_burst_capacity",),
          _by_revision("excess_burst_capacity"),
          described("excess_burst_capacity")),
    Panel("scaling-activator", "Activator concurrency", ("activator_concurrency",),
          _by_revision("activator_concurrency"),
          described("activator_concurrency")),
)  # fmt: skip


def _event_table(page: PageData, state: ViewState) -> list:
    events = _events(page)
    if events.empty:
        return [html.Div("no scale events in this range", className="empty-note")]
    head = html.Tr([html.Th(h) for h in ("time (UTC)", "revision", "event", "pods")])
    rows = [head]
    for _, ev in events.tail(200).iloc[::-1].iterrows():
        when = pd.Timestamp(ev["time"]).strftime("%Y-%m-%d %H:%M:%S")
        rows.append(html.Tr([html.Td(when), html.Td(ev["revision"]),
                             html.Td(ev["kind"], className=f"ev {ev['kind']}"),
                             html.Td(f"{fmt(ev['from'], 'count')} → {fmt(ev['to'], 'count')}")]))
    return [html.Table(className="events", id="events-table", children=rows)]


def layout(parsed: Parsed) -> html.Div:
    state = parsed.state
    who = state.service or "all services"
    where = state.namespace or "all namespaces"
    events = html.Section(className="section", children=[
        html.H2("Scale events"), html.Div(id="scaling-events"),
    ])  # fmt: skip
    return skeleton(NAME, f"Scaling · {who}", where, PANELS, after=[events])


def register(app: Dash, ctx) -> None:
    extras = [Extra(Output("scaling-events", "children"), _event_table, ("pods_actual",),
                    "Scale events")]
    ctx.callbacks[NAME] = register_data_callback(
        app, ctx, NAME, PANELS, extras,
        lambda state: data.load_scaling(ctx.source, state, ctx.now()))
