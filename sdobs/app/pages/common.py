"""What every page shares: panels, stat cards, the failure banner and the data callback.

A page declares its graphs (id, shared panel, the query keys it draws, a figure builder) and the
extra outputs it renders; :func:`register_data_callback` wires one callback per page that loads
the page's data once, keeps a panel's last good figure when its queries failed (marked stale)
and says in a banner what failed and where.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update

from sdobs.catalog.panels import PANELS

from ..data import PageData
from ..figures import empty
from ..state import ViewState, parse_search

WAITING = "waiting for Prometheus"
HEIGHT = 260  # px, as the figures' layouts say
FAILED_FIRST = "no data: the query failed (see the banner)"


@dataclass(frozen=True)
class Graph:
    """One graph of a page: its id, the shared panel it draws, the result keys it draws and
    how to build its figure.

    The title and description come from the shared panel table (:mod:`sdobs.catalog.panels`),
    which the Grafana dashboards read too, so both say the same about the same panel.
    """

    id: str
    panel: str  # a key of sdobs.catalog.panels.PANELS
    keys: tuple[str, ...]
    build: Callable[[PageData, ViewState], dict]
    wide: bool = False

    def __post_init__(self) -> None:
        if self.panel not in PANELS:
            raise ValueError(f"graph {self.id}: {self.panel!r} is not a panel of "
                             "sdobs.catalog.panels")

    @property
    def title(self) -> str:
        return PANELS[self.panel].shown_in_app

    @property
    def help(self) -> str:
        return PANELS[self.panel].description


@dataclass
class Extra:
    """A non-graph output of a page's data callback (cards, tables, dropdown options)."""

    output: Output
    build: Callable[[PageData, ViewState], Any]
    keys: tuple[str, ...] = field(default=())  # keep the old value when these failed
    title: str = ""  # what the banner calls these keys


def panel_box(panel: Graph) -> html.Div:
    return html.Div(
        id=f"{panel.id}-box",
        className="panel wide" if panel.wide else "panel",
        children=[
            html.Div(className="panel-head", children=[
                html.H3(panel.title, title=panel.help or None),
                html.Span("stale", className="stale-badge"),
            ]),
            dcc.Graph(id=panel.id, figure=_placeholder(), style={"height": f"{HEIGHT}px"},
                      config={"displaylogo": False, "responsive": True,
                              "modeBarButtonsToRemove": ["lasso2d", "select2d"]}),
        ],
    )


def _placeholder() -> dict:
    from ..data import Window

    now = time.time()
    fig = empty(Window.of(now - 3600, now), WAITING)
    fig["layout"]["meta"] = {"empty": True, "placeholder": True}
    return fig


def card(label: str, value: str, *, id_: str | None = None, hint: str = "") -> html.Div:
    return html.Div(className="card", id=id_ or "", title=hint or None, children=[
        html.Div(value, className="card-value"),
        html.Div(label, className="card-label"),
    ])


def skeleton(name: str, title: str, subtitle: Any, panels: Sequence[Graph],
             before: Sequence[Any] = (), after: Sequence[Any] = ()) -> html.Div:
    """A page: banner, title, status line, then ``before``, the panel grid and ``after``."""
    return html.Div(className=f"page page-{name}", children=[
        dcc.Store(id=f"{name}-meta", data={}),
        html.Div(id=f"{name}-banner"),
        html.Div(className="page-title", children=[
            html.H2(title), html.Div(subtitle, className="subtitle"),
            html.Div(id=f"{name}-status", className="status"),
        ]),
        *before,
        html.Div(className="grid", children=[panel_box(p) for p in panels]),
        *after,
    ])


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S UTC")


