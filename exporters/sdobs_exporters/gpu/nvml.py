"""NVML backend: reads every GPU through nvidia-ml-py at scrape time.

A getter that a GPU does not support (``NotSupported``, ``FunctionNotFound``, ``NoPermission``,
...) is remembered for that GPU and not called again until NVML is re-initialised. Errors that
mean the GPU or the driver went away (``GpuIsLost``, ``Uninitialized``, ``DriverNotLoaded``, ...)
mark the snapshot so the collector shuts NVML down and initialises it again on the next scrape.
Every NVML error is counted by kind; none of them escapes as an exception.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .readings import (
    BackendError,
    GpuFailure,
    GpuReading,
    MigReading,
    ProcessReading,
    Snapshot,
    SystemInfo,
)

log = logging.getLogger(__name__)

# NVML return codes, as in nvml.h (and pynvml's NVML_ERROR_* constants).
_UNINITIALIZED = 1
_INVALID_ARGUMENT = 2
_NOT_SUPPORTED = 3
_NO_PERMISSION = 4
_NOT_FOUND = 6
_DRIVER_NOT_LOADED = 9
_TIMEOUT = 10
_LIBRARY_NOT_FOUND = 12
_FUNCTION_NOT_FOUND = 13
_GPU_IS_LOST = 15
_RESET_REQUIRED = 16
_LIB_RM_VERSION_MISMATCH = 18
_ARGUMENT_VERSION_MISMATCH = 25
_DEPRECATED = 26
_GPU_NOT_FOUND = 28

# The driver as a whole is gone or changed: nothing can be read until NVML is re-initialised.
DRIVER_LIFECYCLE = frozenset({_UNINITIALIZED, _DRIVER_NOT_LOADED, _LIBRARY_NOT_FOUND,
                              _LIB_RM_VERSION_MISMATCH})
# One GPU fell off the bus or needs a reset: the others can still be read this time.
GPU_LIFECYCLE = frozenset({_GPU_IS_LOST, _GPU_NOT_FOUND, _RESET_REQUIRED})
# The GPU, driver or container will not give this value: stop asking for it.
UNSUPPORTED = frozenset({_NOT_SUPPORTED, _FUNCTION_NOT_FOUND, _NO_PERMISSION, _INVALID_ARGUMENT,
                         _ARGUMENT_VERSION_MISMATCH, _DEPRECATED})

_FIELD_PCIE_TX_BYTES = 197  # NVML_FI_DEV_PCIE_COUNT_TX_BYTES, cumulative, may wrap
_FIELD_PCIE_RX_BYTES = 198  # NVML_FI_DEV_PCIE_COUNT_RX_BYTES
_XID_CRITICAL_ERROR = 0x8  # nvmlEventTypeXidCriticalError
_MIG_ENABLE = 1  # NVML_DEVICE_MIG_ENABLE
_MAX_EVENTS_PER_SCRAPE = 256

_INIT_HINTS = {
    "library_not_found": "libnvidia-ml.so.1 could not be loaded: run the container with the "
                         "NVIDIA runtime (runtimeClassName: nvidia) or CDI so the driver library "
                         "is mounted",
    "driver_not_loaded": "the NVIDIA kernel driver is not loaded on this host",
    "no_permission": "no permission to open the /dev/nvidia* devices from this container",
    "lib_rm_version_mismatch": "the NVIDIA driver was upgraded under a running library: "
                               "reboot the node or reload the driver",
    "unknown": "NVML reported an unknown error; after a systemd daemon-reload the container "
               "must be recreated (NVIDIA/nvidia-container-toolkit#48)",
}

_KIND_CACHE: dict[type, str] = {}


def error_kind(exc: BaseException) -> str:
    """Short snake_case name of an NVML error class: NVMLError_GpuIsLost -> gpu_is_lost."""
    cls = type(exc)
    kind = _KIND_CACHE.get(cls)
    if kind is None:
        name = cls.__name__
        if name.startswith("NVMLError_"):
            kind = re.sub(r"(?<!^)(?=[A-Z])", "_", name[len("NVMLError_"):]).lower()
        else:
            kind = "unknown" if name == "NVMLError" else "internal"
        _KIND_CACHE[cls] = kind
    return kind


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class _DriverGone(Exception):
    """A driver-wide lifecycle error in the middle of a read."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _GpuGone(Exception):
    """A per-GPU lifecycle error in the middle of a read."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


_MISSING: Any = object()


@dataclass(slots=True)
class _Device:
    handle: Any
    index: int
    uuid: str
    name: str
    pci_bus_id: str
    minor_number: int | None
    mig_enabled: bool
    unsupported: set[str] = field(default_factory=set)
    last_process_sample_us: int = 0


@dataclass(slots=True)
class CallTiming:
    """How often one NVML getter was called and how long it took (for gpu-check.sh)."""

    calls: int = 0
    total_ns: int = 0
    max_ns: int = 0


class NvmlBackend:
    """Reads GPUs with nvidia-ml-py; ``nvml`` may be any module-like object (tests pass a fake).

    A GPU that cannot be opened (lost, or missing since an earlier initialisation) is reported
    as failed; NVML is re-initialised every ``reopen_interval`` seconds to try it again.
    """

    name = "nvml"

    def __init__(
        self,
        nvml: ModuleType | Any | None = None,
        *,
        process_metrics: bool = True,
        xid_events: bool = True,
        pcie_counters: bool = True,
        record_timings: bool = False,
        reopen_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if nvml is None:
            import pynvml as nvml
        self.nvml = nvml
        self.process_metrics = process_metrics
        self.xid_events = xid_events
        self.pcie_counters = pcie_counters
        self.record_timings = record_timings
        self.reopen_interval = reopen_interval
        self._clock = clock
        self._opened_at = 0.0
        self.timings: dict[str, CallTiming] = {}
        self.error_counts: dict[str, int] = {}
        self._devices: list[_Device] = []
        self._open_failures: list[GpuFailure] = []
        self._known: dict[str, int] = {}  # uuid -> index, across re-initialisations
        self._xid: dict[str, dict[int, int]] = {}  # uuid -> xid -> count since start
        self._last_xid: dict[str, int] = {}
        self._event_set: Any = None
        self._initialised = False

    # -- errors -------------------------------------------------------------------------------
    def _count(self, kind: str) -> None:
        self.error_counts[kind] = self.error_counts.get(kind, 0) + 1

    def _unexpected(self, dev: _Device | None, key: str, exc: Exception) -> None:
        """A getter failed outside NVML's error codes: count it and stop calling it."""
        mismatch = type(exc).__name__ == "NVMLLibraryMismatchError"  # old driver, no _v3 symbol
        self._count("function_not_found" if mismatch else "internal")
        if dev is not None:
            if key not in dev.unsupported:
                log.warning("NVML getter %s failed on GPU %d (%s): %r; not calling it again",
                            key, dev.index, dev.uuid, exc)
            dev.unsupported.add(key)

    def _call(self, dev: _Device | None, key: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call one getter; _MISSING when it failed (the reason is counted and maybe remembered)."""
        if dev is not None and key in dev.unsupported:
            return _MISSING
        started = time.perf_counter_ns() if self.record_timings else 0
        try:
            return fn(*args)
        except self.nvml.NVMLError as exc:
            code = getattr(exc, "value", None)
            kind = error_kind(exc)
            self._count(kind)
            if code in DRIVER_LIFECYCLE:
                raise _DriverGone(kind) from exc
            if code in GPU_LIFECYCLE:
                raise _GpuGone(kind) from exc
            if code in UNSUPPORTED and dev is not None:
                dev.unsupported.add(key)
            return _MISSING
        except Exception as exc:  # pynvml's own errors (struct or version drift) and bugs
            self._unexpected(dev, key, exc)
            return _MISSING
        finally:
            if self.record_timings:
                elapsed = time.perf_counter_ns() - started
                t = self.timings.setdefault(key, CallTiming())
                t.calls += 1
                t.total_ns += elapsed
                t.max_ns = max(t.max_ns, elapsed)

    def _first(self, dev: _Device, *attempts: tuple[str, Callable[..., Any], tuple[Any, ...]],
               ) -> Any:
        """The first getter that works, falling back only past getters known to be unsupported."""
        for key, fn, args in attempts:
            value = self._call(dev, key, fn, *args)
            if value is not _MISSING:
                return value
            if key not in dev.unsupported:
                return _MISSING
        return _MISSING

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> SystemInfo:
        nvml = self.nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            kind = error_kind(exc)
            self._count(kind)
            hint = _INIT_HINTS.get(kind, "see the NVML error code documentation")
            raise BackendError(kind, f"NVML could not be initialised ({exc}): {hint}") from exc
        self._initialised = True
        self._opened_at = self._clock()
        try:
            info = SystemInfo(
                driver_version=self._system(nvml.nvmlSystemGetDriverVersion),
                cuda_driver_version=self._cuda_version(),
                nvml_version=self._system(nvml.nvmlSystemGetNVMLVersion),
            )
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            kind = error_kind(exc)
            self._count(kind)
            self.close()
            raise BackendError(kind, f"NVML could not count the GPUs ({exc})") from exc
        self._devices = []
        self._open_failures = []
        seen: set[str] = set()
        for index in range(count):
            try:
                dev = self._open_device(index)
            except nvml.NVMLError as exc:
                kind = error_kind(exc)
                self._count(kind)
                uuid = next((u for u, i in self._known.items() if i == index), "")
                self._open_failures.append(GpuFailure(index, uuid, kind))
                if uuid:
                    seen.add(uuid)
                continue
            self._devices.append(dev)
            self._known[dev.uuid] = index
            seen.add(dev.uuid)
        for uuid, index in self._known.items():
            if uuid not in seen:
                self._open_failures.append(GpuFailure(index, uuid, "missing"))
        if self.xid_events:
            self._register_events()
        return info

    def _system(self, fn: Callable[[], Any]) -> str:
        try:
            return _text(fn())
        except self.nvml.NVMLError as exc:
            self._count(error_kind(exc))
            return ""

    def _cuda_version(self) -> str:
        try:
            v = int(self.nvml.nvmlSystemGetCudaDriverVersion())
        except self.nvml.NVMLError as exc:
            self._count(error_kind(exc))
            return ""
        return f"{v // 1000}.{v % 1000 // 10}"

    def _open_device(self, index: int) -> _Device:
        nvml = self.nvml
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        uuid = _text(nvml.nvmlDeviceGetUUID(handle))
        name = _text(nvml.nvmlDeviceGetName(handle))
        dev = _Device(handle, index, uuid, name, "", None, False)
        pci = self._call(dev, "pci_info", nvml.nvmlDeviceGetPciInfo_v3, handle)
        if pci is not _MISSING:
            dev.pci_bus_id = _text(pci.busId)
        minor = self._call(dev, "minor_number", nvml.nvmlDeviceGetMinorNumber, handle)
        if minor is not _MISSING:
            dev.minor_number = int(minor)
        mig = self._call(dev, "mig_mode", nvml.nvmlDeviceGetMigMode, handle)
        if mig is not _MISSING:
            dev.mig_enabled = int(mig[0]) == _MIG_ENABLE
        return dev

    def _register_events(self) -> None:
        nvml = self.nvml
        try:
            self._event_set = nvml.nvmlEventSetCreate()
        except nvml.NVMLError as exc:
            self._count(error_kind(exc))
            self._event_set = None
            return
        registered = 0
        for dev in self._devices:
            try:
                nvml.nvmlDeviceRegisterEvents(dev.handle, _XID_CRITICAL_ERROR, self._event_set)
                registered += 1
            except nvml.NVMLError as exc:
                self._count(error_kind(exc))
                dev.unsupported.add("xid_events")
        if not registered:
            self._free_events()

    def _free_events(self) -> None:
        if self._event_set is not None:
            # Releasing on a dead driver may fail in any way.
            with contextlib.suppress(Exception):
                self.nvml.nvmlEventSetFree(self._event_set)
            self._event_set = None

    def close(self) -> None:
        self._free_events()
        self._devices = []
        if self._initialised:
            self._initialised = False
            with contextlib.suppress(Exception):  # shutting down a lost driver may fail
                self.nvml.nvmlShutdown()

    # -- reading ------------------------------------------------------------------------------
    def read(self) -> Snapshot:
        snapshot = Snapshot(gpus=[], failures=list(self._open_failures))
        if self._open_failures and self._clock() - self._opened_at >= self.reopen_interval:
            snapshot.needs_reinit = True  # try again to open the GPUs that failed to open
        try:
            self._drain_events()
            for dev in self._devices:
                try:
                    snapshot.gpus.append(self._read_device(dev))
                except _GpuGone as gone:
                    snapshot.failures.append(GpuFailure(dev.index, dev.uuid, gone.kind))
                    snapshot.needs_reinit = True
        except _DriverGone as gone:
            raise BackendError(
                gone.kind, f"the NVIDIA driver went away during a read ({gone.kind})") from None
        return snapshot

    def _drain_events(self) -> None:
        """Count XID events that arrived since the last scrape, without waiting for more."""
        if self._event_set is None:
            return
        nvml = self.nvml
        for _ in range(_MAX_EVENTS_PER_SCRAPE):
            try:
                event = nvml.nvmlEventSetWait_v2(self._event_set, 0)
            except nvml.NVMLError as exc:
                if getattr(exc, "value", None) == _TIMEOUT:
                    return  # no event pending: the normal case
                kind = error_kind(exc)
                self._count(kind)
                if getattr(exc, "value", None) in DRIVER_LIFECYCLE:
                    raise _DriverGone(kind) from exc
                return
            except Exception as exc:
                self._unexpected(None, "xid_events", exc)
                self._free_events()  # stop polling a broken event set
                return
            if not int(event.eventType) & _XID_CRITICAL_ERROR:
                continue
            try:
                uuid = _text(nvml.nvmlDeviceGetUUID(event.device))
            except nvml.NVMLError as exc:
                self._count(error_kind(exc))
                continue
            xid = int(event.eventData)
            counts = self._xid.setdefault(uuid, {})
            counts[xid] = counts.get(xid, 0) + 1
            self._last_xid[uuid] = xid

    def _read_device(self, dev: _Device) -> GpuReading:
        nvml, h, call = self.nvml, dev.handle, self._call
        r = GpuReading(dev.index, dev.uuid, dev.name, dev.pci_bus_id, dev.minor_number,
                       dev.mig_enabled)
        util = call(dev, "utilization", nvml.nvmlDeviceGetUtilizationRates, h)
        if util is not _MISSING:
            r.utilization_percent = util.gpu
            r.memory_utilization_percent = util.memory
        mem = self._first(
            dev,
            ("memory_v2", nvml.nvmlDeviceGetMemoryInfo, (h, nvml.nvmlMemory_v2)),
            ("memory", nvml.nvmlDeviceGetMemoryInfo, (h,)),
        )
        if mem is not _MISSING:
            r.memory_total_bytes, r.memory_used_bytes = mem.total, mem.used
            r.memory_free_bytes = mem.free
            r.memory_reserved_bytes = getattr(mem, "reserved", None)
        value = call(dev, "power", nvml.nvmlDeviceGetPowerUsage, h)
        r.power_milliwatts = None if value is _MISSING else value
        value = call(dev, "power_limit", nvml.nvmlDeviceGetEnforcedPowerLimit, h)
        r.power_limit_milliwatts = None if value is _MISSING else value
        value = call(dev, "energy", nvml.nvmlDeviceGetTotalEnergyConsumption, h)
        r.energy_millijoules = None if value is _MISSING else value
        value = self._first(
            dev,
            ("temperature_v", nvml.nvmlDeviceGetTemperatureV, (h, nvml.NVML_TEMPERATURE_GPU)),
            ("temperature", nvml.nvmlDeviceGetTemperature, (h, nvml.NVML_TEMPERATURE_GPU)),
        )
        r.temperature_celsius = None if value is _MISSING else value
        value = call(dev, "sm_clock", nvml.nvmlDeviceGetClockInfo, h, nvml.NVML_CLOCK_SM)
        r.sm_clock_mhz = None if value is _MISSING else value
        value = call(dev, "memory_clock", nvml.nvmlDeviceGetClockInfo, h, nvml.NVML_CLOCK_MEM)
        r.memory_clock_mhz = None if value is _MISSING else value
        value = self._first(
            dev,
            ("clocks_event_reasons", nvml.nvmlDeviceGetCurrentClocksEventReasons, (h,)),
            ("clocks_throttle_reasons", nvml.nvmlDeviceGetCurrentClocksThrottleReasons, (h,)),
        )
        r.clocks_event_reasons = None if value is _MISSING else int(value)
        self._read_errors(dev, r)
        self._read_pcie(dev, r)
        watched = self._event_set is not None and "xid_events" not in dev.unsupported
        if watched or dev.uuid in self._xid:
            r.xid_errors = dict(self._xid.get(dev.uuid, {}))
            r.last_xid = self._last_xid.get(dev.uuid, 0)
        if self.process_metrics and not dev.mig_enabled:
            r.processes = self._read_processes(dev, h, "")
        if dev.mig_enabled:
            r.mig_devices = self._read_mig(dev)
        r.unsupported_calls = len(dev.unsupported)
        return r

    def _read_errors(self, dev: _Device, r: GpuReading) -> None:
        nvml, h, call = self.nvml, dev.handle, self._call
        value = call(dev, "ecc_corrected", nvml.nvmlDeviceGetTotalEccErrors, h,
                     nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, nvml.NVML_VOLATILE_ECC)
        r.ecc_corrected_errors = None if value is _MISSING else int(value)
        value = call(dev, "ecc_uncorrected", nvml.nvmlDeviceGetTotalEccErrors, h,
                     nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC)
        r.ecc_uncorrected_errors = None if value is _MISSING else int(value)
        rows = call(dev, "remapped_rows", nvml.nvmlDeviceGetRemappedRows, h)
        if rows is not _MISSING:
            (r.remapped_rows_correctable, r.remapped_rows_uncorrectable,
             r.row_remap_pending, r.row_remap_failure) = (int(v) for v in rows)
        pages = call(dev, "retired_pages_single_bit", nvml.nvmlDeviceGetRetiredPages, h,
                     nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
        r.retired_pages_single_bit = None if pages is _MISSING else len(pages)
        pages = call(dev, "retired_pages_double_bit", nvml.nvmlDeviceGetRetiredPages, h,
                     nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
        r.retired_pages_double_bit = None if pages is _MISSING else len(pages)

    def _read_pcie(self, dev: _Device, r: GpuReading) -> None:
        nvml, h = self.nvml, dev.handle
        value = self._call(dev, "pcie_replays", nvml.nvmlDeviceGetPcieReplayCounter, h)
        r.pcie_replays = None if value is _MISSING else int(value)
        if not self.pcie_counters:
            return
        values = self._call(dev, "pcie_bytes", nvml.nvmlDeviceGetFieldValues, h,
                            [_FIELD_PCIE_TX_BYTES, _FIELD_PCIE_RX_BYTES])
        if values is _MISSING:
            return
        got = []
        for v in values:
            ret = int(v.nvmlReturn)
            if ret == 0:
                got.append(int(v.value.ullVal))
                continue
            got.append(None)
            exc = nvml.NVMLError(ret)
            self._count(error_kind(exc))
            if ret in GPU_LIFECYCLE:
                raise _GpuGone(error_kind(exc))
        if got == [None, None]:
            dev.unsupported.add("pcie_bytes")
        r.pcie_tx_bytes, r.pcie_rx_bytes = got[0], got[1]

    def _read_processes(self, dev: _Device, handle: Any, prefix: str,
                        ) -> list[ProcessReading] | None:
        nvml = self.nvml
        procs = self._call(dev, prefix + "processes", nvml.nvmlDeviceGetComputeRunningProcesses,
                           handle)
        if procs is _MISSING:
            return None
        readings = [ProcessReading(int(p.pid), p.usedGpuMemory) for p in procs]
        if not readings or prefix or "process_utilization" in dev.unsupported:
            return readings
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(handle, dev.last_process_sample_us)
        except nvml.NVMLError as exc:
            code = getattr(exc, "value", None)
            if code == _NOT_FOUND:  # no samples since the last scrape: every process was idle
                samples = []
            else:
                kind = error_kind(exc)
                self._count(kind)
                if code in DRIVER_LIFECYCLE:
                    raise _DriverGone(kind) from exc
                if code in GPU_LIFECYCLE:
                    raise _GpuGone(kind) from exc
                if code in UNSUPPORTED:
                    dev.unsupported.add("process_utilization")
                return readings
        except Exception as exc:
            self._unexpected(dev, "process_utilization", exc)
            return readings
        latest: dict[int, tuple[int, int]] = {}
        for s in samples:
            pid, ts = int(s.pid), int(s.timeStamp)
            if ts > latest.get(pid, (-1, 0))[0]:
                latest[pid] = (ts, int(s.smUtil))
            dev.last_process_sample_us = max(dev.last_process_sample_us, ts)
        for p in readings:
            p.sm_utilization_percent = latest.get(p.pid, (0, 0))[1]
        return readings

    def _read_mig(self, dev: _Device) -> list[MigReading]:
        nvml, call = self.nvml, self._call
        slots = call(dev, "mig_count", nvml.nvmlDeviceGetMaxMigDeviceCount, dev.handle)
        if slots is _MISSING:
            return []
        out = []
        for slot in range(int(slots)):
            if f"mig{slot}_handle" in dev.unsupported:
                continue
            try:
                mh = nvml.nvmlDeviceGetMigDeviceHandleByIndex(dev.handle, slot)
            except nvml.NVMLError as exc:
                code = getattr(exc, "value", None)
                if code in (_NOT_FOUND, _INVALID_ARGUMENT):
                    continue  # an empty MIG slot
                kind = error_kind(exc)
                self._count(kind)
                if code in DRIVER_LIFECYCLE:
                    raise _DriverGone(kind) from exc
                if code in GPU_LIFECYCLE:
                    raise _GpuGone(kind) from exc
                continue
            except Exception as exc:
                self._unexpected(dev, f"mig{slot}_handle", exc)
                continue
            key = f"mig{slot}_"  # unsupported calls are remembered per MIG slot
            uuid = call(dev, f"{key}uuid", nvml.nvmlDeviceGetUUID, mh)
            gi = call(dev, f"{key}gpu_instance_id", nvml.nvmlDeviceGetGpuInstanceId, mh)
            ci = call(dev, f"{key}compute_instance_id", nvml.nvmlDeviceGetComputeInstanceId, mh)
            if uuid is _MISSING or gi is _MISSING:
                continue
            m = MigReading(_text(uuid), int(gi), 0 if ci is _MISSING else int(ci))
            name = call(dev, f"{key}name", nvml.nvmlDeviceGetName, mh)
            if name is not _MISSING:
                m.profile = _mig_profile(_text(name))
            mem = call(dev, f"{key}memory", nvml.nvmlDeviceGetMemoryInfo, mh)
            if mem is not _MISSING:
                m.memory_total_bytes, m.memory_used_bytes = mem.total, mem.used
                m.memory_free_bytes = mem.free
            util = call(dev, f"{key}utilization", nvml.nvmlDeviceGetUtilizationRates, mh)
            if util is not _MISSING:
                m.utilization_percent = util.gpu
            if self.process_metrics:
                m.processes = self._read_processes(dev, mh, key) or []
            out.append(m)
        return out


def _mig_profile(name: str) -> str:
    """The profile part of a MIG device name: 'NVIDIA A100-SXM4-40GB MIG 1g.5gb' -> '1g.5gb'."""
    match = re.search(r"MIG\s+(\S+)\s*$", name)
    return match.group(1) if match else ""
