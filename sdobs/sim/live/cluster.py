"""A live pod's kube-state-metrics and cAdvisor series, as the history renderer has them.

One endpoint per pod answers with both, each series carrying the ``job`` it would have on a
cluster (``kube-state-metrics``, ``kubelet``); the demo scrapes it with ``honor_labels`` so
those stay. Figures come from the resource model of :mod:`sdobs.sim.cluster` (CPU seconds are
integrated from the busy state seen at each scrape).
"""

from __future__ import annotations

from dataclasses import dataclass

from sdobs_exporters.exposition_text import go_float

from sdobs.sim import cluster as model
from sdobs.sim.manifest import RevisionSpec
from sdobs.sim.render import labels_text

CLUSTER_JOB = "kube-cluster"  # the file-SD job; series keep their own job labels


@dataclass
class PodResources:
    """CPU seconds a live pod's containers have used so far."""

    user_cpu: float = 0.0
    qp_cpu: float = 0.0
    last: float | None = None

    def render(self, spec: RevisionSpec, pod: str, ip: str, now: float, started: float,
               loaded: float, busy: bool, handled: int) -> bytes:
        dt = 0.0 if self.last is None else max(now - self.last, 0.0)
        self.last = now
        if now < loaded:
            self.user_cpu += model.LOAD_CORES * dt
        else:
            self.user_cpu += (model.IDLE_CORES + (model.BUSY_CORES if busy else 0.0)) * dt
        self.qp_cpu = model.QP_CORES * max(now - started, 0.0) + \
            model.QP_CORES_PER_REQUEST * handled
        span = max(loaded - started, 1.0)
        ramp = model.START_MEMORY + (model.LOADED_MEMORY - model.START_MEMORY) * min(
            max((now - started) / span, 0.0), 1.0)
        user_mem = int(ramp + (model.REQUEST_MEMORY if busy else 0))
        uid = model.pod_uid(pod)
        node = f"node-{ip.replace('.', '-')}"
        ksm = {"job": model.KSM_JOB, "instance": model.KSM_INSTANCE,
               "namespace": spec.namespace, "pod": pod, "uid": uid}
        out = ["# TYPE kube_pod_labels gauge",
               "kube_pod_labels{" + labels_text({
                   **ksm, "label_serving_knative_dev_revision": spec.name,
                   "label_serving_knative_dev_service": spec.service,
                   "label_serving_knative_dev_configuration": spec.configuration}) + "} 1"]
        for family, table in (("kube_pod_container_resource_limits",
                               {spec.container: model.USER_LIMITS}),
                              ("kube_pod_container_resource_requests",
                               {spec.container: model.USER_REQUESTS,
                                model.QUEUE_PROXY: model.QP_REQUESTS})):
            out.append(f"# TYPE {family} gauge")
            for container, resources in table.items():
                for resource, (unit, value) in resources.items():
                    labels = {**ksm, "container": container, "node": node,
                              "resource": resource, "unit": unit}
                    out.append(f"{family}{{{labels_text(labels)}}} {go_float(value)}")
        out.append("# TYPE kube_pod_container_status_restarts_total counter")
        for container in (spec.container, model.QUEUE_PROXY):
            out.append("kube_pod_container_status_restarts_total{"
                       + labels_text({**ksm, "container": container}) + "} 0")
        kubelet = {"job": model.KUBELET_JOB, "instance": f"{ip}:10250",
                   "metrics_path": model.CADVISOR_PATH, "namespace": spec.namespace, "pod": pod}
        rows = ((spec.container, "registry.example.com/sd-webui:1.10", self.user_cpu, user_mem),
                (model.QUEUE_PROXY, "gcr.io/knative-releases/queue:v1.21.1", self.qp_cpu,
                 model.QP_MEMORY))
        cpu = ["# TYPE container_cpu_usage_seconds_total counter"]
        mem = ["# TYPE container_memory_working_set_bytes gauge"]
        for container, image, c, m in rows:
            labels = labels_text({**kubelet, "container": container, "image": image,
                                  "id": f"/kubepods/pod{uid}/{container}",
                                  "name": f"k8s_{container}_{pod}"})
            cpu.append(f"container_cpu_usage_seconds_total{{{labels}}} {round(c, 6)!r}")
            mem.append(f"container_memory_working_set_bytes{{{labels}}} {go_float(m)}")
        return ("\n".join(out + cpu + mem) + "\n").encode()
