"""GPU prices and pod-time billing: what always-on, observed and what-if pod counts cost.

Every price here is a **list-price default that the user must override** with their own rates
(discounts, region, reserved or spot capacity): ``load_price_table`` reads a CSV or YAML file on
top of the defaults. Cost functions take plain numbers or pandas Series of pod counts over time
(the shape the Prometheus access layer returns), so the app, notebooks and CLI share them.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from sdobs.errors import InputError, NotFound

# Knative queue-proxy drains 30 s after SIGTERM before the pod goes (docs/kpa.md §8).
DEFAULT_DRAIN_S = 30.0


@dataclass(frozen=True)
class GpuPrice:
    """One row of the price table: a GPU instance spec and its hourly price in USD."""

    spec: str  # the name the provider uses (eci-use-specs value, instance type, machine type)
    provider: str
    gpu: str
    gpus: int
    gpu_memory_gib: float  # per GPU
    vcpus: int
    memory_gib: float
    hourly_usd: float  # whole instance, on demand
    source: str = ""  # where the default came from; "user" once overridden

    @property
    def hourly_usd_per_gpu(self) -> float:
        return self.hourly_usd / self.gpus


# Defaults: on-demand Linux list prices in USD per hour as known to us in mid-2024 — AWS
# us-east-1, GCP us-central1 (machine + attached GPU). Alibaba's per-spec ECI/ECS prices are
# not in the reference material: those rows are rough estimates (China regions, converted at
# about 7.2 CNY/USD) to be replaced. Prices change (AWS cut P4/P5 prices in 2025) and differ by
# region, so treat every figure as a placeholder and load your own with load_price_table().
_LIST = "list price default (mid-2024); override"
_ESTIMATE = "rough estimate, not a published price; override"
DEFAULT_PRICES: tuple[GpuPrice, ...] = (
    # Alibaba Cloud ECI/ECS GPU specs; the first three are the reference manifest's
    # eci-use-specs (sim/scenarios/knative-sd-demo.yaml). gn5 P100, gn5i P4, gn6i T4, gn7i A10.
    GpuPrice("ecs.gn5-c4g1.xlarge", "alibaba", "P100", 1, 16, 4, 30, 1.20, _ESTIMATE),
    GpuPrice("ecs.gn5i-c8g1.2xlarge", "alibaba", "P4", 1, 8, 8, 32, 1.10, _ESTIMATE),
    GpuPrice("ecs.gn5-c8g1.2xlarge", "alibaba", "P100", 1, 16, 8, 60, 1.50, _ESTIMATE),
    GpuPrice("ecs.gn6i-c4g1.xlarge", "alibaba", "T4", 1, 16, 4, 15, 1.00, _ESTIMATE),
    GpuPrice("ecs.gn7i-c8g1.2xlarge", "alibaba", "A10", 1, 24, 8, 30, 1.60, _ESTIMATE),
    # AWS EC2.
    GpuPrice("g4dn.xlarge", "aws", "T4", 1, 16, 4, 16, 0.526, _LIST),
    GpuPrice("g5.xlarge", "aws", "A10G", 1, 24, 4, 16, 1.006, _LIST),
    GpuPrice("g6.xlarge", "aws", "L4", 1, 24, 4, 16, 0.8048, _LIST),
    GpuPrice("p4d.24xlarge", "aws", "A100", 8, 40, 96, 1152, 32.7726, _LIST),
    GpuPrice("p5.48xlarge", "aws", "H100", 8, 80, 192, 2048, 98.32, _LIST),
    # Google Cloud Compute Engine.
    GpuPrice("n1-standard-4+nvidia-tesla-t4", "gcp", "T4", 1, 16, 4, 15, 0.54, _LIST),
    GpuPrice("g2-standard-4", "gcp", "L4", 1, 24, 4, 16, 0.7068, _LIST),
    GpuPrice("a2-highgpu-1g", "gcp", "A100", 1, 40, 12, 85, 3.6731, _LIST),
    GpuPrice("a3-highgpu-8g", "gcp", "H100", 8, 80, 208, 1872, 88.25, _LIST),
)

_FIELDS = {f.name: f for f in dataclasses.fields(GpuPrice)}
_NUMERIC = {
    "gpus": int,
    "vcpus": int,
    "gpu_memory_gib": float,
    "memory_gib": float,
    "hourly_usd": float,
}


class PriceTableError(InputError):
    """A price override file that cannot be used; carries the path and what is wrong."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"price table {self.path}: {reason}")


