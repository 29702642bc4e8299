"""Twin configuration from Knative manifests: the reference service, defaults, errors, canaries."""

from __future__ import annotations

import pytest
from sim_helpers import kpa, service, service_yaml

from sdobs.sim.manifest import ManifestError, load_files, load_text, parse_duration
from sdobs.sim.scenarios import REFERENCE_MANIFEST


def test_reference_manifest() -> None:
    services, _cfg = load_files([REFERENCE_MANIFEST])
    (svc,) = services
    (rev,) = svc.revisions
    assert (svc.name, svc.namespace, rev.name) == ("knative-sd-demo", "default",
                                                   "knative-sd-demo-00001")
    assert rev.autoscaler_class == "mpa"
    assert rev.container_concurrency == 1
    assert rev.timeout_seconds == 300  # Knative's default revision timeout
    assert (rev.gpu, rev.instance_spec, rev.platform) == ("p100", "ecs.gn5-c4g1.xlarge", "eci")
    k = rev.kpa
    assert (k.target, k.total, k.max_scale, k.min_scale, k.initial_scale) == (1.0, 1.0, 10, 0, 1)
    assert (k.stable_window, k.panic_window, k.panic_threshold) == (60, 6, 2.0)
    assert k.target_burst_capacity == -1  # MPA: the gateway is always in the path
    assert svc.percent(rev.name) == 100


def test_defaults_apply_where_a_field_is_absent() -> None:
    rev = service().revisions[0]
    k = rev.kpa
    assert rev.autoscaler_class == "kpa"
    assert k.target == pytest.approx(0.7)  # CC 1 × 70 %
    assert k.target_burst_capacity == 211
    assert (k.scale_to_zero_grace_period, k.scale_down_delay, k.scale_to_zero_pod_retention) \
        == (30, 0, 0)
    assert rev.gpu == "t4"


def test_every_annotation_is_read() -> None:
    rev = service(kpa(min_scale="1", max_scale="8", initial_scale="2", target="3",
                      target_utilization_percentage="90", target_burst_capacity="0",
                      window="120s", panic_window_percentage="20",
                      panic_threshold_percentage="300", scale_down_delay="5m",
                      scale_to_zero_pod_retention_period="90s", activation_scale="2",
                      metric_aggregation_algorithm="weighted-exponential"),
                  cc=4, timeout=120).revisions[0]
    k = rev.kpa
    assert (k.min_scale, k.max_scale, k.initial_scale, k.activation_scale) == (1, 8, 2, 2)
    assert k.total == 3 and k.target == pytest.approx(2.7)
    assert (k.target_burst_capacity, k.stable_window, k.panic_window) == (0, 120, 24)
    assert (k.panic_threshold, k.scale_down_delay, k.scale_to_zero_pod_retention) == (3, 300, 90)
    assert k.weighted and rev.timeout_seconds == 120 and rev.container_concurrency == 4


@pytest.mark.parametrize(("annotations", "field"), [
    (kpa(max_scale="ten"), "autoscaling.knative.dev/max-scale"),
    (kpa(target_utilization_percentage="150"), "target-utilization-percentage"),
    (kpa(window="3s"), "autoscaling.knative.dev/window"),
    (kpa(panic_threshold_percentage="100"), "panic-threshold-percentage"),
    (kpa(target_burst_capacity="-5"), "target-burst-capacity"),
    (kpa(min_scale="5", max_scale="2"), "min-scale"),
    (kpa(scale_down_delay="1.5s"), "scale-down-delay"),
    (kpa(**{"class": "hpa.autoscaling.knative.dev"}), "autoscaling.knative.dev/class"),
    (kpa(metric="cpu"), "autoscaling.knative.dev/metric"),
    ({"k8s.aliyun.com/eci-use-specs": "ecs.gn9x-c4g1.xlarge"}, "k8s.aliyun.com/eci-use-specs"),
    ({"k8s.aliyun.com/eci-use-specs": "t4-please"}, "k8s.aliyun.com/eci-use-specs"),
])
def test_bad_values_name_their_field(annotations: dict[str, str], field: str) -> None:
    with pytest.raises(ManifestError) as err:
        service(annotations)
    assert field in err.value.field
    assert "Service sd" in str(err.value)


