"""Every NVML failure the exporter must survive without a crash or a lie, over a fake pynvml."""

from __future__ import annotations

import ctypes.util
import logging
import threading
import time
import tracemalloc

import pynvml
import pytest
from eventually import eventually
from gpu_fake_nvml import FakeNvml, two_gpus
from prometheus_client.parser import text_string_to_metric_families
from sdobs_exporters.gpu import GpuCollector, Identity, NvmlBackend
from sdobs_exporters.gpu.nvml import error_kind
from sdobs_exporters.gpu.readings import Snapshot, SystemInfo

GPU0 = "GPU-11111111-2222-3333-4444-555555555555"
GPU1 = "GPU-66666666-7777-8888-9999-000000000000"


def scrape(c: GpuCollector) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Family-free view of one scrape: sample name -> [(labels, value)]."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(c.render().decode()):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(m: dict, name: str, **labels: str) -> float | None:
    for got, v in m.get(name, []):
        if all(got.get(k) == want for k, want in labels.items()):
            return v
    return None


def errors(m: dict, kind: str) -> float:
    return value(m, "sdobs_gpu_exporter_nvml_errors_total", kind=kind) or 0.0


def make(fake: FakeNvml, **kwargs) -> GpuCollector:
    backend_kwargs = {k: kwargs.pop(k) for k in ("clock", "reopen_interval") if k in kwargs}
    return GpuCollector(NvmlBackend(fake, **backend_kwargs), **kwargs)


def test_error_kinds_are_snake_case_names_of_the_pynvml_classes() -> None:
    assert error_kind(pynvml.NVMLError_GpuIsLost()) == "gpu_is_lost"
    assert error_kind(pynvml.NVMLError_LibraryNotFound()) == "library_not_found"
    assert error_kind(pynvml.NVMLError_LibRmVersionMismatch()) == "lib_rm_version_mismatch"
    assert error_kind(pynvml.NVMLError(4242)) == "unknown"


def test_unsupported_getter_is_skipped_and_not_retried() -> None:
    fake = two_gpus()
    fake.gpus[0].unsupported.add("nvmlDeviceGetPowerUsage")
    c = make(fake)
    for _ in range(3):
        m = scrape(c)
        assert value(m, "sdobs_gpu_power_watts", gpu="0") is None
        assert value(m, "sdobs_gpu_power_watts", gpu="1") == 15.5
        assert value(m, "sdobs_gpu_exporter_up") == 1.0
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 1 + 3  # GPU 0 once, GPU 1 every scrape
    # GPU 1 has no ECC and no page retirement: 2 + 2 getters, GPU 0 the power getter
    assert errors(m, "not_supported") == 5
    assert value(m, "sdobs_gpu_exporter_unsupported_calls", gpu="0") == 1
    assert value(m, "sdobs_gpu_exporter_unsupported_calls", gpu="1") == 4


def test_missing_function_falls_back_to_the_legacy_getter() -> None:
    fake = two_gpus()
    fake.gpus[0].fail["nvmlDeviceGetTemperatureV"] = pynvml.NVMLError_FunctionNotFound
    c = make(fake)
    for _ in range(3):
        m = scrape(c)
        assert value(m, "sdobs_gpu_temperature_celsius", gpu="0") == 55.0
    assert errors(m, "function_not_found") == 1
    assert fake.calls["nvmlDeviceGetTemperature"] == 3


def test_transient_timeout_is_counted_and_retried() -> None:
    fake = two_gpus()
    fake.gpus[0].fail_once["nvmlDeviceGetPowerUsage"] = pynvml.NVMLError_Timeout
    c = make(fake)
    m = scrape(c)
    assert value(m, "sdobs_gpu_power_watts", gpu="0") is None
    assert errors(m, "timeout") == 1
    assert value(m, "sdobs_gpu_exporter_up") == 1.0  # the GPU was read; one value was late
    m = scrape(c)
    assert value(m, "sdobs_gpu_power_watts", gpu="0") == 92.38
    assert errors(m, "timeout") == 1


