"""Capacity analysis: queueing models for sizing pods against latency SLOs, and GPU cost.

The entry points a notebook or script calls are re-exported here: sizing for a P99 target, the
two approximations users compare, and the price table. Every other formula lives in
``sdobs.capacity.queueing`` (whose ``__all__`` lists them) and ``sdobs.capacity.cost``. Needs
the ``full`` extra (numpy, scipy); what-if replays and Prometheus history belong in sibling
modules.
"""

from sdobs.capacity.cost import GpuPrice, PriceTable, PriceTableError, UnknownSpec, load_price_table
from sdobs.capacity.queueing import (
    QueueInputError,
    SloSizing,
    cosmetatos_mean_wait,
    mdc_wait_quantile,
    pods_for_p99,
    size_for_slo,
)

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
