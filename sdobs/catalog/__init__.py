"""The PromQL catalog: one module builds every query, for every Knative dialect."""

from sdobs.catalog.catalog import QUANTILES, Catalog, Query, Selection
from sdobs.catalog.promql import Var

__all__ = ["QUANTILES", "Catalog", "Query", "Selection", "Var"]