def test_lost_gpu_reinitialises_nvml_and_keeps_the_other_gpu() -> None:
    fake = two_gpus()
    now = [0.0]
    c = make(fake, clock=lambda: now[0], reopen_interval=60.0)
    assert value(scrape(c), "sdobs_gpu_exporter_up") == 1.0
    fake.gpus[1].lost = True
    m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_up") == 0.0
    assert value(m, "sdobs_gpu_exporter_gpu_up", gpu="1", uuid=GPU1) == 0.0
    assert value(m, "sdobs_gpu_exporter_gpu_up", gpu="0", uuid=GPU0) == 1.0
    assert value(m, "sdobs_gpu_utilization_ratio", gpu="0") == 0.57  # partial data, honestly up 0
    assert value(m, "sdobs_gpu_utilization_ratio", gpu="1") is None
    assert errors(m, "gpu_is_lost") == 1
    assert fake.refcount == 0, "NVML must be shut down after a lost GPU"
    m = scrape(c)  # re-initialised; the lost GPU cannot be opened
    assert fake.refcount == 1
    assert value(m, "sdobs_gpu_exporter_nvml_initializations_total", result="success") == 2
    assert value(m, "sdobs_gpu_exporter_gpu_up", gpu="1", uuid=GPU1) == 0.0
    assert value(m, "sdobs_gpu_exporter_up") == 0.0
    assert value(m, "sdobs_gpu_exporter_gpus") == 1
    m = scrape(c)  # within the reopen interval: no re-initialisation storm
    assert value(m, "sdobs_gpu_exporter_nvml_initializations_total", result="success") == 2
    fake.gpus[1].lost = False  # reset by an administrator
    now[0] = 61.0
    scrape(c)  # the reopen interval passed: NVML is shut down to try again
    m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_nvml_initializations_total", result="success") == 3
    assert value(m, "sdobs_gpu_exporter_up") == 1.0
    assert value(m, "sdobs_gpu_utilization_ratio", gpu="1") == 0.0


def test_library_missing_keeps_serving_with_up_0_and_one_log_line(caplog) -> None:
    fake = two_gpus()
    fake.init_error = pynvml.NVMLError_LibraryNotFound
    c = make(fake)
    with caplog.at_level(logging.ERROR, logger="sdobs_exporters.gpu"):
        for _ in range(3):
            m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_up") == 0.0
    assert value(m, "sdobs_gpu_exporter_gpus") == 0.0
    assert errors(m, "library_not_found") == 3
    assert value(m, "sdobs_gpu_exporter_nvml_initializations_total", result="failure") == 3
    assert "sdobs_gpu_utilization_ratio" not in m
    assert value(m, "sdobs_gpu_exporter_last_success_timestamp_seconds") is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "libnvidia-ml.so.1" in lines[0] and "NVIDIA runtime" in lines[0]
    ok, message = c.healthy()
    assert not ok and "libnvidia-ml.so.1" in message
    fake.init_error = None  # the library appears (a new container image, say)
    m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_up") == 1.0
    assert c.healthy() == (True, "ok")


@pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None,
                    reason="this machine has the NVIDIA driver library")
def test_real_pynvml_without_the_driver_library() -> None:
    c = GpuCollector(NvmlBackend())
    m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_up") == 0.0
    assert errors(m, "library_not_found") >= 1
    assert c.healthy()[0] is False


def test_unknown_error_at_init_fails_liveness() -> None:
    fake = two_gpus()
    fake.init_error = pynvml.NVMLError_Unknown
    c = make(fake)
    ok, message = c.healthy()
    assert not ok and "recreated" in message
    assert errors(scrape(c), "unknown") == 2


def test_driver_unloaded_and_reloaded() -> None:
    fake = two_gpus()
    c = make(fake)
    assert value(scrape(c), "sdobs_gpu_exporter_up") == 1.0
    fake.unload_driver()
    m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_up") == 0.0
    assert errors(m, "driver_not_loaded") >= 1
    assert "sdobs_gpu_utilization_ratio" not in m
    m = scrape(c)  # initialisation fails while the driver is away
    assert value(m, "sdobs_gpu_exporter_nvml_initializations_total", result="failure") == 1
    assert c.healthy()[0] is False
    fake.load_driver()
    m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_up") == 1.0
    assert value(m, "sdobs_gpu_utilization_ratio", gpu="0") == 0.57
    assert c.healthy() == (True, "ok")


def test_stale_handles_after_an_unnoticed_driver_reload() -> None:
    fake = two_gpus()
    c = make(fake)
    scrape(c)
    fake.load_driver()  # old handles now raise Uninitialized
    m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_up") == 0.0
    assert errors(m, "uninitialized") >= 1
    m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_up") == 1.0
    assert value(m, "sdobs_gpu_exporter_nvml_initializations_total", result="success") == 2


