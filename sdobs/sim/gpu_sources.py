"""Which GPU exporter the twin's history shows, and what its scrape stores.

- ``default`` / ``dcgm``: the sdobs exporter as a sidecar in the model pod, in its default or
  dcgm-compatible naming; the series name the Knative service, configuration and revision.
- ``sdobs-node``: the sdobs exporter as a node agent: namespace, pod and container from the
  kubelet, the revision from the pod name, no service or configuration (those come from a join
  with ``kube_pod_labels``, which the twin renders beside it).
- ``dcgm-exporter``: NVIDIA's dcgm-exporter with Kubernetes mapping, scraped with
  ``honorLabels``: ``DCGM_FI_*`` families only, in its units (percent, MiB, MHz, mJ), with
  ``gpu``, ``UUID``, ``pci_bus_id``, ``device``, ``modelName``, ``Hostname``,
  ``DCGM_FI_DRIVER_VERSION`` and the workload's ``namespace``, ``pod``, ``container`` — no
  Knative labels and no ``DCGM_FI_DEV_FB_TOTAL`` (not in its default counters); used, free
  and reserved add up to the installed memory as in NVML's v2 memory info. Beside the
  default counters the twin's field list enables the ECC and clock-event-reason fields, as
  users who watch GPU health do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from sdobs_exporters.gpu import Identity

from sdobs.errors import InputError

SIDECAR_JOB = "sdobs-gpu-exporter"
NODE_JOB = "sdobs-gpu-exporter-node"
DCGM_JOB = "dcgm-exporter"
#: dcgm-exporter families the twin leaves out: not in dcgm-exporter's default counters.
DCGM_NOT_EXPORTED = frozenset({"DCGM_FI_DEV_FB_TOTAL"})


def _full(ident: Identity) -> Identity:
    return ident


def _node(ident: Identity) -> Identity:
    return replace(ident, service="", configuration="")


def _kubelet(ident: Identity) -> Identity:
    return replace(ident, service="", configuration="", revision="")


def _all(collector: Any, ts: float) -> Iterable[Any]:
    return collector.families(timestamp=ts)


def _dcgm_only(collector: Any, ts: float) -> Iterable[Any]:
    """DCGM families only; FB_FREE as NVML's v2 memory info gives it (total - used - reserved:
    the simulated GPU reports free as total - used)."""
    fams = [f for f in collector.families(timestamp=ts)
            if f.name.startswith("DCGM_FI_") and f.name not in DCGM_NOT_EXPORTED]
    reserved = {tuple(sorted(s.labels.items())): s.value for f in fams
                if f.name == "DCGM_FI_DEV_FB_RESERVED" for s in f.samples}
    for f in fams:
        if f.name == "DCGM_FI_DEV_FB_FREE":
            f.samples = [s._replace(value=max(s.value - reserved.get(
                tuple(sorted(s.labels.items())), 0), 0)) for s in f.samples]
    return fams


@dataclass(frozen=True)
class GpuSource:
    key: str
    naming: str  # the sdobs collector's naming mode that produces the families
    job: str
    port: int
    identity: Callable[[Identity], Identity]
    families: Callable[[Any, float], Iterable[Any]]
    per_pod_target: bool  # up carries the model pod's namespace/pod (a sidecar target)

    def up_labels(self, namespace: str, pod: str) -> dict[str, str]:
        if self.per_pod_target:
            return {"namespace": namespace, "pod": pod}
        return {}


SOURCES = {s.key: s for s in (
    GpuSource("default", "default", SIDECAR_JOB, 9402, _full, _all, True),
    GpuSource("dcgm", "dcgm", SIDECAR_JOB, 9402, _full, _all, True),
    GpuSource("sdobs-node", "default", NODE_JOB, 9402, _node, _all, False),
    GpuSource("dcgm-exporter", "dcgm", DCGM_JOB, 9400, _kubelet, _dcgm_only, False),
)}


def source_for(key: str) -> GpuSource:
    try:
        return SOURCES[key]
    except KeyError:
        raise InputError(f"unknown GPU source {key!r}; use one of: "
                         f"{', '.join(SOURCES)}") from None
