"""Fleet page: every service in one sortable, searchable, paged table with sparklines.

The fleet's queries are a handful of ``by (namespace, service)`` aggregates whatever the number of
services; search, sort and paging work on the cached result, and only one page of rows (50)
is rendered, so the page stays responsive at hundreds of services.
"""

from __future__ import annotations

import math

from dash import Dash, Input, Output, State, dcc, html, no_update

from .. import data
from ..data import PageData
from ..figures import fmt, sparkline
from ..state import Parsed, ViewState, parse_search
from ..units import UNIT_RATIO, UNIT_RPS, UNIT_SECONDS, UNIT_WHOLE
from .common import Extra, card, register_data_callback, skeleton

NAME = "fleet"
ROWS_PER_PAGE = 50
COLUMNS = (
    ("service", "Service", None),
    ("namespace", "Namespace", None),
    ("rps", "Traffic (avg)", UNIT_RPS),
    ("success", "Success", UNIT_RATIO),
    ("p95", "P95", UNIT_SECONDS),
    ("pods", "Pods now", UNIT_WHOLE),
    ("gpu", "GPU util", UNIT_RATIO),
    ("zero", "Scaled to zero", None),
)


def _shared(state: ViewState) -> ViewState:
    """The selection a link to another page carries (range, refresh, namespace)."""
    return ViewState(namespace=state.namespace, range=state.range, start=state.start,
                     end=state.end, refresh=state.refresh)


def _table(page: PageData, state: ViewState, ctx) -> list:
    table = data.fleet_table(page)
    if table.empty:
        return [html.Div("no services in this range", className="empty-note")]
    shown = data.filter_sort(table, state.query, state.sort, state.descending)
    pages = max(1, math.ceil(len(shown) / ROWS_PER_PAGE))
    page_no = min(state.page, pages)
    rows = shown.iloc[(page_no - 1) * ROWS_PER_PAGE: page_no * ROWS_PER_PAGE]
    fleet_path = ctx.path(NAME)
    head = []
    for col, label, _ in COLUMNS:
        desc = not state.descending if col == state.sort else col not in ("service", "namespace")
        arrow = (" ▼" if state.descending else " ▲") if col == state.sort else ""
        href = fleet_path + state.with_(sort=col, descending=desc, page=1).to_search()
        head.append(html.Th(dcc.Link(label + arrow, href=href, id=f"sort-{col}"),
                            className="sorted" if col == state.sort else ""))
    body = [html.Tr(head)]
    service_path = ctx.path("service")
    for row in rows.itertuples(index=False):
        link = service_path + _shared(state).with_(namespace=row.namespace,
                                                   service=row.service).to_search()
        spark = sparkline(row.spark)
        zero = "—" if row.zero is None else ("yes" if row.zero else "no")
        body.append(html.Tr(className="zero" if row.zero else "", children=[
            html.Td(dcc.Link(row.service, href=link, className="svc")),
            html.Td(row.namespace),
            html.Td(className="traffic", children=[
                html.Img(src=spark, alt="", className="spark") if spark else None,
                html.Span(fmt(row.rps, UNIT_RPS))]),
            html.Td(fmt(row.success, UNIT_RATIO)),
            html.Td(fmt(row.p95, UNIT_SECONDS)),
            html.Td(fmt(row.pods, UNIT_WHOLE)),
            html.Td(_gpu(row.gpu, row.gpus)),
            html.Td(zero, className="zero-cell"),
        ]))
    first = (page_no - 1) * ROWS_PER_PAGE + 1 if len(shown) else 0
    last = min(page_no * ROWS_PER_PAGE, len(shown))
    pager = [html.Span(f"{first}–{last} of {len(shown)}", id="fleet-count")]
    if page_no > 1:
        pager.insert(0, dcc.Link("← previous", id="fleet-prev",
                                 href=fleet_path + state.with_(page=page_no - 1).to_search()))
    if page_no < pages:
        pager.append(dcc.Link("next →", id="fleet-next",
                              href=fleet_path + state.with_(page=page_no + 1).to_search()))
    return [html.Table(className="fleet", id="fleet-table", children=body),
            html.Div(className="pager", children=pager)]


def _gpu(util: float, gpus: float) -> str:
    if util is None or (isinstance(util, float) and math.isnan(util)):
        return "—"
    held = "" if gpus is None or math.isnan(gpus) else f" of {gpus:.0f}"
    return f"{fmt(util, UNIT_RATIO)}{held}"


def _cards(page: PageData, state: ViewState) -> list:
    table = data.fleet_table(page)
    zero = int(table["zero"].map(lambda z: z is True).sum()) if not table.empty else 0
    total = float(table["rps"].sum()) if not table.empty else None
    return [
        card("Services", fmt(len(table), UNIT_WHOLE), id_="card-services"),
        card("Scaled to zero now", fmt(zero, UNIT_WHOLE), id_="card-zero"),
        card("Traffic (avg)", fmt(total, UNIT_RPS), id_="card-fleet-rps"),
        card("Pods now", fmt(float(table["pods"].sum()) if not table.empty else None, UNIT_WHOLE),
             id_="card-fleet-pods"),
    ]


def layout(parsed: Parsed) -> html.Div:
    state = parsed.state
    where = state.namespace or "all namespaces"
    search = html.Div(className="fleet-tools", children=[
        dcc.Input(id="fleet-q", type="search", value=state.query, debounce=0.3,
                  placeholder="search services or namespaces", className="search"),
    ])
    return skeleton(NAME, "Fleet", where, (),
                    before=[html.Div(id="fleet-cards", className="cards"), search,
                            html.Div(id="fleet-body")])


def register(app: Dash, ctx) -> None:
    keys = ("rps", "success", "p95", "pods", "spark", "gpu", "gpus")
    extras = [
        Extra(Output("fleet-cards", "children"), _cards, keys, "Fleet totals"),
        Extra(Output("fleet-body", "children"), lambda p, s: _table(p, s, ctx), keys,
              "Fleet table"),
    ]
    ctx.callbacks[NAME] = register_data_callback(
        app, ctx, NAME, (), extras, lambda state: data.load_fleet(ctx.source, state, ctx.now()),
        page_local=("query", "sort", "descending", "page"))

    @app.callback(Output("url", "search", allow_duplicate=True), Input("fleet-q", "value"),
                  State("url", "search"), prevent_initial_call=True)
    def search(q: str | None, url_search: str | None):
        """Put the search text into the URL (back on the first page of results)."""
        state = parse_search(url_search).state
        new = state.with_(query=(q or "").strip()[:100], page=1).to_search()
        return no_update if new == (url_search or "") else new

    ctx.callbacks[f"{NAME}-search"] = search
