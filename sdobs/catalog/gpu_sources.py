"""Where per-GPU series come from: the sdobs exporter (sidecar or node) or NVIDIA's dcgm-exporter.

Every GPU signal reads one *per-GPU series* with the canonical labels ``namespace``, ``pod``,
``service``, ``configuration``, ``revision`` in base units, built as the union of three sources,
each used only for pods no earlier source covers (``or on (namespace, pod)``):

1. the sdobs exporter as a sidecar: its series name their Knative service, configuration and
   revision themselves;
2. the sdobs exporter in node mode: its series know the pod but not the service (the kubelet
   does not say), so they are joined to the pod's Knative labels;
3. dcgm-exporter with Kubernetes mapping (``namespace``, ``pod``, ``container`` on allocated
   GPUs; scraped with ``honorLabels: true``): percent, MiB and MHz converted to ratios, bytes
   and hertz, joined the same way.

The join reads kube-state-metrics' ``kube_pod_labels`` with Knative's pod labels allowlisted
(``label_serving_knative_dev_revision``, ...; ``sdobs deploy render`` writes the allowlist).
Selections on service, configuration and revision filter that side of the join, so a GPU whose
pod is not a Knative revision pod of the selection drops out. Which source a number comes from
is one query away (:meth:`sdobs.catalog.gpu.GpuSignals.gpu_sources`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sdobs_exporters.gpu import naming

from sdobs.catalog import promql
from sdobs.catalog.promql import Matcher
from sdobs.catalog.query import Selection

KUBE_POD_LABELS = "kube_pod_labels"
#: kube-state-metrics' names for Knative's pod labels (``label_`` + sanitized key).
KSM_KEYS = {"service": "label_serving_knative_dev_service",
            "configuration": "label_serving_knative_dev_configuration",
            "revision": "label_serving_knative_dev_revision"}
IDENTITY = ("service", "configuration", "revision")
JOIN = "namespace, pod"
MIB = 1048576
SDOBS = "sdobs"
DCGM = "dcgm-exporter"
SOURCES = (SDOBS, DCGM)


def _sdobs(attr: str) -> str:
    for signal in naming.GPU_SIGNALS:
        if signal.attr == attr:
            return signal.name
    raise KeyError(attr)


def _dcgm(name: str, ns: Sequence[Matcher]) -> str:
    return promql.selector(name, ns)


def _dcgm_total(ns: Sequence[Matcher]) -> str:
    used, free = _dcgm("DCGM_FI_DEV_FB_USED", ns), _dcgm("DCGM_FI_DEV_FB_FREE", ns)
    reserved = _dcgm("DCGM_FI_DEV_FB_RESERVED", ns)
    # NVML's v2 memory info: total = used + free + reserved (reserved is absent before 3.x).
    return f"({used} + {free} + ({reserved} or {used} * 0)) * {MIB}"


#: attr -> (sdobs family, dcgm-exporter expression on namespace matchers, in base units)
SIGNALS = {
    "utilization": (_sdobs("utilization_percent"),
                    lambda ns: f"{_dcgm('DCGM_FI_DEV_GPU_UTIL', ns)} / 100"),
    "memory_used": (_sdobs("memory_used_bytes"),
                    lambda ns: f"{_dcgm('DCGM_FI_DEV_FB_USED', ns)} * {MIB}"),
    "memory_total": (_sdobs("memory_total_bytes"), _dcgm_total),
    "memory_free": (_sdobs("memory_free_bytes"),
                    lambda ns: f"{_dcgm('DCGM_FI_DEV_FB_FREE', ns)} * {MIB}"),
    "power": (_sdobs("power_milliwatts"), lambda ns: _dcgm("DCGM_FI_DEV_POWER_USAGE", ns)),
    "temperature": (_sdobs("temperature_celsius"),
                    lambda ns: _dcgm("DCGM_FI_DEV_GPU_TEMP", ns)),
    "sm_clock": (_sdobs("sm_clock_mhz"), lambda ns: f"{_dcgm('DCGM_FI_DEV_SM_CLOCK', ns)} * 1e6"),
}


def identity(sel: Selection, window: str | None = None) -> str:
    """Knative identity of each pod from ``kube_pod_labels``, on canonical label names.

    With ``window`` the labels of pods seen within it (for queries over a past range).
    """
    matchers = [promql.raw(KSM_KEYS["revision"], "!=", "")]
    if sel.namespace is not None:
        matchers.append(promql.equals("namespace", sel.namespace))
    for label in ("service", "configuration"):
        value = getattr(sel, label)
        if value is not None:
            matchers.append(promql.equals(KSM_KEYS[label], value))
    if sel.revisions is not None:
        matchers.append(promql.one_of(KSM_KEYS["revision"], sel.revisions))
    series = promql.selector(KUBE_POD_LABELS, matchers)
    if window is not None:
        series = f"last_over_time({series}[{promql.check_window(window)}])"
    keys = ", ".join(KSM_KEYS[k] for k in IDENTITY)
    expr = f"max by ({JOIN}, {keys}) ({series})"
    for label in IDENTITY:
        expr = promql.copy_label(expr, label, KSM_KEYS[label])
    return expr


def joined(expr: str, sel: Selection) -> str:
    """``expr`` (per-GPU series with ``namespace`` and ``pod``) with the pod's Knative identity."""
    return f"({expr} * on ({JOIN}) group_left ({', '.join(IDENTITY)}) {identity(sel)})"


