"""Test data for the app beyond ``knative_traffic``: scale events, GPU series, a 500-service fleet.

Like ``knative_traffic`` the metric names and label keys are typed from the references
(``docs/knative-metrics.md``, ``docs/gpu-metrics.md``), not taken from the product. Every
generator writes OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``; each one
is backfilled as its own file, so families never need merging.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import knative_traffic as kt


def load_known(prom, dialect: str, t0: int) -> None:
    """Backfill the known traffic, the scaling revision, the GPU and the cluster series."""
    prom.backfill_text(kt.exposition(dialect, t0))
    prom.backfill_text(scaling(dialect, t0))
    prom.backfill_text(gpu(t0))
    prom.backfill_text(kt.cluster(t0))


# -- scale events ---------------------------------------------------------------------------
BURST_SVC = "sd-burst"
BURST_REV = "sd-burst-00001"
#: (from offset, actual pods): 0 -> 1 -> 3 -> 2 -> 0 over the known-traffic span.
BURST_PODS = ((0, 0), (120, 1), (300, 3), (600, 2), (1000, 0))
BURST_EVENTS = (("scale-up", 0, 1), ("scale-up", 1, 3), ("scale-down", 3, 2),
                ("scale-to-zero", 2, 0))

OC_AUTOSCALER = {"desired": "autoscaler_desired_pods", "actual": "autoscaler_actual_pods",
                 "stable": "autoscaler_stable_request_concurrency",
                 "panic": "autoscaler_panic_request_concurrency",
                 "target": "autoscaler_target_concurrency_per_pod",
                 "panic_mode": "autoscaler_panic_mode",
                 "ebc": "autoscaler_excess_burst_capacity"}
OTEL_AUTOSCALER = {"desired": "kn_revision_pods_desired", "actual": "kn_revision_pods_count",
                   "stable": "kn_revision_concurrency_stable",
                   "panic": "kn_revision_concurrency_panic",
                   "target": "kn_revision_concurrency_target",
                   "panic_mode": "kn_revision_panic_mode",
                   "ebc": "kn_revision_capacity_excess"}


def burst_pods_at(offset: int) -> int:
    pods = 0
    for start, n in BURST_PODS:
        if offset >= start:
            pods = n
    return pods


def _revision_labels(dialect: str, ns: str, svc: str, rev: str) -> dict[str, str]:
    if dialect == "opencensus":
        return {"namespace_name": ns, "service_name": svc, "configuration_name": svc,
                "revision_name": rev, "job": "autoscaler"}
    return {"k8s_namespace_name": ns, "kn_service_name": svc, "kn_configuration_name": svc,
            "kn_revision_name": rev, "job": "autoscaler"}


def scaling(dialect: str, t0: int) -> str:
    """A revision that scales 0 -> 1 -> 3 -> 2 -> 0 (the autoscaler's gauges)."""
    names = OC_AUTOSCALER if dialect == "opencensus" else OTEL_AUTOSCALER
    w = kt.Writer(t0)
    labels = _revision_labels(dialect, kt.NS, BURST_SVC, BURST_REV)
    for key, metric in names.items():
        w.family(metric, "gauge", "autoscaler gauge")
        for t in range(0, kt.SPAN + 1, kt.STEP):
            pods = burst_pods_at(t)
            value = {"desired": pods, "actual": pods, "stable": 0.8 * pods, "panic": 1.1 * pods,
                     "target": 1, "panic_mode": 1 if 300 <= t < 420 else 0,
                     "ebc": -200.0 + pods}[key]
            w.sample(metric, labels, value, t)
    return w.text()


# -- GPU series -----------------------------------------------------------------------------
GPU_UTIL = {kt.PODS[0].name: 0.8, kt.PODS[1].name: 0.5, kt.PODS[2].name: 0.2}
GPU_MEMORY_TOTAL = 24 * 1024**3
GPU_POWER_IDLE, GPU_POWER_PER_UTIL = 60.0, 240.0


def gpu(t0: int) -> str:
    """One GPU per pod of the reference service, as the sdobs exporter's default naming has it."""
    pods = [p for p in kt.PODS if p.namespace == kt.NS and p.service == kt.SVC]
    families = (
        ("sdobs_gpu_utilization_ratio", lambda u: u),
        ("sdobs_gpu_memory_used_bytes", lambda u: round(GPU_MEMORY_TOTAL * (0.3 + 0.5 * u))),
        ("sdobs_gpu_memory_total_bytes", lambda u: GPU_MEMORY_TOTAL),
        ("sdobs_gpu_power_watts", lambda u: GPU_POWER_IDLE + GPU_POWER_PER_UTIL * u),
    )
    w = kt.Writer(t0)
    for metric, value in families:
        w.family(metric, "gauge", "GPU gauge")
        for i, pod in enumerate(pods):
            labels = {"namespace": pod.namespace, "service": pod.service,
                      "configuration": pod.revision.rsplit("-", 1)[0], "revision": pod.revision,
                      "pod": pod.name, "container": "user-container", "gpu": "0",
                      "uuid": f"GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd",
                      "job": "gpu-exporter"}
            for t in range(0, kt.SPAN + 1, kt.STEP):
                w.sample(metric, labels, value(GPU_UTIL[pod.name]), t)
    # Health series as the exporter has them on an Ampere GPU: error counters from 0, no rows
    # remapped, the power cap holding the busiest GPU's clocks.
    health = (("sdobs_gpu_ecc_corrected_errors", "counter", "_total", {}, lambda u: 0),
              ("sdobs_gpu_ecc_uncorrected_errors", "counter", "_total", {}, lambda u: 0),
              ("sdobs_gpu_remapped_rows_uncorrectable", "gauge", "", {}, lambda u: 0),
              *(("sdobs_gpu_throttle_reason_active", "gauge", "", {"reason": r},
                 lambda u, r=r: int(r == "sw_power_cap" and u > 0.7))
                for r in ("sw_power_cap", "hw_slowdown", "sw_thermal_slowdown",
                          "hw_thermal_slowdown", "hw_power_brake_slowdown")))
    declared = set()
    for metric, typ, suffix, extra, value in health:
        if metric not in declared:
            w.family(metric, typ, "GPU health")
            declared.add(metric)
        for i, pod in enumerate(pods):
            labels = {"namespace": pod.namespace, "service": pod.service,
                      "configuration": pod.revision.rsplit("-", 1)[0], "revision": pod.revision,
                      "pod": pod.name, "container": "user-container", "gpu": "0",
                      "uuid": f"GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd",
                      "job": "gpu-exporter", **extra}
            for t in range(0, kt.SPAN + 1, kt.STEP):
                w.sample(metric + suffix, labels, value(GPU_UTIL[pod.name]), t)
    return w.text()


# -- a fleet of services --------------------------------------------------------------------
OTEL_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
#: Cumulative share of requests at or below each bound (SD requests take 1-10 s).
LATENCY_SHARE = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0.02, 0.35, 0.85, 0.96, 0.99)


