"""Client of the kubelet pod-resources gRPC API, used only in node mode.

grpc and the generated stubs are imported when :func:`list_devices` is first called, so the
exporter package imports with prometheus-client and nvidia-ml-py alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"


@dataclass(frozen=True, slots=True)
class ContainerDevices:
    """Devices of one resource the kubelet assigned to one container."""

    namespace: str
    pod: str
    container: str
    resource_name: str
    device_ids: tuple[str, ...]


class PodResourcesError(Exception):
    """The pod-resources List call failed; ``reason`` is a short snake_case word for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def list_devices(socket_path: str = DEFAULT_SOCKET, *, timeout: float = 5.0,
                 ) -> list[ContainerDevices]:
    """Every device assignment on this node, from one ``PodResourcesLister.List`` call."""
    if not os.path.exists(socket_path):
        raise PodResourcesError(
            "socket_missing",
            f"the kubelet pod-resources socket {socket_path} does not exist: mount the host "
            "directory /var/lib/kubelet/pod-resources (the directory, not the socket) read-only",
        )
    try:
        import grpc

        from . import api_pb2, api_pb2_grpc
    except ImportError as exc:
        raise PodResourcesError(
            "grpc_missing",
            f"node mode needs grpcio and protobuf ({exc}): "
            "install them with pip install 'sdobs[node]'",
        ) from exc
    target = "unix://" + os.path.abspath(socket_path)
    with grpc.insecure_channel(target) as channel:
        stub = api_pb2_grpc.PodResourcesListerStub(channel)
        try:
            response = stub.List(api_pb2.ListPodResourcesRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            name = code.name if code is not None else "UNKNOWN"
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise PodResourcesError(
                name.lower(),
                f"kubelet pod-resources List on {socket_path} failed: {name}: {details}",
            ) from exc
    out = []
    for pod in response.pod_resources:
        for container in pod.containers:
            for dev in container.devices:
                out.append(ContainerDevices(pod.namespace, pod.name, container.name,
                                            dev.resource_name, tuple(dev.device_ids)))
    return out
