"""Validate dashboard JSON by a round trip through Grafana's typed models (foundation SDK).

``grafana-foundation-sdk`` (Apache-2.0, on PyPI) is generated from Grafana's own schemas: its
``Dashboard.from_json`` decodes every panel, option, field config and Prometheus target into
typed objects, and ``to_json`` writes them back. A field that does not survive the trip is one
Grafana's model does not have or reads differently, so any field lost or changed is reported.
Fields the trip adds are Grafana's defaults and are fine. This check needs nothing beside the
installed package; the JSON-schema check (:mod:`sdobs.dashboards.validate`) adds more where a
copy of Grafana's schemas is at hand.
"""

from __future__ import annotations

import json
from typing import Any

#: Fields the SDK's model does not carry, lost only when they hold Grafana's default value.
UNMODELLED_DEFAULTS: dict[str, Any] = {"hideTimeOverride": False}


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.to_json()))


def roundtrip(dash: dict[str, Any]) -> dict[str, Any]:
    """``dash`` decoded into Grafana's typed dashboard model and encoded again."""
    from grafana_foundation_sdk.cog import plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    plugins.register_default_plugins()
    return _plain(Dashboard.from_json(dash).to_json())


def _diff(before: Any, after: Any, path: str) -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key, value in before.items():
            where = f"{path}/{key}"
            if key not in after:
                if UNMODELLED_DEFAULTS.get(key, object()) != value:
                    out.append(f"{where}: lost (was {json.dumps(value)[:60]})")
            else:
                out += _diff(value, after[key], where)
        return out
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: {len(before)} items became {len(after)}"]
        return [p for i, (a, b) in enumerate(zip(before, after, strict=True))
                for p in _diff(a, b, f"{path}[{i}]")]
    if before != after or type(before) is not type(after):
        return [f"{path}: {json.dumps(before)[:60]} became {json.dumps(after)[:60]}"]
    return []


def roundtrip_problems(dash: dict[str, Any]) -> list[str]:
    """Every field of ``dash`` that Grafana's typed model loses or changes (empty when none)."""
    title = dash.get("title", "dashboard")
    try:
        back = roundtrip(dash)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [f"{title}: Grafana's dashboard model cannot read it ({exc!r})"]
    return [f"{title}{p}" for p in _diff(dash, back, "")]
