"""The SD exporter's Knative example and extension folder agree with the exporter's code."""

from __future__ import annotations

from pathlib import Path

import yaml
from sdobs_exporters.sd import SdMetricsMiddleware

EXPORTERS = Path(__file__).resolve().parents[2] / "exporters"


def test_knative_example_probes_readiness_and_is_scraped() -> None:
    svc, monitor = [d for d in yaml.safe_load_all(
        (EXPORTERS / "manifests/knative-sd-demo-sd-exporter.yaml").read_text()) if d]
    assert svc["kind"] == "Service" and monitor["kind"] == "PodMonitor"
    defaults = SdMetricsMiddleware(app=None)
    (model,) = svc["spec"]["template"]["spec"]["containers"]
    assert "--api" in model["args"]  # the /sdapi endpoints exist only with --api
    probe = model["readinessProbe"]["httpGet"]
    assert probe == {"path": defaults.ready_path, "port": model["ports"][0]["containerPort"]}
    labels = svc["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == defaults.metrics_path and endpoint["honorLabels"] is True


def test_extension_folder_layout() -> None:
    ext = EXPORTERS / "a1111-sdobs-metrics"
    script = (ext / "scripts" / "sdobs_metrics.py").read_text()
    assert "script_callbacks.on_app_started(" in script
    assert "shared.sd_model" not in script.replace("never ``shared.sd_model``", "")
    assert (ext / "install.py").is_file() and (ext / "metadata.ini").is_file()
