"""Building blocks of sdobs' dashboards: variables, panels and layout over the catalog's panels.

A ``*.dashboard.py`` file is plain data: a :class:`DashboardSpec` naming rows of
:class:`Cell` (which catalog panel, drawn how, how big). :meth:`DashboardSpec.build` turns it
into a grafanalib dashboard for one Knative dialect whose JSON is already modern (see
``sdobs.dashboards.modern``), so grafanalib's own ``generate-dashboards`` writes the same file
as ``sdobs dashboards generate``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import attr
from grafanalib import core as g

from sdobs.catalog import Catalog, Query, Selection, Var
from sdobs.catalog.panels import PANELS, Panel, recorded_key
from sdobs.catalog.recorded import RECORD_WINDOW
from sdobs.dashboards.modern import MIN_SCHEMA_VERSION, modernise
from sdobs.errors import InputError
from sdobs.knative.dialects import get_dialect

#: Every panel, target and variable reads the ``datasource`` variable (dashboard-linter's rule).
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = MIN_SCHEMA_VERSION
DIALECT_ENV = "SDOBS_DIALECT"
DEFAULT_DIALECT = "opentelemetry"
#: Short dialect names for dashboard uids and titles.
DIALECT_TAGS = {"opencensus": "oc", "opentelemetry": "otel", "opentelemetry-early": "otel-early"}
DIALECT_TITLES = {"opencensus": "Knative ≤ 1.18", "opentelemetry": "Knative ≥ 1.19.8",
                  "opentelemetry-early": "Knative 1.19.0-1.19.7, 1.20.0"}
GRID_WIDTH = 24
#: A dashboard's recorded variant is keyed ``<key>-recorded`` (see :func:`recorded_variant`).
RECORDED_SUFFIX = "-recorded"

Kind = Literal["timeseries", "stat", "table"]


def dialect_from_env() -> str:
    """The dialect grafanalib's ``generate-dashboards`` builds for (``SDOBS_DIALECT``)."""
    return get_dialect(os.environ.get(DIALECT_ENV, DEFAULT_DIALECT)).name


@attr.s
class ModernDashboard(g.Dashboard):
    """A grafanalib Dashboard whose JSON is modern (normalised) and carries extra keys."""

    extra: dict[str, Any] = attr.ib(factory=dict)

    def to_json_data(self) -> dict[str, Any]:
        data = g.Dashboard.to_json_data(self)
        data.update(self.extra)
        return modernise(data)


@dataclass(frozen=True)
class Variable:
    """A query variable over a canonical label; each narrows to the variables before it."""

    name: Literal["namespace", "service", "revision"]
    label: str
    multi: bool = False
    include_all: bool = False
    source: Literal["knative", "gpu"] = "knative"
    description: str = ""

    @property
    def var(self) -> Var:
        return Var(self.name, multi=self.multi or self.include_all)


@dataclass(frozen=True)
class Cell:
    """One catalog panel placed in a row and drawn as a time series, a stat or a table."""

    panel: str
    kind: Kind = "timeseries"
    w: int = 12
    h: int = 8
    reduce: str = "mean"  # stat: how the time range collapses to one number
    instant: bool = False  # stat/table: one evaluation at the end of the range
    stacking: Literal["none", "normal", "percent"] = "none"
    draw: Literal["line", "bars"] = "line"
    thresholds: tuple[tuple[str, float | None], ...] = ()
    min: float | None = None
    max: float | None = None
    link_to: str = ""  # table: dashboard key the "service" column links to

    def __post_init__(self) -> None:
        if self.panel not in PANELS:
            raise InputError(f"unknown catalog panel {self.panel!r}; see sdobs.catalog.panels")
        if not 1 <= self.w <= GRID_WIDTH or self.h < 1:
            raise InputError(f"panel {self.panel!r}: width must be 1-24 and height positive")


@dataclass(frozen=True)
class Row:
    title: str
    cells: tuple[Cell, ...]
    collapsed: bool = False


@dataclass(frozen=True)
class DashboardSpec:
    """One dashboard as data; :meth:`build` makes it for a Knative dialect."""

    key: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = ()
    time_from: str = "now-3h"
    refresh: str = "1m"
    selection_extra: dict[str, Any] = field(default_factory=dict)
    #: The rate window of every panel: Grafana's ``$__rate_interval``, or the recorded window.
    window: str = "$__rate_interval"

    def uid(self, dialect: str) -> str:
        return f"sdobs-{self.key}-{DIALECT_TAGS[get_dialect(dialect).name]}"

    def selection(self) -> Selection:
        """The selection every panel uses: the variables as Grafana variables."""
        kw: dict[str, Any] = {"window": self.window}
        for v in self.variables:
            if v.name == "revision":
                kw["revisions"] = Var("revision", multi=True)
            else:
                kw[v.name] = v.var
        return Selection(**kw)

    def build(self, dialect: str) -> ModernDashboard:
        name = get_dialect(dialect).name
        catalog = Catalog(name)
        sel = self.selection()
        panels: list[Any] = []
        y = 0
        for row in self.rows:
            placed, y = _layout(row, catalog, sel, y, name)
            panels += placed
        tag = DIALECT_TAGS[name]
        return ModernDashboard(
            title=f"{self.title} ({DIALECT_TITLES[name]})",
            uid=self.uid(name),
            description=f"{self.description} Knative metric dialect: {name}.",
            tags=["sdobs", "knative", tag, *self.tags],
            schemaVersion=SCHEMA_VERSION,
            timezone="browser",
            refresh=self.refresh,
            time=g.Time(self.time_from, "now"),
            graphTooltip=1,
            editable=True,
            templating=g.Templating(list=_variables(self.variables, catalog)),
            panels=panels,
            links=[{
                "title": "sdobs dashboards", "type": "dashboards", "tags": ["sdobs", tag],
                "asDropdown": True, "includeVars": True, "keepTime": True, "icon": "dashboard",
                "targetBlank": False, "tooltip": "", "url": "",
            }],
            extra={"fiscalYearStartMonth": 0, "liveNow": False, "weekStart": ""},
        ).auto_panel_ids()