def namespace_matchers(sel: Selection) -> list[Matcher]:
    return [] if sel.namespace is None else [promql.equals("namespace", sel.namespace)]


def union(sel: Selection, own: list[Matcher], sdobs: str, per_series: Callable[[str], str],
          dcgm: str | None, extra: Sequence[Matcher] = ()) -> str:
    """The union of sources for any per-GPU expression.

    ``per_series(selector)`` turns a selector into the per-series expression (the selector
    itself, a ``rate``, an event count); it is applied to the sdobs family ``sdobs`` (sidecar
    series by ``own``, node-mode series by namespace) and to the dcgm-exporter expression
    ``dcgm`` (``None``: no dcgm-exporter equivalent), each before the join; ``extra`` matchers
    narrow the sdobs family (a throttle reason).
    """
    ns = namespace_matchers(sel)
    if not any(m.label == "service" for m in own):
        own = [*own, promql.raw("service", "!=", "")]
    node_matchers = [*ns, promql.raw("service", "=", ""), promql.raw("pod", "!=", "")]
    parts = [per_series(promql.selector(sdobs, [*own, *extra])),
             joined(per_series(promql.selector(sdobs, [*node_matchers, *extra])), sel)]
    if dcgm is not None:
        parts.append(joined(per_series(promql.selector(dcgm, ns)), sel))
    return "(" + f" or on ({JOIN}) ".join(parts) + ")"


def per_gpu(signal: str, sel: Selection, own: list[Matcher]) -> str:
    """The union of sources for one signal; ``own`` are the sidecar series' selection matchers."""
    sdobs, dcgm = SIGNALS[signal]
    ns = namespace_matchers(sel)
    if not any(m.label == "service" for m in own):
        own = [*own, promql.raw("service", "!=", "")]
    sidecar = promql.selector(sdobs, own)
    node = joined(promql.selector(sdobs, [*ns, promql.raw("service", "=", ""),
                                          promql.raw("pod", "!=", "")]), sel)
    return f"({sidecar} or on ({JOIN}) {node} or on ({JOIN}) {joined(dcgm(ns), sel)})"


def by_source(sel: Selection, own: list[Matcher]) -> str:
    """Each selected GPU once, labelled ``source`` (``sdobs`` or ``dcgm-exporter``)."""
    sdobs, dcgm = SIGNALS["memory_total"]
    ns = namespace_matchers(sel)
    if not any(m.label == "service" for m in own):
        own = [*own, promql.raw("service", "!=", "")]
    sidecar = promql.selector(sdobs, own)
    node = joined(promql.selector(sdobs, [*ns, promql.raw("service", "=", ""),
                                          promql.raw("pod", "!=", "")]), sel)
    mine = f'label_replace(({sidecar} or on ({JOIN}) {node}), "source", "{SDOBS}", "", "")'
    theirs = f'label_replace({joined(dcgm(ns), sel)}, "source", "{DCGM}", "", "")'
    return f"({mine} or on ({JOIN}) {theirs})"
