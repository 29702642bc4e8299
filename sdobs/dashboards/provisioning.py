"""Grafana provisioning files and Kubernetes ConfigMaps for the generated dashboards.

Two ways to load dashboards without the HTTP API: Grafana's file provisioning
(``provisioning/dashboards/*.yaml`` pointing at a folder of JSON, plus a Prometheus data source
in ``provisioning/datasources/*.yaml``), and ConfigMaps labelled for the dashboard sidecar of
kube-prometheus-stack's Grafana (``grafana_dashboard: "1"``), which copies them into Grafana.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

SIDECAR_LABEL = "grafana_dashboard"
SIDECAR_LABEL_VALUE = "1"
FOLDER_ANNOTATION = "grafana_folder"
DEFAULT_FOLDER = "sdobs"
DEFAULT_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/sdobs"
DEFAULT_PROMETHEUS_URL = "http://prometheus:9090"
DATASOURCE_UID = "prometheus"


def dashboards_provider(path: str = DEFAULT_DASHBOARDS_PATH,
                        folder: str = DEFAULT_FOLDER) -> dict[str, Any]:
    """``provisioning/dashboards/sdobs.yaml``: load every JSON under ``path`` into ``folder``."""
    return {
        "apiVersion": 1,
        "providers": [{
            "name": "sdobs",
            "orgId": 1,
            "folder": folder,
            "folderUid": folder,
            "type": "file",
            "disableDeletion": False,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 60,
            "options": {"path": path, "foldersFromFilesStructure": False},
        }],
    }


def datasource(url: str = DEFAULT_PROMETHEUS_URL, scrape_interval: str = "15s",
               name: str = "Prometheus") -> dict[str, Any]:
    """``provisioning/datasources/sdobs.yaml``: the Prometheus the ``datasource`` variable picks.

    ``timeInterval`` is the scrape interval; Grafana's ``$__rate_interval`` is at least four of
    them, so every ``rate()`` has enough samples.
    """
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": name,
            "type": "prometheus",
            "uid": DATASOURCE_UID,
            "access": "proxy",
            "url": url,
            "isDefault": True,
            "editable": True,
            "jsonData": {"timeInterval": scrape_interval, "httpMethod": "POST"},
        }],
    }


def configmap(dashboard: dict[str, Any], *, namespace: str = "monitoring",
              folder: str = DEFAULT_FOLDER) -> dict[str, Any]:
    """One ConfigMap holding one dashboard, labelled for the Grafana dashboard sidecar."""
    uid = str(dashboard["uid"])
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{uid}-dashboard",
            "namespace": namespace,
            "labels": {SIDECAR_LABEL: SIDECAR_LABEL_VALUE,
                       "app.kubernetes.io/part-of": "sdobs"},
            "annotations": {FOLDER_ANNOTATION: folder},
        },
        "data": {f"{uid}.json": json.dumps(dashboard, indent=2, sort_keys=True) + "\n"},
    }


class _Literal(str):
    """A string dumped as a YAML literal block (readable JSON inside the ConfigMap)."""


def _literal(dumper: yaml.SafeDumper, data: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal)


def to_yaml(documents: Sequence[dict[str, Any]]) -> str:
    """Multi-document YAML; ConfigMap data values as literal blocks."""
    docs = []
    for doc in documents:
        if doc.get("kind") == "ConfigMap":
            doc = {**doc, "data": {k: _Literal(v) for k, v in doc["data"].items()}}
        docs.append(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              width=1000))
    return "---\n".join(docs)


def write_provisioning(out: Path, *, dashboards_path: str = DEFAULT_DASHBOARDS_PATH,
                       prometheus_url: str = DEFAULT_PROMETHEUS_URL,
                       folder: str = DEFAULT_FOLDER) -> list[Path]:
    """Write ``dashboards/sdobs.yaml`` and ``datasources/sdobs.yaml`` under ``out``."""
    files = {
        out / "dashboards" / "sdobs.yaml": dashboards_provider(dashboards_path, folder),
        out / "datasources" / "sdobs.yaml": datasource(prometheus_url),
    }
    for path, doc in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_yaml([doc]))
    return list(files)


def write_configmaps(dashboards: Sequence[dict[str, Any]], path: Path, *,
                     namespace: str = "monitoring",
                     folder: str = DEFAULT_FOLDER) -> Path:
    """One YAML file of ConfigMaps, one per dashboard, for ``kubectl apply -f``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    docs = [configmap(d, namespace=namespace, folder=folder)
            for d in sorted(dashboards, key=lambda d: d["uid"])]
    path.write_text(to_yaml(docs))
    return path


def write_deploy(generated: Path, deploy: Path) -> list[Path]:
    """The committed ``deploy/grafana`` artefacts: provisioning files and one ConfigMap file
    per dialect (``configmaps/<dialect>.yaml``), from the generated JSON."""
    paths = write_provisioning(deploy / "provisioning")
    for folder in sorted(p for p in generated.iterdir() if p.is_dir()):
        dashboards = [json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))]
        paths.append(write_configmaps(dashboards, deploy / "configmaps" / f"{folder.name}.yaml"))
    return paths
