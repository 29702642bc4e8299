"""Known Knative traffic, written out by hand as each dialect exposes it (for backfill).

Names, HELP/TYPE, label keys, bucket layouts and units are typed here from
``docs/knative-metrics.md`` on purpose, not taken from ``sdobs.knative``: the tests
check the product against the reference, not against itself.

Traffic: in the 10-minute window ``(T0+300, T0+900]`` pod 1 and pod 2 of revision 00001 and pod 3
of revision 00002 answer 120 x 200, 6 x 404 and 3 x 500 between them; an unrelated service
``svc`` in the same namespace and a service in another namespace have traffic of their own.
Samples every 15 s from T0 to T0+1200; queries evaluated at ``TE = T0 + 900`` with a 10m window
see exactly the window's increments (Prometheus 2.x ranges include both ends).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

NS = "default"
SVC = "knative-sd-demo"
REV_A = "knative-sd-demo-00001"
REV_B = "knative-sd-demo-00002"
STEP = 15
SPAN = 1200
WINDOW_START, WINDOW_END = 300, 900
WINDOW = "10m"


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    service: str
    revision: str
    counts: dict[int, int]  # status code -> requests inside the window
    before: int = 2  # requests of each code before the window (series exist before it)


PODS = (
    Pod("knative-sd-demo-00001-deployment-7d9c8b5f6-abcde", NS, SVC, REV_A,
        {200: 60, 404: 4, 500: 2}),
    Pod("knative-sd-demo-00001-deployment-7d9c8b5f6-fghij", NS, SVC, REV_A,
        {200: 40, 404: 2, 500: 1}),
    Pod("knative-sd-demo-00002-deployment-5f6b7c8d9-klmno", NS, SVC, REV_B, {200: 20}),
    # Decoys: a service whose revision name a regex like "svc.*" would match, another namespace.
    Pod("svc-00001-deployment-6c7d8e9f0-pqrst", NS, "svc", "svc-00001", {200: 30, 503: 3}),
    Pod("knative-sd-demo-00001-deployment-1a2b3c4d5-uvwxy", "team-b", SVC, REV_A, {200: 50}),
)
# Latencies (seconds) cycled per request, by status code; none sits on a bucket bound.
LATENCIES = {
    200: (2.2, 3.1, 3.4, 4.6, 6.2, 12.5, 3.3, 2.9),
    404: (0.0042, 0.0083),
    500: (0.31, 45.0),
    503: (0.0011,),
}
APP_OVERHEAD = 0.0015  # outer latency = app latency + queue-proxy overhead

# Autoscaler and activator gauges per (namespace, revision): constant over the span.
AUTOSCALER = {
    (NS, REV_A): dict(desired=3, requested=3, actual=2, pending=1, not_ready=1, terminating=0,
                      stable=1.6, panic=2.4, target=1, ebc=-209.4, panic_mode=1, activator=0.4),
    (NS, REV_B): dict(desired=1, requested=1, actual=1, pending=0, not_ready=0, terminating=1,
                      stable=0.3, panic=0.5, target=1, ebc=-210.5, panic_mode=0, activator=0.0),
    (NS, "svc-00001"): dict(desired=2, requested=2, actual=2, pending=0, not_ready=0,
                            terminating=0, stable=0.9, panic=0.9, target=0.7, ebc=-209.6,
                            panic_mode=0, activator=0.0),
    ("team-b", REV_A): dict(desired=5, requested=5, actual=5, pending=0, not_ready=0,
                            terminating=0, stable=3.0, panic=3.0, target=1, ebc=-206.0,
                            panic_mode=0, activator=0.0),
}
SERVICE_OF = {(p.namespace, p.revision): p.service for p in PODS}

OC_BOUNDS_MS = (5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700,
                800, 900, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
OTEL_BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def request_times(pod: Pod, code: int) -> list[float]:
    """Offsets from T0 at which each request of ``pod`` with ``code`` completes."""
    n_in, n_pre = pod.counts[code], pod.before
    pre = [WINDOW_START * (k + 0.5) / n_pre for k in range(n_pre)]
    inside = [WINDOW_START + (WINDOW_END - WINDOW_START) * (k + 0.5) / n_in for k in range(n_in)]
    return pre + inside


def latency(code: int, k: int) -> float:
    values = LATENCIES[code]
    return values[k % len(values)]


def window_latencies(pods: list[Pod], app: bool = False) -> list[float]:
    """Every latency recorded inside the window for ``pods``."""
    out = []
    for pod in pods:
        for code, n in pod.counts.items():
            for k in range(pod.before, pod.before + n):
                out.append(latency(code, k) + (0 if app else APP_OVERHEAD))
    return out


def bucket_counts(values: list[float], dialect: str) -> list[tuple[float, int]]:
    """Cumulative (upper bound in seconds, count) as the dialect buckets ``values``."""
    if dialect == "opencensus":
        # Integer-truncated milliseconds, upper-exclusive (v < bound).
        ms = [math.floor(v * 1000) for v in values]
        out = [(b / 1000, sum(1 for v in ms if v < b)) for b in OC_BOUNDS_MS]
    else:
        out = [(b, sum(1 for v in values if v <= b)) for b in OTEL_BOUNDS_S]
    return [*out, (math.inf, len(values))]


def histogram_quantile(q: float, buckets: list[tuple[float, int]]) -> float:
    """Prometheus' histogram_quantile, written from its documented algorithm."""
    total = buckets[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound  # the highest finite bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(kv.items())) + "}"


def _fmt(v: float) -> str:
    return "+Inf" if math.isinf(v) else f"{v:g}"


class Writer:
    """Collects OpenMetrics families; each family's series are written contiguously."""

    def __init__(self, t0: int) -> None:
        self.t0 = t0
        self.lines: list[str] = []

    def family(self, name: str, type_: str, help_: str) -> None:
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} {type_}"]

    def sample(self, name: str, labels: dict[str, str], value: float, offset: int) -> None:
        self.lines.append(f"{name}{_labels(**labels)} {_fmt(value)} {self.t0 + offset}")

    def text(self) -> str:
        return "\n".join([*self.lines, "# EOF", ""])