def _histogram(name: str, labels: str, count: int, ts: int) -> Iterator[str]:
    """One histogram sample: buckets by LATENCY_SHARE, a 4 s mean, the count."""
    for bound, frac in zip(OTEL_BOUNDS, LATENCY_SHARE, strict=True):
        yield f'{name}_bucket{{{labels},le="{bound:g}"}} {math.floor(count * frac)} {ts}'
    yield f'{name}_bucket{{{labels},le="+Inf"}} {count} {ts}'
    yield f"{name}_sum{{{labels}}} {count * 4.0:g} {ts}"
    yield f"{name}_count{{{labels}}} {count} {ts}"


def fleet_service(i: int) -> dict:
    """The i-th fleet service: name, namespace, request rate, 5xx share, pods."""
    idle = i % 9 == 4  # every ninth service is scaled to zero with no traffic
    rate = 0.0 if idle else 0.05 + (i % 17) * 0.1
    return {"namespace": f"team-{i % 10:02d}", "service": f"model-{i:03d}",
            "revision": f"model-{i:03d}-00001", "pod": f"model-{i:03d}-00001-deployment-p",
            "rate": rate, "error_share": 0.02 if i % 7 == 3 else 0.0,
            "pods": 0 if idle else 1 + i % 4}


def fleet(t0: int, n: int = 500, *, span: int = 900, step: int = 30) -> Iterator[str]:
    """OpenMetrics lines for ``n`` services in the OpenTelemetry dialect (a generator)."""
    services = [fleet_service(i) for i in range(n)]
    offsets = range(0, span + 1, step)
    name = "http_server_request_duration_seconds"
    yield f"# HELP {name} Duration of HTTP server requests."
    yield f"# TYPE {name} histogram"
    for s in services:
        base = (f'k8s_namespace_name="{s["namespace"]}",k8s_pod_name="{s["pod"]}",'
                f'kn_revision_name="{s["revision"]}",kn_service_name="{s["service"]}"')
        codes = [("200", 1 - s["error_share"])]
        if s["error_share"]:
            codes.append(("500", s["error_share"]))
        for code, share in codes:
            labels = f'{base},http_response_status_code="{code}"'
            for t in offsets:
                count = math.floor(s["rate"] * share * t)
                ts = t0 + t
                yield from _histogram(name, labels, count, ts)
    # queue-proxy's queue depth: what tells an OpenTelemetry-era Prometheus apart.
    yield "# HELP kn_serving_queue_depth Number of current requests in the queue"
    yield "# TYPE kn_serving_queue_depth gauge"
    for s in services:
        labels = (f'k8s_namespace_name="{s["namespace"]}",k8s_pod_name="{s["pod"]}",'
                  f'kn_revision_name="{s["revision"]}",kn_service_name="{s["service"]}"')
        for t in offsets:
            yield f"kn_serving_queue_depth{{{labels}}} 0 {t0 + t}"
    for metric, key in (("kn_revision_pods_count", "pods"), ("kn_revision_pods_desired", "pods")):
        yield f"# HELP {metric} autoscaler gauge"
        yield f"# TYPE {metric} gauge"
        for s in services:
            labels = (f'k8s_namespace_name="{s["namespace"]}",kn_revision_name="{s["revision"]}",'
                      f'kn_service_name="{s["service"]}",job="autoscaler"')
            for t in offsets:
                yield f"{metric}{{{labels}}} {s[key]} {t0 + t}"
    yield "# EOF"


