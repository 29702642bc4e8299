"""The objects of an sdobs install, built from one :class:`InstallOptions`.

Every scrape object is a Prometheus Operator PodMonitor: queue-proxy in every revision pod
(port ``http-usermetric``, 9091), the Knative control plane (activator, autoscaler and
optionally controller and webhook, port ``metrics``, 9090) and the sdobs GPU exporter. A plain
Prometheus gets the same objects compiled into scrape jobs (:mod:`sdobs.deploy.compile`).

For the OpenTelemetry dialects the queue-proxy relabelling copies the pod's Knative labels to
``k8s_namespace_name``, ``k8s_pod_name``, ``kn_revision_name``, ``kn_configuration_name`` and
``kn_service_name``: upstream OpenTelemetry-era queue-proxy series carry no revision identity of
their own (it sits only on ``target_info``), and those are the names OTLP promotion and
OpenShift's exporter give it, which the catalog's OpenTelemetry dialects select on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sdobs.errors import InputError
from sdobs.knative.dialects import OPENCENSUS, get_dialect

STACKS = ("kube-prometheus-stack", "prometheus")
DEFAULT_RELEASE = "kube-prometheus-stack"
PART_OF = {"app.kubernetes.io/part-of": "sdobs"}
MONITORING_API = "monitoring.coreos.com/v1"

#: Knative's pod labels (knative/serving pkg/apis/serving/register.go).
REVISION_LABEL = "serving.knative.dev/revision"
SERVICE_LABEL = "serving.knative.dev/service"
CONFIGURATION_LABEL = "serving.knative.dev/configuration"
KNATIVE_POD_LABELS = (REVISION_LABEL, SERVICE_LABEL, CONFIGURATION_LABEL)
QUEUE_PROXY_PORT_NAME = "http-usermetric"  # 9091 in every Knative version
CONTROL_PLANE_PORT_NAME = "metrics"  # 9090 on activator, autoscaler, controller, webhook
CONTROL_PLANE = ("activator", "autoscaler")
CONTROL_PLANE_EXTRA = ("controller", "webhook")
#: The scaling panels read gauges the autoscaler updates every 2 s; 15 s keeps them readable.
SCRAPE_INTERVAL = "15s"
KSM_ALLOWLIST = f"pods=[{','.join(KNATIVE_POD_LABELS)}]"
_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")


def sanitize(label: str) -> str:
    """A Kubernetes label key as Prometheus' Kubernetes SD spells it in meta label names."""
    return _SANITIZE.sub("_", label)


def pod_label_meta(key: str) -> str:
    return f"__meta_kubernetes_pod_label_{sanitize(key)}"


def ksm_label(key: str) -> str:
    """A pod label as kube-state-metrics names it on ``kube_pod_labels`` (``label_...``)."""
    return "label_" + sanitize(key)


@dataclass(frozen=True)
class InstallOptions:
    """Which cluster the install is for: Knative dialect, monitoring stack, names."""

    dialect: str = "opentelemetry"
    stack: str = "kube-prometheus-stack"
    release: str = DEFAULT_RELEASE  # the release: label kube-prometheus-stack selects; "" none
    namespace: str = "monitoring"  # where the monitors and dashboard ConfigMaps live
    knative_namespace: str = "knative-serving"
    control_plane_extra: bool = False  # also scrape the controller and the webhook
    interval: str = SCRAPE_INTERVAL
    extra_labels: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        get_dialect(self.dialect)  # a clear error for an unknown dialect
        if self.stack not in STACKS:
            raise InputError(f"unknown monitoring stack {self.stack!r}; use one of: "
                             f"{', '.join(STACKS)}")
        for name in (self.namespace, self.knative_namespace):
            if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
                raise InputError(f"namespace {name!r} is not a valid Kubernetes namespace name")
        if self.release and not re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?",
                                             self.release):
            raise InputError(f"release {self.release!r} is not a valid Kubernetes label value")
        if not re.fullmatch(r"[0-9]+(ms|s|m|h)", self.interval):
            raise InputError(f"scrape interval {self.interval!r} must be a duration like 15s")

    @property
    def otel(self) -> bool:
        return get_dialect(self.dialect).name != OPENCENSUS.name

    def labels(self) -> dict[str, str]:
        """Labels of every object: part-of sdobs, and the release selector when set."""
        out = dict(PART_OF)
        if self.release:
            out["release"] = self.release
        out.update(dict(self.extra_labels))
        return out