def _offsets() -> range:
    return range(0, SPAN + 1, STEP)


def _counter_at(times: list[float], t: int) -> int:
    return sum(1 for x in times if x <= t)


def _histogram(w: Writer, name: str, labels: dict[str, str], times: list[float],
               values: list[float], dialect: str) -> None:
    first = min(times)
    for t in _offsets():
        if t < first:  # the series appears with its first request
            continue
        seen = [v for x, v in zip(times, values, strict=True) if x <= t]
        for bound, count in bucket_counts(seen, dialect):
            le = _fmt(bound * 1000) if dialect == "opencensus" and not math.isinf(bound) \
                else _fmt(bound)
            w.sample(f"{name}_bucket", {**labels, "le": le}, count, t)
        total = sum(math.floor(v * 1000) for v in seen) if dialect == "opencensus" \
            else sum(seen)
        w.sample(f"{name}_sum", labels, total, t)
        w.sample(f"{name}_count", labels, len(seen), t)


def _series_per_code(pod: Pod, app: bool) -> list[tuple[int, list[float], list[float]]]:
    out = []
    for code in pod.counts:
        times = request_times(pod, code)
        values = [latency(code, k) + (0 if app else APP_OVERHEAD) for k in range(len(times))]
        out.append((code, times, values))
    return out


def _target(pod: Pod, i: int) -> dict[str, str]:
    # Target labels of the official queue-proxy scrape job: namespace and pod from kubernetes_sd.
    return {"job": "queue-proxy", "instance": f"10.0.0.{i + 10}:9091",
            "namespace": pod.namespace, "pod": pod.name}


