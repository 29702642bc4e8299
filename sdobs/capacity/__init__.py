"""Capacity analysis: queueing models for sizing pods against latency SLOs, and GPU cost.

Public names are re-exported here so the app, notebooks and CLI import from one place. Needs the
``full`` extra (numpy, scipy); what-if replays and Prometheus history belong in sibling modules.
"""

from sdobs.capacity.cost import (
    DEFAULT_PRICES,
    CostComparison,
    GpuPrice,
    PriceTable,
    PriceTableError,
    UnknownSpec,
    always_on_cost,
    billed_pod_seconds,
    compare_costs,
    load_price_table,
    pod_billed_seconds,
    pods_cost,
    savings_ratio,
)
from sdobs.capacity.queueing import *  # noqa: F403 (the queueing module's __all__)
from sdobs.capacity.queueing import __all__ as _queueing_all

__all__ = [
    "DEFAULT_PRICES",
    "CostComparison",
    "GpuPrice",
    "PriceTable",
    "PriceTableError",
    "UnknownSpec",
    "always_on_cost",
    "billed_pod_seconds",
    "compare_costs",
    "load_price_table",
    "pod_billed_seconds",
    "pods_cost",
    "savings_ratio",
    *_queueing_all,
]
