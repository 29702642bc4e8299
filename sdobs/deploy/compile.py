"""A PodMonitor as the Prometheus scrape job the Prometheus Operator generates from it.

Mirrors ``generatePodMonitorConfig`` of prometheus-operator v0.93 (``pkg/prometheus/
promcfg.go``): keep Running pods, keep pods the selector picks (``matchLabels``, ``In``,
``NotIn``, ``Exists``, ``DoesNotExist`` on ``__meta_kubernetes_pod_label[present]_*``), keep the
named container port, set ``namespace``, ``container``, ``pod``, ``job`` (``<ns>/<name>`` or the
``jobLabel`` pod label) and ``endpoint``, then the monitor's own relabelings. A plain
Prometheus runs these jobs as they are; the tests run them in a real Prometheus over file-SD
targets that carry the meta labels Kubernetes SD would give, to prove what series come out.
"""

from __future__ import annotations

from typing import Any

from sdobs.deploy.manifests import sanitize
from sdobs.errors import InputError

_RELABEL_KEYS = (("sourceLabels", "source_labels"), ("separator", "separator"),
                 ("targetLabel", "target_label"), ("regex", "regex"), ("modulus", "modulus"),
                 ("replacement", "replacement"), ("action", "action"))


def relabel_config(rule: dict[str, Any]) -> dict[str, Any]:
    """One Operator ``RelabelConfig`` (camelCase) as Prometheus ``relabel_configs`` entry."""
    unknown = set(rule) - {k for k, _ in _RELABEL_KEYS}
    if unknown:
        raise InputError(f"unknown relabeling field(s) {sorted(unknown)} in {rule}")
    out = {}
    for src, dst in _RELABEL_KEYS:
        if src in rule:
            out[dst] = rule[src].lower() if src == "action" else rule[src]
    return out


def _selector_rules(selector: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for key in sorted(selector.get("matchLabels", {})):
        value = selector["matchLabels"][key]
        rules.append({"action": "keep",
                      "source_labels": [f"__meta_kubernetes_pod_label_{sanitize(key)}",
                                        f"__meta_kubernetes_pod_labelpresent_{sanitize(key)}"],
                      "regex": f"({value});true"})
    for exp in selector.get("matchExpressions", []):
        key, op = sanitize(exp["key"]), exp["operator"]
        both = [f"__meta_kubernetes_pod_label_{key}", f"__meta_kubernetes_pod_labelpresent_{key}"]
        if op in ("In", "NotIn"):
            rules.append({"action": "keep" if op == "In" else "drop", "source_labels": both,
                          "regex": f"({'|'.join(exp['values'])});true"})
        elif op in ("Exists", "DoesNotExist"):
            rules.append({"action": "keep" if op == "Exists" else "drop",
                          "source_labels": [f"__meta_kubernetes_pod_labelpresent_{key}"],
                          "regex": "true"})
        else:
            raise InputError(f"unknown label selector operator {op!r}")
    return rules


def relabel_configs(monitor: dict[str, Any], index: int = 0) -> list[dict[str, Any]]:
    """The ``relabel_configs`` the Operator generates for endpoint ``index`` of a PodMonitor."""
    meta, spec = monitor["metadata"], monitor["spec"]
    ep = spec["podMetricsEndpoints"][index]
    rules: list[dict[str, Any]] = [{"source_labels": ["job"],
                                    "target_label": "__tmp_prometheus_job_name"}]
    if ep.get("filterRunning", True):
        rules.append({"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"],
                      "regex": "(Failed|Succeeded)"})
    rules += _selector_rules(spec.get("selector", {}))
    if ep.get("port"):
        rules.append({"action": "keep",
                      "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                      "regex": ep["port"]})
    elif ep.get("portNumber"):
        rules.append({"action": "keep",
                      "source_labels": ["__meta_kubernetes_pod_container_port_number"],
                      "regex": str(ep["portNumber"])})
    rules += [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    for label in spec.get("podTargetLabels", []):
        rules.append({"source_labels": [f"__meta_kubernetes_pod_label_{sanitize(label)}"],
                      "target_label": sanitize(label), "regex": "(.+)", "replacement": "${1}"})
    rules.append({"target_label": "job",
                  "replacement": f"{meta.get('namespace', 'default')}/{meta['name']}"})
    if spec.get("jobLabel"):
        source = f"__meta_kubernetes_pod_label_{sanitize(spec['jobLabel'])}"
        rules.append({"source_labels": [source], "target_label": "job", "regex": "(.+)",
                      "replacement": "${1}"})
    if ep.get("port"):
        rules.append({"target_label": "endpoint", "replacement": ep["port"]})
    rules += [relabel_config(r) for r in ep.get("relabelings", [])]
    return rules


def scrape_job(monitor: dict[str, Any], index: int = 0, *,
               service_discovery: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Prometheus ``scrape_configs`` entry for one PodMonitor endpoint.

    ``service_discovery`` replaces the Kubernetes SD block (tests pass ``file_sd_configs``).
    """
    meta, spec = monitor["metadata"], monitor["spec"]
    if monitor.get("kind") != "PodMonitor":
        raise InputError(f"only PodMonitors compile to scrape jobs, not {monitor.get('kind')}")
    ep = spec["podMetricsEndpoints"][index]
    job: dict[str, Any] = {"job_name": f"podMonitor/{meta.get('namespace', 'default')}/"
                                       f"{meta['name']}/{index}"}
    if ep.get("honorLabels"):
        job["honor_labels"] = True
    if service_discovery is None:
        sd: dict[str, Any] = {"role": "pod"}
        ns = spec.get("namespaceSelector", {})
        if not ns.get("any"):
            names = ns.get("matchNames") or [meta.get("namespace", "default")]
            sd["namespaces"] = {"names": list(names)}
        service_discovery = {"kubernetes_sd_configs": [sd]}
    job.update(service_discovery)
    for src, dst in (("interval", "scrape_interval"), ("scrapeTimeout", "scrape_timeout"),
                     ("path", "metrics_path"), ("scheme", "scheme")):
        if ep.get(src):
            job[dst] = ep[src]
    job["relabel_configs"] = relabel_configs(monitor, index)
    if ep.get("metricRelabelings"):
        job["metric_relabel_configs"] = [relabel_config(r) for r in ep["metricRelabelings"]]
    return job


def scrape_jobs(monitors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every endpoint of every PodMonitor as a scrape job."""
    return [scrape_job(m, i) for m in monitors
            for i in range(len(m["spec"]["podMetricsEndpoints"]))]
