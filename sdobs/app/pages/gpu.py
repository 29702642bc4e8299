"""GPU page: utilisation, memory and power per pod and revision; busy vs allocated GPU-seconds."""

from __future__ import annotations

from dash import Dash, Output, html

from sdobs.catalog.gpu_health import SLOWDOWN_REASONS

from .. import data
from ..data import PageData
from ..figures import fmt, series, timeseries
from ..state import Parsed, ViewState
from ..units import UNIT_BYTES, UNIT_COUNT, UNIT_GPU_TIME, UNIT_RATIO, UNIT_WATTS
from .common import Extra, Graph, card, register_data_callback, skeleton

NAME = "gpu"
NO_GPU = "no GPU series in this range"


def _by(key: str, label: str, unit: str, y_range=None):
    def build(page: PageData, state: ViewState) -> dict:
        return timeseries(series(page.frame(key), page.window, (label,)), page.window, unit,
                          empty_text=NO_GPU, y_range=y_range)

    return build


def _allocated(page: PageData, state: ViewState) -> dict:
    lines = series(page.frame("allocated"), page.window, name="allocated")
    lines += series(page.frame("busy"), page.window, name="busy")
    return timeseries(lines, page.window, UNIT_COUNT, empty_text=NO_GPU, shape="linear",
                      dashes={"allocated": "dot"})


def _memory(label: str):
    def build(page: PageData, state: ViewState) -> dict:
        if label == "pod":
            lines = series(page.frame("memory_pod"), page.window, (label,), name="used")
            lines += series(page.frame("memory_total"), page.window, (label,), name="total")
        else:
            lines = series(page.frame(f"memory_{label}"), page.window, (label,))
        return timeseries(lines, page.window, UNIT_BYTES, empty_text=NO_GPU,
                          dashes={"total": "dot"})

    return build


def _lines(keys: tuple[str, ...], names: tuple[str, ...], label: str | None, unit: str,
           empty: str = NO_GPU):
    """Several signals in one chart, each named (and split by ``label`` when given)."""
    def build(page: PageData, state: ViewState) -> dict:
        lines = []
        for key, name in zip(keys, names, strict=True):
            lines += series(page.frame(key), page.window, (label,) if label else (), name=name)
        return timeseries(lines, page.window, unit, empty_text=empty, dashes={"limit": "dot"})

    return build


_THROTTLE_KEYS = tuple(f"throttle_{r}" for r in SLOWDOWN_REASONS)
HEALTH_GRAPHS = (
    Graph("gpu-xid", "gpu_xid_by_pod", ("xid_pod",), _by("xid_pod", "pod", UNIT_COUNT)),
    Graph("gpu-ecc", "gpu_ecc_by_pod", ("ecc_uncorrected", "ecc_corrected"),
          _lines(("ecc_uncorrected", "ecc_corrected"), ("uncorrected", "corrected"), "pod",
                 UNIT_COUNT)),
    Graph("gpu-repairs", "gpu_row_remap_by_pod", ("repairs_pod",),
          _by("repairs_pod", "pod", UNIT_COUNT)),
    Graph("gpu-throttle", "gpu_throttle_reasons", _THROTTLE_KEYS,
          _lines(_THROTTLE_KEYS, tuple(r.replace("_", " ") for r in SLOWDOWN_REASONS), None,
                 UNIT_COUNT)),
)

