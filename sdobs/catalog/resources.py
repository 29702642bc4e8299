"""Revision resources: CPU, memory working set against the limit, restarts and OOM kills.

From the series kube-prometheus-stack already stores: cAdvisor through the kubelet
(``container_cpu_usage_seconds_total``, ``container_memory_working_set_bytes``) and
kube-state-metrics (``kube_pod_container_resource_limits``, which replaces cAdvisor's
``container_spec_*`` that the chart drops; ``kube_pod_container_status_restarts_total``;
``kube_pod_container_status_last_terminated_reason``). None of them names a Knative revision:
they are joined to the pod's Knative labels on ``kube_pod_labels``, like dcgm-exporter's GPU
series (:func:`sdobs.catalog.gpu_sources.joined`). ``container`` is ``user`` (the model
container, whatever its name) or ``queue-proxy`` (Knative's sidecar).
"""

from __future__ import annotations

from collections.abc import Sequence

from sdobs.catalog import gpu_sources, promql
from sdobs.catalog.gpu_health import counted_events
from sdobs.catalog.promql import Matcher
from sdobs.catalog.query import UNIT_BYTES, UNIT_COUNT, UNIT_RATIO, Query, Selection, check_by
from sdobs.errors import InputError

UNIT_CORES = UNIT_COUNT
RESOURCE_GROUPABLE = ("namespace", "service", "configuration", "revision", "pod", "container")
CONTAINERS = ("user", "queue-proxy")
CPU = "container_cpu_usage_seconds_total"
MEMORY = "container_memory_working_set_bytes"
LIMITS = "kube_pod_container_resource_limits"
RESTARTS = "kube_pod_container_status_restarts_total"
LAST_TERMINATED = "kube_pod_container_status_last_terminated_reason"
PER_CONTAINER = "namespace, pod, container"


def container_matchers(sel: Selection, container: str) -> list[Matcher]:
    if container not in CONTAINERS:
        raise InputError(f"container {container!r} must be user (the model container) or "
                         "queue-proxy")
    out = list(gpu_sources.namespace_matchers(sel))
    if container == "queue-proxy":
        out.append(promql.raw("container", "=", "queue-proxy"))
    else:  # cAdvisor's pod-level ("") and pause ("POD") cgroups are not containers
        out.append(promql.raw("container", "!~", "queue-proxy|POD|"))
    return out


class ResourceSignals:
    """Mixed into :class:`sdobs.catalog.Catalog`."""

    def _resource(self, name: str, agg: str, per_container: str, sel: Selection,
                  by: Sequence[str], unit: str, description: str) -> Query:
        by = check_by(by, RESOURCE_GROUPABLE, "resource signals")
        expr = f"{agg}{promql.by(by)} ({gpu_sources.joined(per_container, sel)})"
        return Query(name, expr, unit, by, description)

    def _container_bytes(self, name: str, metric: str, extra: Matcher, sel: Selection,
                         container: str, by: Sequence[str], description: str) -> Query:
        """A per-container byte gauge (each container's highest series), summed over ``by``."""
        series = promql.selector(metric, [*container_matchers(sel, container), extra])
        inner = f"max by ({PER_CONTAINER}) ({series})"
        return self._resource(name, "sum", inner, sel, by, UNIT_BYTES, description)

    def container_cpu(self, sel: Selection, container: str = "user",
                      by: Sequence[str] = ()) -> Query:
        """CPU cores used (cAdvisor usage rate over the selection's window)."""
        series = promql.selector(CPU, [*container_matchers(sel, container),
                                       promql.raw("image", "!=", "")])
        inner = f"sum by ({PER_CONTAINER}) (rate({series}[{sel.window}]))"
        return self._resource(f"cpu_{container}", "sum", inner, sel, by, UNIT_CORES,
                              f"CPU cores used by the {container} container")

    def container_memory(self, sel: Selection, container: str = "user",
                         by: Sequence[str] = ()) -> Query:
        """Memory working set in bytes (what the kernel's OOM killer compares with the limit)."""
        return self._container_bytes(f"memory_{container}", MEMORY, promql.raw("image", "!=", ""),
                                     sel, container, by,
                                     f"Memory working set of the {container} container, bytes")

    def container_memory_limit(self, sel: Selection, container: str = "user",
                               by: Sequence[str] = ()) -> Query:
        """Memory limit in bytes (kube-state-metrics; absent where no limit is set)."""
        return self._container_bytes(f"memory_limit_{container}", LIMITS,
                                     promql.raw("resource", "=", "memory"), sel, container, by,
                                     f"Memory limit of the {container} container, bytes")

    def container_memory_limit_ratio(self, sel: Selection, container: str = "user",
                                     by: Sequence[str] = ("pod",)) -> Query:
        """The highest working set / limit of the selected containers: 1 is the OOM kill."""
        matchers = container_matchers(sel, container)
        used = promql.selector(MEMORY, [*matchers, promql.raw("image", "!=", "")])
        limit = promql.selector(LIMITS, [*matchers, promql.raw("resource", "=", "memory")])
        inner = (f"(max by ({PER_CONTAINER}) ({used}) / on ({PER_CONTAINER}) "
                 f"max by ({PER_CONTAINER}) ({limit}))")
        return self._resource(f"memory_limit_ratio_{container}", "max", inner, sel, by,
                              UNIT_RATIO, f"Working set of the {container} container as a "
                                          "share of its limit")

    def container_restarts(self, sel: Selection, container: str = "user",
                           range_: str | None = None,
                           by: Sequence[str] = ()) -> Query:
        """Container restarts within ``range_`` (default: the selection's window; a pod born
        inside it counts from its start)."""
        rng = promql.check_window(sel.window if range_ is None else range_)
        series = promql.selector(RESTARTS, container_matchers(sel, container))
        inner = f"sum by ({PER_CONTAINER}) ({counted_events(series, rng)})"
        return self._resource(f"restarts_{container}", "sum", inner, sel, by, UNIT_COUNT,
                              f"Restarts of the {container} container within {rng}")

    def container_oom_kills(self, sel: Selection, container: str = "user",
                            range_: str | None = None,
                            by: Sequence[str] = ()) -> Query:
        """Restarts within ``range_`` (default: the selection's window) of containers whose
        last termination was an OOM kill (kube-state-metrics keeps only the last reason); 0 for
        containers without one."""
        rng = promql.check_window(sel.window if range_ is None else range_)
        matchers = container_matchers(sel, container)
        restarts = (f"sum by ({PER_CONTAINER}) "
                    f"({counted_events(promql.selector(RESTARTS, matchers), rng)})")
        oom = promql.selector(LAST_TERMINATED, [*matchers,
                                                promql.raw("reason", "=", "OOMKilled")])
        inner = (f"({restarts} * on ({PER_CONTAINER}) max by ({PER_CONTAINER}) ({oom} > bool 0)"
                 f" or {restarts} * 0)")
        return self._resource(f"oom_kills_{container}", "sum", inner, sel, by, UNIT_COUNT,
                              f"OOM kills of the {container} container within {rng}")
