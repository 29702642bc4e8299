"""A fake ``pynvml`` module: the functions the NVML backend calls, over scripted GPUs.

It raises the real ``pynvml.NVMLError_*`` classes where NVML would (calls before nvmlInit, lost
GPUs, unloaded drivers, stale handles after a re-initialisation, unsupported getters, empty
event sets) and returns real pynvml ctypes structs where pynvml does. Constants and error classes
are taken from pynvml itself, so the backend cannot tell the difference.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml

MIB = 1024 * 1024


@dataclass
class FakeMig:
    uuid: str
    gpu_instance_id: int
    compute_instance_id: int = 0
    name: str = "NVIDIA A100-SXM4-40GB MIG 1g.5gb"
    memory: tuple[int, int, int] = (4864 * MIB, 1024 * MIB, 3840 * MIB)  # total, used, free
    utilization: tuple[int, int] | None = None  # None: NotSupported (NVML on MIG)
    processes: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class FakeGpu:
    index: int
    uuid: str
    name: str = "NVIDIA A10"
    pci_bus_id: str = "00000000:00:1E.0"
    minor: int | None = None
    utilization: tuple[int, int] = (57, 34)  # gpu %, memory %
    memory: tuple[int, int, int, int] = (23028 * MIB, 9877 * MIB, 13151 * MIB, 361 * MIB)
    power_mw: int = 92380
    power_limit_mw: int = 150000
    energy_mj: int = 123456789
    temperature: int = 55
    sm_clock: int = 1695
    memory_clock: int = 6251
    reasons: int = 0
    ecc: tuple[int, int] = (3, 0)  # corrected, uncorrected (volatile)
    remapped_rows: tuple[int, int, int, int] = (0, 0, 0, 0)
    retired_pages: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())  # single-bit, double-bit
    pcie_replays: int = 2
    pcie_bytes: tuple[int, int] = (1_000_000, 2_000_000)  # tx, rx
    processes: list[tuple[int, int]] = field(default_factory=lambda: [(4242, 9500 * MIB)])
    process_samples: list[tuple[int, int, int]] = field(
        default_factory=lambda: [(4242, 1_000_000, 61)])  # pid, timeStamp us, smUtil %
    mig_mode: int = 0
    migs: list[FakeMig | None] = field(default_factory=list)
    unsupported: set[str] = field(default_factory=set)  # function names raising NotSupported
    mig_unsupported: set[str] = field(default_factory=set)  # the same, on MIG device handles
    fail: dict[str, type] = field(default_factory=dict)  # function name -> error raised every call
    fail_once: dict[str, type] = field(default_factory=dict)
    lost: bool = False

    def __post_init__(self) -> None:
        if self.minor is None:
            self.minor = self.index


@dataclass(frozen=True)
class FakeHandle:
    gpu: FakeGpu
    generation: int
    mig: FakeMig | None = None


_FORWARDED_PREFIXES = ("NVML_", "NVMLError", "nvmlClocksEventReason", "nvmlEventType",
                       "nvmlMemory_v2", "nvmlTemperature_v1")


class FakeNvml:
    """Stands in for the ``pynvml`` module; failures are scripted through its attributes."""

    def __init__(self, gpus: list[FakeGpu], *, driver_version: str = "550.54.15") -> None:
        self.gpus = gpus
        self.driver_version = driver_version
        self.cuda_version = 12040
        self.calls: Counter[str] = Counter()
        self.init_error: type | None = None  # raised by nvmlInit (e.g. NVMLError_LibraryNotFound)
        self.driver_error: type | None = None  # raised by every call while the driver is away
        self.refcount = 0
        self.generation = 0
        self.events: deque[tuple[str, int]] = deque()
        self.event_sets: set[int] = set()
        self.block: threading.Event | None = None  # nvmlDeviceGetPowerUsage waits on it if set
        self._active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    # -- module-like surface ------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith(_FORWARDED_PREFIXES):
            return getattr(pynvml, name)
        raise AttributeError(name)

    # -- scripting helpers --------------------------------------------------------------------
    def unload_driver(self) -> None:
        """The driver goes away: every call (and nvmlInit) raises DriverNotLoaded."""
        self.driver_error = pynvml.NVMLError_DriverNotLoaded

    def load_driver(self) -> None:
        """The driver is back; handles from before stay stale until NVML is re-initialised."""
        self.driver_error = None
        self.generation += 1

    def xid(self, uuid: str, code: int) -> None:
        self.events.append((uuid, code))

    # -- plumbing -----------------------------------------------------------------------------
    def _enter(self, fn: str, handle: FakeHandle | None = None) -> FakeGpu | None:
        with self._lock:
            self.calls[fn] += 1
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            if self.refcount <= 0:
                raise pynvml.NVMLError_Uninitialized()
            if self.driver_error is not None:
                raise self.driver_error()
            if handle is None:
                return None
            if handle.generation != self.generation:
                raise pynvml.NVMLError_Uninitialized()
            gpu = handle.gpu
            if gpu.lost:
                raise pynvml.NVMLError_GpuIsLost()
            if fn in gpu.fail_once:
                raise gpu.fail_once.pop(fn)()
            if fn in gpu.fail:
                raise gpu.fail[fn]()
            if fn in (gpu.mig_unsupported if handle.mig else gpu.unsupported):
                raise pynvml.NVMLError_NotSupported()
            return gpu
        finally:
            with self._lock:
                self._active -= 1

    # -- lifecycle ----------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.init_error is not None:
            raise self.init_error()
        if self.driver_error is not None:
            raise self.driver_error()
        if self.refcount == 0:
            self.generation += 1
        self.refcount += 1

    def nvmlShutdown(self) -> None:
        self.calls["nvmlShutdown"] += 1
        if self.refcount <= 0:
            raise pynvml.NVMLError_Uninitialized()
        self.refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlSystemGetNVMLVersion(self) -> str:
        self._enter("nvmlSystemGetNVMLVersion")
        return "12." + self.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        return self.cuda_version

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self._enter("nvmlDeviceGetHandleByIndex")
        gpu = self.gpus[index]
        if gpu.lost:
            raise pynvml.NVMLError_GpuIsLost()
        return FakeHandle(gpu, self.generation)

    def nvmlDeviceGetUUID(self, h: FakeHandle) -> str:
        gpu = self._enter("nvmlDeviceGetUUID", h)
        return h.mig.uuid if h.mig else gpu.uuid

    def nvmlDeviceGetName(self, h: FakeHandle) -> str:
        gpu = self._enter("nvmlDeviceGetName", h)
        return h.mig.name if h.mig else gpu.name

    def nvmlDeviceGetPciInfo_v3(self, h: FakeHandle) -> Any:
        gpu = self._enter("nvmlDeviceGetPciInfo_v3", h)
        info = pynvml.nvmlPciInfo_t()
        info.busId = gpu.pci_bus_id.encode()
        return info

    def nvmlDeviceGetMinorNumber(self, h: FakeHandle) -> int:
        gpu = self._enter("nvmlDeviceGetMinorNumber", h)
        return gpu.minor

    def nvmlDeviceGetMigMode(self, h: FakeHandle) -> list[int]:
        gpu = self._enter("nvmlDeviceGetMigMode", h)
        return [gpu.mig_mode, gpu.mig_mode]

    # -- events -------------------------------------------------------------------------------
    def nvmlEventSetCreate(self) -> int:
        self._enter("nvmlEventSetCreate")
        handle = len(self.event_sets) + 1000
        self.event_sets.add(handle)
        return handle

    def nvmlDeviceRegisterEvents(self, h: FakeHandle, event_types: int, event_set: int) -> None:
        self._enter("nvmlDeviceRegisterEvents", h)

    def nvmlEventSetFree(self, event_set: int) -> None:
        self._enter("nvmlEventSetFree")
        self.event_sets.discard(event_set)

    def nvmlEventSetWait_v2(self, event_set: int, timeout_ms: int) -> Any:
        self._enter("nvmlEventSetWait_v2")
        if not self.events:
            raise pynvml.NVMLError_Timeout()
        uuid, code = self.events.popleft()
        gpu = next(g for g in self.gpus if g.uuid == uuid)
        return SimpleNamespace(device=FakeHandle(gpu, self.generation),
                               eventType=pynvml.nvmlEventTypeXidCriticalError, eventData=code,
                               gpuInstanceId=0xFFFFFFFF, computeInstanceId=0xFFFFFFFF)

    # -- getters ------------------------------------------------------------------------------
    def nvmlDeviceGetUtilizationRates(self, h: FakeHandle) -> Any:
        gpu = self._enter("nvmlDeviceGetUtilizationRates", h)
        if h.mig is not None:
            if h.mig.utilization is None:
                raise pynvml.NVMLError_NotSupported()
            return pynvml.c_nvmlUtilization_t(*h.mig.utilization)
        if gpu.mig_mode:
            raise pynvml.NVMLError_NotSupported()
        return pynvml.c_nvmlUtilization_t(*gpu.utilization)

    def nvmlDeviceGetMemoryInfo(self, h: FakeHandle, version: int | None = None) -> Any:
        name = "nvmlDeviceGetMemoryInfo_v2" if version else "nvmlDeviceGetMemoryInfo"
        gpu = self._enter(name, h)
        if h.mig is not None:
            total, used, free = h.mig.memory
            return pynvml.c_nvmlMemory_t(total, free, used)
        total, used, free, reserved = gpu.memory
        if version:
            return pynvml.c_nvmlMemory_v2_t(version, total, reserved, free, used)
        return pynvml.c_nvmlMemory_t(total, free, used - reserved)

    def nvmlDeviceGetPowerUsage(self, h: FakeHandle) -> int:
        gpu = self._enter("nvmlDeviceGetPowerUsage", h)
        if self.block is not None:
            self.block.wait(10)
        return gpu.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h: FakeHandle) -> int:
        return self._enter("nvmlDeviceGetEnforcedPowerLimit", h).power_limit_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, h: FakeHandle) -> int:
        return self._enter("nvmlDeviceGetTotalEnergyConsumption", h).energy_mj

    def nvmlDeviceGetTemperatureV(self, h: FakeHandle, sensor: int) -> int:
        return self._enter("nvmlDeviceGetTemperatureV", h).temperature

    def nvmlDeviceGetTemperature(self, h: FakeHandle, sensor: int) -> int:
        return self._enter("nvmlDeviceGetTemperature", h).temperature

    def nvmlDeviceGetClockInfo(self, h: FakeHandle, clock: int) -> int:
        gpu = self._enter("nvmlDeviceGetClockInfo", h)
        return gpu.sm_clock if clock == pynvml.NVML_CLOCK_SM else gpu.memory_clock

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: FakeHandle) -> int:
        return self._enter("nvmlDeviceGetCurrentClocksEventReasons", h).reasons

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h: FakeHandle) -> int:
        return self._enter("nvmlDeviceGetCurrentClocksThrottleReasons", h).reasons

    def nvmlDeviceGetTotalEccErrors(self, h: FakeHandle, error_type: int, counter: int) -> int:
        gpu = self._enter("nvmlDeviceGetTotalEccErrors", h)
        return gpu.ecc[0 if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED else 1]

    def nvmlDeviceGetRemappedRows(self, h: FakeHandle) -> tuple[int, int, int, int]:
        return self._enter("nvmlDeviceGetRemappedRows", h).remapped_rows

    def nvmlDeviceGetRetiredPages(self, h: FakeHandle, cause: int) -> list[int]:
        gpu = self._enter("nvmlDeviceGetRetiredPages", h)
        return list(gpu.retired_pages[cause])

    def nvmlDeviceGetPcieReplayCounter(self, h: FakeHandle) -> int:
        return self._enter("nvmlDeviceGetPcieReplayCounter", h).pcie_replays

    def nvmlDeviceGetFieldValues(self, h: FakeHandle, field_ids: list[int]) -> Any:
        gpu = self._enter("nvmlDeviceGetFieldValues", h)
        values = (pynvml.c_nvmlFieldValue_t * len(field_ids))()
        for i, fid in enumerate(field_ids):
            values[i].fieldId = fid
            if f"field:{fid}" in gpu.unsupported:
                values[i].nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
                continue
            values[i].nvmlReturn = pynvml.NVML_SUCCESS
            values[i].valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
            values[i].value.ullVal = gpu.pcie_bytes[0 if fid == 197 else 1]
        return values

    def nvmlDeviceGetComputeRunningProcesses(self, h: FakeHandle) -> list[Any]:
        gpu = self._enter("nvmlDeviceGetComputeRunningProcesses", h)
        procs = h.mig.processes if h.mig else gpu.processes
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem, gpuInstanceId=0xFFFFFFFF,
                                computeInstanceId=0xFFFFFFFF) for pid, mem in procs]

    def nvmlDeviceGetProcessUtilization(self, h: FakeHandle, last_seen: int) -> list[Any]:
        gpu = self._enter("nvmlDeviceGetProcessUtilization", h)
        samples = [pynvml.c_nvmlProcessUtilizationSample_t(pid, ts, sm, 0, 0, 0)
                   for pid, ts, sm in gpu.process_samples if ts > last_seen]
        if not samples:
            raise pynvml.NVMLError_NotFound()
        return samples

    def nvmlDeviceGetMaxMigDeviceCount(self, h: FakeHandle) -> int:
        gpu = self._enter("nvmlDeviceGetMaxMigDeviceCount", h)
        if not gpu.mig_mode:
            raise pynvml.NVMLError_NotSupported()
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: FakeHandle, index: int) -> FakeHandle:
        gpu = self._enter("nvmlDeviceGetMigDeviceHandleByIndex", h)
        if index >= len(gpu.migs) or gpu.migs[index] is None:
            raise pynvml.NVMLError_NotFound()
        return FakeHandle(gpu, h.generation, gpu.migs[index])

    def nvmlDeviceGetGpuInstanceId(self, h: FakeHandle) -> int:
        self._enter("nvmlDeviceGetGpuInstanceId", h)
        return h.mig.gpu_instance_id

    def nvmlDeviceGetComputeInstanceId(self, h: FakeHandle) -> int:
        self._enter("nvmlDeviceGetComputeInstanceId", h)
        return h.mig.compute_instance_id


def two_gpus() -> FakeNvml:
    """The usual fixture: two A10s, the second without ECC and with an idle process."""
    return FakeNvml([
        FakeGpu(0, "GPU-11111111-2222-3333-4444-555555555555"),
        FakeGpu(1, "GPU-66666666-7777-8888-9999-000000000000", pci_bus_id="00000000:00:1F.0",
                utilization=(0, 0), power_mw=15500, temperature=31, sm_clock=210, reasons=0x1,
                ecc=(0, 0), processes=[(5151, 300 * MIB)], process_samples=[],
                unsupported={"nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetRetiredPages"}),
    ])
