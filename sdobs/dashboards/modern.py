"""Turn grafanalib 0.7.1's legacy dashboard JSON into modern Grafana 10-12 JSON.

grafanalib emits schemaVersion-12-era keys (``rows``, ``style``, ``sharedCrosshair``, target
``step``/``intervalFactor``, Graph-era threshold keys), ``null`` for every unset option and the
string ``"null"`` for a threshold base step. Grafana tolerates most of it, but its schema, the
foundation SDK's decoder and dashboard-linter do not, and a high ``schemaVersion`` skips the
migrations that would have fixed it on load. :func:`modernise` removes all of it, keeping only
the threshold base step's ``null`` (how Grafana itself serialises -Infinity).
"""

from __future__ import annotations

import json
from typing import Any

from grafanalib._gen import DashboardEncoder

from sdobs.errors import InputError

MIN_SCHEMA_VERSION = 39

_TOP_LEGACY = ("__inputs", "hideControls", "rows", "sharedCrosshair", "style", "gnetId", "id")
_PANEL_LEGACY = ("editable", "error", "height", "span", "minSpan", "columns", "fontSize",
                 "styles", "color", "mappings")
_TARGET_LEGACY = ("metric", "query", "step", "target", "intervalFactor")
_VARIABLE_LEGACY = ("useTags", "tagsQuery", "tagValuesQuery", "tags")
_INTERVAL_ONLY = ("auto", "auto_count", "auto_min")
_ROW_KEYS = ("type", "collapsed", "title", "datasource", "gridPos", "id", "panels", "repeat")
_STEP_LEGACY = ("index", "line", "op", "yaxis")


def plain(obj: Any) -> Any:
    """grafanalib objects as plain JSON data (what ``generate-dashboard`` would write)."""
    return json.loads(json.dumps(obj, cls=DashboardEncoder))


def modernise(data: dict[str, Any]) -> dict[str, Any]:
    """A modern copy of a dashboard's JSON data (``Dashboard.to_json_data()`` or plain)."""
    dash = plain(data)
    for key in _TOP_LEGACY:
        dash.pop(key, None)
    if int(dash.get("schemaVersion") or 0) < MIN_SCHEMA_VERSION:
        raise InputError(f"schemaVersion {dash.get('schemaVersion')} is legacy; build the "
                         f"dashboard with schemaVersion={MIN_SCHEMA_VERSION} or newer")
    picker = dash.get("timepicker")
    if isinstance(picker, dict):
        picker.pop("time_options", None)
    dash["panels"] = [_panel(p) for p in dash.get("panels", [])]
    templating = dash.get("templating") or {}
    templating["list"] = [_variable(v) for v in templating.get("list", [])]
    dash["templating"] = templating
    return _strip_nulls(dash)


def _panel(panel: dict[str, Any]) -> dict[str, Any]:
    if panel.get("type") == "row":
        row = {k: v for k, v in panel.items() if k in _ROW_KEYS}
        row["panels"] = [_panel(p) for p in row.get("panels", [])]
        row.pop("datasource", None)
        return row
    defaults = panel.setdefault("fieldConfig", {}).setdefault("defaults", {})
    panel["fieldConfig"].setdefault("overrides", [])
    # Panel-level mappings and colour are pre-fieldConfig (Table); they belong in defaults.
    if panel.get("mappings"):
        defaults.setdefault("mappings", panel["mappings"])
    if isinstance(panel.get("color"), dict) and panel.get("type") == "table":
        defaults.setdefault("color", panel["color"])
    for key in _PANEL_LEGACY:
        panel.pop(key, None)
    thresholds = defaults.get("thresholds")
    if isinstance(thresholds, dict):
        steps = [_step(s, i) for i, s in enumerate(thresholds.get("steps") or [])]
        if steps:
            thresholds["steps"] = steps
        else:
            defaults.pop("thresholds")  # Grafana fills its own default
    custom = defaults.get("custom")
    if isinstance(custom, dict) and panel.get("type") == "table":
        if custom.get("displayMode") == "auto":  # deprecated; auto is Grafana's default
            custom.pop("displayMode")
        custom.setdefault("inspect", False)
    if isinstance(custom, dict) and custom.get("stacking") == {}:
        custom["stacking"] = {"mode": "none", "group": "A"}
    panel["targets"] = [_target(t, panel.get("datasource")) for t in panel.get("targets", [])]
    return panel


def _step(step: dict[str, Any], index: int) -> dict[str, Any]:
    out = {k: v for k, v in step.items() if k not in _STEP_LEGACY}
    if index == 0 or out.get("value") in ("null", None):
        out["value"] = None  # the base step: Grafana's serialisation of -Infinity
    return out


def _target(target: dict[str, Any], datasource: Any) -> dict[str, Any]:
    for key in _TARGET_LEGACY:
        target.pop(key, None)
    if target.get("datasource") is None and datasource is not None:
        target["datasource"] = datasource
    if target.get("interval") == "":
        target.pop("interval")
    if "expr" in target:  # Prometheus: say instant vs range explicitly, open in code mode
        target["range"] = not target.get("instant", False)
        target.setdefault("editorMode", "code")
    return target


def _variable(var: dict[str, Any]) -> dict[str, Any]:
    for key in _VARIABLE_LEGACY:
        var.pop(key, None)
    if var.get("type") != "interval":
        for key in _INTERVAL_ONLY:
            var.pop(key, None)
    current = var.get("current")
    if isinstance(current, dict):
        current.pop("tags", None)
        if current.get("value") is None:
            var.pop("current")
        elif var.get("includeAll") and current.get("value") in ("$__all", ["$__all"]):
            multi = bool(var.get("multi"))
            var["current"] = {"selected": True, "text": ["All"] if multi else "All",
                              "value": ["$__all"] if multi else "$__all"}
    return var


def _strip_nulls(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_nulls(v) for k, v in obj.items()
                if v is not None or (k == "value" and _is_step(obj))}
    if isinstance(obj, list):
        return [_strip_nulls(v) for v in obj if v is not None]
    return obj


def _is_step(obj: dict[str, Any]) -> bool:
    return set(obj) == {"color", "value"}