def test_process_utilisation_without_new_samples_means_idle() -> None:
    fake = two_gpus()
    c = make(fake)
    m = scrape(c)
    assert value(m, "sdobs_gpu_process_sm_utilization_ratio", pid="4242") == 0.61
    assert value(m, "sdobs_gpu_process_sm_utilization_ratio", pid="5151") == 0.0  # NotFound
    m = scrape(c)  # no sample newer than the last one seen
    assert value(m, "sdobs_gpu_process_sm_utilization_ratio", pid="4242") == 0.0
    fake.gpus[0].process_samples.append((4242, 2_000_000, 75))
    m = scrape(c)
    assert value(m, "sdobs_gpu_process_sm_utilization_ratio", pid="4242") == 0.75
    assert errors(m, "not_found") == 0
    assert value(m, "sdobs_gpu_process_memory_used_bytes", pid="5151") == 300 * 1024 * 1024


class _BuggyBackend:
    name = "buggy"

    def __init__(self) -> None:
        self.opened = 0
        self.error_counts: dict[str, int] = {}

    def open(self) -> SystemInfo:
        self.opened += 1
        return SystemInfo()

    def read(self) -> Snapshot:
        raise RuntimeError("a bug")

    def close(self) -> None:
        return None


def test_a_backend_bug_is_reported_not_raised() -> None:
    backend = _BuggyBackend()
    c = GpuCollector(backend)
    m = scrape(c)
    assert value(m, "sdobs_gpu_exporter_up") == 0.0
    assert errors(m, "internal") == 1
    scrape(c)
    assert backend.opened == 2


def test_a_wedged_collection_does_not_block_other_scrapes() -> None:
    fake = two_gpus()
    fake.block = threading.Event()
    c = make(fake, lock_timeout=0.2)
    results: list[dict] = []
    stuck = threading.Thread(target=lambda: results.append(scrape(c)))
    stuck.start()
    eventually(lambda: fake.calls["nvmlDeviceGetPowerUsage"], timeout=5, interval=0.01)
    started = time.monotonic()
    m = scrape(c)
    assert time.monotonic() - started < 2
    assert value(m, "sdobs_gpu_exporter_up") == 0.0
    assert value(m, "sdobs_gpu_exporter_busy_scrapes_total") == 1
    assert "sdobs_gpu_utilization_ratio" not in m
    fake.block.set()
    stuck.join(5)
    assert value(results[0], "sdobs_gpu_exporter_up") == 1.0


def test_concurrent_scrapes_are_serialised() -> None:
    fake = two_gpus()
    c = make(fake, identity=Identity(revision="sd-00001"))
    ups: list[float | None] = []

    def worker() -> None:
        for _ in range(15):
            ups.append(value(scrape(c), "sdobs_gpu_exporter_up"))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert ups == [1.0] * 90
    assert fake.max_active == 1, "two collections were inside NVML at once"


def test_no_memory_growth_over_many_scrapes() -> None:
    fake = two_gpus()
    c = make(fake, identity=Identity(revision="sd-00001"))
    for _ in range(50):
        c.render()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(300):
            c.render()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 32 * 1024, f"{growth} bytes more after 300 scrapes"


def test_pynvml_version_mismatch_and_getter_bugs_stay_local(caplog) -> None:
    fake = two_gpus()
    fake.gpus[0].fail["nvmlDeviceGetComputeRunningProcesses"] = \
        lambda: pynvml.NVMLLibraryMismatchError("Unversioned function called")
    fake.gpus[1].fail["nvmlDeviceGetClockInfo"] = lambda: TypeError("struct drift")
    c = make(fake)
    with caplog.at_level(logging.WARNING, logger="sdobs_exporters.gpu"):
        for _ in range(3):
            m = scrape(c)
            assert value(m, "sdobs_gpu_exporter_up") == 1.0
    assert value(m, "sdobs_gpu_process_memory_used_bytes", gpu="0") is None
    assert value(m, "sdobs_gpu_process_memory_used_bytes", gpu="1") is not None
    assert value(m, "sdobs_gpu_sm_clock_hertz", gpu="1") is None
    assert value(m, "sdobs_gpu_sm_clock_hertz", gpu="0") == 1695e6
    assert errors(m, "function_not_found") == 1
    assert errors(m, "internal") == 2  # SM and memory clock of GPU 1, each once
    assert len([r for r in caplog.records if "not calling it again" in r.getMessage()]) == 3