def _relabel(source: str, target: str) -> dict[str, Any]:
    return {"sourceLabels": [source], "targetLabel": target}


def queue_proxy_relabelings(opts: InstallOptions) -> list[dict[str, Any]]:
    """Target relabelling of queue-proxy: the OTLP-style identity for OpenTelemetry dialects."""
    if not opts.otel:
        return []  # OpenCensus-era series name their namespace, revision and pod themselves
    return [
        _relabel("__meta_kubernetes_namespace", "k8s_namespace_name"),
        _relabel("__meta_kubernetes_pod_name", "k8s_pod_name"),
        _relabel(pod_label_meta(REVISION_LABEL), "kn_revision_name"),
        _relabel(pod_label_meta(CONFIGURATION_LABEL), "kn_configuration_name"),
        _relabel(pod_label_meta(SERVICE_LABEL), "kn_service_name"),
    ]


def _monitor(opts: InstallOptions, name: str, spec: dict[str, Any],
             comment: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": opts.namespace, "labels": opts.labels()}
    if comment:
        meta["annotations"] = {"sdobs.dev/purpose": comment}
    return {"apiVersion": MONITORING_API, "kind": "PodMonitor", "metadata": meta, "spec": spec}


def queue_proxy_monitor(opts: InstallOptions) -> dict[str, Any]:
    """Queue-proxy of every revision pod, in every namespace."""
    endpoint: dict[str, Any] = {"port": QUEUE_PROXY_PORT_NAME, "path": "/metrics",
                                "interval": opts.interval}
    relabelings = queue_proxy_relabelings(opts)
    if relabelings:
        endpoint["relabelings"] = relabelings
    return _monitor(opts, "sdobs-knative-queue-proxy", {
        "namespaceSelector": {"any": True},
        "selector": {"matchExpressions": [{"key": REVISION_LABEL, "operator": "Exists"}]},
        "podMetricsEndpoints": [endpoint],
    }, "request volume, codes and latency of every Knative revision (queue-proxy :9091)")


def control_plane_monitor(opts: InstallOptions) -> dict[str, Any]:
    """Activator and autoscaler (and controller/webhook): the scaling panels and dropdowns.

    ``honorLabels`` keeps the revision labels they expose even where a target label of the
    same name exists (as Knative's own monitors do); ``jobLabel: app`` names the job after the
    component.
    """
    apps = CONTROL_PLANE + (CONTROL_PLANE_EXTRA if opts.control_plane_extra else ())
    return _monitor(opts, "sdobs-knative-control-plane", {
        "jobLabel": "app",
        "namespaceSelector": {"matchNames": [opts.knative_namespace]},
        "selector": {"matchExpressions": [{"key": "app", "operator": "In",
                                           "values": list(apps)}]},
        "podMetricsEndpoints": [{"port": CONTROL_PLANE_PORT_NAME, "path": "/metrics",
                                 "interval": opts.interval, "honorLabels": True}],
    }, "Knative autoscaler and activator (:9090): pods, concurrency, panic, dropdowns")


def gpu_exporter_monitors(opts: InstallOptions) -> list[dict[str, Any]]:
    """The sdobs GPU exporter: as a sidecar in model pods, and as a node agent.

    ``honorLabels`` keeps the workload's ``namespace``/``pod``/``container`` the exporter puts
    on its series (otherwise Prometheus renames them ``exported_*``).
    """
    sidecar = _monitor(opts, "sdobs-gpu-exporter-sidecar", {
        "namespaceSelector": {"any": True},
        "selector": {"matchLabels": {"sdobs.dev/gpu-exporter": "sidecar"}},
        "podMetricsEndpoints": [{
            "path": "/metrics", "interval": opts.interval,
            "honorLabels": True,
            # Knative forbids ports on a sidecar: keep its container and aim at <pod IP>:9402.
            "relabelings": [
                {"sourceLabels": ["__meta_kubernetes_pod_container_name"],
                 "regex": "sdobs-gpu-exporter", "action": "keep"},
                {"sourceLabels": ["__meta_kubernetes_pod_ip"], "regex": "(.+)",
                 "targetLabel": "__address__", "replacement": "$1:9402", "action": "replace"},
            ],
        }],
    }, "sdobs GPU exporter sidecars in model pods")
    node = _monitor(opts, "sdobs-gpu-exporter-node", {
        "namespaceSelector": {"any": True},
        "selector": {"matchLabels": {"app.kubernetes.io/name": "sdobs-gpu-exporter"}},
        "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics",
                                 "interval": opts.interval,
                                 "honorLabels": True}],
    }, "sdobs GPU exporter node agents (DaemonSet)")
    return [sidecar, node]


