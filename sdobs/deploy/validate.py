"""Check a rendered install: Kubernetes kinds against the API schemas, CRDs structurally.

Core kinds (ConfigMap, ...) go through ``kubernetes-validate`` (the OpenAPI schemas of a
Kubernetes release, strict: unknown fields are errors). Prometheus Operator kinds are checked
against the ``openAPIV3Schema`` of their CRD (``crds/*.json``, from prometheus-operator v0.93),
made strict the same way: an object with ``properties`` and no
``x-kubernetes-preserve-unknown-fields`` accepts no other keys, since the API server would
silently prune a misspelt field (``sourcelabels``) and the scrape would quietly do nothing.
Helm values fragments and ``kustomization.yaml`` are not Kubernetes objects and are skipped.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CRD_DIR = Path(__file__).with_name("crds")
KUBERNETES_VERSION = "1.33.0"  # a release every supported cluster API still serves these kinds in
NOT_OBJECTS = ("kustomization.yaml",)


class ValidationUnavailable(Exception):
    """kubernetes-validate is not installed."""


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@cache
def _crd_validators() -> dict[tuple[str, str], Any]:
    from jsonschema import Draft7Validator

    out = {}
    for path in sorted(CRD_DIR.glob("*.json")):
        crd = json.loads(path.read_text())
        schema = _strict(crd["openAPIV3Schema"])
        out[(f"{crd['group']}/{crd['version']}", crd["kind"])] = Draft7Validator(schema)
    return out


def _int_or_string(schema_errors: list[Any]) -> list[Any]:
    """Drop errors jsonschema reports for ``x-kubernetes-int-or-string`` (ints or strings)."""
    return [e for e in schema_errors
            if not (e.validator == "type" and e.schema.get("x-kubernetes-int-or-string"))]


def validate_object(doc: dict[str, Any], where: str = "") -> list[str]:
    """Problems of one Kubernetes object (empty when it is valid)."""
    where = where or f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    crd = _crd_validators().get(key)
    if crd is not None:
        errors = _int_or_string(list(crd.iter_errors(doc)))
        return [f"{where}: {'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
                for e in errors]
    if key[0].startswith("monitoring.coreos.com"):
        return [f"{where}: no CRD schema for {key[0]} {key[1]} in {CRD_DIR}"]
    try:
        import kubernetes_validate
    except ImportError as exc:
        raise ValidationUnavailable(
            "kubernetes-validate is not installed; install the test tools with "
            "pip install 'sdobs[dev]'") from exc
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(top)"
        return [f"{where}: {path}: {exc.message}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return [f"{where}: {exc}"]
    return []


def validate_file(path: Path) -> list[str]:
    """Problems of every object in a manifest file; values fragments are checked as YAML only."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as exc:
        return [f"{path}: not YAML: {exc}"]
    if path.name in NOT_OBJECTS or path.name.startswith("values-") or path.parent.name == "rules" \
            or path.name == "scrape-configs.yaml":
        return []
    problems = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            problems.append(f"{path} document {i + 1}: not a Kubernetes object")
            continue
        problems += validate_object(doc, f"{path.name} {doc['kind']}/"
                                         f"{doc.get('metadata', {}).get('name')}")
    return problems


def validate_folder(folder: Path) -> list[str]:
    """Problems of every manifest under ``folder`` (empty list: the install validates)."""
    files = sorted(folder.rglob("*.yaml"))
    if not files:
        return [f"no YAML files under {folder}; run sdobs deploy render first"]
    out: list[str] = []
    for f in files:
        out += validate_file(f)
    return out