class UnknownSpec(NotFound):
    """A spec that is not in the price table; carries the spec and the known names."""

    def __init__(self, spec: str, known: Iterable[str]) -> None:
        self.spec, self.known = spec, sorted(known)
        super().__init__(
            f"no price for spec {spec!r}; add it with a price override file "
            f"(known: {', '.join(self.known)})"
        )


class PriceTable:
    """Prices by spec name; build from DEFAULT_PRICES and override with user rows."""

    def __init__(self, rows: Iterable[GpuPrice] = DEFAULT_PRICES) -> None:
        self._rows: dict[str, GpuPrice] = {r.spec: r for r in rows}

    def __iter__(self) -> Iterator[GpuPrice]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, spec: object) -> bool:
        return spec in self._rows

    def __getitem__(self, spec: str) -> GpuPrice:
        try:
            return self._rows[spec]
        except KeyError:
            raise UnknownSpec(spec, self._rows) from None

    def hourly_usd(self, spec: str) -> float:
        return self[spec].hourly_usd

    def with_overrides(self, overrides: Iterable[Mapping[str, Any]]) -> PriceTable:
        """A new table with rows replaced or added; partial rows update an existing spec."""
        rows = dict(self._rows)
        for raw in overrides:
            row = _clean_row(raw)
            spec = row.get("spec")
            if not spec:
                raise InputError(f"price row without a spec: {dict(raw)!r}")
            if spec in rows:
                rows[spec] = dataclasses.replace(rows[spec], **{"source": "user", **row})
            else:
                missing = [
                    n
                    for n, f in _FIELDS.items()
                    if f.default is dataclasses.MISSING and n not in row
                ]
                if missing:
                    raise InputError(f"new spec {spec!r} needs {', '.join(missing)}")
                rows[spec] = GpuPrice(**{"source": "user", **row})
        return PriceTable(rows.values())


def _clean_row(raw: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).strip()
        if name not in _FIELDS:
            raise InputError(f"unknown price column {name!r} (columns: {', '.join(_FIELDS)})")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in _NUMERIC:
            try:
                number = _NUMERIC[name](float(value))
            except (TypeError, ValueError):
                raise InputError(f"{name} must be a number, got {value!r}") from None
            if not math.isfinite(number) or number < 0:
                raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
            row[name] = number
        else:
            row[name] = str(value).strip()
    if row.get("gpus") == 0:
        raise InputError("gpus must be at least 1")
    return row


def load_price_table(path: str | Path, base: PriceTable | None = None) -> PriceTable:
    """Read user prices from CSV (header row of GpuPrice fields) or YAML and apply them.

    YAML may be a list of rows, or a mapping ``spec: hourly_usd`` / ``spec: {field: value}``.
    Rows for known specs may give only ``spec,hourly_usd``; new specs need every field.
    """
    path = Path(path)
    base = PriceTable() if base is None else base
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceTableError(path, f"cannot be read ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            rows: list[Mapping[str, Any]] = list(csv.DictReader(text.splitlines()))
        elif suffix in (".yaml", ".yml"):
            rows = _yaml_rows(text)
        else:
            raise InputError("use a .csv, .yaml or .yml file")
        return base.with_overrides(rows)
    except ValueError as exc:
        raise PriceTableError(path, str(exc)) from None


def _yaml_rows(text: str) -> list[Mapping[str, Any]]:
    import yaml  # the full extra; imported here so the table itself needs no YAML

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"is not valid YAML ({exc})") from None
    if data is None:
        return []
    if isinstance(data, list):
        if not all(isinstance(r, Mapping) for r in data):
            raise InputError("a YAML list must hold one mapping per price row")
        return data
    if isinstance(data, Mapping):
        rows: list[Mapping[str, Any]] = []
        for spec, value in data.items():
            if isinstance(value, Mapping):
                rows.append({"spec": spec, **value})
            else:
                rows.append({"spec": spec, "hourly_usd": value})
        return rows
    raise InputError("YAML must be a list of rows or a mapping of spec to price")


