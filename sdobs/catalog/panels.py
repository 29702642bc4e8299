"""Named panels: a title, a description and the catalog calls behind it, for every consumer.

The Grafana dashboards (``sdobs.dashboards``) and the Dash app (``sdobs.app``) draw the same
panels from this list, so a panel shows the same number in both: ``PANELS["success_rate"]
.queries(Catalog(dialect), selection)`` returns the very expressions either one runs. How a
panel is drawn (time series, stat, table, its size) is each consumer's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sdobs.catalog.catalog import Catalog, Query, Selection
from sdobs.catalog.gpu_health import SLOWDOWN_REASONS


@dataclass(frozen=True)
class Signal:
    """One catalog call: ``getattr(catalog, method)(selection, *args, **kwargs)``."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    legend: str | None = None  # a series name when the query has no grouping labels

    def query(self, catalog: Catalog, sel: Selection) -> Query:
        result = getattr(catalog, self.method)(sel, *self.args, **dict(self.kwargs))
        if not isinstance(result, Query):
            raise TypeError(f"catalog method {self.method} returns {type(result).__name__}, "
                            "not one Query; name each query as its own Signal")
        return result

    def legend_for(self, query: Query) -> str:
        """The legend: the grouping labels, prefixed by this signal's name when it has one."""
        if self.legend and query.by:
            return f"{self.legend} {query.legend}"
        return self.legend or query.legend


def sig(method: str, *args: Any, legend: str | None = None, **kwargs: Any) -> Signal:
    return Signal(method, args, tuple(sorted(kwargs.items())), legend)


@dataclass(frozen=True)
class Panel:
    """A titled set of catalog signals drawn together."""

    key: str
    title: str
    description: str
    signals: tuple[Signal, ...]
    columns: tuple[str, ...] = field(default=())  # table column titles, one per signal
    #: The Dash app's title where its page already says the rest ("Power by pod" on the GPU
    #: page); empty: ``title``. The app takes titles and descriptions from this table too.
    app_title: str = ""

    @property
    def shown_in_app(self) -> str:
        """The title the app shows."""
        return self.app_title or self.title

    def queries(self, catalog: Catalog, sel: Selection) -> list[Query]:
        return [s.query(catalog, sel) for s in self.signals]

    def unit(self, catalog: Catalog, sel: Selection) -> str:
        """The one unit of all its queries (tables may mix; they report the first)."""
        return self.queries(catalog, sel)[0].unit


REV = ("revision",)
POD = ("pod",)
SVC = ("namespace", "service")
RANGE = "$__range"  # GPU-seconds over the dashboard's time range (the app passes a duration)


def _p(key: str, title: str, description: str, *signals: Signal,
       columns: tuple[str, ...] = (), app_title: str = "") -> Panel:
    return Panel(key, title, description, tuple(signals), columns, app_title)


