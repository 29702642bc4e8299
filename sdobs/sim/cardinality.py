"""The cardinality budget: how many series a Service costs, from what it did.

A Knative model Service's series come in five shapes (OpenTelemetry dialect, the sdobs GPU
sidecar, kube-state-metrics and cAdvisor, as the twin renders them and a cluster scrapes them):

- per revision, the autoscaler's gauges (``kn_revision_*``) and the activator's concurrency:
  :data:`PER_REVISION`;
- per revision and response code the activator proxied (its request histogram):
  :data:`PER_ACTIVATOR_CODE`;
- per pod: queue-proxy's depth, the GPU exporter sidecar (one GPU), the pod's cluster series and
  ``up`` of each target: :data:`PER_POD`;
- per pod and response code it answered: queue-proxy's two request histograms (outer and app, 15
  buckets each plus ``_sum`` and ``_count``): :data:`PER_POD_CODE`;
- per pod running the SD request exporter: its phase histograms in SD-sized buckets and
  counters: :data:`PER_SD_POD`.

Pods dominate: autoscaling churn (a pod that came and went in the window still has its series
in the block), not traffic, sets a Service's cost. The constants are upper bounds taken from the
families' layouts; :func:`shard_shape` counts the inputs in a rendered shard so a test can hold
the formula against what is really written (``docs/cardinality.md``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PER_REVISION = 12
PER_ACTIVATOR_CODE = 17
PER_POD = 72
PER_POD_CODE = 35
PER_SD_POD = 220

_POD = re.compile(r'(?:[{,]pod|k8s_pod_name)="([^"]+)"')
_CODE = re.compile(r'http_response_status_code="(\d+)"')
_REVISION = re.compile(r'kn_revision_name="([^"]+)"')


@dataclass(frozen=True)
class Shape:
    """What sets a Service's series count, and the count itself."""

    revisions: int
    activator_codes: int  # (revision, code) pairs the activator reported
    pods: int
    pod_codes: int  # (pod, code) pairs queue-proxy reported
    sd_pods: int
    series: int  # distinct series really written

    @property
    def budget(self) -> int:
        return series_budget(self.revisions, self.activator_codes, self.pods, self.pod_codes,
                             self.sd_pods)


def series_budget(revisions: int, activator_codes: int, pods: int, pod_codes: int,
                  sd_pods: int = 0) -> int:
    """The series a Service may cost: the sum of its shapes times their constants."""
    return (PER_REVISION * revisions + PER_ACTIVATOR_CODE * activator_codes + PER_POD * pods
            + PER_POD_CODE * pod_codes + PER_SD_POD * sd_pods)


def shard_shape(path: str | Path) -> Shape:
    """Count a rendered OpenMetrics shard's series and the budget's inputs (one Service)."""
    series: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line[0] != "#":
                series.add(line.rsplit(" ", 2)[0])
    revisions: set[str] = set()
    activator: set[tuple[str, str]] = set()
    pod_codes: dict[str, set[str]] = defaultdict(set)
    sd_pods: set[str] = set()
    for key in series:
        pod = _POD.search(key)
        code = _CODE.search(key)
        rev = _REVISION.search(key)
        if key.startswith("kn_revision_pods_desired{") and rev:
            revisions.add(rev.group(1))
        if pod and "-deployment-" in pod.group(1):
            pod_codes[pod.group(1)]
            if code and key.startswith("http_server_request_duration_seconds_count"):
                pod_codes[pod.group(1)].add(code.group(1))
            if key.startswith("sdobs_sd_request_duration_seconds_count"):
                sd_pods.add(pod.group(1))
        elif (pod and pod.group(1).startswith("activator-") and code and rev
              and key.startswith("http_server_request_duration_seconds_count")):
            activator.add((rev.group(1), code.group(1)))
    return Shape(revisions=len(revisions), activator_codes=len(activator), pods=len(pod_codes),
                 pod_codes=sum(len(c) for c in pod_codes.values()), sd_pods=len(sd_pods),
                 series=len(series))