def opencensus(t0: int) -> str:
    """The traffic as Knative <= v1.18 exposes it (queue-proxy :9091, autoscaler, activator)."""
    w = Writer(t0)
    for metric, help_, app in (
        ("revision_request_count", "The number of requests that are routed to queue-proxy", False),
        ("revision_app_request_count", "The number of requests that are routed to user-container",
         True),
    ):
        w.family(metric, "counter", help_)
        for i, pod in enumerate(PODS):
            for code, times, _ in _series_per_code(pod, app):
                labels = _oc_pod_labels(pod, i, code, app)
                for t in _offsets():
                    if t >= min(times):
                        w.sample(metric, labels, _counter_at(times, t), t)
    for metric, app in (("revision_request_latencies", False),
                        ("revision_app_request_latencies", True)):
        w.family(metric, "histogram", "The response time in millisecond")
        for i, pod in enumerate(PODS):
            for code, times, values in _series_per_code(pod, app):
                _histogram(w, metric, _oc_pod_labels(pod, i, code, app), times, values,
                           "opencensus")
    w.family("revision_queue_depth", "gauge", "The number of items queued at this queue proxy.")
    for i, pod in enumerate(PODS):
        labels = {**_oc_resource(pod), **_target(pod, i), "pod_name": pod.name,
                  "container_name": "queue-proxy", "response_code": "",
                  "response_code_class": ""}
        for t in _offsets():
            w.sample("revision_queue_depth", labels, 0, t)
    oc_gauges = {
        "desired": ("autoscaler_desired_pods", "Number of pods autoscaler wants to allocate"),
        "requested": ("autoscaler_requested_pods",
                      "Number of pods autoscaler requested from Kubernetes"),
        "actual": ("autoscaler_actual_pods", "Number of pods that are allocated currently"),
        "not_ready": ("autoscaler_not_ready_pods", "Number of pods that are not ready currently"),
        "pending": ("autoscaler_pending_pods", "Number of pods that are pending currently"),
        "terminating": ("autoscaler_terminating_pods",
                        "Number of pods that are terminating currently"),
        "ebc": ("autoscaler_excess_burst_capacity",
                "Current excess burst capacity over average request count over the stable window"),
        "stable": ("autoscaler_stable_request_concurrency",
                   "Average of requests count over the stable window"),
        "panic": ("autoscaler_panic_request_concurrency",
                  "Average of requests count over the panic window"),
        "target": ("autoscaler_target_concurrency_per_pod",
                   "The desired number of concurrent requests for each pod"),
        "panic_mode": ("autoscaler_panic_mode", "1 if autoscaler is in panic mode, 0 otherwise"),
    }
    for key, (metric, help_) in oc_gauges.items():
        w.family(metric, "gauge", help_)
        for (ns, rev), values in AUTOSCALER.items():
            labels = {"namespace_name": ns, "configuration_name": _cfg(rev),
                      "revision_name": rev, "service_name": SERVICE_OF[(ns, rev)],
                      "job": "autoscaler", "instance": "10.0.1.5:9090",
                      "namespace": "knative-serving", "pod": "autoscaler-5c8f7d9b4-zx9qv"}
            for t in _offsets():
                w.sample(metric, labels, values[key], t)
    w.family("activator_request_concurrency", "gauge",
             "Concurrent requests that are routed to Activator")
    for (ns, rev), values in AUTOSCALER.items():
        labels = {"namespace_name": ns, "configuration_name": _cfg(rev), "revision_name": rev,
                  "service_name": SERVICE_OF[(ns, rev)], "container_name": "activator",
                  "pod_name": "activator-7b9d6c5f4-qwert", "job": "activator",
                  "instance": "10.0.1.6:9090", "namespace": "knative-serving",
                  "pod": "activator-7b9d6c5f4-qwert"}
        for t in _offsets():
            w.sample("activator_request_concurrency", labels, values["activator"], t)
    return w.text()


def _cfg(revision: str) -> str:
    return revision.rsplit("-", 1)[0]


def _oc_resource(pod: Pod) -> dict[str, str]:
    return {"namespace_name": pod.namespace, "service_name": pod.service,
            "configuration_name": _cfg(pod.revision), "revision_name": pod.revision}


def _oc_pod_labels(pod: Pod, i: int, code: int, app: bool) -> dict[str, str]:
    labels = {**_oc_resource(pod), **_target(pod, i), "pod_name": pod.name,
              "container_name": "queue-proxy", "response_code": str(code),
              "response_code_class": f"{code // 100}xx"}
    if not app:
        labels["route_tag"] = "DISABLED"
    return labels


def _otel_target(pod: Pod, i: int) -> dict[str, str]:
    # The reference PodMonitor relabelling: pod identity copied to OTLP-style label names.
    return {**_target(pod, i), "k8s_namespace_name": pod.namespace, "k8s_pod_name": pod.name,
            "kn_revision_name": pod.revision, "kn_configuration_name": _cfg(pod.revision),
            "kn_service_name": pod.service}


