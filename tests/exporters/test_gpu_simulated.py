"""The simulated backend the serving twin drives, rendered by the real collector."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sdobs_exporters.gpu import (
    GPU_MODELS,
    GpuCollector,
    Identity,
    SimulatedBackend,
    SimulatedGpu,
    SimulatedProcess,
)

GIB = 2**30
POD = "knative-sd-demo-00003-deployment-5f4d7-abcde"
IDENT = Identity(namespace="default", pod=POD, container="stable-diffusion",
                 service="knative-sd-demo", configuration="knative-sd-demo",
                 revision="knative-sd-demo-00003")


def sample(c: GpuCollector, name: str, **labels: str) -> float:
    for fam in text_string_to_metric_families(c.render().decode()):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise AssertionError(f"no {name} {labels}")


def test_energy_and_temperature_follow_the_busy_fraction() -> None:
    gpu = SimulatedGpu.create("a10", seed=POD)
    c = GpuCollector(SimulatedBackend([gpu]), identity=IDENT)
    assert sample(c, "sdobs_gpu_power_watts") == 16.0
    gpu.advance(10)
    assert sample(c, "sdobs_gpu_energy_joules_total") == 160.0
    gpu.utilization = 1.0
    assert sample(c, "sdobs_gpu_power_watts") == 150.0
    gpu.advance(10)
    assert sample(c, "sdobs_gpu_energy_joules_total") == 1660.0
    assert 30.0 < sample(c, "sdobs_gpu_temperature_celsius") < 75.0
    gpu.advance(1800)
    assert sample(c, "sdobs_gpu_temperature_celsius") == 75.0
    assert sample(c, "sdobs_gpu_sm_clock_hertz") == 1695e6
    assert sample(c, "sdobs_gpu_throttle_reason_active", reason="sw_power_cap") == 1.0
    gpu.utilization = 0.0
    assert sample(c, "sdobs_gpu_throttle_reason_active", reason="gpu_idle") == 1.0


def test_memory_follows_the_loaded_model() -> None:
    gpu = SimulatedGpu.create("t4", seed=POD)
    c = GpuCollector(SimulatedBackend([gpu]), identity=IDENT)
    model = GPU_MODELS["t4"]
    gpu.load_model(5 * GIB, pid=7)
    used = 5 * GIB + model.context_bytes + model.memory_reserved_bytes
    assert sample(c, "sdobs_gpu_memory_used_bytes") == used
    assert sample(c, "sdobs_gpu_memory_free_bytes") == model.memory_total_bytes - used
    assert sample(c, "sdobs_gpu_memory_total_bytes") == 15360 * 2**20
    assert sample(c, "sdobs_gpu_process_memory_used_bytes", pid="7") == 5 * GIB + \
        model.context_bytes
    gpu.utilization = 0.4
    assert sample(c, "sdobs_gpu_process_sm_utilization_ratio", pid="7") == 0.4
    gpu.processes.append(SimulatedProcess(8, GIB, sm_utilization=0.1))
    assert sample(c, "sdobs_gpu_process_sm_utilization_ratio", pid="8") == 0.1
    gpu.unload()
    assert sample(c, "sdobs_gpu_memory_used_bytes") == model.memory_reserved_bytes


def test_overrides_and_caller_supplied_identity_and_clock() -> None:
    gpu = SimulatedGpu.create("h100-80gb", seed=POD)
    gpu.power_watts, gpu.temperature_celsius = 321.5, 61.0
    c = GpuCollector(SimulatedBackend([gpu]), identity=IDENT, naming="dcgm", hostname="vk-1",
                     clock=lambda: 1234567.0)
    assert sample(c, "DCGM_FI_DEV_POWER_USAGE", serving_knative_dev_revision=IDENT.revision,
                  pod=POD, Hostname="vk-1", modelName="NVIDIA H100 80GB HBM3") == 321.5
    assert sample(c, "DCGM_FI_DEV_GPU_TEMP") == 61.0
    assert sample(c, "sdobs_gpu_exporter_last_success_timestamp_seconds") == 1234567.0


def test_unique_uuids_and_unknown_models() -> None:
    a = SimulatedGpu.create("a10", seed="pod-a")
    b = SimulatedGpu.create("a10", seed="pod-b")
    assert a.uuid != b.uuid and a.uuid.startswith("GPU-")
    assert SimulatedGpu.create("a10", seed="pod-a").uuid == a.uuid
    with pytest.raises(ValueError, match="choose one of"):
        SimulatedGpu.create("v100")


def test_a_simulated_failure_reads_as_a_lost_gpu_then_recovers() -> None:
    backend = SimulatedBackend([SimulatedGpu.create("a10")])
    c = GpuCollector(backend)
    backend.fail_next_read("gpu_is_lost")
    assert sample(c, "sdobs_gpu_exporter_up") == 0.0
    assert sample(c, "sdobs_gpu_exporter_up") == 1.0
    assert sample(c, "sdobs_gpu_exporter_nvml_errors_total", kind="gpu_is_lost") == 1.0


def test_registering_in_a_registry_reads_nothing_until_scraped() -> None:
    gpu = SimulatedGpu.create("a10")
    backend = SimulatedBackend([gpu])
    reads = []
    original = backend.read
    backend.read = lambda: reads.append(1) or original()  # type: ignore[method-assign]
    registry = CollectorRegistry()
    registry.register(GpuCollector(backend, identity=IDENT))
    assert reads == []
    assert b"sdobs_gpu_utilization_ratio" in generate_latest(registry)
    assert reads == [1]


def test_many_pods_render_repeatedly() -> None:
    pods = []
    for i in range(50):
        gpu = SimulatedGpu.create("a10", seed=f"pod-{i}")
        gpu.load_model(9 * GIB)
        ident = Identity(namespace="default", pod=f"pod-{i}", revision="r-00001")
        pods.append((gpu, GpuCollector(SimulatedBackend([gpu]), identity=ident)))
    for step in range(5):
        for gpu, c in pods:
            gpu.utilization = (step % 2) * 0.8
            gpu.advance(1.0)
            assert b'revision="r-00001"' in c.render()


def test_pid_churn_keeps_label_caches_bounded_and_correct() -> None:
    gpus = [SimulatedGpu.create("a10", index=i, seed="churn") for i in range(2)]
    c = GpuCollector(SimulatedBackend(gpus), identity=IDENT)
    for step in range(4500):  # past the label cache's bound, so it is cleared at least once
        for i, gpu in enumerate(gpus):
            gpu.processes = [SimulatedProcess(10_000 * (i + 1) + step, GIB)]
        fam = next(f for f in c.families() if f.name == "sdobs_gpu_process_memory_used_bytes")
        got = sorted((s.labels["gpu"], s.labels["pid"]) for s in fam.samples)
        assert got == [("0", str(10_000 + step)), ("1", str(20_000 + step))]
    assert len(c._lcache) <= 8193