def test_bad_revision_fields_name_their_field() -> None:
    with pytest.raises(ManifestError, match=r"containerConcurrency"):
        service(cc=5000)
    with pytest.raises(ManifestError, match=r"timeoutSeconds"):
        service(timeout=900)


def test_gpu_from_a_limit_and_node_selector() -> None:
    text = service_yaml(spec="x").replace(
        "        k8s.aliyun.com/eci-use-specs: 'x'\n", "        team: 'a'\n")
    text = text.replace("      - image: sd-webui\n", """      - image: sd-webui
        resources: {limits: {nvidia.com/gpu: 1}}
      nodeSelector: {nvidia.com/gpu.product: NVIDIA-A10}
""")
    (svc,), _ = load_text(text)
    rev = svc.revisions[0]
    assert (rev.gpu, rev.gpu_count, rev.platform) == ("a10", 1, "nodes")
    with pytest.raises(ManifestError, match="nodeSelector"):
        load_text(text.replace("      nodeSelector: {nvidia.com/gpu.product: NVIDIA-A10}\n", ""))
    with pytest.raises(ManifestError, match="no GPU"):
        load_text(service_yaml(spec="x").replace("k8s.aliyun.com/eci-use-specs", "team"))


def test_revisions_and_a_canary_traffic_split() -> None:
    v1 = service_yaml(kpa(min_scale="1"))
    v2 = service_yaml(kpa(max_scale="3")) + """  traffic:
  - revisionName: sd-00001
    percent: 90
  - latestRevision: true
    percent: 10
    tag: canary
"""
    (svc,), _ = load_text(v1 + "---\n" + v2)
    assert [r.name for r in svc.revisions] == ["sd-00001", "sd-00002"]
    assert svc.percent("sd-00001") == 90 and svc.percent("sd-00002") == 10
    assert svc.revisions[0].kpa.min_scale == 1 and svc.revisions[1].kpa.max_scale == 3
    bad = v2.replace("percent: 10", "percent: 20")
    with pytest.raises(ManifestError, match="add up to 110"):
        load_text(v1 + "---\n" + bad)
    with pytest.raises(ManifestError, match="revisionName"):
        load_text(v1 + "---\n" + v2.replace("sd-00001", "sd-00009"))


def test_configmaps_replace_cluster_defaults() -> None:
    cm = """apiVersion: v1
kind: ConfigMap
metadata: {name: config-autoscaler, namespace: knative-serving}
data:
  stable-window: 90s
  target-burst-capacity: "-1"
  container-concurrency-target-percentage: "80"
  scale-to-zero-grace-period: 45s
---
apiVersion: v1
kind: ConfigMap
metadata: {name: config-defaults, namespace: knative-serving}
data: {revision-timeout-seconds: "120"}
---
"""
    (svc,), _cfg = load_text(cm + service_yaml())
    k = svc.revisions[0].kpa
    assert (k.stable_window, k.target_burst_capacity, k.scale_to_zero_grace_period) == (90, -1, 45)
    assert k.target == pytest.approx(0.8)
    assert svc.revisions[0].timeout_seconds == 120
    with pytest.raises(ManifestError, match="max-scale-down-rate"):
        load_text(cm.replace("stable-window: 90s", "max-scale-down-rate: '1'") + service_yaml())


def test_durations() -> None:
    assert parse_duration("1m30s", "x") == 90
    assert parse_duration("500ms", "x") == 0.5
    assert parse_duration("60", "x") == 60
    with pytest.raises(ManifestError, match="not a duration"):
        parse_duration("soon", "x")


def test_not_a_service() -> None:
    with pytest.raises(ManifestError, match="not a Knative Service"):
        load_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_text("a: [")
