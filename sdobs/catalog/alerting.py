"""Alert conditions an SD-on-Knative operator needs, as PromQL built from the catalog.

Each function returns the expression of one alerting rule; names, ``for:``, severities and the
words around them are in the rule definitions (``rules/*.rules.py``), and each alert's runbook
is a section of ``docs/runbooks.md``. Knative conditions read the recorded per-revision series
(:mod:`sdobs.catalog.recorded`), so they are the same for every dialect; the few that must see
raw series (a broken scrape, queue-proxy's own 503) take the dialect's catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdobs_exporters.gpu import naming

from sdobs.catalog import promql
from sdobs.catalog import recorded as rec
from sdobs.catalog.query import Selection

if TYPE_CHECKING:  # catalog.py builds on the modules these helpers read
    from sdobs.catalog.catalog import Catalog

_REV = ", ".join(rec.REVISION_LEVEL)
ON_REV = f"on ({_REV})"
_BY_REV = f"by ({_REV})"
#: Clock-event reasons that mean the GPU is slowed by heat or power, not by its own idleness.
THROTTLE_REASONS = ("hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
                    "hw_power_brake_slowdown")


def _pods(state: str) -> str:
    return f"max without (state) ({rec.PODS}{{state={promql.quote(state)}}})"


def error_ratio_above(ratio: float, min_rps: float) -> str:
    """A service's 5xx share over 5 minutes above ``ratio`` while it has real traffic."""
    total = f"sum by (namespace, service) ({rec.REQUESTS})"
    bad = f"sum by (namespace, service) ({rec.REQUESTS}{{code_class=\"5xx\"}})"
    return f"({bad} / {total} > {ratio!r}) and on (namespace, service) ({total} > {min_rps!r})"


def cold_requests_waiting() -> str:
    """Requests held by the activator while the revision has no ready pod."""
    return (f"sum {_BY_REV} ({rec.ACTIVATOR_CONCURRENCY}) > 0 and {ON_REV} "
            f"({_pods('actual')} == 0)")


def pods_not_ready() -> str:
    """More pods asked of Kubernetes than are ready (pending, pulling, or no GPU to be had).

    ``requested`` is the autoscaler's wish after the revision's min/max-scale bounds, so a
    revision held at max-scale is not reported here (see :func:`overflow_at_capacity`).
    """
    return f"{_pods('requested')} > {ON_REV} {_pods('actual')}"


def overflow_at_capacity(catalog: Catalog) -> str:
    """Queue-proxy answers 503 (its queue is full) while every pod the autoscaler asked for is
    ready and it wants more than its bounds allow (desired, unclamped, above requested): the
    revision sits at max-scale."""
    d = catalog.dialect
    code = promql.raw(d.code_label, "=", "503")
    overflow = catalog._rate_sum(d.request_count, Selection(window=rec.RECORD_WINDOW),
                                 rec.REVISION_LEVEL, [code])
    return (f"({overflow} > 0) and {ON_REV} ({_pods('actual')} >= {ON_REV} "
            f"{_pods('requested')}) and {ON_REV} ({_pods('desired')} > {ON_REV} "
            f"{_pods('requested')}) and {ON_REV} ({_pods('actual')} > 0)")


def panic_mode_stuck() -> str:
    return f"{rec.PANIC_MODE} > 0"


def idle_but_warm(idle: str = "1h") -> str:
    """Ready pods (GPUs billed) although no request arrived within ``idle``."""
    w = promql.check_window(idle)
    busy = f"sum {_BY_REV} (max_over_time({rec.REQUESTS}[{w}])) > 0"
    return f"{_pods('actual')} > 0 unless {ON_REV} ({busy})"


def request_metrics_absent(catalog: Catalog) -> str:
    """A revision with ready pods but no queue-proxy series at all: the scrape is broken.

    Queue depth is the probe: queue-proxy reports it on every period in both dialects, while
    OpenCensus request counters vanish after ten idle minutes.
    """
    depth = catalog.queue_depth(Selection(), by=rec.REVISION_LEVEL).expr
    return f"{_pods('actual')} > 0 unless {ON_REV} ({depth})"


# -- GPU (the sdobs exporter; dialect-independent) ---------------------------------------------
_GPU_KEYS = "namespace, service, configuration, revision, pod"


def gpu_lost() -> str:
    return f"{naming.GPU_UP[0]} == 0"


def gpu_exporter_unhealthy() -> str:
    return f"min by ({_GPU_KEYS}) ({naming.UP[0]}) == 0"


def gpu_exporter_absent(lookback: str = "1h") -> str:
    """Revisions that had GPU series within ``lookback`` and still have ready pods, but report
    no GPU now: the exporter sidecar or its scrape is gone (GPU-less revisions stay quiet)."""
    w = promql.check_window(lookback)
    return (f"(max_over_time({rec.GPUS_ALLOCATED}[{w}]) > 0) unless {ON_REV} "
            f"{rec.GPUS_ALLOCATED} and {ON_REV} ({_pods('actual')} > 0)")


def gpu_xid_errors(window: str = "10m") -> str:
    return f"increase({naming.XID_ERRORS[0]}[{promql.check_window(window)}]) > 0"


def gpu_ecc_uncorrected(window: str = "10m") -> str:
    name = next(s.name for s in naming.GPU_SIGNALS if s.attr == "ecc_uncorrected_errors")
    return f"increase({name}[{promql.check_window(window)}]) > 0"


def gpu_throttled() -> str:
    reasons = promql.raw("reason", "=~", "|".join(THROTTLE_REASONS))
    return f"{promql.selector(naming.THROTTLE[0], [reasons])} == 1"