_ALL: tuple[Panel, ...] = (
    # -- the reference console's service overview ----------------------------------------------
    _p("request_volume", "Request Volume",
       "Requests per second answered by queue-proxy for the selected revisions (including "
       "queue-proxy's own 503/504); the stat is the average over the time range.",
       sig("request_rate")),
    _p("success_rate", "Success Rate",
       "Share of responses that are not 5xx, as Knative's own dashboards define it.",
       sig("success_ratio")),
    _p("rate_4xx", "4xx", "Client-error responses per second (4xx).", sig("rate_4xx")),
    _p("rate_5xx", "5xx",
       "Server-error responses per second (5xx), including queue-proxy's 503 on overload and "
       "504 on timeout.", sig("rate_5xx")),
    _p("volume_by_revision", "Request Volume by Revision",
       "Requests per second per revision: the traffic split during a canary release.",
       sig("request_rate", by=REV)),
    _p("volume_by_code_class", "Request Volume by Response Code Class",
       "Responses per second per HTTP status class (2xx, 3xx, 4xx, 5xx).",
       sig("request_rate", by=("code_class",))),
    *(
        _p(f"latency_p{q}", f"Response Time P{q}",
           f"P{q} response time per revision at queue-proxy (queueing included), seconds, "
           "interpolated inside Knative's latency histogram buckets.",
           sig("latency", int(q) / 100, by=REV))
        for q in ("50", "90", "95", "99")
    ),
    _p("pod_trend", "Pod scaling trend",
       "Pods the autoscaler wants (desired), asked Kubernetes for (requested), has ready "
       "(actual), waits for (pending) and is stopping (terminating).",
       *(sig("pods", s, legend=s) for s in ("desired", "requested", "actual", "pending",
                                            "terminating")),
       app_title="Pod Scaling Trend"),
    # -- revision comparison (canaries) --------------------------------------------------------
    _p("traffic_share_by_revision", "Traffic share by revision",
       "Each revision's share of the requests (stacked to 100 %): is the canary getting the "
       "split the route asks for?", sig("request_rate", by=REV)),
    _p("success_by_revision", "Success Rate by revision",
       "Non-5xx share per revision: a canary worse than the stable revision shows here first.",
       sig("success_ratio", by=REV)),
    _p("rate_5xx_by_revision", "5xx by revision", "Server errors per second per revision.",
       sig("rate_5xx", by=REV)),
    _p("app_latency_p95_by_revision", "Model time P95 by revision",
       "P95 time inside the model container per revision (queue-proxy time excluded), seconds.",
       sig("latency", 0.95, by=REV, app=True)),
    _p("revision_table", "Revision comparison",
       "One row per revision over the whole time range: traffic, success, latency and pods.",
       sig("request_rate", by=REV), sig("success_ratio", by=REV),
       sig("latency", 0.5, by=REV), sig("latency", 0.95, by=REV), sig("latency", 0.99, by=REV),
       sig("pods", "actual", by=REV),
       columns=("Requests/s", "Success", "P50", "P95", "P99", "Ready pods")),
    _p("queue_depth_by_pod", "Queued requests by pod",
       "Requests waiting in each pod's queue-proxy for a free container slot.",
       sig("queue_depth", by=POD)),
    # -- scaling debugging ---------------------------------------------------------------------
    _p("concurrency", "Observed vs target concurrency",
       "The autoscaler's average concurrency over the stable (60 s) and panic (6 s) windows "
       "against its per-pod target, per revision.",
       *(sig("concurrency", k, by=REV, legend=k) for k in ("stable", "panic", "target")),
       app_title="Concurrency: stable / panic / target"),
    _p("panic_mode", "Panic mode",
       "1 while the autoscaler is in panic mode (scaling on the 6 s window, never down).",
       sig("panic_mode", by=REV)),
    _p("excess_burst_capacity", "Excess burst capacity",
       "Spare capacity beyond the target burst; negative keeps the activator in the request path.",
       sig("excess_burst_capacity", by=REV)),
    _p("activator_concurrency", "Activator concurrency",
       "Requests the activator holds or proxies: queued while scaled to zero or under burst.",
       sig("activator_concurrency", by=REV)),
    _p("pods_by_state", "Pods by state",
       "All autoscaler pod counts, summed over the selected revisions.",
       *(sig("pods", s, legend=s) for s in ("desired", "requested", "actual", "pending",
                                            "not_ready", "terminating"))),
    _p("ready_pods_by_revision", "Ready pods by revision", "Ready pods per revision.",
       sig("pods", "actual", by=REV)),
    _p("desired_pods", "Desired pods", "Pods the autoscaler wants now.", sig("pods", "desired")),
    _p("ready_pods", "Ready pods", "Ready pods now.", sig("pods", "actual")),
    _p("scale_events", "Scale events",
       "How often the desired pod count changed: frequent changes mean flapping.",
       sig("scale_events", by=REV)),
    # -- GPU -----------------------------------------------------------------------------------
    _p("gpu_utilization_by_pod", "GPU utilisation by pod",
       "Share of time a kernel ran on each pod's GPUs (NVML utilisation).",
       sig("gpu_utilization", by=POD), app_title="Utilisation by pod"),
    _p("gpu_utilization_by_revision", "GPU utilisation by revision",
       "Mean GPU utilisation per revision.", sig("gpu_utilization", by=REV),
       app_title="Utilisation by revision"),
    _p("gpu_utilization", "GPU utilisation", "Mean utilisation of the selected GPUs.",
       sig("gpu_utilization")),
    _p("gpu_memory_by_pod", "GPU memory by pod",
       "Device memory in use per pod against the memory installed.",
       sig("gpu_memory_used", by=POD, legend="used"),
       sig("gpu_memory_total", by=POD, legend="total"),
       app_title="Memory by pod: used and installed"),
    _p("gpu_memory_by_revision", "GPU memory by revision", "Device memory in use per revision.",
       sig("gpu_memory_used", by=REV), app_title="Memory used by revision"),
    _p("gpu_power_by_pod", "GPU power by pod", "Board power draw per pod, watts.",
       sig("gpu_power", by=POD), app_title="Power by pod"),
    _p("gpu_power_by_revision", "GPU power by revision", "Board power draw per revision, watts.",
       sig("gpu_power", by=REV), app_title="Power by revision"),
    _p("gpu_temperature_by_pod", "GPU temperature by pod", "Hottest GPU die per pod, °C.",
       sig("gpu_temperature", by=POD)),
    _p("gpu_memory_free_by_pod", "GPU memory free by pod",
       "Device memory still free for allocation per pod: how close a larger image or batch is "
       "to CUDA out of memory.", sig("gpu_memory_free", by=POD)),
    _p("gpu_sm_clock_by_pod", "GPU SM clock by pod",
       "Streaming multiprocessor clock per pod; a busy GPU well below its boost clock is held "
       "back (see the throttle reasons).", sig("gpu_sm_clock", by=POD)),
    _p("gpu_exporter_up_by_pod", "GPU exporter health by pod",
       "1 when the pod's GPU exporter read every GPU in its last collection; 0 means NVML "
       "failed (see the exporter's error counters); no line means it is not scraped.",
       sig("gpu_exporter_up", by=POD)),
    _p("gpu_sources", "GPU metrics source",
       "How many of the selected GPUs each exporter reports: the sdobs GPU exporter (sidecar "
       "or node agent) or NVIDIA's dcgm-exporter, joined to revisions via kube_pod_labels.",
       sig("gpu_sources")),
    _p("gpu_exporter_up", "GPU exporters healthy",
       "1 only when every selected exporter read its GPUs.", sig("gpu_exporter_up")),
    _p("gpus_allocated_vs_busy", "GPUs allocated vs busy",
       "GPUs held by the pods (billed) against GPU-equivalents actually busy; the gap is idle "
       "GPU time you pay for.",
       sig("gpus_allocated", legend="allocated"), sig("gpus_busy", legend="busy")),
    _p("gpus_allocated_by_revision", "GPUs allocated by revision", "GPUs held per revision.",
       sig("gpus_allocated", by=REV)),
    _p("gpu_seconds_allocated", "GPU-seconds allocated",
       "GPU time held by the pods over the time range (what is billed).",
       sig("gpu_seconds", "allocated", RANGE)),
    _p("gpu_seconds_busy", "GPU-seconds busy",
       "GPU time in which a kernel ran over the time range.", sig("gpu_seconds", "busy", RANGE)),
    _p("gpu_seconds_idle", "GPU-seconds idle",
       "Allocated minus busy over the time range: what idle GPUs cost, in GPU-seconds.",
       sig("gpu_seconds", "idle", RANGE)),
    # -- SD requests (sdobs SD request exporter; empty where it does not run) -------------------
    _p("sd_latency", "SD request duration P50 / P90 / P95 / P99",
       "Generation request duration measured inside the model container by the sdobs SD "
       "request exporter, in SD-sized buckets (0.05 s to 10 min), seconds. Empty when the "
       "exporter does not run (exporters/a1111-sdobs-metrics).",
       *(sig("sd_latency", q, legend=f"P{q * 100:g}") for q in (0.5, 0.9, 0.95, 0.99))),
    _p("sd_phases", "Waiting vs generating vs returning",
       "Mean seconds a generation request waited for the GPU (the WebUI's generation lock), "
       "generated, and spent encoding and returning the images (SD exporter).",
       *(sig("sd_phase_mean", ph, legend=ph) for ph in ("queue_wait", "generation",
                                                          "response"))),
    _p("latency_p99_by_source", "Response Time P99 by revision, best source",
       "P99 per revision from the SD exporter where it runs, else from Knative's queue-proxy "
       "histogram; the source label says which (Knative's reads its last bucket bound when "
       "the quantile lies above it).",
       sig("latency_by_source", 0.99, by=REV)),
    _p("sd_its_by_gpu", "Steps per second by GPU model",
       "Sampling steps per second of generation time (it/s) per GPU model (SD exporter).",
       sig("sd_its", by=("gpu_model",))),
    _p("sd_cold_start", "Cold start and model load by revision",
       "Container start to ready to serve (cold start), and checkpoint load time, per "
       "revision, seconds (SD exporter).",
       sig("sd_cold_start", by=REV, legend="cold start"),
       sig("sd_model_load", by=REV, legend="model load")),
    # -- GPU health (sdobs.catalog.gpu_health) ------------------------------------------------
    _p("gpu_xid_by_pod", "XID errors by pod",
       "XID errors the driver reported for each pod's GPUs per interval, counted from the "
       "first one (79: fallen off the bus, 48: double-bit ECC, 13/31/43: application faults).",
       sig("gpu_xid_events", by=POD)),
    _p("gpu_ecc_by_pod", "ECC errors by pod",
       "Uncorrected (double-bit) and corrected (single-bit) ECC memory errors per pod per "
       "interval; uncorrected ones kill the CUDA context.",
       sig("gpu_ecc_errors", "uncorrected", by=POD, legend="uncorrected"),
       sig("gpu_ecc_errors", "corrected", by=POD, legend="corrected")),
    _p("gpu_row_remap_by_pod", "Memory repaired by pod",
       "Memory rows remapped (Ampere and newer) or pages retired (older GPUs) after "
       "uncorrectable errors; a rising count means the GPU is wearing out. Where remapping has "
       "failed (gpu_remapped_rows failure = 1) the GPU has no spare rows and needs replacing.",
       sig("gpu_memory_repairs", by=POD)),
    _p("gpu_throttle_reasons", "GPUs throttled, by reason",
       "How many of the selected GPUs have their clocks held down, per reason: power cap, "
       "thermal slowdown, hardware slowdown or power brake.",
       *(sig("gpu_throttled", r, legend=r.replace("_", " ")) for r in SLOWDOWN_REASONS)),
    # -- revision resources (sdobs.catalog.resources) ------------------------------------------
    _p("revision_cpu", "CPU by revision",
       "CPU cores used per revision by the model container and by Knative's queue-proxy "
       "(cAdvisor).",
       sig("container_cpu", "user", by=REV, legend="model"),
       sig("container_cpu", "queue-proxy", by=REV, legend="queue-proxy")),
    _p("revision_memory", "Memory by revision: working set vs limit",
       "Memory working set of the model container per revision (what the OOM killer compares) "
       "against the sum of its limits, and queue-proxy's working set.",
       sig("container_memory", "user", by=REV, legend="working set"),
       sig("container_memory_limit", "user", by=REV, legend="limit"),
       sig("container_memory", "queue-proxy", by=REV, legend="queue-proxy")),
    _p("memory_limit_ratio_by_pod", "Memory used of limit, by pod",
       "Each pod's model-container working set as a share of its memory limit: at 100 % the "
       "kernel kills it (OOMKilled).", sig("container_memory_limit_ratio", "user", by=POD)),
    _p("revision_restarts", "Restarts and OOM kills by revision",
       "Container restarts per interval, and how many of them followed an OOM kill "
       "(kube-state-metrics' last termination reason).",
       sig("container_restarts", "user", by=REV, legend="restarts"),
       sig("container_oom_kills", "user", by=REV, legend="OOM kills"),
       sig("container_restarts", "queue-proxy", by=REV, legend="queue-proxy restarts")),
    # -- fleet ---------------------------------------------------------------------------------
    _p("fleet_table", "Services",
       "Every service over the time range; click a service to open its dashboard.",
       sig("request_rate", by=SVC), sig("success_ratio", by=SVC),
       sig("latency", 0.95, by=SVC), sig("pods", "actual", by=SVC),
       sig("gpu_utilization", by=SVC),
       columns=("Requests/s", "Success", "P95", "Ready pods", "GPU utilisation")),
    _p("services_at_zero", "Scaled to zero", "Services with no ready pod right now.",
       sig("services_at_zero")),
    _p("volume_by_service", "Request Volume by service", "Requests per second per service.",
       sig("request_rate", by=SVC)),
    _p("rate_5xx_by_service", "5xx by service", "Server errors per second per service.",
       sig("rate_5xx", by=SVC)),
    _p("latency_p95_by_service", "Response Time P95 by service",
       "P95 response time at queue-proxy per service, seconds.",
       sig("latency", 0.95, by=SVC)),
    _p("ready_pods_by_service", "Ready pods by service",
       "Ready pods per service; a service at 0 is scaled to zero.",
       sig("pods", "actual", by=SVC)),
    _p("gpus_allocated_by_service", "GPUs allocated by service", "GPUs held per service.",
       sig("gpus_allocated", by=SVC)),
    _p("gpu_utilization_by_service", "GPU utilisation by service",
       "Mean GPU utilisation per service.", sig("gpu_utilization", by=SVC)),
)

