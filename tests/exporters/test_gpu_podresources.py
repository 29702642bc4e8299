"""Node mode: the pod-resources client against a local gRPC kubelet, and attribution with a TTL."""

from __future__ import annotations

import os

import grpc
import pytest
from gpu_fake_nvml import two_gpus
from gpu_podresources_server import FakeKubelet, pod, serve, short_socket_dir
from prometheus_client.parser import text_string_to_metric_families
from sdobs_exporters.gpu import GpuCollector, NvmlBackend, PodResourcesAttribution
from sdobs_exporters.gpu.attribution import Identity, revision_from_pod_name
from sdobs_exporters.gpu.podresources import ContainerDevices, PodResourcesError, list_devices

GPU0 = "GPU-11111111-2222-3333-4444-555555555555"
GPU1 = "GPU-66666666-7777-8888-9999-000000000000"
SD_POD = "knative-sd-demo-00002-deployment-6f7c9d5b8-q4z7k"


def node_pods() -> list:
    return [
        pod("sd", SD_POD, {
            "queue-proxy": [],
            "stable-diffusion": [("nvidia.com/gpu", [GPU0])],
        }),
        pod("batch", "trainer-0", {"main": [("nvidia.com/gpu", [GPU1]),
                                            ("example.com/fpga", ["fpga-0"])]}),
    ]


def test_list_devices_over_a_unix_socket() -> None:
    with short_socket_dir() as d:
        sock = os.path.join(d, "kubelet.sock")
        kubelet = FakeKubelet(node_pods())
        with serve(sock, kubelet):
            got = list_devices(sock, timeout=5)
    assert ContainerDevices("sd", SD_POD, "stable-diffusion", "nvidia.com/gpu", (GPU0,)) in got
    assert ContainerDevices("batch", "trainer-0", "main", "example.com/fpga", ("fpga-0",)) in got
    assert len(got) == 3
    assert kubelet.calls == 1


def test_missing_socket_says_what_to_mount() -> None:
    with pytest.raises(PodResourcesError) as err:
        list_devices("/nonexistent/pod-resources/kubelet.sock")
    assert err.value.reason == "socket_missing"
    assert "/var/lib/kubelet/pod-resources" in err.value.message


def test_kubelet_errors_carry_the_grpc_status() -> None:
    with short_socket_dir() as d:
        sock = os.path.join(d, "kubelet.sock")
        kubelet = FakeKubelet([])
        kubelet.fail = grpc.StatusCode.UNAVAILABLE
        with serve(sock, kubelet), pytest.raises(PodResourcesError) as err:
            list_devices(sock, timeout=5)
    assert err.value.reason == "unavailable"
    assert "UNAVAILABLE" in err.value.message


def test_revision_from_knative_pod_names() -> None:
    assert revision_from_pod_name(SD_POD) == "knative-sd-demo-00002"
    assert revision_from_pod_name("trainer-0") == ""


def test_mapping_handles_time_slicing_mig_and_index_ids() -> None:
    assignments = [
        ContainerDevices("sd", "a-00001-deployment-1-x", "c", "nvidia.com/gpu", (f"{GPU0}::0",)),
        ContainerDevices("sd", "b-00001-deployment-1-y", "c", "nvidia.com/gpu", (f"{GPU0}::1",)),
        ContainerDevices("ml", "m", "c", "nvidia.com/mig-1g.5gb", ("MIG-abc",)),
        ContainerDevices("ml", "i", "c", "nvidia.com/gpu", ("1",)),
        ContainerDevices("ml", "cpu", "c", "cpu", ("GPU-not-really",)),
    ]
    a = PodResourcesAttribution(lister=lambda: assignments)
    a.refresh()
    assert [o.pod for o in a.owners(GPU0, 0, 0)] == ["a-00001-deployment-1-x",
                                                     "b-00001-deployment-1-y"]
    assert a.owners("MIG-abc", -1, None) == (Identity(namespace="ml", pod="m", container="c"),)
    assert a.owners(GPU1, 1, 1)[0].pod == "i"  # device plugin with DEVICE_ID_STRATEGY=index
    assert a.owners("GPU-not-really", 5, 5) == ()