def banner(page: PageData, titles: dict[str, str], url: str, meta: dict,
           search: str) -> html.Div | None:
    """What failed and where, and whether the page shows older data (or none)."""
    errors = page.errors()
    if not errors:
        return None
    if page.error is not None:
        kind = "warning" if isinstance(page.error, LookupError) else "error"
        lines = [html.Li(str(page.error))]
        head = ("No Knative metrics found" if isinstance(page.error, LookupError)
                else f"Prometheus at {url} failed")
    else:
        kind = "error"
        head = f"Prometheus at {url} failed {len(errors)} of {page.queries} queries"
        grouped: dict[str, list[str]] = {}
        for key, exc in errors:
            title = titles.get(key, key)
            names = grouped.setdefault(str(exc), [])
            if title not in names:
                names.append(title)
        lines = [html.Li([html.B(", ".join(names)), ": ", message])
                 for message, names in grouped.items()]
    ok_at = meta.get("ok_at") if meta else None
    if ok_at:
        other = " for the previous selection" if meta.get("search", "") != search else ""
        tail = (f"Showing the last good data{other} from {_clock(ok_at)}, marked stale; "
                "it updates by itself once Prometheus answers.")
    else:
        tail = "No data to show yet; the page retries on the next refresh or change."
    return html.Div(className=f"banner {kind}", role="alert", id="banner", children=[
        html.Strong(head), html.Ul(lines), html.Div(tail, className="banner-tail"),
    ])


def status(page: PageData) -> str:
    dialect = page.dialect or "unknown dialect"
    return (f"{dialect} · {page.queries} queries in {page.seconds * 1000:.0f} ms · "
            f"updated {_clock(page.fetched_at)}")


def register_data_callback(app: Dash, ctx: Any, name: str, panels: Sequence[Graph],
                           extras: Sequence[Extra], load: Callable[[ViewState], PageData], *,
                           page_local: Sequence[str] = ()) -> Callable:
    """The page's one data callback: load once, then figures, extras, banner, status."""
    titles: dict[str, str] = {}
    for p in panels:
        for k in p.keys:
            titles.setdefault(k, p.title)
    for e in extras:
        for k in e.keys:
            titles.setdefault(k, e.title or k)
    outputs = [Output(p.id, "figure") for p in panels]
    outputs += [Output(f"{p.id}-box", "className") for p in panels]
    outputs += [e.output for e in extras]
    outputs += [Output(f"{name}-banner", "children"), Output(f"{name}-status", "children"),
                Output(f"{name}-meta", "data")]

    def update(search: str | None, _n: int | None, meta: dict | None) -> list:
        parsed = parse_search(search, ctx.now())
        page = ctx.cached_load(name, parsed.state, _n, load, page_local)
        return render(page, parsed.state, search or "", meta or {})

    def render(page: PageData, state: ViewState, search: str, meta: dict) -> list:
        had_good = bool(meta.get("ok_at"))
        figures, classes = [], []
        for p in panels:
            base = "panel wide" if p.wide else "panel"
            if any(page.failed(k) for k in p.keys) or (page.error and p.keys):
                figures.append(no_update if had_good else empty(page.window, FAILED_FIRST))
                classes.append(f"{base} stale" if had_good else base)
            else:
                figures.append(p.build(page, state))
                classes.append(base)
        values = []
        for e in extras:
            if page.error is not None or any(page.failed(k) for k in e.keys):
                values.append(no_update)
            else:
                values.append(e.build(page, state))
        new_meta = meta
        if not page.errors():
            new_meta = {"ok_at": page.fetched_at, "search": search}
        return [*figures, *classes, *values, banner(page, titles, ctx.source.url, meta, search),
                status(page), new_meta]

    app.callback(outputs, Input("url", "search"), Input("tick", "n_intervals"),
                 State(f"{name}-meta", "data"))(update)
    update.render = render  # for direct tests
    update.outputs = outputs
    return update


def by_id(callback: Callable, values: Sequence[Any]) -> dict[str, Any]:
    """A data callback's answer keyed ``"id.property"`` (for tests and the benchmark)."""
    return {f"{o.component_id}.{o.component_property}": v
            for o, v in zip(callback.outputs, values, strict=True)}
