"""Build every ``dashboards/*.dashboard.py`` definition for every Knative dialect and write JSON.

Output: ``<out>/<dialect>/<key>.json``, byte-identical to what grafanalib's own
``generate-dashboard`` writes for the same definition with ``SDOBS_DIALECT=<dialect>``.
"""

from __future__ import annotations

import importlib.util
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafanalib._gen import write_dashboard

from sdobs.dashboards.builders import DashboardSpec
from sdobs.knative.dialects import DIALECTS, get_dialect

SUFFIX = ".dashboard.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = REPO_ROOT / "dashboards"
GENERATED = DEFINITIONS / "generated"
DIALECT_NAMES = tuple(d.name for d in DIALECTS)


class DefinitionError(Exception):
    """A dashboard definition file cannot be loaded or lacks its ``spec``."""


@dataclass(frozen=True)
class Generated:
    dialect: str
    key: str
    path: Path
    data: dict[str, Any]


def definition_files(folder: Path = DEFINITIONS) -> list[Path]:
    files = sorted(folder.glob(f"*{SUFFIX}"))
    if not files:
        raise DefinitionError(f"no *{SUFFIX} files in {folder}")
    return files


def load_spec(path: Path) -> DashboardSpec:
    """The ``spec`` a definition file declares (importing it also builds its ``dashboard``)."""
    name = "sdobs_dashboard_" + path.name[: -len(SUFFIX)].replace("-", "_")
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise DefinitionError(f"cannot import dashboard definition {path}")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise DefinitionError(f"dashboard definition {path} failed to load: {exc}") from exc
    spec = getattr(module, "spec", None)
    if not isinstance(spec, DashboardSpec):
        raise DefinitionError(f"{path} must define spec = DashboardSpec(...)")
    return spec


def render(spec: DashboardSpec, dialect: str) -> str:
    """The JSON text of one dashboard, exactly as grafanalib's CLI writes it."""
    out = io.StringIO()
    write_dashboard(spec.build(dialect), out)
    return out.getvalue()


def generate(out_dir: Path = GENERATED, dialects: tuple[str, ...] = DIALECT_NAMES,
             definitions: Path = DEFINITIONS, write: bool = True) -> list[Generated]:
    """Build all definitions for ``dialects``; write them unless ``write`` is false."""
    specs = [load_spec(p) for p in definition_files(definitions)]
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise DefinitionError(f"two definitions share a key: {sorted(keys)}")
    results = []
    for dialect in (get_dialect(d).name for d in dialects):
        folder = out_dir / dialect
        for spec in specs:
            text = render(spec, dialect)
            path = folder / f"{spec.key}.json"
            if write:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            results.append(Generated(dialect, spec.key, path, json.loads(text)))
    return results


def load_generated(folder: Path) -> list[dict[str, Any]]:
    """Every dashboard JSON under ``folder`` (recursively), for upload and provisioning."""
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise DefinitionError(f"no dashboard JSON under {folder}; run sdobs dashboards generate")
    out = []
    for f in files:
        try:
            out.append(json.loads(f.read_text()))
        except json.JSONDecodeError as exc:
            raise DefinitionError(f"{f} is not JSON: {exc}") from exc
    return out