# --------------------------------------------------------------------------- billed pod time


def billed_seconds_per_pod(
    serving_s: ArrayLike,
    *,
    cold_start_s: ArrayLike,
    drain_s: ArrayLike = DEFAULT_DRAIN_S,
    minimum_s: ArrayLike = 0.0,
) -> float | np.ndarray:
    """Billed time of individual pods: cold start + time serving + drain, at least ``minimum_s``.

    Providers bill a GPU pod from creation (scheduling, image pull, model load) until it is gone,
    which is at least 30 s after Knative removes it.
    """
    total = (
        np.asarray(cold_start_s, float) + np.asarray(serving_s, float) + np.asarray(drain_s, float)
    )
    out = np.maximum(total, np.asarray(minimum_s, float))
    return out[()] if out.ndim == 0 else out


def _sample_durations(pods: Any, step_s: float | None, end: Any) -> tuple[np.ndarray, np.ndarray]:
    """(pod counts, seconds each count holds) for a step-function series of samples."""
    is_series = hasattr(pods, "to_numpy") and hasattr(pods, "index")
    values = np.asarray(pods.to_numpy() if is_series else pods, dtype=float).ravel()
    if values.size and (np.any(~np.isfinite(values)) or np.any(values < 0)):
        raise InputError("pod counts must be finite and >= 0; fill or drop gaps first")
    if is_series and step_s is None:
        t, t_end = _seconds(pods.index, end)
        if t.size > 1 and np.any(np.diff(t) <= 0):
            raise InputError("the pod-count series must have a strictly increasing time index")
        gaps = np.diff(t)
        if t_end is not None and t.size:
            last = t_end - t[-1]
        else:
            last = float(np.median(gaps)) if gaps.size else 0.0
        return values, np.append(gaps, max(last, 0.0))
    if step_s is None:
        raise InputError("give step_s when the pod counts carry no time index")
    return values, np.full(values.size, float(step_s))


def _seconds(index: Any, end: Any) -> tuple[np.ndarray, float | None]:
    """Sample times and the optional end as seconds, for datetime (naive or zoned) or numbers."""
    import pandas as pd  # a Series came in, so pandas is installed

    if isinstance(index, pd.DatetimeIndex):
        utc = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
        t = utc.to_numpy("datetime64[ns]").astype(np.int64) / 1e9
        if end is None:
            return t, None
        stamp = pd.Timestamp(end)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return t, stamp.as_unit("ns").value / 1e9
    return np.asarray(index, dtype=float), None if end is None else float(end)


def billed_seconds_from_pod_counts(
    pods: Any,
    *,
    cold_start_s: float,
    drain_s: float = DEFAULT_DRAIN_S,
    step_s: float | None = None,
    end: Any = None,
    initial_pods_started: bool = False,
) -> float:
    """Billed pod-seconds of a ready-pod count series: ∫pods dt + starts·cold start + stops·drain.

    ``pods`` is a pandas Series indexed by time (DatetimeIndex or seconds) or, with ``step_s``,
    any sequence; each sample holds until the next, the last one for the median step or until
    ``end``. Every increase counts as pods started (billed ``cold_start_s`` before they were
    ready), every decrease as pods stopped (billed ``drain_s`` after). Pods already up at the
    first sample count as started only with ``initial_pods_started``. If the series already
    counts starting pods (not just ready ones), pass ``cold_start_s=0``.
    """
    values, durations = _sample_durations(pods, step_s, end)
    if not values.size:
        return 0.0
    steps = np.diff(values, prepend=values[0] if not initial_pods_started else 0.0)
    starts = float(np.clip(steps, 0, None).sum())
    stops = float(np.clip(-steps, 0, None).sum())
    return float(np.dot(values, durations)) + starts * cold_start_s + stops * drain_s


