"""Quantile panels mark the histogram's last finite bound: a red line, a note, "> 10 s"."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sdobs.knative.dialects import DIALECTS

ROOT = Path(__file__).resolve().parents[2]


def _service(dialect: str) -> dict:
    spec = importlib.util.spec_from_file_location("service_dash",
                                                  ROOT / "dashboards/service.dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.spec.build(dialect).to_json_data()


def _panels(data: dict) -> dict[str, dict]:
    return {p["title"]: p for p in data["panels"] if p.get("type") != "row"}


@pytest.mark.parametrize("dialect", [d.name for d in DIALECTS])
def test_latency_panels_mark_the_top_bound(dialect: str) -> None:
    top = 100 if dialect == "opencensus" else 10
    panels = _panels(_service(dialect))
    p99 = panels["Response Time P99"]
    defaults = p99["fieldConfig"]["defaults"]
    assert {"color": "red", "value": top} in defaults["thresholds"]["steps"]
    assert defaults["custom"]["thresholdsStyle"]["mode"] == "dashed"
    assert f"last finite bucket bound is {top} s" in p99["description"]
    volume = panels["Request Volume by Revision"]["fieldConfig"]["defaults"]
    assert volume["custom"]["thresholdsStyle"]["mode"] == "off"  # no histogram, no line
    table = panels["Revision comparison"]["fieldConfig"]["overrides"]
    p99_col = next(o for o in table if o["matcher"]["options"] == "P99" and any(
        p["id"] == "mappings" for p in o["properties"]))
    mapping = p99_col["properties"][0]["value"][0]
    assert mapping["options"]["from"] == top and mapping["options"]["result"]["text"] == \
        f"> {top} s"
