"""Knative's two metric dialects: every Knative metric name, label key, unit and bucket layout.

Knative Serving switched from OpenCensus (``revision_*``, ``activator_*``, ``autoscaler_*``,
milliseconds; up to v1.18.x) to OpenTelemetry (``kn_*`` and ``http_server_*``, seconds) in v1.19,
and renamed the queue-proxy instruments again in v1.19.8 / v1.20.1. This module is the one place
that knows those facts (see ``docs/knative-metrics.md``); the catalog builds PromQL
from it and the serving twin renders exposition text from it.

OpenTelemetry-era queue-proxy series carry no revision identity of their own; sdobs assumes the
PodMonitor relabelling of ``sdobs deploy render`` (``sdobs.deploy.manifests``), which copies the
pod's Knative labels to ``k8s_namespace_name``, ``k8s_pod_name``, ``kn_service_name``,
``kn_configuration_name`` and ``kn_revision_name`` — the label names OTLP promotion and
OpenShift's exporter produce as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from sdobs.errors import InputError

MetricType = Literal["counter", "gauge", "histogram"]

#: Canonical label names every catalog result uses, whatever the dialect.
CANONICAL_LABELS = ("namespace", "service", "configuration", "revision", "pod")
#: Canonical label holding the response code class ("2xx", "4xx", "5xx", ...).
CODE_CLASS = "code_class"

OC_LATENCY_BOUNDS_MS: tuple[float, ...] = (
    5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500,
    600, 700, 800, 900, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
)
OTEL_LATENCY_BOUNDS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
)


@dataclass(frozen=True)
class LabelMap:
    """Dialect label keys for the canonical labels."""

    namespace: str
    service: str
    configuration: str
    revision: str
    pod: str

    def key(self, canonical: str) -> str:
        if canonical not in CANONICAL_LABELS:
            known = ", ".join(CANONICAL_LABELS)
            raise InputError(f"unknown canonical label {canonical!r}; use one of: {known}")
        return getattr(self, canonical)


@dataclass(frozen=True)
class Family:
    """One metric family as the real source exposes it."""

    name: str  # Prometheus name; for histograms the base name without _bucket/_sum/_count
    type: MetricType
    help: str
    scale_to_base: float = 1.0  # multiply a value (or an ``le`` bound) by this to get base units
    bounds: tuple[float, ...] = ()  # histogram bucket bounds in the family's own unit

    @property
    def bucket(self) -> str:
        return f"{self.name}_bucket"

    @property
    def count(self) -> str:
        return f"{self.name}_count" if self.type == "histogram" else self.name

    @property
    def sum(self) -> str:
        return f"{self.name}_sum"


@dataclass(frozen=True)
class Dialect:
    """How one Knative version range names and labels its Prometheus series."""

    name: str
    versions: str
    labels: LabelMap  # on queue-proxy, activator and autoscaler series alike
    code_label: str  # numeric HTTP status code label
    code_class_label: str | None  # label holding "5xx" etc., when the dialect has one
    bucket_upper_inclusive: bool  # OpenTelemetry: v <= le; OpenCensus: v < le
    requests: Family  # outer queue-proxy requests (includes queue-proxy 503/504)
    app_requests: Family  # requests proxied to the user container
    queue_depth: Family
    autoscaler: dict[str, Family]  # canonical signal name -> family
    activator_concurrency: Family
    #: series to rate() for outer / app request volume
    request_count: str
    app_request_count: str
    #: request counters exposed beside the histograms (OpenCensus only)
    counters: tuple[Family, ...] = ()
    #: extra matchers that tell queue-proxy series from other series of the same name
    queue_proxy_matchers: tuple[tuple[str, str, str], ...] = ()
    #: labels every series of the dialect carries and that aggregation must drop
    scope_labels: tuple[str, ...] = ()
    #: a metric name that exists only in this dialect, for detection
    markers: tuple[str, ...] = field(default=())
    # -- exposition details the serving twin renders and no query needs --------------------
    #: the activator's request histogram and (OpenCensus) counters
    activator_requests: Family | None = None
    activator_counters: tuple[Family, ...] = ()
    #: label and value of requests that came by the default route (no tag header)
    route_tag: tuple[str, str] = ("", "")
    #: OpenCensus' container label ("queue-proxy", "activator"); OpenTelemetry has none
    container_label: str = ""
    #: OpenTelemetry instrumentation scope (name, version) per component: "queue" (the app
    #: histogram and queue depth), "http" (otelhttp's http_server_*), "activator", "autoscaler"
    otel_scopes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def _autoscaler(names: dict[str, tuple[str, str]]) -> dict[str, Family]:
    return {key: Family(name, "gauge", help_) for key, (name, help_) in names.items()}


OPENCENSUS = Dialect(
    name="opencensus",
    versions="Knative Serving <= v1.18.x (OpenCensus)",
    labels=LabelMap(
        namespace="namespace_name",
        service="service_name",
        configuration="configuration_name",
        revision="revision_name",
        pod="pod_name",
    ),
    code_label="response_code",
    code_class_label="response_code_class",
    bucket_upper_inclusive=False,
    requests=Family(
        "revision_request_latencies", "histogram", "The response time in millisecond",
        scale_to_base=0.001, bounds=OC_LATENCY_BOUNDS_MS,
    ),
    app_requests=Family(
        "revision_app_request_latencies", "histogram", "The response time in millisecond",
        scale_to_base=0.001, bounds=OC_LATENCY_BOUNDS_MS,
    ),
    queue_depth=Family(
        "revision_queue_depth", "gauge", "The number of items queued at this queue proxy."
    ),
    autoscaler=_autoscaler({
        "pods_desired": ("autoscaler_desired_pods", "Number of pods autoscaler wants to allocate"),
        "pods_requested": (
            "autoscaler_requested_pods", "Number of pods autoscaler requested from Kubernetes"),
        "pods_actual": ("autoscaler_actual_pods", "Number of pods that are allocated currently"),
        "pods_not_ready": (
            "autoscaler_not_ready_pods", "Number of pods that are not ready currently"),
        "pods_pending": ("autoscaler_pending_pods", "Number of pods that are pending currently"),
        "pods_terminating": (
            "autoscaler_terminating_pods", "Number of pods that are terminating currently"),
        "concurrency_stable": (
            "autoscaler_stable_request_concurrency",
            "Average of requests count over the stable window"),
        "concurrency_panic": (
            "autoscaler_panic_request_concurrency",
            "Average of requests count over the panic window"),
        "concurrency_target": (
            "autoscaler_target_concurrency_per_pod",
            "The desired number of concurrent requests for each pod"),
        "excess_burst_capacity": (
            "autoscaler_excess_burst_capacity",
            "Current excess burst capacity over average request count over the stable window"),
        "panic_mode": ("autoscaler_panic_mode", "1 if autoscaler is in panic mode, 0 otherwise"),
    }),
    activator_concurrency=Family(
        "activator_request_concurrency", "gauge", "Concurrent requests that are routed to Activator"
    ),
    request_count="revision_request_count",
    app_request_count="revision_app_request_count",
    # Counters without _total, as the OpenCensus exporter names them.
    counters=(
        Family("revision_request_count", "counter",
               "The number of requests that are routed to queue-proxy"),
        Family("revision_app_request_count", "counter",
               "The number of requests that are routed to user-container"),
    ),
    markers=("revision_request_count", "revision_app_request_count", "autoscaler_desired_pods"),
    activator_requests=Family(
        "activator_request_latencies", "histogram", "The response time in millisecond",
        scale_to_base=0.001, bounds=OC_LATENCY_BOUNDS_MS,
    ),
    activator_counters=(
        Family("activator_request_count", "counter",
               "The number of requests that are routed to Activator"),
    ),
    route_tag=("route_tag", "DISABLED"),
    container_label="container_name",
)

_OTEL_LABELS = LabelMap(
    namespace="k8s_namespace_name",
    service="kn_service_name",
    configuration="kn_configuration_name",
    revision="kn_revision_name",
    pod="k8s_pod_name",
)
# The reference gives the OTel descriptions only for panic mode; the others reuse the OpenCensus
# wording (HELP text matters to the twin's exposition, never to a query).
_OTEL_AUTOSCALER = {
    key: Family(name, "gauge", OPENCENSUS.autoscaler[key].help)
    for key, name in {
        "pods_desired": "kn_revision_pods_desired",
        "pods_requested": "kn_revision_pods_requested",
        "pods_actual": "kn_revision_pods_count",
        "pods_not_ready": "kn_revision_pods_not_ready_count",
        "pods_pending": "kn_revision_pods_pending_count",
        "pods_terminating": "kn_revision_pods_terminating_count",
        "concurrency_stable": "kn_revision_concurrency_stable",
        "concurrency_panic": "kn_revision_concurrency_panic",
        "concurrency_target": "kn_revision_concurrency_target",
        "excess_burst_capacity": "kn_revision_capacity_excess",
    }.items()
}
_OTEL_AUTOSCALER["panic_mode"] = Family(
    "kn_revision_panic_mode", "gauge", "If greater tha 0 the autoscaler is in panic mode"
)
_OTEL_REQUESTS = Family(
    "http_server_request_duration_seconds", "histogram", "Duration of HTTP server requests.",
    bounds=OTEL_LATENCY_BOUNDS_S,
)
_OTEL_ACTIVATOR_CONCURRENCY = Family(
    "kn_revision_request_concurrency", "gauge", "Concurrent requests that are routed to Activator"
)
# The activator exposes http_server_* with kn_revision_name too, but no k8s_pod_name: the
# PodMonitor relabelling sets that one only on queue-proxy targets.
_OTEL_QP_MATCHERS = (("k8s_pod_name", "!=", ""),)
_OTEL_SCOPE = ("otel_scope_name", "otel_scope_version", "otel_scope_schema_url")
_OTELHTTP = "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"


def _otel_scopes(otelhttp_version: str) -> dict[str, tuple[str, str]]:
    return {
        "queue": ("knative.dev/serving/pkg/queue", ""),
        "http": (_OTELHTTP, otelhttp_version),
        "activator": ("knative.dev/serving/pkg/activator", ""),
        "autoscaler": ("knative.dev/serving/pkg/autoscaler", ""),
    }


OPENTELEMETRY = Dialect(
    name="opentelemetry",
    versions="Knative Serving v1.19.8+, v1.20.1+, v1.21+ (OpenTelemetry)",
    labels=_OTEL_LABELS,
    code_label="http_response_status_code",
    code_class_label=None,
    bucket_upper_inclusive=True,
    requests=_OTEL_REQUESTS,
    app_requests=Family(
        "kn_serving_invocation_duration_seconds", "histogram", "The duration of task execution",
        bounds=OTEL_LATENCY_BOUNDS_S,
    ),
    queue_depth=Family(
        "kn_serving_queue_depth", "gauge", "Number of current requests in the queue"
    ),
    autoscaler=_OTEL_AUTOSCALER,
    activator_concurrency=_OTEL_ACTIVATOR_CONCURRENCY,
    request_count=_OTEL_REQUESTS.count,
    app_request_count="kn_serving_invocation_duration_seconds_count",
    queue_proxy_matchers=_OTEL_QP_MATCHERS,
    scope_labels=_OTEL_SCOPE,
    markers=("kn_serving_invocation_duration_seconds_count", "kn_serving_queue_depth"),
    activator_requests=_OTEL_REQUESTS,
    route_tag=("kn_route_tag", "kn:disabled"),
    otel_scopes=_otel_scopes("0.64.0"),  # otelhttp in Knative v1.21
)

# v1.19.0-v1.19.7 and v1.20.0: the same but for the queue-proxy instruments' earlier names.
OPENTELEMETRY_EARLY = replace(
    OPENTELEMETRY,
    name="opentelemetry-early",
    versions="Knative Serving v1.19.0-v1.19.7 and v1.20.0 (OpenTelemetry, early queue-proxy names)",
    app_requests=Family(
        "kn_queueproxy_app_duration_seconds", "histogram", "The duration of task execution",
        bounds=OTEL_LATENCY_BOUNDS_S,
    ),
    queue_depth=Family("kn_queueproxy_depth", "gauge", "Number of current items in the queue"),
    app_request_count="kn_queueproxy_app_duration_seconds_count",
    markers=("kn_queueproxy_app_duration_seconds_count", "kn_queueproxy_depth"),
    otel_scopes=_otel_scopes("0.62.0"),  # otelhttp in Knative v1.19
)

#: Newest first: the order in which detection reports dialects found together.
DIALECTS: tuple[Dialect, ...] = (OPENTELEMETRY, OPENTELEMETRY_EARLY, OPENCENSUS)
AUTOSCALER_SIGNALS: tuple[str, ...] = tuple(OPENCENSUS.autoscaler)


def get_dialect(name: str | Dialect) -> Dialect:
    """Look a dialect up by name (``opencensus``, ``opentelemetry``, ``opentelemetry-early``)."""
    if isinstance(name, Dialect):
        return name
    for dialect in DIALECTS:
        if dialect.name == name:
            return dialect
    known = ", ".join(d.name for d in DIALECTS)
    raise InputError(f"unknown Knative metric dialect {name!r}; use one of: {known}")


def dialects_in(metric_names: set[str] | list[str]) -> list[Dialect]:
    """Which dialects a set of metric names (e.g. Prometheus' ``__name__`` values) holds."""
    names = set(metric_names)
    return [d for d in DIALECTS if any(m in names for m in d.markers)]
