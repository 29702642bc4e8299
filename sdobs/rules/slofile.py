"""The SLO file (``rules/slo.yaml``) and the per-Service annotations that override it.

Objectives are percentages, as in Sloth and Pyrra. A Knative Service overrides them with
annotations on its metadata (``slo.sdobs.dev/availability: "99.9"``, ``slo.sdobs.dev/latency``,
``slo.sdobs.dev/latency-threshold-seconds``, ``slo.sdobs.dev/cold-start``); an annotation wins
over the file's ``services:`` entry, which wins over ``objectives:``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from sdobs.catalog.promql import check_window
from sdobs.errors import InputError

ANNOTATION_PREFIX = "slo.sdobs.dev/"
#: SLO file key / annotation suffix -> Objectives field.
KEYS = {
    "availability": "availability",
    "latency": "latency",
    "latency_threshold_seconds": "latency_threshold",
    "cold_start": "cold_start",
}
ANNOTATIONS = {
    "availability": "availability",
    "latency": "latency",
    "latency-threshold-seconds": "latency_threshold",
    "cold-start": "cold_start",
}


class SloError(InputError):
    """The SLO file or an annotation holds something that is not a valid objective."""


@dataclass(frozen=True)
class Objectives:
    """Objectives as ratios (0.99 = 99 %) and the latency threshold in seconds."""

    availability: float = 0.99
    latency: float = 0.90
    latency_threshold: float = 10.0
    cold_start: float | None = 0.95  # None: no cold-start SLO unless a service sets one

    def ratio(self, slo: str) -> float | None:
        value = getattr(self, slo)
        return None if value is None else float(value)


@dataclass(frozen=True)
class SloConfig:
    period: str = "30d"
    defaults: Objectives = field(default_factory=Objectives)
    #: (namespace, service) -> the fields it overrides
    overrides: Mapping[tuple[str, str], Mapping[str, float]] = field(default_factory=dict)

    def objectives(self, namespace: str, service: str) -> Objectives:
        return replace(self.defaults, **self.overrides.get((namespace, service), {}))

    def thresholds(self) -> set[float]:
        """Every latency threshold in use (defaults and overrides)."""
        out = {self.defaults.latency_threshold}
        out.update(o["latency_threshold"] for o in self.overrides.values()
                   if "latency_threshold" in o)
        return out

    def with_services(self, services: Iterable[tuple[str, str, Mapping[str, Any]]]) -> SloConfig:
        """The same config with the annotations of (namespace, name, annotations) Services."""
        overrides = {k: dict(v) for k, v in self.overrides.items()}
        for namespace, name, ann in services:
            values = from_annotations(ann, f"Service {namespace}/{name}")
            if values:
                overrides.setdefault((namespace, name), {}).update(values)
        return replace(self, overrides=overrides)

    def with_manifests(self, manifests: Iterable[Path]) -> SloConfig:
        """The same config with the annotations of the Knative Services in ``manifests``."""
        overrides = {k: dict(v) for k, v in self.overrides.items()}
        for path in manifests:
            for key, values in annotation_overrides(Path(path)).items():
                overrides.setdefault(key, {}).update(values)
        return replace(self, overrides=overrides)


def _value(field_name: str, raw: Any, where: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SloError(f"{where}: {raw!r} is not a number") from None
    if field_name == "latency_threshold":
        if not value > 0:
            raise SloError(f"{where}: a latency threshold must be above 0 seconds, got {raw!r}")
        return value
    if not 0 < value < 100:
        raise SloError(f"{where}: an objective is a percentage between 0 and 100 (exclusive), "
                       f"e.g. 99.5; got {raw!r}")
    return round(value / 100, 10)


def _objectives(mapping: Mapping[str, Any], where: str, base: Objectives | None = None):
    unknown = set(mapping) - set(KEYS)
    if unknown:
        raise SloError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                       f"use {', '.join(KEYS)}")
    return {KEYS[k]: _value(KEYS[k], v, f"{where}.{k}") for k, v in mapping.items()}


def load_slo_file(path: Path | str) -> SloConfig:
    """Read an SLO file; raises SloError naming the bad entry."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise SloError(f"cannot read the SLO file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SloError(f"the SLO file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SloError(f"the SLO file {path} must be a mapping with 'objectives:'")
    unknown = set(data) - {"period", "objectives", "services"}
    if unknown:
        raise SloError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
                       "use period, objectives, services")
    period = str(data.get("period", "30d"))
    try:
        check_window(period)
    except ValueError:
        raise SloError(f"{path}: period {period!r} is not a duration such as 30d") from None
    objectives = data.get("objectives") or {}
    defaults = Objectives(**_objectives(objectives, f"{path}: objectives"))
    if "cold_start" not in objectives:  # opt-in: scale-to-zero services are cold by design
        defaults = replace(defaults, cold_start=None)
    overrides: dict[tuple[str, str], dict[str, float]] = {}
    for i, entry in enumerate(data.get("services") or []):
        where = f"{path}: services[{i}]"
        if not isinstance(entry, dict) or not entry.get("service"):
            raise SloError(f"{where} needs at least 'service:' (and 'namespace:', default "
                           "'default')")
        entry = dict(entry)
        key = (str(entry.pop("namespace", "default")), str(entry.pop("service")))
        overrides[key] = _objectives(entry, where)
    return SloConfig(period, defaults, overrides)


def annotation_overrides(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """(namespace, service) -> objectives from ``slo.sdobs.dev/*`` annotations in a manifest."""
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except OSError as exc:
        raise SloError(f"cannot read the manifest {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SloError(f"the manifest {path} is not valid YAML: {exc}") from None
    out: dict[tuple[str, str], dict[str, float]] = {}
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "Service" \
                or not str(doc.get("apiVersion", "")).startswith("serving.knative.dev/"):
            continue
        meta = doc.get("metadata") or {}
        key = (str(meta.get("namespace") or "default"), str(meta.get("name") or ""))
        values = from_annotations(meta.get("annotations") or {}, f"{path}: {key[1]}")
        if values:
            out.setdefault(key, {}).update(values)
    return out


def from_annotations(annotations: Mapping[str, Any], where: str) -> dict[str, float]:
    """The objectives a Service's ``slo.sdobs.dev/*`` annotations set."""
    out: dict[str, float] = {}
    for name, raw in annotations.items():
        if not str(name).startswith(ANNOTATION_PREFIX):
            continue
        suffix = str(name)[len(ANNOTATION_PREFIX):]
        if suffix not in ANNOTATIONS:
            raise SloError(f"{where}: unknown annotation {name}; use "
                           + ", ".join(ANNOTATION_PREFIX + a for a in ANNOTATIONS))
        target = ANNOTATIONS[suffix]
        out[target] = _value(target, raw, f"{where} {name}")
    return out


def slo_file_for(scenario: Path | str, default: Path) -> Path:
    """The SLO file of a twin scenario (``<name>.slo.yaml`` beside it), else ``default``."""
    path = Path(scenario)
    own = path.with_name(path.name.rsplit(".", 1)[0] + ".slo.yaml")
    return own if own.exists() else default


def objective_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Objectives))