def test_last_good_mapping_is_kept_for_the_ttl() -> None:
    now = [0.0]
    answer: list = [[ContainerDevices("sd", SD_POD, "stable-diffusion", "nvidia.com/gpu",
                                      (GPU0,))]]

    def lister() -> list[ContainerDevices]:
        if isinstance(answer[0], Exception):
            raise answer[0]
        return answer[0]

    a = PodResourcesAttribution(lister=lister, refresh_interval=10, ttl=300,
                                clock=lambda: now[0], wall_clock=lambda: 1700000000 + now[0])
    a.refresh()
    assert a.up and a.owners(GPU0, 0, 0)[0].revision == "knative-sd-demo-00002"
    answer[0] = PodResourcesError("unavailable", "kubelet down")
    now[0] = 5.0
    a.refresh()  # inside the refresh interval: no call, still up
    assert a.up
    for t in (20.0, 100.0, 290.0):
        now[0] = t
        a.refresh()
        assert not a.up
        assert a.owners(GPU0, 0, 0)[0].pod == SD_POD, "labels must not flap while within the TTL"
    assert a.errors == {"unavailable": 3}
    assert a.last_success_timestamp == 1700000000.0
    now[0] = 320.0
    a.refresh()
    assert a.owners(GPU0, 0, 0) == ()  # too old to trust
    answer[0] = [ContainerDevices("sd", SD_POD, "stable-diffusion", "nvidia.com/gpu", (GPU0,))]
    now[0] = 340.0
    a.refresh()
    assert a.up and a.owners(GPU0, 0, 0)


def series(text: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append({**s.labels, "__value__": str(s.value)})
    return out


def test_node_mode_collector_attributes_and_survives_a_kubelet_restart() -> None:
    with short_socket_dir() as d:
        sock = os.path.join(d, "kubelet.sock")
        kubelet = FakeKubelet(node_pods())
        attribution = PodResourcesAttribution(sock, refresh_interval=0, ttl=300, timeout=5)
        c = GpuCollector(NvmlBackend(two_gpus()), attribution=attribution, hostname="node-a")
        with serve(sock, kubelet):
            m = series(c.render().decode())
        util = {s["gpu"]: s for s in m["sdobs_gpu_utilization_ratio"]}
        assert util["0"]["namespace"] == "sd" and util["0"]["pod"] == SD_POD
        assert util["0"]["container"] == "stable-diffusion"
        assert util["0"]["revision"] == "knative-sd-demo-00002"
        assert "service" not in util["0"]  # not known from pod-resources
        assert util["1"]["namespace"] == "batch" and "revision" not in util["1"]
        assert m["sdobs_gpu_exporter_pod_mapping_up"][0]["__value__"] == "1.0"
        # the kubelet restarts: socket gone, then back
        if os.path.exists(sock):
            os.unlink(sock)
        m = series(c.render().decode())
        util = {s["gpu"]: s for s in m["sdobs_gpu_utilization_ratio"]}
        assert util["0"]["pod"] == SD_POD, "cached mapping keeps the labels"
        assert m["sdobs_gpu_exporter_pod_mapping_up"][0]["__value__"] == "0.0"
        assert m["sdobs_gpu_exporter_pod_mapping_errors_total"][0]["reason"] == "socket_missing"
        assert m["sdobs_gpu_exporter_up"][0]["__value__"] == "1.0"  # GPUs are fine
        with serve(sock, kubelet):
            m = series(c.render().decode())
        assert m["sdobs_gpu_exporter_pod_mapping_up"][0]["__value__"] == "1.0"
        assert "sdobs_gpu_exporter_pod_mapping_last_success_timestamp_seconds" in m


def test_shared_gpu_is_not_attributed_to_one_pod() -> None:
    shared = [ContainerDevices("sd", f"sd-00001-deployment-1-{x}", "c", "nvidia.com/gpu",
                               (f"{GPU0}::{i}",)) for i, x in enumerate("ab")]
    c = GpuCollector(NvmlBackend(two_gpus()),
                     attribution=PodResourcesAttribution(lister=lambda: shared))
    m = series(c.render().decode())
    util0 = next(s for s in m["sdobs_gpu_utilization_ratio"] if s["gpu"] == "0")
    assert "pod" not in util0
    pods = sorted(s["pod"] for s in m["sdobs_gpu_pod_info"] if s["gpu"] == "0")
    assert pods == ["sd-00001-deployment-1-a", "sd-00001-deployment-1-b"]


def test_sidecar_identity_from_knative_env_and_downward_api(tmp_path) -> None:
    env = {"K_SERVICE": "knative-sd-demo", "K_CONFIGURATION": "knative-sd-demo",
           "K_REVISION": "knative-sd-demo-00002", "POD_NAME": SD_POD, "POD_NAMESPACE": "sd",
           "SDOBS_GPU_CONTAINER": "stable-diffusion", "HOSTNAME": "ignored"}
    assert Identity.from_env(env) == Identity("sd", SD_POD, "stable-diffusion", "knative-sd-demo",
                                              "knative-sd-demo", "knative-sd-demo-00002")
    # without kubernetes.podspec-fieldref: HOSTNAME and the service-account namespace file
    ns = tmp_path / "namespace"
    ns.write_text("sd\n")
    ident = Identity.from_env({"K_REVISION": "r-00001", "HOSTNAME": SD_POD},
                              namespace_file=str(ns))
    assert (ident.namespace, ident.pod, ident.revision) == ("sd", SD_POD, "r-00001")
    assert Identity.from_env({}, namespace_file=str(tmp_path / "none")) == Identity()
