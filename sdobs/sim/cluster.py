"""The cluster series of each simulated pod: kube-state-metrics and the kubelet's cAdvisor.

What kube-prometheus-stack stores for a Knative revision pod, so GPU joins and the revision
resource panels have data in the twin:

- kube-state-metrics (``job="kube-state-metrics"``, ``honorLabels``): ``kube_pod_labels`` with
  Knative's pod labels allowlisted (``label_serving_knative_dev_*``), container resource
  requests and limits, ``kube_pod_container_status_restarts_total`` (0: the twin's pods never
  restart);
- cAdvisor through the kubelet (``job="kubelet"``, ``metrics_path="/metrics/cadvisor"``):
  ``container_cpu_usage_seconds_total`` and ``container_memory_working_set_bytes`` of the user
  container and queue-proxy.

Resource figures are a model, not a measurement: the AUTOMATIC1111 container uses about 1.5
cores and a growing working set while it loads the checkpoint, 0.15 cores idle and 0.6 more
while generating, and holds the checkpoint in host memory; queue-proxy stays near 30 MiB.
Limits follow a typical GPU serving spec (user container 8 cores / 24 GiB, queue-proxy with
Knative's default request of 25m CPU and no limit).
"""

from __future__ import annotations

import uuid

import numpy as np

from sdobs.sim.engine import RevisionLog, ServiceLog

GIB = 1024**3
MIB = 1024**2
KSM_JOB = "kube-state-metrics"
KSM_INSTANCE = "10.96.0.20:8080"
KUBELET_JOB = "kubelet"
CADVISOR_PATH = "/metrics/cadvisor"
QUEUE_PROXY = "queue-proxy"
USER_LIMITS = {"cpu": ("core", 8.0), "memory": ("byte", 24 * GIB)}
USER_REQUESTS = {"cpu": ("core", 4.0), "memory": ("byte", 16 * GIB)}
QP_REQUESTS = {"cpu": ("core", 0.025)}
LOAD_CORES, IDLE_CORES, BUSY_CORES = 1.5, 0.15, 0.6
START_MEMORY, LOADED_MEMORY, REQUEST_MEMORY = 1.2 * GIB, 6.0 * GIB, 1.5 * GIB
QP_MEMORY, QP_CORES, QP_CORES_PER_REQUEST = 30 * MIB, 0.004, 0.01


