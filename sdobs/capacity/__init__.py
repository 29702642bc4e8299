"""Capacity analysis: queueing models for sizing pods against latency SLOs, and GPU cost.

The entry points a notebook or script calls are re-exported here: sizing for a P99 target, the
two approximations users compare, and the price table. Every other formula lives in the module
named for its subject (each ``__all__`` lists them): ``erlang`` (Erlang B/C), ``mmc`` (M/M/c),
``mgc`` (M/G/c approximations), ``mdc`` (exact M/D/c), ``kpa_model`` (target utilisation,
steady-state pods, scale-to-zero), ``sizing`` (pods for an SLO, the plan over a history) and
``cost``. Needs the ``full`` extra (numpy, scipy); what-if replays and Prometheus history belong
in sibling modules.
"""

from sdobs.capacity.cost import GpuPrice, PriceTable, PriceTableError, UnknownSpec, load_price_table
from sdobs.capacity.inputs import QueueInputError
from sdobs.capacity.mdc import mdc_wait_quantile
from sdobs.capacity.mgc import cosmetatos_mean_wait
from sdobs.capacity.sizing import SloSizing, pods_for_p99, size_for_slo

__all__ = [
    "GpuPrice",
    "PriceTable",
    "PriceTableError",
    "QueueInputError",
    "SloSizing",
    "UnknownSpec",
    "cosmetatos_mean_wait",
    "load_price_table",
    "mdc_wait_quantile",
    "pods_for_p99",
    "size_for_slo",
]
