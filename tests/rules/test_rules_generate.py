"""Rule generation: files per target, PrometheusRule manifests, SLO file and annotations, errors."""

from __future__ import annotations

import filecmp

import pytest
import yaml

from sdobs.cli import main
from sdobs.rules.generate import GENERATED, TARGETS, generate, rule_groups
from sdobs.rules.slofile import SloConfig, SloError, load_slo_file

SERVICE = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: sd-fast
  namespace: team-a
  annotations:
    slo.sdobs.dev/availability: "99.9"
    slo.sdobs.dev/latency-threshold-seconds: "5"
spec: {}
"""


def test_repository_files_are_up_to_date(tmp_path):
    generate(tmp_path)
    for target in TARGETS:
        names = sorted(p.name for p in (GENERATED / target).iterdir())
        assert names == sorted(p.name for p in (tmp_path / target).iterdir())
        for name in names:
            assert filecmp.cmp(GENERATED / target / name, tmp_path / target / name,
                               shallow=False), f"{target}/{name}: run 'sdobs rules generate'"


def test_prometheusrule_holds_every_group(tmp_path):
    generate(tmp_path, targets=("opencensus",))
    rule = yaml.safe_load((tmp_path / "opencensus" / "prometheusrule.yaml").read_text())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    groups = [g["name"] for g in rule["spec"]["groups"]]
    files = [g["name"] for f in sorted((tmp_path / "opencensus").glob("*.rules.yaml"))
             for g in yaml.safe_load(f.read_text())["groups"]]
    assert sorted(groups) == sorted(files)
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts and all({"summary", "description", "runbook_url"} <= set(r["annotations"])
                          for r in alerts)


def test_every_alert_has_a_runbook_section():
    from sdobs.rules.generate import REPO_ROOT, alerts

    text = (REPO_ROOT / "docs/runbooks.md").read_text()
    # GitHub's anchor of "## SDHighErrorRatio" is "#sdhigherrorratio".
    anchors = {line[3:].strip().lower() for line in text.splitlines() if line.startswith("## ")}
    names = set()
    for target in TARGETS:
        for groups in rule_groups(target).values():
            names |= {a.runbook for a in alerts(groups)}
    assert names <= anchors, f"runbook sections missing: {sorted(names - anchors)}"


def test_annotations_override_the_slo_file(tmp_path):
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(SERVICE)
    cfg = SloConfig().with_manifests([manifest])
    assert cfg.objectives("team-a", "sd-fast").availability == pytest.approx(0.999)
    assert cfg.objectives("team-a", "sd-fast").latency_threshold == 5
    groups = rule_groups("opentelemetry", cfg)["slo"]
    overrides = next(g for g in groups if g.name == "sdobs-slo-overrides")
    assert {r.labels["service"] for r in overrides.rules} == {"sd-fast"}


def test_a_threshold_that_is_no_bucket_bound_is_named(tmp_path):
    slo = tmp_path / "slo.yaml"
    slo.write_text("objectives: {latency_threshold_seconds: 20}\n")
    with pytest.raises(SloError, match="20 s is not a bucket bound of the opentelemetry"):
        rule_groups("opentelemetry", load_slo_file(slo))
    # 20 s is a bound of OpenCensus' millisecond buckets.
    assert rule_groups("opencensus", load_slo_file(slo))


@pytest.mark.parametrize("text, message", [
    ("objectives: {availability: 120}\n", "percentage between 0 and 100"),
    ("objectives: {availabilty: 99}\n", "unknown key"),
    ("period: month\n", "not a duration"),
    ("services: [{availability: 99}]\n", "needs at least 'service:'"),
    ("[1, 2\n", "not valid YAML"),
])
def test_bad_slo_files_get_one_sentence(tmp_path, text, message):
    slo = tmp_path / "slo.yaml"
    slo.write_text(text)
    with pytest.raises(SloError, match=message):
        load_slo_file(slo)


def test_command_reports_bad_input_without_traceback(tmp_path, capsys):
    slo = tmp_path / "slo.yaml"
    slo.write_text("objectives: {latency: 0}\n")
    assert main(["rules", "generate", "--out", str(tmp_path), "--slo-file", str(slo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdobs rules: ") and "Traceback" not in err
    assert main(["rules", "generate", "--out", str(tmp_path / "out"), "--target", "gpu"]) == 0
    assert main(["rules", "check", "--dir", str(tmp_path / "out")]) == 0