def opentelemetry(t0: int, *, early: bool = False) -> str:
    """The traffic as Knative v1.19.8+ (or, ``early``, v1.19.0-v1.19.7) exposes it."""
    w = Writer(t0)
    qp_scope = {"otel_scope_name": "knative.dev/serving/pkg/queue", "otel_scope_version": "",
                "otel_scope_schema_url": ""}
    http_scope = {
        "otel_scope_name": "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
        "otel_scope_version": "0.64.0", "otel_scope_schema_url": "",
    }
    w.family("http_server_request_duration_seconds", "histogram",
             "Duration of HTTP server requests.")
    for i, pod in enumerate(PODS):
        for code, times, values in _series_per_code(pod, False):
            labels = {**_otel_target(pod, i), **http_scope, "http_request_method": "POST",
                      "http_response_status_code": str(code), "kn_route_tag": "kn:disabled",
                      "network_protocol_name": "http", "network_protocol_version": "1.1",
                      "server_address": f"{pod.service}.{pod.namespace}.svc.cluster.local",
                      "url_scheme": "http"}
            _histogram(w, "http_server_request_duration_seconds", labels, times, values, "otel")
    # The activator's http_server series: kn_* labels but no k8s_pod_name (must not be counted).
    act = {"k8s_namespace_name": NS, "kn_service_name": SVC, "kn_configuration_name": _cfg(REV_A),
           "kn_revision_name": REV_A, **http_scope, "http_request_method": "POST",
           "http_response_status_code": "200", "network_protocol_name": "http",
           "network_protocol_version": "1.1", "url_scheme": "http",
           "server_address": f"{SVC}.{NS}.svc.cluster.local", "job": "activator",
           "instance": "10.0.1.6:9090", "namespace": "knative-serving",
           "pod": "activator-7b9d6c5f4-qwert"}
    act_pod = Pod("activator", NS, SVC, REV_A, {200: 25})
    _histogram(w, "http_server_request_duration_seconds", act,
               request_times(act_pod, 200), [3.0] * (25 + act_pod.before), "otel")
    app_name = "kn_queueproxy_app_duration_seconds" if early else \
        "kn_serving_invocation_duration_seconds"
    w.family(app_name, "histogram", "The duration of task execution")
    for i, pod in enumerate(PODS):
        for code, times, values in _series_per_code(pod, True):
            labels = {**_otel_target(pod, i), **qp_scope, "http_response_status_code": str(code)}
            _histogram(w, app_name, labels, times, values, "otel")
    depth = "kn_queueproxy_depth" if early else "kn_serving_queue_depth"
    w.family(depth, "gauge", "Number of current items in the queue" if early
             else "Number of current requests in the queue")
    for i, pod in enumerate(PODS):
        for t in _offsets():
            w.sample(depth, {**_otel_target(pod, i), **qp_scope}, 0, t)
    as_scope = {"otel_scope_name": "knative.dev/serving/pkg/autoscaler",
                "otel_scope_version": "", "otel_scope_schema_url": ""}
    otel_gauges = {
        "desired": "kn_revision_pods_desired", "requested": "kn_revision_pods_requested",
        "actual": "kn_revision_pods_count", "not_ready": "kn_revision_pods_not_ready_count",
        "pending": "kn_revision_pods_pending_count",
        "terminating": "kn_revision_pods_terminating_count", "ebc": "kn_revision_capacity_excess",
        "stable": "kn_revision_concurrency_stable", "panic": "kn_revision_concurrency_panic",
        "target": "kn_revision_concurrency_target", "panic_mode": "kn_revision_panic_mode",
    }
    for key, metric in otel_gauges.items():
        w.family(metric, "gauge", "autoscaler gauge")
        for (ns, rev), values in AUTOSCALER.items():
            labels = {"k8s_namespace_name": ns, "kn_configuration_name": _cfg(rev),
                      "kn_revision_name": rev, "kn_service_name": SERVICE_OF[(ns, rev)],
                      **as_scope, "job": "autoscaler", "instance": "10.0.1.5:9090",
                      "namespace": "knative-serving", "pod": "autoscaler-5c8f7d9b4-zx9qv"}
            for t in _offsets():
                w.sample(metric, labels, values[key], t)
    w.family("kn_revision_request_concurrency", "gauge", "Concurrent requests")
    for (ns, rev), values in AUTOSCALER.items():
        labels = {"k8s_namespace_name": ns, "kn_configuration_name": _cfg(rev),
                  "kn_revision_name": rev, "kn_service_name": SERVICE_OF[(ns, rev)],
                  "otel_scope_name": "knative.dev/serving/pkg/activator",
                  "otel_scope_version": "", "otel_scope_schema_url": "", "job": "activator",
                  "instance": "10.0.1.6:9090", "namespace": "knative-serving",
                  "pod": "activator-7b9d6c5f4-qwert"}
        for t in _offsets():
            w.sample("kn_revision_request_concurrency", labels, values["activator"], t)
    return w.text()