def recorded_variant(spec: DashboardSpec, title_suffix: str = " (recorded)") -> DashboardSpec:
    """``spec`` on sdobs' recorded series: each panel's recorded twin, the same layout.

    Grafana cannot switch a panel's query on what a Prometheus holds, so a dashboard for a
    Prometheus with sdobs' recording rules is a dashboard of its own (as the kube-prometheus
    mixins read their recording rules directly): key ``<key>-recorded``, every rate the
    recorded 5-minute one. A panel without a recorded twin is an error, not a raw fallback.
    """
    missing = [c.panel for r in spec.rows for c in r.cells if recorded_key(c.panel) not in PANELS]
    if missing:
        raise InputError(f"dashboard {spec.key!r}: no recorded twin for panel(s) "
                         f"{', '.join(missing)}; add them to sdobs.catalog.panels")
    rows = tuple(replace(r, cells=tuple(replace(c, panel=recorded_key(c.panel)) for c in r.cells))
                 for r in spec.rows)
    return replace(spec, key=spec.key + RECORDED_SUFFIX, title=spec.title + title_suffix,
                   description=f"{spec.description} Reads sdobs' recording rules (sdobs rules "
                   "generate), so it stays fast at hundreds of services; empty where they do "
                   "not run.", rows=rows, window=RECORD_WINDOW, tags=(*spec.tags, "recorded"))


# -- variables ---------------------------------------------------------------------------------
def _variables(variables: Sequence[Variable], catalog: Catalog) -> list[g.Template]:
    out = [g.Template(name="datasource", type="datasource", query="prometheus",
                      label="Data source", refresh=1, hide=0)]
    earlier: dict[str, Any] = {}
    for v in variables:
        sel = Selection(**earlier)
        query = catalog.label_values_query(v.name, sel, source=v.source)
        out.append(g.Template(
            name=v.name, label=v.label, query=str(query), dataSource=DATASOURCE,
            multi=v.multi, includeAll=v.include_all, allValue=".*" if v.include_all else None,
            refresh=g.REFRESH_ON_TIME_RANGE_CHANGE, sort=1,
            default="$__all" if v.include_all else None,
        ))
        if v.description:
            out[-1] = attr.evolve(out[-1], description=v.description)
        if v.name == "revision":
            earlier["revisions"] = Var("revision", multi=True)
        else:
            earlier[v.name] = v.var
    return out


# -- panels ------------------------------------------------------------------------------------
def _layout(row: Row, catalog: Catalog, sel: Selection, y: int,
            dialect: str) -> tuple[list[Any], int]:
    """A row header and its cells, left to right, wrapping at the grid width."""
    children = []
    top = y + 1
    x, line_h = 0, 0
    for cell in row.cells:
        if x + cell.w > GRID_WIDTH:
            x, top, line_h = 0, top + line_h, 0
        pos = g.GridPos(h=cell.h, w=cell.w, x=x, y=top)
        children.append(_panel(cell, catalog, sel, pos, dialect))
        x += cell.w
        line_h = max(line_h, cell.h)
    bottom = top + line_h
    header = g.RowPanel(title=row.title, collapsed=row.collapsed,
                        gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=y),
                        panels=children if row.collapsed else [])
    return ([header] if row.collapsed else [header, *children]), bottom


def _targets(panel: Panel, queries: list[Query], *, instant: bool = False,
             table: bool = False) -> list[g.Target]:
    return [
        g.Target(expr=q.expr, legendFormat=s.legend_for(q) or panel.title, refId=chr(65 + i),
                 instant=instant, datasource=DATASOURCE,
                 format="table" if table else "time_series")
        for i, (s, q) in enumerate(zip(panel.signals, queries, strict=True))
    ]


def _thresholds(cell: Cell) -> list[dict[str, Any]]:
    return [{"color": color, "value": value} for color, value in cell.thresholds]