# -- SLOs and alerts: what sdobs' rules record (rules/, sdobs rules generate) -----------------
_ALL += (
    _p("slo_budget_remaining", "Error budget left",
       "Share of each SLO's error budget (availability, latency, cold start) left over the SLO "
       "period; below 0 the objective is missed. Needs sdobs' recording rules.",
       sig("slo_budget_remaining")),
    _p("slo_burn_rate", "Error budget burn rate",
       "How fast each SLO's budget burns over 5 minutes: 1 spends it exactly over the period, "
       "14.4 over an hour pages. Needs sdobs' recording rules.", sig("slo_burn_rate")),
    _p("alerts_firing", "Alerts firing", "sdobs alerts firing for this service now.",
       sig("alerts_firing")),
    _p("alerts_by_name", "Alerts by name", "sdobs alerts firing over time, by alert name.",
       sig("alerts_firing", by=("alertname",))),
)

# -- panels only the app draws (one figure where Grafana has a panel per quantile) ------------
_ALL += (
    _p("latency_quantiles", "Response Time P50 / P90 / P95 / P99",
       "Latency quantiles at queue-proxy, interpolated in Knative's histogram buckets.",
       *(sig("latency", q) for q in (0.5, 0.9, 0.95, 0.99))),
    _p("pods_and_scale_events", "Pods and scale events",
       "Desired and actual pods per revision; markers: scale-up ▲, scale-down ▼, "
       "scale-to-zero ✕.",
       sig("pods", "desired", by=REV), sig("pods", "actual", by=REV)),
)

