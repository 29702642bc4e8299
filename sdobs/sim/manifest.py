"""Twin configuration read from real Knative manifests: Services, their revisions and traffic.

A YAML stream may hold several ``serving.knative.dev/v1`` Services; documents with the same
name are successive revisions of one Service (``<name>-00001``, ``-00002``, … unless the
template names itself), and the last one's ``spec.traffic`` splits requests between them as a
Route does. ``config-autoscaler``, ``config-defaults`` and ``config-deployment`` ConfigMaps in
the stream replace Knative's defaults for the whole cluster.

Every value is validated as Knative's webhook would; a bad or unknown value raises
:class:`ManifestError` naming the field. The autoscaling settings (ConfigMap keys, annotation
keys and their aliases, how each is parsed, its bounds and rules) are one table,
:data:`SETTINGS`, which the ConfigMap and the annotation paths both read.

The GPU comes from Alibaba's ``k8s.aliyun.com/eci-use-specs`` (gn5 = P100, gn5i = P4,
gn6i = T4, gn7i = A10) or from an ``nvidia.com/gpu`` limit plus a node selector naming the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from sdobs.duration import GO_UNITS, DurationError
from sdobs.duration import parse_duration as _parse_duration
from sdobs.errors import InputError
from sdobs.sim.kpa import AutoscalerConfig, KpaSpec, Metric, resolve_target
from sdobs.sim.pods import ColdStart, cold_start_for

AUTOSCALING = "autoscaling.knative.dev/"
ECI_SPECS = "k8s.aliyun.com/eci-use-specs"
GPU_RESOURCE = "nvidia.com/gpu"

#: Alibaba ECS GPU instance families → GPU model (knative-sd-demo.yaml header).
ECI_FAMILIES = {"gn5": "p100", "gn5i": "p4", "gn6i": "t4", "gn7i": "a10"}
#: Node-selector keys that name a GPU model (NVIDIA GFD, GKE, EKS, ACK).
GPU_SELECTOR_KEYS = (
    "nvidia.com/gpu.product",
    "cloud.google.com/gke-accelerator",
    "k8s.amazonaws.com/accelerator",
    "aliyun.accelerator/nvidia_name",
)
_GPU_TOKENS = (("h100", "h100-80gb"), ("a100", "a100-80gb"), ("a10", "a10"), ("l4", "l4"),
               ("p100", "p100"), ("t4", "t4"), ("p4", "p4"))

CLASSES = {
    "kpa.autoscaling.knative.dev": "kpa",
    "mpa.autoscaling.knative.dev": "mpa",
}


class ManifestError(InputError):
    """A manifest value the twin cannot use; ``field`` is its path in the manifest."""

    def __init__(self, field_path: str, message: str, *, source: str = "") -> None:
        self.field = field_path
        self.problem = message  # the message without its source and field
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field_path}: {message}")


@dataclass(frozen=True)
class ClusterConfig:
    """What the twin assumes about the cluster beyond the manifests."""

    autoscaler: AutoscalerConfig = field(default_factory=AutoscalerConfig)
    activators: int = 1  # activator replicas; >1 partitions each revision's pods between them
    api_latency: float = 0.2  # deployment patch → ReplicaSet creates or deletes pods
    network_programming: float = 1.0  # serverless-service mode switch → data path follows
    scrape_sampling: bool = True  # the autoscaler samples n of N pods when N > 3
    #: simulated times (s) at which the autoscaler process restarts (every decider is rebuilt)
    autoscaler_restarts: tuple[float, ...] = ()


@dataclass(frozen=True)
class RevisionSpec:
    """One revision as the twin models it."""

    name: str
    service: str
    namespace: str
    configuration: str
    container_concurrency: int
    timeout_seconds: float
    autoscaler_class: str  # "kpa" or "mpa"
    gpu: str
    gpu_count: int
    instance_spec: str  # ECI spec or node-selector value it came from
    platform: str  # "eci" or "nodes"
    kpa: KpaSpec
    cold_start: ColdStart
    annotations: Mapping[str, str] = field(default_factory=dict)
    container: str = "user-container"  # the serving container (Knative's default name)


@dataclass(frozen=True)
class TrafficTarget:
    revision: str
    percent: float
    tag: str = ""


@dataclass(frozen=True)
class ServiceSpec:
    """A Knative Service: its revisions (oldest first) and the traffic split between them."""

    name: str
    namespace: str
    revisions: tuple[RevisionSpec, ...]
    traffic: tuple[TrafficTarget, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)  # the Service's own metadata

    def revision(self, name: str) -> RevisionSpec:
        for rev in self.revisions:
            if rev.name == name:
                return rev
        raise KeyError(name)

    def percent(self, revision: str) -> float:
        return sum(t.percent for t in self.traffic if t.revision == revision)


# -- value parsing --------------------------------------------------------------------------------
def parse_duration(value: Any, path: str) -> float:
    """A Go duration ("60s", "1m30s", "500ms") or a bare number of seconds, as Knative reads
    it (no days: Go's time.ParseDuration has none); :mod:`sdobs.duration` parses it."""
    try:
        return _parse_duration(value, path, units=GO_UNITS, spaces=False)
    except DurationError as exc:
        raise ManifestError(path, exc.problem) from None


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise ManifestError(path, f"{value!r} is not a number")
    try:
        return float(str(value).strip())
    except ValueError:
        raise ManifestError(path, f"{value!r} is not a number") from None


def _integer(value: Any, path: str) -> int:
    number = _number(value, path)
    if number != int(number):
        raise ManifestError(path, f"{value!r} is not a whole number")
    return int(number)


def _boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ManifestError(path, f"{value!r} is not true or false")


def _in_range(value: float, lo: float, hi: float, path: str, what: str = "") -> float:
    if not lo <= value <= hi:
        raise ManifestError(path, f"{value:g}{what} is outside [{lo:g}, {hi:g}]")
    return value


# -- the Knative settings -------------------------------------------------------------------------
Kind = Literal["number", "integer", "duration", "boolean", "percentage"]


@dataclass(frozen=True)
class Setting:
    """One Knative setting: where a manifest writes it, how its text is read, what is valid.

    The ConfigMap path (cluster defaults) and the annotation path (one revision) both read it
    from :data:`SETTINGS`. The annotation path enforces ``low``/``high`` (the webhook's bounds
    on a revision; ``high`` None: a lower bound only) and ``whole`` (durations in whole
    seconds); both enforce ``rule``/``valid`` (a constraint the webhook checks wherever the
    value comes from), the annotation path naming the value first.
    """

    key: str  # the ConfigMap key, or the annotation's when it has none
    kind: Kind
    attr: str | None = None  # the AutoscalerConfig field of the cluster default
    configmap: str | None = "config-autoscaler"  # None: annotation only
    annotations: tuple[str, ...] = ()  # autoscaling.knative.dev/ keys, canonical first
    low: float | None = None
    high: float | None = None
    whole: bool = False
    rule: str = ""
    valid: Callable[[float], bool] | None = None

    def parse(self, value: Any, path: str) -> Any:
        """The text as a value of this kind (a percentage in a ConfigMap: config.go reads
        values above 1 as percent), or a one-sentence :class:`ManifestError`."""
        if self.kind == "duration":
            return parse_duration(value, path)
        if self.kind == "integer":
            return _integer(value, path)
        if self.kind == "boolean":
            return _boolean(value, path)
        number = _number(value, path)
        if self.kind == "percentage":
            return number / 100 if number > 1 else number
        return number

    def holds(self, value: float) -> bool:
        """Whether ``value`` keeps the rule (a rule without ``valid``: within the bounds)."""
        if self.valid is not None:
            return self.valid(value)
        return not self.rule or self.low <= value <= self.high  # type: ignore[operator]

    def check(self, value: float, path: str) -> None:
        """The cluster-wide rule on a ConfigMap's (or the defaulted) value."""
        if not self.holds(value):
            raise ManifestError(path, self.rule)

    def annotated(self, value: Any, path: str) -> Any:
        """An annotation's text as a value: parsed, within the bounds, then the rule."""
        if self.kind == "duration":
            v = parse_duration(value, path)
            if not self.low <= v <= self.high:  # type: ignore[operator]
                raise ManifestError(path, f"{value!r} is outside [{self.low:g}s, {self.high:g}s]")
            if self.whole and v != int(v):
                raise ManifestError(path, f"{value!r} must be a whole number of seconds")
            return v
        if self.kind == "integer":
            n = _integer(value, path)
            if self.low is not None and n < self.low:
                raise ManifestError(path, f"{n} is below {self.low:g}")
            return n
        v = _number(value, path)
        if self.high is None:
            if self.low is not None and v < self.low:
                raise ManifestError(path, f"{v:g} is below the minimum {self.low:g}")
        else:
            _in_range(v, self.low, self.high, path)  # type: ignore[arg-type]
        if not self.holds(v):
            raise ManifestError(path, f"{v:g} {self.rule}")
        return v


def _burst_capacity(v: float) -> bool:
    return v >= 0 or v == -1


#: Every Knative setting the twin reads, in the order the ConfigMap path reads and checks them
#: (serving pkg/autoscaler/config/config.go, pkg/apis/autoscaling annotation_validation.go).
_TABLE: tuple[Setting, ...] = (
    Setting("container-concurrency-target-default", "number",
            "container_concurrency_target_default"),
    Setting("requests-per-second-target-default", "number", "requests_per_second_target_default"),
    Setting("target-burst-capacity", "number", "target_burst_capacity",
            annotations=("target-burst-capacity", "targetBurstCapacity"), low=-1, high=1e9,
            rule="must be -1 or at least 0", valid=_burst_capacity),
    Setting("panic-window-percentage", "number", "panic_window_percentage",
            annotations=("panic-window-percentage", "panicWindowPercentage"), low=1, high=100),
    Setting("panic-threshold-percentage", "number", "panic_threshold_percentage",
            annotations=("panic-threshold-percentage", "panicThresholdPercentage"),
            low=110, high=1000),
    Setting("max-scale-up-rate", "number", "max_scale_up_rate",
            rule="must be greater than 1", valid=lambda v: v > 1),
    Setting("max-scale-down-rate", "number", "max_scale_down_rate",
            rule="must be greater than 1", valid=lambda v: v > 1),
    Setting("activator-capacity", "number", "activator_capacity"),
    Setting("stable-window", "duration", "stable_window", annotations=("window",), low=6,
            high=3600, whole=True, rule="must be between 6s and 1h"),
    Setting("scale-to-zero-grace-period", "duration", "scale_to_zero_grace_period",
            rule="must be positive", valid=lambda v: v > 0),
    Setting("scale-to-zero-pod-retention-period", "duration",
            "scale_to_zero_pod_retention_period",
            annotations=("scale-to-zero-pod-retention-period",), low=0, high=1e9),
    Setting("scale-down-delay", "duration", "scale_down_delay",
            annotations=("scale-down-delay",), low=0, high=3600, whole=True),
    Setting("initial-scale", "integer", "initial_scale",
            annotations=("initial-scale", "initialScale"), low=0),
    Setting("min-scale", "integer", "min_scale", annotations=("min-scale", "minScale"), low=0),
    Setting("max-scale", "integer", "max_scale", annotations=("max-scale", "maxScale"), low=0),
    Setting("max-scale-limit", "integer", "max_scale_limit"),
    Setting("enable-scale-to-zero", "boolean", "enable_scale_to_zero"),
    Setting("allow-zero-initial-scale", "boolean", "allow_zero_initial_scale"),
    # The ConfigMap's ratio for concurrency; a revision's percentage (either metric).
    Setting("container-concurrency-target-percentage", "percentage",
            "container_concurrency_target_percentage",
            annotations=("target-utilization-percentage", "targetUtilizationPercentage"),
            low=1, high=100),
    Setting("revision-timeout-seconds", "integer", "revision_timeout_seconds",
            configmap="config-defaults"),
    Setting("max-revision-timeout-seconds", "integer", "max_revision_timeout_seconds",
            configmap="config-defaults"),
    Setting("progress-deadline", "duration", "progress_deadline", configmap="config-deployment"),
    # Annotations only.
    Setting("target", "number", configmap=None, annotations=("target",), low=0.01),
    Setting("activation-scale", "integer", configmap=None, annotations=("activation-scale",),
            low=1),
)
#: The table by key (the ConfigMap key, or the annotation's for annotation-only settings).
SETTINGS: Mapping[str, Setting] = {s.key: s for s in _TABLE}


# -- ConfigMaps -----------------------------------------------------------------------------------
def _configmap(data: Mapping[str, Any], cfg: AutoscalerConfig, name: str, label: str = "",
               ) -> AutoscalerConfig:
    """``data`` of ConfigMap ``name`` (errors say ``label``) on top of ``cfg``: its settings
    parsed, then each rule checked on the result."""
    path = f"ConfigMap {label or name} data"
    mine = [s for s in _TABLE if s.configmap == name]
    changes: dict[str, Any] = {}
    for s in mine:
        if data.get(s.key) is not None:
            value = s.parse(data[s.key], f"{path}.{s.key}")
            # config-defaults' whole seconds are seconds (float) like every other duration
            changes[str(s.attr)] = float(value) if name == "config-defaults" else value
    out = replace(cfg, **changes)
    for s in mine:
        s.check(getattr(out, str(s.attr)), f"{path}.{s.key}")
    return out


def autoscaler_config(data: Mapping[str, Any], base: AutoscalerConfig | None = None,
                      *, source: str = "config-autoscaler") -> AutoscalerConfig:
    """``config-autoscaler`` data on top of ``base`` (Knative's defaults)."""
    return _configmap(data, base or AutoscalerConfig(), "config-autoscaler", source)


def _apply_configmap(doc: Mapping[str, Any], cfg: AutoscalerConfig, source: str,
                     ) -> AutoscalerConfig:
    name = (doc.get("metadata") or {}).get("name", "")
    if name not in ("config-autoscaler", "config-defaults", "config-deployment"):
        return cfg
    return _configmap(doc.get("data") or {}, cfg, name)


# -- GPU ------------------------------------------------------------------------------------------
def gpu_from_eci_spec(specs: str, path: str) -> tuple[str, str]:
    """(GPU model, spec) of the first spec in an ``eci-use-specs`` list."""
    first = str(specs).split(",")[0].strip()
    m = re.fullmatch(r"ecs\.(gn\d+[a-z]*)-[a-z0-9]+\.[a-z0-9]+", first)
    if not m:
        raise ManifestError(path, f"{first!r} is not an ECS instance spec like "
                                  "'ecs.gn6i-c4g1.xlarge'")
    family = m.group(1)
    if family not in ECI_FAMILIES:
        known = ", ".join(f"{k} ({v.upper()})" for k, v in ECI_FAMILIES.items())
        raise ManifestError(path, f"GPU family {family!r} of {first!r} is not modelled; "
                                  f"use one of {known}")
    return ECI_FAMILIES[family], first


def gpu_from_product(value: str, path: str) -> str:
    text = str(value).lower()
    for token, key in _GPU_TOKENS:
        if re.search(rf"(^|[^a-z0-9]){token}($|[^0-9])", text):
            return key
    raise ManifestError(path, f"GPU product {value!r} is not modelled; "
                              "known: T4, P4, P100, A10, L4, A100, H100")


# -- Services -------------------------------------------------------------------------------------
_CLUSTER = object()  # a setting's default: the cluster's value


def _annotation(ann: Mapping[str, str], *keys: str) -> tuple[str, Any] | None:
    for key in keys:
        if AUTOSCALING + key in ann:
            return AUTOSCALING + key, ann[AUTOSCALING + key]
    return None


#: The revision's own progress deadline (serving register.go ProgressDeadlineAnnotationKey); the
#: PA's activation timeout uses it before config-deployment's (scaler.go handleScaleToZero).
PROGRESS_DEADLINE = "serving.knative.dev/progress-deadline"


def panic_window_seconds(stable_window: float, percentage: float) -> float:
    """metric.go MakeMetric: ``time.Duration(float64(stable) * pct / 100).Round(time.Second)``,
    at least one bucket. The float-to-Duration conversion truncates to whole nanoseconds and
    ``Round`` takes halves away from zero (Python's round() takes them to even: 6.5 s -> 6)."""
    ns = int(stable_window * 1e9 * percentage / 100.0)
    seconds = (ns + 500_000_000) // 1_000_000_000
    return float(max(1, seconds))


#: The twin's own annotation: the mean cold start (scheduling + image pull + process start +
#: model load) of this revision's pods. Knative ignores it; the twin scales its per-GPU profile.
COLD_START_ANNOTATION = "twin.sdobs.dev/cold-start"


def _cold_start(cold: ColdStart, ann: Mapping[str, str], tspec: Mapping[str, Any], err: Any,
                ann_path: Any) -> ColdStart:
    """The GPU profile's cold start, with the manifest's readiness probe and the twin's knob."""
    containers = tspec.get("containers") or [{}]
    probe = (containers[0] or {}).get("readinessProbe") or {}
    path = "spec.template.spec.containers[0].readinessProbe"
    if "initialDelaySeconds" in probe:
        cold = cold.scaled(initial_delay=float(_in_range(
            _integer(probe["initialDelaySeconds"], f"{path}.initialDelaySeconds"), 0, 3600,
            f"{path}.initialDelaySeconds")))
    if "periodSeconds" in probe:
        cold = cold.scaled(readiness_period=float(_in_range(
            _integer(probe["periodSeconds"], f"{path}.periodSeconds"), 1, 3600,
            f"{path}.periodSeconds")))
    if COLD_START_ANNOTATION in ann:
        key = ann_path(COLD_START_ANNOTATION)
        total = parse_duration(ann[COLD_START_ANNOTATION], key)
        if total <= 0 or total > 3600:
            raise err(key, f"cold start {total:g} s must be above 0 and at most 1 hour")
        parts = cold.schedule + cold.image_pull + cold.process_start + cold.model_load
        f = total / parts
        cold = cold.scaled(schedule=cold.schedule * f, image_pull=cold.image_pull * f,
                           process_start=cold.process_start * f,
                           model_load=cold.model_load * f)
    return cold


def _revision(doc: Mapping[str, Any], index: int, cfg: AutoscalerConfig, source: str,
              ) -> RevisionSpec:
    meta = doc.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise ManifestError("metadata.name", "a Service needs a name", source=source)
    namespace = meta.get("namespace") or "default"
    spec = doc.get("spec") or {}
    template = spec.get("template") or {}
    tmeta = template.get("metadata") or {}
    tspec = template.get("spec") or {}
    ann: dict[str, str] = {str(k): str(v) for k, v in (tmeta.get("annotations") or {}).items()}
    rev_name = tmeta.get("name") or f"{name}-{index:05d}"
    base = "spec.template.metadata.annotations"

    def err(path: str, message: str) -> ManifestError:
        return ManifestError(path, message, source=f"{source} Service {name}")

    def ann_path(key: str) -> str:
        return f"{base}[{key}]"

    try:
        # Autoscaler class and metric.
        klass = "kpa"
        found = _annotation(ann, "class")
        if found:
            key, value = found
            if value not in CLASSES:
                raise err(ann_path(key), f"autoscaler class {value!r} is not modelled; use "
                          "kpa.autoscaling.knative.dev or mpa.autoscaling.knative.dev")
            klass = CLASSES[value]
        metric = Metric.CONCURRENCY
        found = _annotation(ann, "metric")
        if found:
            key, value = found
            if value not in ("concurrency", "rps"):
                raise err(ann_path(key), f"metric {value!r} is not modelled for the KPA; "
                          "use concurrency or rps")
            metric = Metric(value)

        cc_raw = tspec.get("containerConcurrency", 0)
        cc = _integer(cc_raw, "spec.template.spec.containerConcurrency")
        _in_range(cc, 0, 1000, "spec.template.spec.containerConcurrency")
        timeout = float(_integer(tspec.get("timeoutSeconds", cfg.revision_timeout_seconds),
                                 "spec.template.spec.timeoutSeconds"))
        _in_range(timeout, 1, cfg.max_revision_timeout_seconds,
                  "spec.template.spec.timeoutSeconds", " s")

        def setting(key: str, default: Any = _CLUSTER) -> Any:
            """A revision's annotation of setting ``key``, or ``default`` (the cluster's)."""
            s = SETTINGS[key]
            found = _annotation(ann, *s.annotations)
            if not found:
                return getattr(cfg, str(s.attr)) if default is _CLUSTER else default
            return s.annotated(found[1], ann_path(found[0]))

        # target.go ResolveMetricTarget: RPS starts from the fixed TargetUtilization, not
        # container-concurrency-target-percentage; the annotation overrides either.
        default_tu = cfg.rps_target_utilization if metric is Metric.RPS else \
            cfg.container_concurrency_target_percentage
        tu = setting("container-concurrency-target-percentage", default_tu * 100) / 100
        target_ann = setting("target", None)
        target, total = resolve_target(cc, tu, target_ann, metric, cfg)
        tbc = setting("target-burst-capacity")
        window = setting("stable-window")
        pwp = setting("panic-window-percentage")
        ptp = setting("panic-threshold-percentage")
        sdd = setting("scale-down-delay")
        retention = setting("scale-to-zero-pod-retention-period")
        min_scale = setting("min-scale")
        max_scale = setting("max-scale")
        if max_scale and min_scale > max_scale:
            key = _annotation(ann, *SETTINGS["min-scale"].annotations)
            raise err(ann_path(key[0]) if key else "min-scale",
                      f"min-scale {min_scale} is above max-scale {max_scale}")
        if cfg.max_scale_limit and (max_scale == 0 or max_scale > cfg.max_scale_limit):
            key = _annotation(ann, *SETTINGS["max-scale"].annotations)
            raise err(ann_path(key[0]) if key else ann_path(AUTOSCALING + "max-scale"),
                      f"max-scale must be set and at most max-scale-limit "
                      f"{cfg.max_scale_limit}")
        initial = setting("initial-scale")
        if initial == 0 and not cfg.allow_zero_initial_scale:
            key = _annotation(ann, *SETTINGS["initial-scale"].annotations)
            raise err(ann_path(key[0]) if key else "initial-scale",
                      "0 needs allow-zero-initial-scale: true in config-autoscaler")
        activation = setting("activation-scale", 1)
        found = _annotation(ann, *SETTINGS["activation-scale"].annotations)
        if found and activation < 2:
            raise err(ann_path(found[0]), "activation-scale must be at least 2")
        algo = _annotation(ann, "metric-aggregation-algorithm", "metricAggregationAlgorithm")
        weighted = False
        if algo:
            key, value = algo
            if value.lower() not in ("linear", "weighted-exponential", "weightedexponential"):
                raise err(ann_path(key), f"{value!r} is not linear or weighted-exponential")
            weighted = value.lower() != "linear"

        panic_window = panic_window_seconds(window, pwp)
        progress_deadline = cfg.progress_deadline
        if PROGRESS_DEADLINE in ann:
            progress_deadline = parse_duration(ann[PROGRESS_DEADLINE], ann_path(PROGRESS_DEADLINE))
            if progress_deadline != round(progress_deadline) or progress_deadline < 0:
                # revision_validation.go validateProgressDeadlineAnnotation
                raise err(ann_path(PROGRESS_DEADLINE), f"{ann[PROGRESS_DEADLINE]!r} must be a "
                          "positive whole number of seconds")
        gpu, count, instance, platform = _gpu(ann, tspec, base, err)
        if klass == "mpa":
            # ACK's MPA: the KPA's algorithm fed by gateway concurrency (docs/kpa.md §9);
            # the gateway always holds and forwards requests, so it is always in the path.
            tbc = -1.0
        kpa = KpaSpec(
            container_concurrency=cc, target=target, total=total, metric=metric,
            target_burst_capacity=tbc, stable_window=window, panic_window=panic_window,
            panic_threshold=ptp / 100, max_scale_up_rate=cfg.max_scale_up_rate,
            max_scale_down_rate=cfg.max_scale_down_rate, scale_down_delay=sdd,
            activation_scale=activation, min_scale=min_scale, max_scale=max_scale,
            initial_scale=initial, enable_scale_to_zero=cfg.enable_scale_to_zero,
            scale_to_zero_grace_period=cfg.scale_to_zero_grace_period,
            scale_to_zero_pod_retention=retention, progress_deadline=progress_deadline,
            activator_capacity=cfg.activator_capacity, weighted=weighted,
        )
    except ManifestError as exc:
        if exc.source:
            raise
        raise err(exc.field, exc.problem) from None
    cold = _cold_start(cold_start_for(gpu, platform), ann, tspec, err, ann_path)
    return RevisionSpec(
        name=rev_name, service=name, namespace=namespace, configuration=name,
        container_concurrency=cc, timeout_seconds=timeout, autoscaler_class=klass, gpu=gpu,
        gpu_count=count, instance_spec=instance, platform=platform, kpa=kpa,
        cold_start=cold, annotations=ann,
        container=str(((tspec.get("containers") or [{}])[0] or {}).get("name")
                      or "user-container"),
    )


def _gpu(ann: Mapping[str, str], tspec: Mapping[str, Any], base: str, err: Any,
         ) -> tuple[str, int, str, str]:
    count = 0
    for i, container in enumerate(tspec.get("containers") or []):
        limits = ((container or {}).get("resources") or {}).get("limits") or {}
        if GPU_RESOURCE in limits:
            count = _integer(limits[GPU_RESOURCE],
                             f"spec.template.spec.containers[{i}].resources.limits"
                             f"[{GPU_RESOURCE}]")
    if ECI_SPECS in ann:
        gpu, spec = gpu_from_eci_spec(ann[ECI_SPECS], f"{base}[{ECI_SPECS}]")
        return gpu, max(count, 1), spec, "eci"
    if count:
        selector = tspec.get("nodeSelector") or {}
        for key in GPU_SELECTOR_KEYS:
            if key in selector:
                value = str(selector[key])
                return (gpu_from_product(value, f"spec.template.spec.nodeSelector[{key}]"),
                        count, value, "nodes")
        raise err("spec.template.spec.nodeSelector",
                  f"an {GPU_RESOURCE} limit needs a node selector naming the GPU model "
                  f"({', '.join(GPU_SELECTOR_KEYS)})")
    raise err(f"{base}[{ECI_SPECS}]",
              f"no GPU: set {ECI_SPECS} or an {GPU_RESOURCE} limit with a GPU node selector")


def _traffic(doc: Mapping[str, Any], revisions: list[RevisionSpec], source: str,
             ) -> tuple[TrafficTarget, ...]:
    name = revisions[-1].service
    entries = (doc.get("spec") or {}).get("traffic")
    if not entries:
        return (TrafficTarget(revisions[-1].name, 100.0),)
    names = {r.name for r in revisions}
    out = []
    for i, entry in enumerate(entries):
        path = f"spec.traffic[{i}]"
        if entry.get("latestRevision"):
            rev = revisions[-1].name
        else:
            rev = entry.get("revisionName")
            if rev not in names:
                raise ManifestError(f"{path}.revisionName",
                                    f"{rev!r} is not a revision of this Service "
                                    f"(have: {', '.join(sorted(names))})",
                                    source=f"{source} Service {name}")
        pct = _number(entry.get("percent", 0), f"{path}.percent")
        _in_range(pct, 0, 100, f"{path}.percent")
        out.append(TrafficTarget(rev, pct, str(entry.get("tag") or "")))
    total = sum(t.percent for t in out)
    if abs(total - 100) > 1e-9:
        raise ManifestError("spec.traffic", f"percentages add up to {total:g}, not 100",
                            source=f"{source} Service {name}")
    return tuple(out)


def load_documents(docs: Iterable[Mapping[str, Any]], *, source: str = "manifest",
                   cluster: AutoscalerConfig | None = None,
                   ) -> tuple[list[ServiceSpec], AutoscalerConfig]:
    """Services and the cluster autoscaler config from parsed YAML documents."""
    docs = [d for d in docs if d]
    cfg = cluster or AutoscalerConfig()
    for doc in docs:
        if doc.get("kind") == "ConfigMap":
            cfg = _apply_configmap(doc, cfg, source)
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for doc in docs:
        kind = doc.get("kind")
        if kind == "ConfigMap":
            continue
        if kind != "Service" or not str(doc.get("apiVersion", "")).startswith(
                "serving.knative.dev/"):
            raise ManifestError("kind", f"{doc.get('apiVersion')}/{kind} is not a Knative "
                                "Service (serving.knative.dev/v1) or ConfigMap", source=source)
        meta = doc.get("metadata") or {}
        key = (meta.get("namespace") or "default", meta.get("name") or "")
        grouped.setdefault(key, []).append(doc)
    services = []
    for (namespace, name), versions in grouped.items():
        revisions = [_revision(d, i + 1, cfg, source) for i, d in enumerate(versions)]
        seen = set()
        for r in revisions:
            if r.name in seen:
                raise ManifestError("spec.template.metadata.name",
                                    f"revision name {r.name!r} is used twice",
                                    source=f"{source} Service {name}")
            seen.add(r.name)
        traffic = _traffic(versions[-1], revisions, source)
        routed = {t.revision for t in traffic if t.percent > 0 or t.tag}
        revisions = [replace(r, kpa=r.kpa.with_reachable(r.name in routed)) for r in revisions]
        meta = versions[-1].get("metadata") or {}
        annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
        services.append(ServiceSpec(name, namespace, tuple(revisions), traffic, annotations))
    return services, cfg


def load_text(text: str, *, source: str = "manifest", cluster: AutoscalerConfig | None = None,
              ) -> tuple[list[ServiceSpec], AutoscalerConfig]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError("(document)", f"not valid YAML: {exc}", source=source) from None
    for doc in docs:
        if doc is not None and not isinstance(doc, Mapping):
            raise ManifestError("(document)", "each YAML document must be a mapping",
                                source=source)
    return load_documents(docs, source=source, cluster=cluster)


def load_files(paths: Iterable[str | Path], *, cluster: AutoscalerConfig | None = None,
               ) -> tuple[list[ServiceSpec], AutoscalerConfig]:
    """Services from YAML files (ConfigMaps in any of them apply to all)."""
    texts = []
    for p in paths:
        path = Path(p)
        try:
            texts.append(path.read_text())
        except OSError as exc:
            raise ManifestError("(file)", f"cannot read {path}: {exc.strerror}",
                                source=str(path)) from None
    return load_text("\n---\n".join(texts), source=", ".join(str(p) for p in paths),
                     cluster=cluster)