def exposition(dialect: str, t0: int) -> str:
    """The traffic in the named dialect (``opencensus``, ``opentelemetry[-early]``)."""
    if dialect == "opencensus":
        return opencensus(t0)
    return opentelemetry(t0, early=dialect == "opentelemetry-early")


def t0_for_tests() -> int:
    """A start three hours ago, on a 15 s boundary (backfill stays clear of the head block)."""
    now = int(time.time())
    return (now - 3 * 3600) // STEP * STEP


# -- cluster series: kube-state-metrics and cAdvisor for the same pods ------------------------
GIB = 1024**3
CPU_CORES = {"user-container": 0.5, "queue-proxy": 0.01}  # constant usage of every pod
MEMORY_LIMIT = 8 * GIB  # the model container's limit; queue-proxy has none
OOM_POD = PODS[0].name  # its model container was OOM-killed and restarted at OOM_AT
OOM_AT = 600


def memory_working_set(i: int, container: str) -> int:
    return (2 + i) * GIB if container == "user-container" else 30 * 1024**2


def cluster(t0: int) -> str:
    """kube_pod_labels, container limits, restarts (one OOM kill) and cAdvisor CPU/memory."""
    w = Writer(t0)
    ksm = [{"namespace": p.namespace, "pod": p.name, "uid": f"uid-{i}",
            "job": "kube-state-metrics", "instance": "10.0.9.9:8080"}
           for i, p in enumerate(PODS)]
    w.family("kube_pod_labels", "gauge", "Kubernetes labels converted to Prometheus labels.")
    for p, base in zip(PODS, ksm, strict=True):
        labels = {**base, "label_serving_knative_dev_service": p.service,
                  "label_serving_knative_dev_configuration": _cfg(p.revision),
                  "label_serving_knative_dev_revision": p.revision}
        for t in _offsets():
            w.sample("kube_pod_labels", labels, 1, t)
    w.family("kube_pod_container_resource_limits", "gauge", "Container limits.")
    for base in ksm:
        labels = {**base, "container": "user-container", "resource": "memory", "unit": "byte"}
        for t in _offsets():
            w.sample("kube_pod_container_resource_limits", labels, MEMORY_LIMIT, t)
    w.family("kube_pod_container_status_restarts", "counter", "Container restarts.")
    for p, base in zip(PODS, ksm, strict=True):
        for container in ("user-container", "queue-proxy"):
            oom = p.name == OOM_POD and container == "user-container"
            for t in _offsets():
                w.sample("kube_pod_container_status_restarts_total",
                         {**base, "container": container}, int(oom and t >= OOM_AT), t)
    w.family("kube_pod_container_status_last_terminated_reason", "gauge", "Last reason.")
    for p, base in zip(PODS, ksm, strict=True):
        if p.name == OOM_POD:
            for t in _offsets():
                if t >= OOM_AT:
                    w.sample("kube_pod_container_status_last_terminated_reason",
                             {**base, "container": "user-container", "reason": "OOMKilled"}, 1, t)
    kubelet = [{"namespace": p.namespace, "pod": p.name, "job": "kubelet",
                "metrics_path": "/metrics/cadvisor", "instance": f"10.0.2.{i}:10250"}
               for i, p in enumerate(PODS)]
    w.family("container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed.")
    for base in kubelet:
        for container, cores in CPU_CORES.items():
            for t in _offsets():
                w.sample("container_cpu_usage_seconds_total",
                         {**base, "container": container, "image": f"{container}:1"},
                         round(cores * t, 6), t)
    w.family("container_memory_working_set_bytes", "gauge", "Current working set.")
    for i, base in enumerate(kubelet):
        for container in CPU_CORES:
            for t in _offsets():
                w.sample("container_memory_working_set_bytes",
                         {**base, "container": container, "image": f"{container}:1"},
                         memory_working_set(i, container), t)
    return w.text()