def fleet_text(t0: int, n: int = 500, **kwargs) -> str:
    return "\n".join(fleet(t0, n, **kwargs)) + "\n"


# -- a day of one busy service, for the benchmark -------------------------------------------
DAY_SVC = "sd-day"
DAY_REVS = ("sd-day-00001", "sd-day-00002")


def service_day(t0: int, *, hours: int = 24, step: int = 60, pods: int = 4) -> Iterator[str]:
    """24 h of one service (two revisions, ``pods`` pods, 200/404/500) in the OTel dialect."""
    name = "http_server_request_duration_seconds"
    offsets = range(0, hours * 3600 + 1, step)
    yield f"# HELP {name} Duration of HTTP server requests."
    yield f"# TYPE {name} histogram"
    for p in range(pods):
        rev = DAY_REVS[0] if p < pods - 1 else DAY_REVS[1]
        pod = f"{rev}-deployment-7d9c8b5f6-{p:05d}"
        base = (f'k8s_namespace_name="{kt.NS}",k8s_pod_name="{pod}",kn_revision_name="{rev}",'
                f'kn_configuration_name="{DAY_SVC}",kn_service_name="{DAY_SVC}"')
        for code, share in (("200", 0.95), ("404", 0.03), ("500", 0.02)):
            labels = f'{base},http_response_status_code="{code}"'
            for t in offsets:
                # A daily wave: 0.5-1.5 req/s per pod; the counter is its integral.
                integral = t + 3600 * 24 / (2 * math.pi) * 0.5 * (1 - math.cos(2 * math.pi * t
                                                                               / 86400))
                count = math.floor(share * integral)
                ts = t0 + t
                yield from _histogram(name, labels, count, ts)
    yield "# HELP kn_serving_queue_depth Number of current requests in the queue"
    yield "# TYPE kn_serving_queue_depth gauge"
    for p in range(pods):
        rev = DAY_REVS[0] if p < pods - 1 else DAY_REVS[1]
        labels = (f'k8s_namespace_name="{kt.NS}",k8s_pod_name="{rev}-deployment-7d9c8b5f6-{p:05d}",'
                  f'kn_revision_name="{rev}",kn_service_name="{DAY_SVC}"')
        for t in offsets:
            yield f"kn_serving_queue_depth{{{labels}}} 0 {t0 + t}"
    for key, metric in OTEL_AUTOSCALER.items():
        yield f"# HELP {metric} autoscaler gauge"
        yield f"# TYPE {metric} gauge"
        for rev in DAY_REVS:
            labels = (f'k8s_namespace_name="{kt.NS}",kn_configuration_name="{DAY_SVC}",'
                      f'kn_revision_name="{rev}",kn_service_name="{DAY_SVC}",job="autoscaler"')
            n = pods - 1 if rev == DAY_REVS[0] else 1
            value = {"desired": n, "actual": n, "stable": 0.7 * n, "panic": 0.9 * n, "target": 1,
                     "panic_mode": 0, "ebc": -200.0}[key]
            for t in offsets:
                yield f"{metric}{{{labels}}} {value:g} {t0 + t}"
    for metric in ("kn_revision_pods_requested", "kn_revision_pods_pending_count",
                   "kn_revision_pods_terminating_count"):
        yield f"# HELP {metric} autoscaler gauge"
        yield f"# TYPE {metric} gauge"
        for rev in DAY_REVS:
            labels = (f'k8s_namespace_name="{kt.NS}",kn_configuration_name="{DAY_SVC}",'
                      f'kn_revision_name="{rev}",kn_service_name="{DAY_SVC}",job="autoscaler"')
            n = (pods - 1 if rev == DAY_REVS[0] else 1) if metric.endswith("requested") else 0
            for t in offsets:
                yield f"{metric}{{{labels}}} {n} {t0 + t}"
    yield "# EOF"