# -- the fleet on recorded series: what sdobs' recording rules store (sdobs.catalog.recorded) --
#: A panel's recorded twin is keyed ``<panel>_recorded``: same title, same columns, same
#: grouping, read from the per-revision series the rules record every evaluation (5-minute
#: rates), so a dashboard at hundreds of services does not aggregate every pod's raw buckets.
RECORDED_SUFFIX = "_recorded"
_RECORDED_NOTE = " Read from sdobs' recording rules (5-minute rates, as recorded)."


def recorded_key(key: str) -> str:
    """The key of a panel's recorded twin (which may not exist)."""
    return key + RECORDED_SUFFIX


def _rec(raw: Panel, *signals: Signal) -> Panel:
    """The recorded twin of ``raw``: its title and columns, the recorded signals."""
    if len(signals) != len(raw.signals):
        raise RuntimeError(f"recorded twin of {raw.key} needs {len(raw.signals)} signals")
    return Panel(recorded_key(raw.key), raw.title, raw.description + _RECORDED_NOTE,
                 tuple(signals), raw.columns)


_RAW = {p.key: p for p in _ALL}
_ALL += (
    _rec(_RAW["fleet_table"], sig("recorded_request_rate", by=SVC),
         sig("recorded_success_ratio", by=SVC), sig("recorded_latency", 0.95, by=SVC),
         sig("recorded_pods", "actual", by=SVC), sig("recorded_gpu_utilization", by=SVC)),
    _rec(_RAW["services_at_zero"], sig("recorded_services_at_zero")),
    _rec(_RAW["volume_by_service"], sig("recorded_request_rate", by=SVC)),
    _rec(_RAW["rate_5xx_by_service"], sig("recorded_rate_5xx", by=SVC)),
    _rec(_RAW["latency_p95_by_service"], sig("recorded_latency", 0.95, by=SVC)),
    _rec(_RAW["ready_pods_by_service"], sig("recorded_pods", "actual", by=SVC)),
    _rec(_RAW["gpus_allocated_by_service"], sig("recorded_gpus_allocated", by=SVC)),
    _rec(_RAW["gpu_utilization_by_service"], sig("recorded_gpu_utilization", by=SVC)),
)

PANELS: Mapping[str, Panel] = {p.key: p for p in _ALL}
if len(PANELS) != len(_ALL):  # pragma: no cover - a typo in the table above
    raise RuntimeError("duplicate panel keys in sdobs.catalog.panels")
