"""A stand-in kubelet: a gRPC server on a unix socket that speaks the real pod-resources proto."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
from sdobs_exporters.gpu.podresources import api_pb2, api_pb2_grpc


def pod(namespace: str, name: str, containers: dict[str, list[tuple[str, list[str]]]],
        ) -> api_pb2.PodResources:
    """One PodResources message: container name -> [(resource name, device ids)]."""
    return api_pb2.PodResources(
        name=name,
        namespace=namespace,
        containers=[
            api_pb2.ContainerResources(
                name=cname,
                devices=[api_pb2.ContainerDevices(resource_name=r, device_ids=ids)
                         for r, ids in devices],
                cpu_ids=[2, 3],
            )
            for cname, devices in containers.items()
        ],
    )


class FakeKubelet(api_pb2_grpc.PodResourcesListerServicer):
    """Answers List with ``pods``; ``fail`` makes it abort with that status code."""

    def __init__(self, pods: list[api_pb2.PodResources]) -> None:
        self.pods = pods
        self.fail: grpc.StatusCode | None = None
        self.calls = 0

    def List(self, request: api_pb2.ListPodResourcesRequest, context: grpc.ServicerContext,
             ) -> api_pb2.ListPodResourcesResponse:
        self.calls += 1
        if self.fail is not None:
            context.abort(self.fail, "the kubelet is not answering")
        return api_pb2.ListPodResourcesResponse(pod_resources=self.pods)


@contextlib.contextmanager
def short_socket_dir() -> Iterator[str]:
    """A directory with a short path: unix socket paths are limited to 107 bytes."""
    path = tempfile.mkdtemp(prefix="podres-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def serve(socket_path: str, kubelet: FakeKubelet) -> Iterator[grpc.Server]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    api_pb2_grpc.add_PodResourcesListerServicer_to_server(kubelet, server)
    server.add_insecure_port("unix://" + os.path.abspath(socket_path))
    server.start()
    try:
        yield server
    finally:
        server.stop(grace=None).wait(5)
