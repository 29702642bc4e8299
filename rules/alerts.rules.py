"""Alerts an operator of Stable Diffusion services on Knative needs (runbooks: docs/runbooks.md)."""

from sdobs.catalog import alerting as a
from sdobs.catalog import slo as s
from sdobs.rules.model import Alert, Group

SOURCE = "knative"
SVC = "{{ $labels.namespace }}/{{ $labels.service }}"
REV = "{{ $labels.namespace }}/{{ $labels.revision }}"
#: 5xx share that pages outright, whatever the SLO (the budget-burn alerts catch slower burns).
ERROR_RATIO = 0.10
#: ... over at least 30 requests in the 5 minutes: a ratio of a handful of requests is noise
#: (sparse services are covered by their SLO's budget-burn alerts).
MIN_RPS = 0.1


def groups(ctx):
    cat = ctx.catalog
    rules = [
        Alert("SDHighErrorRatio", a.error_ratio_above(ERROR_RATIO, MIN_RPS), "5m", "critical",
              f"{SVC} answers more than {ERROR_RATIO:.0%} of requests with 5xx",
              f"Over the last 5 minutes (at least 30 requests) more than {ERROR_RATIO:.0%} of the "
              f"responses of {SVC} were server errors (the model failing, CUDA out of memory, "
              "queue-proxy overflow 503 or timeout 504)."),
        Alert("SDLatencyP99AboveObjective", s.latency_quantile_over_threshold(0.99), "15m",
              "warning", f"P99 latency of {SVC} is above its latency threshold",
              f"The 99th percentile response time of {SVC} at queue-proxy has been above the "
              "service's SLO latency threshold (slo:latency_threshold:seconds) for 15 minutes."),
        Alert("SDColdRequestsWaiting", a.cold_requests_waiting(), "3m", "warning",
              f"Requests to {REV} wait at the activator with no ready pod",
              f"The activator has held requests for {REV} for 3 minutes while the revision has "
              "no ready pod: the cold start is taking far longer than it should."),
        Alert("SDPodsNotReady", a.pods_not_ready(), "10m", "warning",
              f"{REV} has asked for more pods than are ready",
              f"For 10 minutes the autoscaler of {REV} has asked Kubernetes for more pods than "
              "are ready: GPU capacity or quota exhausted, an image pull stuck, or a pod failing "
              "its readiness probe."),
        Alert("SDMaxScaleSaturated", a.overflow_at_capacity(cat), "5m", "critical",
              f"{REV} rejects requests at its scale ceiling",
              f"queue-proxy of {REV} answers 503 (its queue is full) while every pod asked for "
              "is ready and the autoscaler wants more than max-scale allows: the revision "
              "cannot grow."),
        Alert("SDPanicModeStuck", a.panic_mode_stuck(), "30m", "warning",
              f"The autoscaler of {REV} has been in panic mode for 30 minutes",
              f"Panic mode of {REV} should last a stable window after a burst; 30 minutes means "
              "the revision is chronically short of capacity or its target is too low."),
        Alert("SDIdleNotScaledToZero", a.idle_but_warm("1h"), "30m", "info",
              f"{REV} keeps ready pods with no traffic",
              f"{REV} has had ready pods but no request for over an hour: its GPUs are billed "
              "for nothing (min-scale, scale-to-zero-pod-retention-period, or an unused "
              "revision still routed)."),
        Alert("SDRequestMetricsAbsent", a.request_metrics_absent(cat), "10m", "critical",
              f"{REV} has ready pods but no Knative request metrics",
              f"{REV} has ready pods but Prometheus holds no queue-proxy series for it: the "
              "scrape is broken (PodMonitor missing or not selected, metrics protocol 'none', "
              "relabelling dropping the revision labels), so every panel and SLO of this "
              "service is blind."),
    ]
    return [Group("sdobs-knative-alerts", rules)]