def monitors(opts: InstallOptions) -> list[dict[str, Any]]:
    """Every scrape object of the install, queue-proxy first."""
    return [queue_proxy_monitor(opts), control_plane_monitor(opts), *gpu_exporter_monitors(opts)]


def config_observability(opts: InstallOptions) -> dict[str, Any]:
    """``config-observability`` with Prometheus pull metrics on for the dialect's era.

    Knative v1.19+ (OpenTelemetry) exports nothing until ``metrics-protocol`` and
    ``request-metrics-protocol`` are set (both default to ``none``; the old ``metrics.*`` keys
    are ignored). Up to v1.18 (OpenCensus) Prometheus is the default; the keys make it explicit.
    """
    if opts.otel:
        data = {"metrics-protocol": "prometheus", "request-metrics-protocol": "prometheus"}
    else:
        data = {"metrics.backend-destination": "prometheus",
                "metrics.request-metrics-backend-destination": "prometheus"}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config-observability", "namespace": opts.knative_namespace,
                     "labels": {"app.kubernetes.io/name": "knative-serving",
                                "app.kubernetes.io/component": "observability"}},
        "data": data,
    }


def kube_prometheus_stack_values(opts: InstallOptions) -> dict[str, Any]:
    """A values fragment for ``helm upgrade kube-prometheus-stack ... -f``.

    - kube-state-metrics exposes Knative's pod labels on ``kube_pod_labels`` (none by default),
      which joins GPU (dcgm-exporter, node mode) and container-resource series to revisions;
    - the sdobs monitors carry ``release: <release>``, which the default selectors pick; without
      a release label the selectors must select every monitor and rule instead;
    - Grafana's dashboard sidecar loads the labelled ConfigMaps from every namespace.
    """
    values: dict[str, Any] = {
        "kube-state-metrics": {"metricLabelsAllowlist": [KSM_ALLOWLIST]},
        "grafana": {"sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard",
                                               "labelValue": "1", "searchNamespace": "ALL"}}},
    }
    if not opts.release:
        values["prometheus"] = {"prometheusSpec": {
            "podMonitorSelectorNilUsesHelmValues": False,
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
        }}
    return values


def dcgm_exporter_values(opts: InstallOptions) -> dict[str, Any]:
    """A values fragment for NVIDIA's dcgm-exporter chart (or the GPU Operator's dcgmExporter).

    ``honorLabels: true`` keeps the workload's ``namespace``/``pod`` (the chart's default false
    renames them ``exported_*``, which no join with ``kube_pod_labels`` matches).
    """
    monitor: dict[str, Any] = {"enabled": True, "honorLabels": True, "interval": opts.interval}
    if opts.release:
        monitor["additionalLabels"] = {"release": opts.release}
    return {"serviceMonitor": monitor}
