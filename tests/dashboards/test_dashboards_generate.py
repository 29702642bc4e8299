"""Generated dashboards: up to date, what grafanalib's CLI writes, Grafana-valid, lint-clean.

Grafana validity is checked by a round trip through Grafana's typed dashboard models (the
foundation SDK, installed with the dev extra), everywhere; the JSON-schema check runs in
addition where a copy of Grafana's schemas lies beside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from grafanalib import core as g

from sdobs.catalog import Catalog
from sdobs.catalog.panels import PANELS
from sdobs.dashboards import lint as lint_mod
from sdobs.dashboards.builders import DATASOURCE, DashboardSpec
from sdobs.dashboards.generate import (
    DEFINITIONS,
    DIALECT_NAMES,
    GENERATED,
    REPO_ROOT,
    generate,
    load_spec,
    render,
)
from sdobs.dashboards.modern import modernise, plain
from sdobs.dashboards.provisioning import write_deploy
from sdobs.dashboards.roundtrip import roundtrip_problems
from sdobs.dashboards.validate import SchemaMissing, default_schema_dir, validate

KEYS = ("fleet", "fleet-recorded", "gpu", "scaling", "service")


@pytest.fixture(scope="module")
def generated():
    return generate(write=False)


@pytest.fixture(scope="module")
def schema_dir() -> Path:
    path = default_schema_dir()
    if not path.is_dir():
        pytest.skip(f"no copy of Grafana's JSON schemas at {path} (an optional extra check; "
                    "the round trip through Grafana's models runs everywhere)")
    return path


def test_every_dashboard_in_every_dialect(generated) -> None:
    assert sorted((r.dialect, r.key) for r in generated) == sorted(
        (d, k) for d in DIALECT_NAMES for k in KEYS)
    uids = [r.data["uid"] for r in generated]
    assert len(set(uids)) == len(uids) and all(len(u) <= 40 for u in uids)


def test_committed_json_is_up_to_date(generated) -> None:
    for r in generated:
        path = GENERATED / r.dialect / f"{r.key}.json"
        assert path.is_file(), f"{path} missing: run sdobs dashboards generate"
        assert json.loads(path.read_text()) == r.data, (
            f"{path} is stale: run sdobs dashboards generate --deploy deploy/grafana")
    spec = load_spec(DEFINITIONS / "service.dashboard.py")
    assert (GENERATED / "opencensus" / "service.json").read_text() == render(spec, "opencensus")


def test_committed_deploy_files_are_up_to_date(tmp_path: Path) -> None:
    for path in write_deploy(GENERATED, tmp_path):
        committed = REPO_ROOT / "deploy" / "grafana" / path.relative_to(tmp_path)
        assert committed.read_text() == path.read_text(), f"{committed} is stale"


def test_grafanalib_cli_writes_the_same_json(tmp_path: Path) -> None:
    for f in DEFINITIONS.glob("*.dashboard.py"):
        shutil.copy(f, tmp_path / f.name)
    tool = Path(sys.executable).with_name("generate-dashboards")
    files = sorted(str(p) for p in tmp_path.glob("*.dashboard.py"))
    env = {**os.environ, "SDOBS_DIALECT": "opencensus"}
    proc = subprocess.run([str(tool), *files], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    for key in KEYS:
        assert (tmp_path / f"{key}.json").read_text() == \
            (GENERATED / "opencensus" / f"{key}.json").read_text()


def test_every_field_survives_grafanas_typed_models(generated) -> None:
    for r in generated:
        assert roundtrip_problems(r.data) == [], (r.dialect, r.key)


def test_round_trip_catches_fields_grafana_does_not_have(generated) -> None:
    dash = json.loads(json.dumps(generated[0].data))
    panel = next(p for p in dash["panels"] if p["type"] == "timeseries")
    panel["hideTimeOverride"] = True  # unmodelled by the SDK: only its default may be dropped
    panel["legendFormat"] = "{{pod}}"  # belongs on a target, not on a panel
    problems = roundtrip_problems(dash)
    assert any(p.endswith("/hideTimeOverride: lost (was true)") for p in problems), problems
    assert any("/legendFormat: lost" in p for p in problems), problems
    assert len(problems) == 2, problems


def test_schema_valid(generated, schema_dir: Path) -> None:
    for r in generated:
        assert validate(r.data, schema_dir) == [], (r.dialect, r.key)


def test_validator_catches_legacy_grafanalib_json(schema_dir: Path) -> None:
    legacy = g.Dashboard(title="legacy", uid="legacy", panels=[
        g.Graph(title="old", dataSource="Prometheus", targets=[g.Target(expr="up", refId="A")],
                gridPos=g.GridPos(h=8, w=12, x=0, y=0)),
        g.Stat(title="s", dataSource="Prometheus", targets=[g.Target(expr="up", refId="A")],
               thresholds=[g.Threshold("green", 0, 0.0), g.Threshold("red", 1, 1.0)]),
    ]).auto_panel_ids()
    errors = validate(plain(legacy.to_json_data()), schema_dir)
    assert len(errors) >= 5
    assert any("graph" in e for e in errors) and any("'null'" in e or "None" in e
                                                     for e in errors)
    with pytest.raises(ValueError, match="schemaVersion"):
        modernise(legacy.to_json_data())


def test_missing_schema_dir_says_where(tmp_path: Path, generated) -> None:
    with pytest.raises(SchemaMissing, match=r"grafana-schema|missing"):
        validate(generated[0].data, tmp_path / "nowhere")


def test_lint_clean(generated) -> None:
    for r in generated:
        assert lint_mod.lint(r.data) == [], (r.dialect, r.key)


def test_modern_json_has_no_legacy_or_nulls(generated) -> None:
    for r in generated:
        text = json.dumps(r.data)
        for key in ('"rows"', '"style"', '"sharedCrosshair"', '"hideControls"', '"__inputs"',
                    '"intervalFactor"', '"step"', '"yaxis"', '"graph"', '"null"'):
            assert key not in text, (r.key, key)
        assert r.data["schemaVersion"] >= 39
        nulls = [m for m in _nulls(r.data)]
        assert all(path.endswith("steps/0/value") for path in nulls), nulls


def _nulls(obj, path=""):
    if obj is None:
        yield path
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _nulls(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _nulls(v, f"{path}/{i}")


def test_every_target_is_the_catalog_panel_expression(generated) -> None:
    """Grafana runs what the app runs: each panel's targets are its catalog panel's queries."""
    specs: dict[str, DashboardSpec] = {
        s.key: s for s in (load_spec(p) for p in DEFINITIONS.glob("*.dashboard.py"))}
    for r in generated:
        # A recorded twin shares its raw panel's title: look titles up in this dashboard's cells.
        by_title = {PANELS[c.panel].title: PANELS[c.panel]
                    for row in specs[r.key].rows for c in row.cells}
        sel = specs[r.key].selection()
        cat = Catalog(r.dialect)
        for panel in _leaf_panels(r.data):
            want = [q.expr for q in by_title[panel["title"]].queries(cat, sel)]
            assert [t["expr"] for t in panel["targets"]] == want, panel["title"]
            assert all(t["datasource"] == DATASOURCE for t in panel["targets"])


def _leaf_panels(dash):
    out = []
    for p in dash["panels"]:
        out += p.get("panels", []) if p["type"] == "row" else [p]
    return out


@pytest.mark.parametrize("bad, rule", [
    ({"type": "graph"}, "not allowed"),
    ({"datasource": "Prometheus"}, "${datasource}"),
    ({"description": ""}, "description"),
    ({"fieldConfig": {"defaults": {}, "overrides": []}}, "unit"),
    ({"targets": [{"refId": "A", "datasource": DATASOURCE,
                   "expr": 'sum(rate(x_total{a="b"}[5m]))'}]}, "$__rate_interval"),
    ({"targets": [{"refId": "A", "datasource": DATASOURCE, "expr": 'sum(x_total{a="b"})'}]},
     "counter"),
    ({"targets": []}, "no targets"),
    ({"options": {"v": "null"}}, '"null"'),
])
def test_lint_rules_catch(generated, bad: dict, rule: str) -> None:
    dash = json.loads(json.dumps(generated[0].data))
    victim = _leaf_panels(dash)[0]
    victim.update(bad)
    problems = lint_mod.lint(dash)
    assert any(rule in p for p in problems), problems


def test_lint_variable_rules(generated) -> None:
    dash = json.loads(json.dumps(generated[0].data))
    variables = dash["templating"]["list"]
    variables[1]["refresh"] = 1
    variables[1]["datasource"] = "Prometheus"
    problems = lint_mod.lint(dash)
    assert any("refresh" in p for p in problems) and any("must use" in p for p in problems)
    dash["templating"]["list"] = variables[1:]
    assert any("datasource variable" in p for p in lint_mod.lint(dash))


def test_rate_window_parser() -> None:
    expr = ('histogram_quantile(0.5, sum by (le) (rate(a_bucket{x=~"(a|b)"}[$__rate_interval])))'
            ' / sum(increase(b_total[5m])) + sum_over_time((rate(c_total[1m]))[1h:30s])')
    assert lint_mod.rate_windows(expr) == [("rate", "$__rate_interval"), ("increase", "5m"),
                                           ("rate", "1m")]
    assert lint_mod.counters_outside_rate('sum(rate(a_total{}[1m])) + b_bucket{le="1"}') == \
        ["b_bucket"]
