"""Build every ``rules/*.rules.py`` definition for every Knative dialect (and the GPU source).

A definition file sets ``SOURCE = "knative"`` or ``"gpu"`` and defines
``groups(ctx: RuleContext) -> list[Group]``. Output, per target (each Knative dialect, and
``gpu``): ``<out>/<target>/<key>.rules.yaml`` (Prometheus rule files, also what vmalert's
``-rule`` reads) and ``<out>/<target>/prometheusrule.yaml`` (one ``monitoring.coreos.com/v1``
PrometheusRule holding the same groups). :func:`rule_groups` and :func:`prometheus_rule` are the
functions other renderers (``sdobs deploy``) call.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from sdobs.catalog import Catalog
from sdobs.errors import InputError
from sdobs.knative.dialects import DIALECTS, get_dialect
from sdobs.rules.model import Alert, Group
from sdobs.rules.slofile import SloConfig, SloError, load_slo_file

SUFFIX = ".rules.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = REPO_ROOT / "rules"
GENERATED = DEFINITIONS / "generated"
SLO_FILE = DEFINITIONS / "slo.yaml"
GPU = "gpu"
SOURCES = ("knative", GPU)
DIALECT_NAMES = tuple(d.name for d in DIALECTS)
TARGETS = (*DIALECT_NAMES, GPU)
#: Where the alerts' runbook_url points; set your own published copy of docs/runbooks.md.
RUNBOOK_BASE = "docs/runbooks.md"
NAMESPACE_DEFAULT = "monitoring"


class DefinitionError(Exception):
    """A rule definition file cannot be loaded, lacks ``groups`` or builds invalid rules."""


@dataclass(frozen=True)
class RuleContext:
    """What a definition builds from: the dialect's catalog and the SLO configuration."""

    catalog: Catalog
    slo: SloConfig
    target: str


@dataclass(frozen=True)
class Definition:
    key: str
    source: str
    path: Path
    module: ModuleType


@dataclass(frozen=True)
class Generated:
    target: str
    key: str
    path: Path


def load_definitions(folder: Path = DEFINITIONS) -> list[Definition]:
    paths = sorted(Path(folder).glob(f"*{SUFFIX}"))
    if not paths:
        raise DefinitionError(f"no *{SUFFIX} rule definitions in {folder}")
    out = []
    for path in paths:
        key = path.name[: -len(SUFFIX)]
        spec = importlib.util.spec_from_file_location(f"sdobs_rules_{key}", path)
        if spec is None or spec.loader is None:  # pragma: no cover
            raise DefinitionError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise DefinitionError(f"{path} failed to load: {exc}") from exc
        source = getattr(module, "SOURCE", "knative")
        if source not in SOURCES or not callable(getattr(module, "groups", None)):
            raise DefinitionError(f"{path} must set SOURCE to one of {', '.join(SOURCES)} and "
                                  "define groups(ctx)")
        out.append(Definition(key, source, path, module))
    return out


def check_thresholds(slo: SloConfig, dialect_name: str) -> None:
    """Every latency threshold must be a bucket bound of the dialect's request histogram."""
    family = get_dialect(dialect_name).requests
    bounds = {round(b * family.scale_to_base, 9) for b in family.bounds}
    for t in sorted(slo.thresholds()):
        if round(t, 9) not in bounds:
            shown = ", ".join(f"{b:g}" for b in sorted(bounds))
            raise SloError(f"latency threshold {t:g} s is not a bucket bound of the "
                           f"{dialect_name} request histogram, so the share of requests under "
                           f"it cannot be counted; use one of: {shown} (seconds)")


def rule_groups(
    target: str, slo: SloConfig | None = None, definitions: Sequence[Definition] | None = None
) -> dict[str, list[Group]]:
    """The groups of each definition for one target (a dialect name or ``gpu``), by key."""
    if target not in TARGETS:
        raise InputError(f"unknown rules target {target!r}; use one of: {', '.join(TARGETS)}")
    slo = slo or load_slo_file(SLO_FILE)
    definitions = load_definitions() if definitions is None else definitions
    source = GPU if target == GPU else "knative"
    if source == "knative":
        check_thresholds(slo, target)
    # GPU rules read only the exporter's own series; any dialect's catalog builds them.
    ctx = RuleContext(Catalog(target if source == "knative" else DIALECT_NAMES[0]), slo, target)
    out: dict[str, list[Group]] = {}
    for d in definitions:
        if d.source != source:
            continue
        try:
            groups = list(d.module.groups(ctx))
        except (SloError, DefinitionError):
            raise
        except Exception as exc:
            raise DefinitionError(f"{d.path}: groups() failed for {target}: {exc}") from exc
        if not all(isinstance(g, Group) for g in groups):
            raise DefinitionError(f"{d.path}: groups() must return sdobs.rules.model.Group objects")
        out[d.key] = groups
    names = [g.name for gs in out.values() for g in gs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise DefinitionError(f"rule group names used twice for {target}: {', '.join(sorted(dup))}")
    return out


def rule_file(groups: Iterable[Group], runbook_base: str = RUNBOOK_BASE) -> dict[str, Any]:
    return {"groups": [g.to_dict(runbook_base) for g in groups]}


def prometheus_rule(groups: Iterable[Group], name: str, namespace: str = "monitoring",
                    labels: dict[str, str] | None = None,
                    runbook_base: str = RUNBOOK_BASE) -> dict[str, Any]:
    """A ``monitoring.coreos.com/v1`` PrometheusRule; ``labels`` must match the Prometheus'
    ``ruleSelector`` (kube-prometheus-stack selects ``release: <its release name>``)."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace,
                            "labels": {"app.kubernetes.io/part-of": "sdobs", **(labels or {})}}
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": meta, "spec": rule_file(groups, runbook_base)}


def to_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=1 << 16, allow_unicode=True)


HEADER = ("# Generated by `sdobs rules generate` from rules/*.rules.py and rules/slo.yaml; "
          "do not edit.\n")


def generate(out_dir: Path = GENERATED, targets: Sequence[str] = TARGETS,
             definitions: Path = DEFINITIONS, slo_file: Path = SLO_FILE,
             manifests: Sequence[Path] = (), runbook_base: str = RUNBOOK_BASE,
             namespace: str = "monitoring") -> list[Generated]:
    """Write every target's rule files and PrometheusRule manifest; returns what was written."""
    slo = load_slo_file(slo_file).with_manifests(manifests)
    defs = load_definitions(definitions)
    written = []
    for target in targets:
        by_key = rule_groups(target, slo, defs)
        folder = Path(out_dir) / target
        folder.mkdir(parents=True, exist_ok=True)
        for key, groups in by_key.items():
            path = folder / f"{key}.rules.yaml"
            path.write_text(HEADER + to_yaml(rule_file(groups, runbook_base)))
            written.append(Generated(target, key, path))
        everything = [g for gs in by_key.values() for g in gs]
        path = folder / "prometheusrule.yaml"
        path.write_text(HEADER + to_yaml(prometheus_rule(everything, f"sdobs-{target}",
                                                         namespace, runbook_base=runbook_base)))
        written.append(Generated(target, "prometheusrule", path))
    return written


def alerts(groups: Iterable[Group]) -> list[Alert]:
    return [r for g in groups for r in g.rules if isinstance(r, Alert)]