def _hourly(price: float | GpuPrice) -> float:
    return price.hourly_usd if isinstance(price, GpuPrice) else float(price)


def always_on_cost(peak_pods: float, duration_s: float, price: float | GpuPrice) -> float:
    """Cost of holding ``peak_pods`` for the whole period: what no autoscaling would cost."""
    return float(peak_pods) * float(duration_s) / 3600.0 * _hourly(price)


def pods_cost(
    pods: Any,
    price: float | GpuPrice,
    *,
    cold_start_s: float,
    drain_s: float = DEFAULT_DRAIN_S,
    step_s: float | None = None,
    end: Any = None,
) -> float:
    """Cost of a pod-count series (observed or what-if) at an hourly price per pod."""
    seconds = billed_seconds_from_pod_counts(
        pods, cold_start_s=cold_start_s, drain_s=drain_s, step_s=step_s, end=end
    )
    return seconds / 3600.0 * _hourly(price)


def savings_ratio(baseline_cost: float, cost: float) -> float:
    """Fraction of ``baseline_cost`` saved by spending ``cost`` instead: 1 − cost/baseline."""
    if baseline_cost <= 0:
        return 0.0 if cost <= 0 else -math.inf
    return 1.0 - cost / baseline_cost


@dataclass(frozen=True)
class CostComparison:
    """Always-on versus observed (and optionally what-if) cost over one period, in USD."""

    duration_s: float
    peak_pods: float
    hourly_usd: float
    always_on_usd: float
    observed_usd: float
    observed_savings: float  # ratio against always-on
    whatif_usd: float | None = None
    whatif_savings: float | None = None  # ratio against always-on
    whatif_vs_observed: float | None = None  # ratio of savings against observed


def compare_costs(
    observed_pods: Any,
    price: float | GpuPrice,
    *,
    cold_start_s: float,
    whatif_pods: Any = None,
    peak_pods: float | None = None,
    drain_s: float = DEFAULT_DRAIN_S,
    step_s: float | None = None,
    end: Any = None,
) -> CostComparison:
    """Compare always-on (peak pods × duration), observed and what-if pod counts at one price.

    The peak defaults to the observed series' maximum (pass it when sizing for a peak rate).
    """
    values, durations = _sample_durations(observed_pods, step_s, end)
    duration = float(durations.sum())
    peak = float(values.max()) if peak_pods is None and values.size else float(peak_pods or 0.0)
    hourly = _hourly(price)
    always = always_on_cost(peak, duration, hourly)
    observed = pods_cost(
        observed_pods, hourly, cold_start_s=cold_start_s, drain_s=drain_s, step_s=step_s, end=end
    )
    whatif = (
        None
        if whatif_pods is None
        else pods_cost(
            whatif_pods, hourly, cold_start_s=cold_start_s, drain_s=drain_s, step_s=step_s, end=end
        )
    )
    return CostComparison(
        duration_s=duration,
        peak_pods=peak,
        hourly_usd=hourly,
        always_on_usd=always,
        observed_usd=observed,
        observed_savings=savings_ratio(always, observed),
        whatif_usd=whatif,
        whatif_savings=None if whatif is None else savings_ratio(always, whatif),
        whatif_vs_observed=None if whatif is None else savings_ratio(observed, whatif),
    )