# The model pods' CPU and memory beside their GPUs (the Grafana scaling dashboard has the same
# panels; the app keeps its scaling page to the autoscaler's own series).
NO_DATA = "no container series in this range (cAdvisor, kube-state-metrics)"
_MEMORY = ("memory_user", "memory_limit_user", "memory_queue_proxy")
_RESTARTS = ("restarts_user", "oom_kills_user", "restarts_queue_proxy")
RESOURCE_GRAPHS = (
    Graph("res-cpu", "revision_cpu", ("cpu_user", "cpu_queue_proxy"),
          _lines(("cpu_user", "cpu_queue_proxy"), ("model", "queue-proxy"), "revision",
                 UNIT_COUNT, NO_DATA)),
    Graph("res-memory", "revision_memory", _MEMORY,
          _lines(_MEMORY, ("working set", "limit", "queue-proxy"), "revision", UNIT_BYTES,
                 NO_DATA)),
    Graph("res-memory-ratio", "memory_limit_ratio_by_pod", ("memory_ratio_pod",),
          _lines(("memory_ratio_pod",), ("used",), "pod", UNIT_RATIO, NO_DATA)),
    Graph("res-restarts", "revision_restarts", _RESTARTS,
          _lines(_RESTARTS, ("restarts", "OOM kills", "queue-proxy restarts"), "revision",
                 UNIT_COUNT, NO_DATA)),
)

GRAPHS = (
    Graph("gpu-allocated", "gpus_allocated_vs_busy", ("allocated", "busy"), _allocated, wide=True),
    Graph("gpu-util-pod", "gpu_utilization_by_pod", ("util_pod",),
          _by("util_pod", "pod", UNIT_RATIO, (0, 1.02))),
    Graph("gpu-util-revision", "gpu_utilization_by_revision", ("util_revision",),
          _by("util_revision", "revision", UNIT_RATIO, (0, 1.02))),
    Graph("gpu-memory-pod", "gpu_memory_by_pod", ("memory_pod", "memory_total"), _memory("pod")),
    Graph("gpu-memory-revision", "gpu_memory_by_revision", ("memory_revision",),
          _memory("revision")),
    Graph("gpu-power-pod", "gpu_power_by_pod", ("power_pod",), _by("power_pod", "pod", UNIT_WATTS)),
    Graph("gpu-power-revision", "gpu_power_by_revision", ("power_revision",),
          _by("power_revision", "revision", UNIT_WATTS)),
    *HEALTH_GRAPHS,
    *RESOURCE_GRAPHS,
)


def _cards(page: PageData, state: ViewState) -> list:
    if page.dialect is not None and not page.results:
        return [html.Div("this sdobs catalog has no GPU signals", className="empty-note")]
    h = data.gpu_headline(page)
    idle = None
    if h["allocated"] is not None and h["busy"] is not None:
        idle = h["allocated"] - h["busy"]
    return [
        card("GPU-seconds allocated", fmt(h["allocated"], UNIT_GPU_TIME), id_="card-allocated",
             hint="GPU time held by the pods over the range (what is billed)"),
        card("GPU-seconds busy", fmt(h["busy"], UNIT_GPU_TIME), id_="card-busy",
             hint="GPU time a kernel ran over the range"),
        card("Busy / allocated", fmt(h["busy_ratio"], UNIT_RATIO), id_="card-busy-ratio"),
        card("Idle GPU-seconds", fmt(idle, UNIT_GPU_TIME), id_="card-idle",
             hint="allocated but not busy: what scaling down sooner would save"),
        card("GPU metrics from", data.gpu_sources_text(page), id_="card-gpu-source",
             hint="the exporter reporting the selected GPUs now: the sdobs GPU exporter or "
                  "NVIDIA's dcgm-exporter (joined to revisions via kube_pod_labels)"),
    ]


def layout(parsed: Parsed) -> html.Div:
    state = parsed.state
    who = state.service or "all services"
    where = state.namespace or "all namespaces"
    return skeleton(NAME, f"GPU · {who}", where, GRAPHS,
                    before=[html.Div(id="gpu-cards", className="cards")])


def register(app: Dash, ctx) -> None:
    extras = [Extra(Output("gpu-cards", "children"), _cards, ("h_allocated", "h_busy"),
                    "GPU-seconds")]
    ctx.callbacks[NAME] = register_data_callback(
        app, ctx, NAME, GRAPHS, extras,
        lambda state: data.load_gpu(ctx.source, state, ctx.now()))

