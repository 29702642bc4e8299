"""Alerts page: sdobs' alerts firing now, and each service's SLOs (error budget left, burn rate).

It reads what the rules record (``sdobs rules``): Prometheus' ``ALERTS`` series of sdobs' alerts
(label ``sdobs="true"``) and the SLO series ``slo:objective:ratio``,
``slo:error_budget_remaining:ratio`` and ``slo:current_burn_rate:ratio``. Without the rules
loaded the page says so instead of showing empty tables.
"""

from __future__ import annotations

import math
import time

import pandas as pd
from dash import Dash, Output, html

from sdobs.catalog import promql
from sdobs.catalog import slo as slo_q
from sdobs.catalog.catalog import UNIT_COUNT, UNIT_RATIO, Query

from .. import data
from ..data import PageData, Spec
from ..state import Parsed, ViewState
from .common import Extra, register_data_callback, skeleton

NAME = "alerts"
NO_RULES = ("no SLO series: load sdobs' rules into this Prometheus (sdobs rules generate; "
            "sdobs demo loads them by itself)")
ALERT_LABELS = ("severity", "namespace", "service", "revision", "slo", "long", "short")
SLO_TITLES = {"availability": "Availability", "latency": "Latency", "cold_start": "Cold start"}


def _matchers(state: ViewState) -> list[promql.Matcher]:
    out = []
    if state.namespace:
        out.append(promql.equals("namespace", state.namespace))
    if state.service:
        out.append(promql.equals("service", state.service))
    return out


def specs(state: ViewState) -> list[Spec]:
    m = _matchers(state)
    return [
        Spec("firing", Query("firing_alerts", slo_q.firing_alerts(m), UNIT_COUNT), instant=True),
        Spec("budget", Query("budget_remaining", slo_q.read_budget_remaining(m), UNIT_RATIO),
             instant=True),
        Spec("burn", Query("burn_rate", slo_q.read_burn_rate(m), UNIT_COUNT), instant=True),
        Spec("objective", Query("objective", slo_q.read_objectives(m), UNIT_RATIO),
             instant=True),
    ]


def load_alerts(source, state: ViewState, now: float | None = None) -> PageData:
    window = data.window_for(state, time.time() if now is None else now, source.scrape_interval)
    return data.load(source, lambda cat: specs(state), window)


def _cell(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _firing(page: PageData, state: ViewState) -> html.Div:
    frame = page.frame("firing")
    if frame is None or frame.empty:
        return html.Div("no sdobs alert is firing", className="empty-note", id="alerts-none")
    cols = [c for c in ALERT_LABELS if c in frame.columns]
    frame = frame.sort_values(["alertname", *cols])
    rows = [html.Tr([html.Th("Alert"), *[html.Th(c) for c in cols]])]
    for rec in frame.to_dict("records"):
        rows.append(html.Tr(className=f"sev-{rec.get('severity', '')}", children=[
            html.Td(rec["alertname"], className="alertname"),
            *[html.Td(_cell(rec.get(c))) for c in cols]]))
    return html.Table(rows, className="fleet-table", id="alerts-table")


def _pct(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value * 100:.3g} %"


def slo_table(page: PageData) -> pd.DataFrame:
    """One row per (namespace, service, slo): objective, budget left, burn rate."""
    parts = []
    for key, column in (("objective", "objective"), ("budget", "budget"), ("burn", "burn")):
        frame = page.frame(key)
        if frame is None or frame.empty:
            continue
        parts.append(frame[["namespace", "service", "slo", "value"]]
                     .rename(columns={"value": column}).set_index(["namespace", "service", "slo"]))
    if not parts:
        return pd.DataFrame(columns=["namespace", "service", "slo", "objective", "budget", "burn"])
    table = pd.concat(parts, axis=1).reset_index()
    for col in ("objective", "budget", "burn"):
        if col not in table:
            table[col] = math.nan
    return table.sort_values(["namespace", "service", "slo"])


def _slos(page: PageData, state: ViewState) -> html.Div:
    table = slo_table(page)
    if table.empty:
        return html.Div(NO_RULES, className="empty-note", id="slo-none")
    rows = [html.Tr([html.Th(t) for t in ("Service", "Namespace", "SLO", "Objective",
                                          "Error budget left", "Burn rate now")])]
    for r in table.itertuples(index=False):
        low = not math.isnan(r.budget) and r.budget < 0.25
        rows.append(html.Tr(className="budget-low" if low else "", children=[
            html.Td(r.service), html.Td(r.namespace), html.Td(SLO_TITLES.get(r.slo, r.slo)),
            html.Td(_pct(r.objective)), html.Td(_pct(r.budget)),
            html.Td("—" if math.isnan(r.burn) else f"{r.burn:.2g}×")]))
    return html.Table(rows, className="fleet-table", id="slo-table")


def layout(parsed: Parsed) -> html.Div:
    state = parsed.state
    who = state.service or "all services"
    return skeleton(NAME, f"Alerts and SLOs · {who}", state.namespace or "all namespaces", (),
                    before=[html.H3("Firing now"), html.Div(id="alerts-firing"),
                            html.H3("SLOs: error budget over the period, burn rate over 5 min"),
                            html.Div(id="alerts-slos")])


def register(app: Dash, ctx) -> None:
    extras = [Extra(Output("alerts-firing", "children"), _firing, ("firing",), "Firing alerts"),
              Extra(Output("alerts-slos", "children"), _slos, ("budget", "burn", "objective"),
                    "SLOs")]
    ctx.callbacks[NAME] = register_data_callback(
        app, ctx, NAME, (), extras, lambda state: load_alerts(ctx.source, state, ctx.now()))
