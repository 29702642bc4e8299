"""Scaling page: autoscaler concurrency, panic mode, burst capacity, activator, scale events."""

from __future__ import annotations

import pandas as pd
from dash import Dash, Output, html

from .. import data, figures
from ..data import PageData
from ..figures import fmt, series, timeseries, with_events
from ..state import Parsed, ViewState
from ..units import UNIT_COUNT, UNIT_WHOLE
from .common import Extra, Graph, register_data_callback, skeleton

NAME = "scaling"


def _concurrency(page: PageData, state: ViewState) -> dict:
    lines = []
    for kind in ("stable", "panic", "target"):
        lines += series(page.frame(f"concurrency_{kind}"), page.window, ("revision",),
                        name=kind)
    return timeseries(lines, page.window, UNIT_COUNT, empty_text=figures.NO_DATA,
                      dashes={"target": "dot", "panic": "dash"})


def _by_revision(key: str, *, shape: str = "linear", y_range=None):
    def build(page: PageData, state: ViewState) -> dict:
        return timeseries(series(page.frame(key), page.window, ("revision",)), page.window,
                          UNIT_COUNT, empty_text=figures.NO_DATA, shape=shape,
                          y_range=y_range)

    return build


#: Why the activator panel of a service with pods can be empty: nothing went through it.
NO_ACTIVATOR = ("no request went through Knative's activator:<br>the service had pods up "
                "(or target-burst-capacity 0),<br>or its ingress holds cold requests itself, "
                "as ACK's mpa gateway does")


def _activator(page: PageData, state: ViewState) -> dict:
    """Activator concurrency; empty by design when the autoscaler ran and the activator did not."""
    lines = series(page.frame("activator_concurrency"), page.window, ("revision",))
    scaled = page.frame("pods_desired")
    text = NO_ACTIVATOR if scaled is not None and not scaled.empty else figures.NO_DATA
    return timeseries(lines, page.window, UNIT_COUNT, empty_text=text)


def _events(page: PageData) -> pd.DataFrame:
    return data.scale_events(page.frame("pods_actual"))


def _pods(page: PageData, state: ViewState) -> dict:
    lines = series(page.frame("pods_desired"), page.window, ("revision",), name="desired")
    lines += series(page.frame("pods_actual"), page.window, ("revision",), name="actual")
    fig = timeseries(lines, page.window, UNIT_COUNT, shape="hv", empty_text=figures.NO_DATA)
    return with_events(fig, _events(page), page.window)


GRAPHS = (
    Graph("scaling-pods", "pods_and_scale_events", ("pods_desired", "pods_actual"), _pods,
          wide=True),
    Graph("scaling-concurrency", "concurrency",
          ("concurrency_stable", "concurrency_panic", "concurrency_target"), _concurrency),
    Graph("scaling-panic", "panic_mode", ("panic_mode",),
          _by_revision("panic_mode", shape="hv", y_range=(-0.05, 1.05))),
    Graph("scaling-ebc", "excess_burst_capacity", ("excess_burst_capacity",),
          _by_revision("excess_burst_capacity")),
    Graph("scaling-activator", "activator_concurrency", ("activator_concurrency",), _activator),
)


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
                             html.Td(f"{fmt(ev['from'], UNIT_WHOLE)} → "
                                     f"{fmt(ev['to'], UNIT_WHOLE)}")]))
    return [html.Table(className="events", id="events-table", children=rows)]


def layout(parsed: Parsed) -> html.Div:
    state = parsed.state
    who = state.service or "all services"
    where = state.namespace or "all namespaces"
    events = html.Section(className="section", children=[
        html.H2("Scale events"), html.Div(id="scaling-events"),
    ])
    return skeleton(NAME, f"Scaling · {who}", where, GRAPHS, after=[events])


def register(app: Dash, ctx) -> None:
    extras = [Extra(Output("scaling-events", "children"), _event_table, ("pods_actual",),
                    "Scale events")]
    ctx.callbacks[NAME] = register_data_callback(
        app, ctx, NAME, GRAPHS, extras,
        lambda state: data.load_scaling(ctx.source, state, ctx.now()))
