"""Kubernetes SD stand-ins: file-SD targets carrying the meta labels the pod role would give.

Prometheus' Kubernetes SD (role ``pod``) yields one target per declared container port with
``__meta_kubernetes_namespace``, ``__meta_kubernetes_pod_name``, ``..._pod_ip``, ``..._pod_phase``,
``..._pod_label_<sanitized>`` and ``..._pod_labelpresent_<sanitized>`` per pod label, and
``..._pod_container_name``, ``..._pod_container_port_name`` / ``_number`` per port. File SD passes
such labels through to relabelling unchanged, so the generated relabel rules run on exactly
what a cluster would feed them. Each "container port" is a small HTTP server on loopback
serving a fixed exposition text.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sdobs.deploy.manifests import sanitize


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.text.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


class Endpoint:
    """A loopback HTTP server answering every GET with ``text``."""

    def __init__(self, text: str) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.text = text  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Port:
    container: str
    name: str
    number: int
    text: str  # what the port serves; "" serves an empty exposition


@dataclass
class Pod:
    namespace: str
    name: str
    labels: dict[str, str]
    ports: list[Port]
    phase: str = "Running"
    ip: str = "10.0.0.1"
    endpoints: list[Endpoint] = field(default_factory=list)

    def targets(self) -> list[dict]:
        """File-SD target groups, one per container port (started on first call)."""
        if not self.endpoints:
            self.endpoints = [Endpoint(p.text) for p in self.ports]
        base = {"__meta_kubernetes_namespace": self.namespace,
                "__meta_kubernetes_pod_name": self.name,
                "__meta_kubernetes_pod_ip": self.ip,
                "__meta_kubernetes_pod_phase": self.phase,
                "__meta_kubernetes_pod_ready": "true"}
        for key, value in self.labels.items():
            base[f"__meta_kubernetes_pod_label_{sanitize(key)}"] = value
            base[f"__meta_kubernetes_pod_labelpresent_{sanitize(key)}"] = "true"
        groups = []
        for port, ep in zip(self.ports, self.endpoints, strict=True):
            groups.append({"targets": [ep.address], "labels": {
                **base,
                "__meta_kubernetes_pod_container_name": port.container,
                "__meta_kubernetes_pod_container_port_name": port.name,
                "__meta_kubernetes_pod_container_port_number": str(port.number)}})
        return groups

    def close(self) -> None:
        for ep in self.endpoints:
            ep.close()
