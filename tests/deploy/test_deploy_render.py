"""``sdobs deploy render``: complete, committed, valid against the API and CRD schemas."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from sdobs.deploy import render as r
from sdobs.deploy.manifests import KSM_ALLOWLIST, STACKS, InstallOptions
from sdobs.deploy.validate import validate_folder, validate_object
from sdobs.knative.dialects import DIALECTS
from sdobs.prom.harness import find_binary

RULE_FILE = {"groups": [{"name": "sdobs-test", "rules": [
    {"record": "sdobs:test:sum", "expr": "sum(up)"}]}]}


def test_committed_deploy_is_the_rendered_default() -> None:
    for folder, opts in r.default_installs().items():
        files = r.render_files(opts)
        on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*.yaml")}
        assert on_disk == set(files), f"{folder} is stale: run sdobs deploy render --defaults"
        for name, text in files.items():
            assert (folder / name).read_text() == text, (
                f"{folder / name} is stale: run sdobs deploy render --defaults")


def test_committed_deploy_validates() -> None:
    for folder in r.default_installs():
        assert validate_folder(folder) == []


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("dialect", [d.name for d in DIALECTS])
@pytest.mark.parametrize("release", ["kube-prometheus-stack", "", "prom-2"])
def test_every_install_validates(tmp_path, stack, dialect, release) -> None:
    opts = InstallOptions(dialect=dialect, stack=stack, release=release,
                          control_plane_extra=release == "prom-2")
    r.render(opts, tmp_path)
    assert validate_folder(tmp_path) == []
    docs = [d for p in tmp_path.glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    kinds = [d.get("kind") for d in docs]
    assert "ConfigMap" in kinds
    for d in docs:
        if "metadata" in d and d["metadata"].get("name") != "config-observability":
            labels = d["metadata"]["labels"]
            assert labels.get("release") == (release or None)


def test_config_observability_per_dialect() -> None:
    otel = r.render_files(InstallOptions(dialect="opentelemetry-early"))
    data = yaml.safe_load(otel["config-observability.yaml"])["data"]
    assert data == {"metrics-protocol": "prometheus", "request-metrics-protocol": "prometheus"}
    oc = yaml.safe_load(r.render_files(InstallOptions(dialect="opencensus"))[
        "config-observability.yaml"])["data"]
    assert oc["metrics.request-metrics-backend-destination"] == "prometheus"


def test_values_fragment_allowlists_knative_pod_labels() -> None:
    files = r.render_files(InstallOptions())
    values = yaml.safe_load(files["values-kube-prometheus-stack.yaml"])
    assert values["kube-state-metrics"]["metricLabelsAllowlist"] == [KSM_ALLOWLIST]
    assert "prometheus" not in values  # the release label is enough for the default selectors
    dcgm = yaml.safe_load(files["values-dcgm-exporter.yaml"])
    assert dcgm["serviceMonitor"]["honorLabels"] is True
    assert dcgm["serviceMonitor"]["additionalLabels"] == {"release": "kube-prometheus-stack"}
    bare = yaml.safe_load(r.render_files(InstallOptions(release=""))[
        "values-kube-prometheus-stack.yaml"])
    spec = bare["prometheus"]["prometheusSpec"]
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False


def test_kustomization_lists_every_applyable_file() -> None:
    files = r.render_files(InstallOptions())
    kust = yaml.safe_load(files["kustomization.yaml"])
    # The repository's generated rules (rules/generated/) are part of the install.
    assert kust["resources"] == ["config-observability.yaml", "grafana-dashboards.yaml",
                                 "monitors.yaml", "rules.yaml"]


@pytest.mark.prometheus
def test_plain_prometheus_scrape_configs_pass_promtool(tmp_path) -> None:
    opts = InstallOptions(stack="prometheus")
    r.render(opts, tmp_path, rules_dir=_rules(tmp_path / "rules-src"))
    jobs = yaml.safe_load((tmp_path / "scrape-configs.yaml").read_text())["scrape_configs"]
    # Debian's Prometheus is built without Kubernetes SD, so promtool checks everything else of
    # each job with file SD in its place (the SD block is the only part not checked here).
    for job in jobs:
        assert job.pop("kubernetes_sd_configs")[0]["role"] == "pod"
        job["file_sd_configs"] = [{"files": [str(tmp_path / "targets.json")]}]
    rule_files = sorted((tmp_path / "rules").glob("*.yaml"))
    assert rule_files
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"rule_files": [str(p) for p in rule_files],
                                      "scrape_configs": jobs}))
    proc = subprocess.run([find_binary("promtool"), "check", "config", str(config)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _rules(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "sdobs_alerts.yaml").write_text(yaml.safe_dump(RULE_FILE))
    (folder / "sdobs_alerts_test.yaml").write_text("not: a rule file\n")
    return folder


def test_generated_rules_join_the_install_as_prometheus_rules(tmp_path) -> None:
    files = r.render_files(InstallOptions(), rules_dir=_rules(tmp_path / "rules"))
    [rule] = list(yaml.safe_load_all(files["rules.yaml"]))
    assert rule["kind"] == "PrometheusRule" and rule["metadata"]["labels"]["release"]
    assert rule["spec"]["groups"] == RULE_FILE["groups"]
    assert validate_object(rule) == []
    assert "rules.yaml" in yaml.safe_load(files["kustomization.yaml"])["resources"]


def test_validation_finds_misspelt_and_missing_fields() -> None:
    mon = r.render_files(InstallOptions())["monitors.yaml"]
    doc = next(yaml.safe_load_all(mon))
    doc["spec"]["podMetricsEndpoints"][0]["relabelings"][0]["sourcelabels"] = ["x"]
    del doc["spec"]["selector"]
    problems = validate_object(doc)
    assert any("sourcelabels" in p for p in problems) and any("selector" in p for p in problems)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "datta": {}}
    assert any("datta" in p for p in validate_object(cm))


def test_render_command_and_its_errors(tmp_path) -> None:
    from sdobs.cli import main

    out = tmp_path / "install"
    assert main(["deploy", "render", "--dialect", "opencensus", "--release", "kps",
                 "--out", str(out)]) == 0
    assert main(["deploy", "check", str(out)]) == 0
    assert main(["deploy", "check", str(tmp_path / "missing")]) == 2
    assert main(["deploy", "render", "--release", "not valid", "--out", str(out)]) == 2
    with pytest.raises(ValueError, match="namespace"):
        replace(InstallOptions(), namespace="Bad_NS")


def _dashboard_names(files: dict[str, str]) -> list[str]:
    return [d["metadata"]["name"] for d in yaml.safe_load_all(files["grafana-dashboards.yaml"])]


def test_install_ships_the_recorded_fleet_dashboard_with_its_rules(tmp_path) -> None:
    """With sdobs' rules in the install, the fleet dashboard ships as its recorded variant, every
    recorded series it reads is recorded by a shipped rule, and no rule group ships twice."""
    import json
    import re

    files = r.render_files(InstallOptions())
    names = _dashboard_names(files)
    assert "sdobs-fleet-recorded-otel-dashboard" in names
    assert "sdobs-fleet-otel-dashboard" not in names and len(names) == 4
    rules = list(yaml.safe_load_all(files["rules.yaml"]))
    groups = [g for doc in rules for g in doc["spec"]["groups"]]
    assert len({g["name"] for g in groups}) == len(groups), [g["name"] for g in groups]
    recorded = {rule["record"] for g in groups for rule in g["rules"] if "record" in rule}
    fleet = next(d for d in yaml.safe_load_all(files["grafana-dashboards.yaml"])
                 if d["metadata"]["name"] == "sdobs-fleet-recorded-otel-dashboard")
    exprs = [t["expr"] for text in fleet["data"].values() for p in json.loads(text)["panels"]
             for t in p.get("targets", [])]
    read = {n for e in exprs for n in re.findall(r"\b[a-z_]+:sdobs_[a-z0-9_]+:[a-z0-9_]+\b", e)}
    assert read and read <= recorded, read - recorded  # the GPU rules ship too
    # Without the Knative recording rules the raw fleet dashboard ships, not an empty variant.
    bare = r.render_files(InstallOptions(), rules_dir=_rules(tmp_path / "rules"))
    names = _dashboard_names(bare)
    assert "sdobs-fleet-otel-dashboard" in names and not any("recorded" in n for n in names)
