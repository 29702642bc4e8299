"""Validate dashboard JSON against Grafana's own JSON Schemas (foundation SDK, v11.6 copy).

The dashboard goes against ``dashboard.jsonschema.json#/definitions/Dashboard``; each panel's
``options`` and ``fieldConfig.defaults.custom`` against its panel plugin's schema, and each
target against ``prometheus.jsonschema.json#/definitions/dataquery``, with their ``required``
lists dropped because Grafana fills those defaults. Three deliberate widenings, each back to
what Grafana's CUE kind says: a threshold step's ``value`` may be ``null`` (how Grafana
serialises the base step's -Infinity, as the schema's own description says), and an override's
``matcher.options`` and property ``value`` may be any JSON value (CUE ``_``; the generator
turned it into "object", yet ``{"id": "byName", "options": "P95"}`` is what Grafana writes).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_VERSION_DIR = "v11.6"
PANEL_TYPES = ("timeseries", "stat", "table")


class SchemaMissing(Exception):
    """The Grafana schema copy is not where it was looked for."""


def default_schema_dir(repo_root: Path | None = None) -> Path:
    """``<repo>/../shared/grafana-schema/v11.6`` (CI lays ``shared/`` beside the clone)."""
    root = repo_root or Path(__file__).resolve().parents[2]
    return root.parent / "shared" / "grafana-schema" / SCHEMA_VERSION_DIR


def _load(schema_dir: Path, name: str) -> dict[str, Any]:
    path = schema_dir / f"{name}.jsonschema.json"
    if not path.is_file():
        raise SchemaMissing(
            f"Grafana JSON schema {path} is missing; put the grafana-schema copy from shared/ "
            f"beside the repository (expected folder {schema_dir})"
        )
    return json.loads(path.read_text())


def _drop_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_drop_required(v) for v in node]
    return node


def _at(schema: dict[str, Any], definition: str) -> dict[str, Any]:
    """The whole schema document with its root pointing at one definition."""
    out = {k: v for k, v in schema.items() if k != "$ref"}
    out["$ref"] = f"#/definitions/{definition}"
    return out


@cache
def _validators(schema_dir: str) -> dict[str, Any]:
    from jsonschema import Draft7Validator

    root = Path(schema_dir)
    dashboard = copy.deepcopy(_load(root, "dashboard"))
    step = dashboard["definitions"]["Threshold"]["properties"]["value"]
    step["type"] = ["number", "null"]
    for name, key in (("MatcherConfig", "options"), ("DynamicConfigValue", "value")):
        prop = dashboard["definitions"][name]["properties"][key]
        dashboard["definitions"][name]["properties"][key] = {
            k: v for k, v in prop.items() if k == "description"}
    out = {"dashboard": Draft7Validator(_at(dashboard, "Dashboard"))}
    prom = _drop_required(_load(root, "prometheus"))
    out["target"] = Draft7Validator(_at(prom, "dataquery"))
    for kind in PANEL_TYPES:
        schema = _drop_required(_load(root, kind))
        out[f"{kind}.options"] = Draft7Validator(_at(schema, "Options"))
        if "FieldConfig" in schema["definitions"]:
            out[f"{kind}.custom"] = Draft7Validator(_at(schema, "FieldConfig"))
    return out


def _errors(validator: Any, instance: Any, where: str) -> list[str]:
    return [
        f"{where}{'/' + '/'.join(map(str, e.absolute_path)) if e.absolute_path else ''}: "
        f"{e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dash.get("panels", []):
        out.append(panel)
        out += panel.get("panels", []) if panel.get("type") == "row" else []
    return out


def validate(dash: dict[str, Any], schema_dir: Path | None = None) -> list[str]:
    """Every schema violation in one dashboard, as ``path: message`` lines (empty when valid)."""
    v = _validators(str(schema_dir or default_schema_dir()))
    errors = _errors(v["dashboard"], dash, "dashboard")
    for panel in _panels(dash):
        kind = panel.get("type")
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        if kind == "row":
            continue
        if kind not in PANEL_TYPES:
            errors.append(f"{where}: panel type {kind!r} is not one of {', '.join(PANEL_TYPES)}")
            continue
        errors += _errors(v[f"{kind}.options"], panel.get("options", {}), f"{where} options")
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None and f"{kind}.custom" in v:
            errors += _errors(v[f"{kind}.custom"], custom, f"{where} fieldConfig.custom")
        for target in panel.get("targets", []):
            errors += _errors(v["target"], target, f"{where} target {target.get('refId')}")
    return errors