def pod_uid(pod: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{pod}.pods.sdobs"))


def render_pod_cluster_series(writer, log: ServiceLog, rev: RevisionLog, pod: int, clock,
                              options, requests: np.ndarray | None = None) -> None:
    """kube-state-metrics and cAdvisor series of one pod over its life.

    ``requests``: indices of the pod's requests in ``log.requests`` (the renderer has them;
    finding them here would scan every request once per pod).
    """
    from sdobs.sim.render import _busy_function, _stamps, fmt, labels_text

    spec = rev.spec
    name, ip = log.pod_names[pod], log.pod_ips[pod]
    p = log.pods
    scheduled, started, loaded, gone = (p["scheduled"][pod], p["started"][pod], p["loaded"][pod],
                                        p["gone"][pod])
    uid = pod_uid(name)
    node = f"node-{ip.replace('.', '-')}"
    ksm_grid = clock.grid(f"{KSM_JOB}/{name}", scheduled, gone)
    if not len(ksm_grid):
        return
    stamps = _stamps(ksm_grid)
    ksm = {"job": KSM_JOB, "instance": KSM_INSTANCE, "namespace": spec.namespace, "pod": name,
           "uid": uid}
    ones = [1] * len(ksm_grid)
    out = writer.family("kube_pod_labels", "gauge",
                        "Kubernetes labels converted to Prometheus labels.")
    writer.series(out, "kube_pod_labels", labels_text({
        **ksm, "label_serving_knative_dev_revision": spec.name,
        "label_serving_knative_dev_service": spec.service,
        "label_serving_knative_dev_configuration": spec.configuration}), ones, stamps)
    for family, table in (("kube_pod_container_resource_limits", {spec.container: USER_LIMITS}),
                          ("kube_pod_container_resource_requests",
                           {spec.container: USER_REQUESTS, QUEUE_PROXY: QP_REQUESTS})):
        out = writer.family(family, "gauge", f"The number of {family.rsplit('_', 1)[1]} "
                                             "resource requested/limited by a container.")
        for container, resources in table.items():
            for resource, (unit, value) in resources.items():
                labels = {**ksm, "container": container, "node": node, "resource": resource,
                          "unit": unit}
                writer.series(out, family, labels_text(labels), [fmt(value)] * len(ksm_grid),
                              stamps)
    out = writer.family("kube_pod_container_status_restarts", "counter",
                        "The number of container restarts per container.")
    for container in (spec.container, QUEUE_PROXY):
        writer.series(out, "kube_pod_container_status_restarts_total",
                      labels_text({**ksm, "container": container}), [0] * len(ksm_grid), stamps)

    grid = clock.grid(f"{KUBELET_JOB}/{ip}", started, gone)
    if not len(grid):
        return
    stamps = _stamps(grid)
    t = grid.astype(float)
    r = log.requests
    if requests is None:
        requests = np.flatnonzero(r["pod"] == p["id"][pod])
    mine = requests[r["gpu_start"][requests] >= 0]
    mine = mine[np.argsort(r["gpu_start"][mine], kind="stable")]
    gs, ge = clock.epoch(r["gpu_start"][mine]), clock.epoch(r["gpu_end"][mine])
    busy = _busy_function(gs, ge)
    t_start, t_loaded = float(clock.epoch(started)), float(clock.epoch(loaded))
    loading = np.clip(np.minimum(t, t_loaded) - t_start, 0.0, None)
    serving = np.clip(t - t_loaded, 0.0, None)
    user_cpu = LOAD_CORES * loading + IDLE_CORES * serving + BUSY_CORES * busy(t)
    arrivals = np.sort(clock.epoch(r["t_qp"][requests]))
    handled = np.searchsorted(arrivals, t, side="right")
    qp_cpu = QP_CORES * (t - t_start) + QP_CORES_PER_REQUEST * handled
    j = np.searchsorted(gs, t, side="right") - 1
    running = (j >= 0) & (t < ge[np.maximum(j, 0)]) if len(ge) else np.zeros(len(t), bool)
    span = max(t_loaded - t_start, 1.0)
    ramp = START_MEMORY + (LOADED_MEMORY - START_MEMORY) * np.clip((t - t_start) / span, 0, 1)
    user_mem = np.floor(ramp + REQUEST_MEMORY * running)
    qp_mem = np.full(len(t), float(QP_MEMORY))
    kubelet = {"job": KUBELET_JOB, "instance": f"{ip}:10250", "metrics_path": CADVISOR_PATH,
               "namespace": spec.namespace, "pod": name}
    cpu = writer.family("container_cpu_usage_seconds", "counter",
                        "Cumulative cpu time consumed in seconds.")
    mem = writer.family("container_memory_working_set_bytes", "gauge",
                        "Current working set in bytes.")
    for container, image, c, m in ((spec.container, "registry.example.com/sd-webui:1.10",
                                    user_cpu, user_mem),
                                   (QUEUE_PROXY, "gcr.io/knative-releases/queue:v1.21.1",
                                    qp_cpu, qp_mem)):
        labels = labels_text({**kubelet, "container": container, "image": image,
                              "id": f"/kubepods/pod{uid}/{container}",
                              "name": f"k8s_{container}_{name}"})
        writer.series(cpu, "container_cpu_usage_seconds_total", labels,
                      [fmt(round(v, 6)) for v in c.tolist()], stamps)
        writer.series(mem, "container_memory_working_set_bytes", labels,
                      [fmt(v) for v in m.tolist()], stamps)
