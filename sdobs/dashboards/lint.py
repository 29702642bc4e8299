"""dashboard-linter's rules for Prometheus dashboards, ported to Python, plus sdobs' own.

Ported from grafana/dashboard-linter: template-datasource-rule, template-on-time-change-reload
-rule, panel-datasource-rule, panel-title-description-rule, panel-units-rule,
panel-no-targets-rule, target-rate-interval-rule, target-counter-agg-rule. Not ported:
template-job/instance and target-job/instance (Knative series are selected by namespace,
service and revision, not by scrape job) and target-promql-rule (the tests run every
expression in a real Prometheus instead). Added: no Angular ``graph`` panels (only
timeseries, stat, table and row), no ``"null"`` strings, ``schemaVersion`` >= 39.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sdobs.dashboards.modern import MIN_SCHEMA_VERSION

ALLOWED_PANELS = ("timeseries", "stat", "table", "row")
DS_UIDS = ("${datasource}", "$datasource")
#: Grafana unit ids sdobs uses or that a definition may reasonably pick (Grafana categories.ts).
VALID_UNITS = frozenset({
    "none", "short", "percent", "percentunit", "reqps", "rps", "ops", "opm", "s", "ms", "us",
    "ns", "m", "h", "d", "dtdurations", "bytes", "decbytes", "bits", "Bps", "binBps", "watt",
    "kwatt", "watth", "joule", "celsius", "fahrenheit", "hertz", "Hz", "currencyUSD",
    "currencyEUR", "bool", "bool_yes_no",
})
_RATE_CALL = re.compile(r"\b(rate|irate|increase)\s*\(")
# ``*_count`` is left out: Knative's OTel pod gauges are named ``kn_revision_pods_count``.
_COUNTER = re.compile(r"\b([A-Za-z_:][A-Za-z0-9_:]*(?:_total|_bucket))\s*\{")
_FUNC_BEFORE = re.compile(r"([A-Za-z_]+)\s*$")


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dash.get("panels", []):
        out.append(panel)
        if panel.get("type") == "row":
            out += panel.get("panels", [])
    return out


def _uses_ds_variable(ref: Any) -> bool:
    return isinstance(ref, dict) and ref.get("uid") in DS_UIDS


def _close(expr: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at ``open_at``."""
    depth = 0
    for i in range(open_at, len(expr)):
        if expr[i] == "(":
            depth += 1
        elif expr[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(expr)


def rate_windows(expr: str) -> list[tuple[str, str]]:
    """(function, range) of every rate/irate/increase call: the last ``[...]`` at its top."""
    out = []
    for m in _RATE_CALL.finditer(expr):
        start = m.end() - 1
        arg = expr[start + 1:_close(expr, start)]
        depth, window = 0, ""
        for i, ch in enumerate(arg):
            if ch in "({":
                depth += 1
            elif ch in ")}":
                depth -= 1
            elif ch == "[" and depth == 0:
                window = arg[i + 1:arg.index("]", i)]
        out.append((m.group(1), window))
    return out


# sdobs' first-event counting (sdobs.catalog.gpu_health.counted_events): a counter born inside
# the window counts in full, so the raw counter appears in presence tests against itself
# offset by the window. Those uses are deliberate and exempt from the counter rule.
_SELECTOR = r"[A-Za-z_:][A-Za-z0-9_:]*\{[^}]*\}"
_FIRST_EVENT = re.compile(rf"\(\s*({_SELECTOR})\s+unless\s+\1\s+offset\s+[^)\s]+\s*\)"
                          rf"|\band\s+{_SELECTOR}\s+offset\s+[^)\s]+")


def counters_outside_rate(expr: str) -> list[str]:
    """Counter series (``*_total``, histogram ``*_bucket``) not inside rate/irate/increase."""
    expr = _FIRST_EVENT.sub("(first_event)", expr)
    bad = []
    for m in _COUNTER.finditer(expr):
        depth, i = 0, m.start() - 1
        inside = False
        while i >= 0:  # walk out through the enclosing calls
            ch = expr[i]
            if ch == ")":
                depth += 1
            elif ch == "(":
                if depth == 0:
                    fn = _FUNC_BEFORE.search(expr[:i])
                    if fn and fn.group(1) in ("rate", "irate", "increase"):
                        inside = True
                        break
                else:
                    depth -= 1
            i -= 1
        if not inside:
            bad.append(m.group(1))
    return bad


def lint(dash: dict[str, Any]) -> list[str]:
    """Every rule violation in one dashboard, one sentence each (empty when clean)."""
    problems: list[str] = []
    title = dash.get("title", "?")
    if int(dash.get("schemaVersion") or 0) < MIN_SCHEMA_VERSION:
        problems.append(f"{title}: schemaVersion must be {MIN_SCHEMA_VERSION} or newer")
    if '"null"' in json.dumps(dash):
        problems.append(f'{title}: the string "null" appears (a grafanalib threshold bug)')
    variables = dash.get("templating", {}).get("list", [])
    ds_vars = [v for v in variables if v.get("type") == "datasource"]
    if not any(v.get("name") == "datasource" and v.get("label") == "Data source"
               and v.get("query") == "prometheus" for v in ds_vars):
        problems.append(f"{title}: needs a Prometheus datasource variable 'datasource' "
                        "labelled 'Data source'")
    for v in variables:
        if v.get("type") != "query":
            continue
        if not _uses_ds_variable(v.get("datasource")):
            problems.append(f"{title}: variable {v.get('name')} must use ${{datasource}}")
        if v.get("refresh") != 2:
            problems.append(f"{title}: variable {v.get('name')} must refresh on time range "
                            "change (refresh: 2)")
    for panel in _panels(dash):
        kind = panel.get("type")
        where = f"{title} / {panel.get('title') or panel.get('id')}"
        if kind not in ALLOWED_PANELS:
            problems.append(f"{where}: panel type {kind!r} is not allowed "
                            f"(use {', '.join(ALLOWED_PANELS)})")
            continue
        if kind == "row":
            if not panel.get("title"):
                problems.append(f"{where}: row without a title")
            continue
        if not panel.get("title"):
            problems.append(f"{where}: panel without a title")
        if not panel.get("description"):
            problems.append(f"{where}: panel without a description")
        if not _uses_ds_variable(panel.get("datasource")):
            problems.append(f"{where}: panel must use the ${{datasource}} variable")
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if unit not in VALID_UNITS:
            problems.append(f"{where}: unit {unit!r} is missing or not a Grafana unit id")
        for override in panel.get("fieldConfig", {}).get("overrides", []):
            for prop in override.get("properties", []):
                if prop.get("id") == "unit" and prop.get("value") not in VALID_UNITS:
                    problems.append(f"{where}: override unit {prop.get('value')!r} is invalid")
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"{where}: panel has no targets")
        for t in targets:
            ref = f"{where} [{t.get('refId')}]"
            if not t.get("refId"):
                problems.append(f"{ref}: target without refId")
            if not _uses_ds_variable(t.get("datasource")):
                problems.append(f"{ref}: target must use the ${{datasource}} variable")
            expr = t.get("expr", "")
            for fn, window in rate_windows(expr):
                if window != "$__rate_interval":
                    problems.append(f"{ref}: {fn}() over [{window}] must use [$__rate_interval]")
            for name in counters_outside_rate(expr):
                problems.append(f"{ref}: counter {name} must be inside rate() or increase()")
    return problems
