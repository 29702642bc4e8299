"""Container file, Kubernetes manifests and gpu-check.sh: consistent with each other and the CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from sdobs_exporters.gpu.__main__ import build_parser

EXPORTERS = Path(__file__).resolve().parents[2] / "exporters"
MANIFESTS = EXPORTERS / "manifests"


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def test_knative_service_adds_only_the_sidecar() -> None:
    (svc,) = docs("knative-sd-demo-gpu-exporter.yaml")
    assert svc["kind"] == "Service" and svc["apiVersion"] == "serving.knative.dev/v1"
    spec = svc["spec"]["template"]["spec"]
    assert spec["containerConcurrency"] == 1
    model, exporter = spec["containers"]
    # the reference container, untouched
    assert model["name"] == "stable-diffusion"
    assert model["ports"] == [{"containerPort": 7860, "name": "http1", "protocol": "TCP"}]
    assert model["command"] == ["python3", "launch.py"]
    annotations = svc["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/maxScale"] == "10"
    assert "k8s.aliyun.com/eci-use-specs" in annotations
    # the sidecar: no ports (Knative allows one serving container), downward API, liveness only
    assert "ports" not in exporter and "readinessProbe" not in exporter
    env = {e["name"]: e for e in exporter["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["SDOBS_GPU_CONTAINER"]["value"] == model["name"]
    args = build_parser().parse_args(exporter["args"])
    assert args.listen == "0.0.0.0:9402" and args.mode == "sidecar"
    assert exporter["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9402}
    label = svc["spec"]["template"]["metadata"]["labels"]
    (sidecar_monitor, _) = docs("gpu-exporter-podmonitor.yaml")
    assert sidecar_monitor["spec"]["selector"]["matchLabels"].items() <= label.items()
    endpoint = sidecar_monitor["spec"]["podMetricsEndpoints"][0]
    assert endpoint["honorLabels"] is True
    keep, address = endpoint["relabelings"]
    assert keep["regex"] == exporter["name"] and keep["action"] == "keep"
    assert address["replacement"] == "$1:9402"


def test_daemonset_mounts_the_pod_resources_directory() -> None:
    _, ds = docs("gpu-exporter-daemonset.yaml")
    pod = ds["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    args = build_parser().parse_args(c["args"])
    assert args.mode == "node"
    (vol,) = pod["volumes"]
    assert vol["hostPath"] == {"path": "/var/lib/kubelet/pod-resources", "type": "Directory"}
    (mount,) = c["volumeMounts"]
    assert mount["readOnly"] is True
    assert Path(args.pod_resources_socket).parent == Path(mount["mountPath"])
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["ports"][0]["containerPort"] == int(args.listen.rsplit(":", 1)[1])
    (_, node_monitor) = docs("gpu-exporter-podmonitor.yaml")
    assert node_monitor["spec"]["podMetricsEndpoints"][0]["port"] == c["ports"][0]["name"]
    assert node_monitor["spec"]["selector"]["matchLabels"].items() <= \
        ds["spec"]["template"]["metadata"]["labels"].items()


def test_container_file_installs_the_base_distribution_only() -> None:
    text = (EXPORTERS / "gpu-exporter.Containerfile").read_text()
    assert 'ARG EXTRAS=""' in text
    assert 'ENTRYPOINT ["sdobs-gpu-exporter"]' in text
    assert re.search(r"^USER 65532$", text, re.M)
    installs = re.findall(r"pip (?:install|wheel)[^\n]*", text)
    assert all("pandas" not in line and "dash" not in line for line in installs)
    pyproject = (EXPORTERS.parent / "pyproject.toml").read_text()
    base = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.S | re.M).group(1)
    assert sorted(re.findall(r'"([a-z-]+)[<>=]', base)) == ["nvidia-ml-py", "prometheus-client"]


def test_gpu_check_script_is_valid_bash() -> None:
    script = EXPORTERS / "gpu-check.sh"
    assert script.stat().st_mode & 0o111, "gpu-check.sh must be executable"
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", "-S", "error", str(script)], check=True, timeout=60)