def _panel(cell: Cell, catalog: Catalog, sel: Selection, pos: g.GridPos, dialect: str) -> Any:
    panel = PANELS[cell.panel]
    queries = panel.queries(catalog, sel)
    units = {q.unit for q in queries}
    if cell.kind != "table" and len(units) != 1:
        raise InputError(f"panel {panel.key!r} mixes units {sorted(units)}; draw it as a table")
    unit = queries[0].unit
    common = {"title": panel.title, "description": panel.description, "dataSource": DATASOURCE,
              "gridPos": pos}
    if cell.kind == "stat":
        return g.Stat(**common, targets=_targets(panel, queries, instant=cell.instant),
                      format=unit, reduceCalc="lastNotNull" if cell.instant else cell.reduce,
                      graphMode="none" if cell.instant else "area",
                      colorMode="value" if cell.thresholds else "none",
                      thresholds=_thresholds(cell) or "", decimals=None, noValue=None,
                      maxDataPoints=None, extraJson=_minmax(cell))
    if cell.kind == "table":
        return _table(cell, panel, queries, common, dialect)
    extra = _minmax(cell)
    thresholds, style = _thresholds(cell), "off"
    top = top_bound(queries)
    if top is not None and not thresholds:
        # Honest quantiles: the histogram's last finite bound as a red line, and what it means.
        thresholds = [{"color": "transparent", "value": None}, {"color": "red", "value": top}]
        style = "dashed"
        common["description"] = f"{common['description']} {above_top_note(top)}"
    return g.TimeSeries(**common, targets=_targets(panel, queries), unit=unit,
                        legendDisplayMode="table", legendPlacement="bottom",
                        legendCalcs=["mean", "max", "lastNotNull"], tooltipMode="multi",
                        tooltipSort="desc", drawStyle=cell.draw,
                        fillOpacity=80 if cell.draw == "bars" or cell.stacking != "none" else 10,
                        stacking={"mode": cell.stacking, "group": "A"},
                        thresholds=thresholds, thresholdsStyleMode=style,
                        maxDataPoints=None, extraJson=extra)


def top_bound(queries: Sequence[Query]) -> float | None:
    """The lowest last finite bucket bound of the quantile queries drawn (None: no histogram)."""
    tops = [q.bounds[-1] for q in queries if q.bounds]
    return min(tops) if tops else None


def above_top_note(top: float) -> str:
    """The note on a quantile panel whose histogram ends at ``top`` seconds."""
    return (f"The latency histogram's last finite bucket bound is {top:g} s (red line): a "
            f"quantile drawn at {top:g} s means more than {top:g} s, by an unknown amount.")


def _above_top_mapping(top: float) -> dict[str, Any]:
    """A Grafana value mapping that shows a quantile at the top bound as "> top s"."""
    return {"id": "mappings", "value": [{"type": "range", "options": {
        "from": top, "to": None, "result": {"text": f"> {top:g} s", "index": 0}}}]}


def _minmax(cell: Cell) -> dict[str, Any] | None:
    defaults = {k: v for k, v in (("min", cell.min), ("max", cell.max)) if v is not None}
    return {"fieldConfig": {"defaults": defaults}} if defaults else None


def _table(cell: Cell, panel: Panel, queries: list[Query], common: dict[str, Any],
           dialect: str) -> g.Table:
    names = panel.columns or tuple(q.signal for q in queries)
    rename = {f"Value #{chr(65 + i)}": name for i, name in enumerate(names)}
    labels = list(dict.fromkeys(label for q in queries for label in q.by))
    order = {name: i for i, name in enumerate([*labels, *rename])}  # original field names
    overrides: list[dict[str, Any]] = [
        {"matcher": {"id": "byName", "options": name},
         "properties": [{"id": "unit", "value": q.unit}]}
        for name, q in zip(names, queries, strict=True)
    ]
    for name, q in zip(names, queries, strict=True):
        if q.bounds:
            overrides.append({"matcher": {"id": "byName", "options": name},
                              "properties": [_above_top_mapping(q.bounds[-1])]})
        if q.signal == "pods_actual":
            overrides.append({"matcher": {"id": "byName", "options": name}, "properties": [{
                "id": "mappings", "value": [{"type": "value", "options": {
                    "0": {"text": "scaled to zero", "color": "blue", "index": 0}}}],
            }]})
    if cell.link_to:
        uid = f"sdobs-{cell.link_to}-{DIALECT_TAGS[dialect]}"
        url = (f"/d/{uid}/?${{datasource:queryparam}}&var-namespace=${{__data.fields.namespace}}"
               f"&var-service=${{__data.fields.service}}&${{__url_time_range}}")
        overrides.append({"matcher": {"id": "byName", "options": "service"}, "properties": [{
            "id": "links", "value": [{"title": "Open the service dashboard", "url": url}],
        }]})
    return g.Table(
        **common, targets=_targets(panel, queries, instant=True, table=True),
        unit=queries[0].unit if len({q.unit for q in queries}) == 1 else "none",
        overrides=overrides, showHeader=True, maxDataPoints=None,
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True},
                                           "renameByName": rename, "indexByName": order}},
        ],
        sortBy=[g.TableSortByField(displayName=names[0], desc=True)],
    )
