"""Simulated GPUs for the serving twin: the caller sets their state, the real collector renders it.

The twin (``sdobs/sim``) owns time. It sets what a pod's GPU is doing (model loaded, busy
fraction) and calls :meth:`SimulatedGpu.advance` with the elapsed virtual seconds so energy and
temperature follow. A :class:`SimulatedBackend` over those GPUs goes through the same
:class:`~sdobs_exporters.gpu.collector.GpuCollector` as NVML, so the twin's GPU series are the
exporter's series, name for name.

The model figures in :data:`GPU_MODELS` are nominal public specifications (memory size, board
power, boost clocks) rounded for simulation; they are not measurements.
"""

from __future__ import annotations

import math
import uuid as uuidlib
from dataclasses import dataclass, field

from .readings import BackendError, GpuReading, ProcessReading, Snapshot, SystemInfo

MIB = 1024 * 1024

_IDLE_BIT = 0x1  # nvmlClocksEventReasonGpuIdle
_SW_POWER_CAP_BIT = 0x4  # nvmlClocksEventReasonSwPowerCap


@dataclass(frozen=True, slots=True)
class GpuModel:
    """Nominal figures of one GPU product, enough to simulate what NVML would report."""

    key: str
    name: str
    memory_total_bytes: int
    power_idle_watts: float
    power_busy_watts: float
    power_limit_watts: float
    sm_clock_idle_mhz: float
    sm_clock_busy_mhz: float
    memory_clock_mhz: float
    temperature_idle_celsius: float = 32.0
    temperature_busy_celsius: float = 72.0
    memory_reserved_bytes: int = 0
    context_bytes: int = 300 * MIB  # CUDA context + allocator slack per process
    row_remapping: bool = False  # Ampere and newer remap rows; older GPUs retire pages


GPU_MODELS: dict[str, GpuModel] = {
    m.key: m
    for m in (
        GpuModel("t4", "Tesla T4", 15360 * MIB, 10, 70, 70, 300, 1590, 5001, 30, 70, 262 * MIB),
        GpuModel("p4", "Tesla P4", 7680 * MIB, 7, 75, 75, 455, 1531, 3003, 30, 72, 0),
        GpuModel("p100", "Tesla P100-PCIE-16GB", 16384 * MIB, 26, 250, 250, 405, 1328, 715, 30,
                 72, 0),
        GpuModel("a10", "NVIDIA A10", 23028 * MIB, 16, 150, 150, 210, 1695, 6251, 30, 75,
                 361 * MIB, row_remapping=True),
        GpuModel("l4", "NVIDIA L4", 23034 * MIB, 16, 72, 72, 210, 2040, 6251, 35, 72, 361 * MIB,
                 row_remapping=True),
        GpuModel("a100-80gb", "NVIDIA A100-SXM4-80GB", 81920 * MIB, 55, 400, 400, 210, 1410,
                 1593, 32, 65, 512 * MIB, row_remapping=True),
        GpuModel("h100-80gb", "NVIDIA H100 80GB HBM3", 81559 * MIB, 70, 700, 700, 345, 1980,
                 2619, 32, 70, 512 * MIB, row_remapping=True),
    )
}


@dataclass(slots=True)
class SimulatedProcess:
    """A process holding GPU memory; ``sm_utilization`` None follows the GPU's utilisation."""

    pid: int
    memory_used_bytes: int
    sm_utilization: float | None = None


@dataclass(slots=True)
class SimulatedGpu:
    """One GPU whose state the caller sets; ratios are 0..1, units are bytes, watts, joules."""

    index: int = 0
    model: GpuModel = GPU_MODELS["a10"]
    uuid: str = ""
    pci_bus_id: str = ""
    utilization: float = 0.0
    memory_utilization: float | None = None
    memory_used_bytes: int = 0
    power_watts: float | None = None
    temperature_celsius: float | None = None
    energy_joules: float = 0.0
    processes: list[SimulatedProcess] = field(default_factory=list)
    xid_errors: dict[int, int] = field(default_factory=dict)
    ecc_corrected_errors: int = 0
    ecc_uncorrected_errors: int = 0
    pcie_replays: int = 0
    remapped_rows_correctable: int = 0  # reported on models with row remapping only
    remapped_rows_uncorrectable: int = 0
    row_remap_failure: int = 0
    pcie_tx_bytes: int = 0
    pcie_rx_bytes: int = 0
    _temperature: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.uuid:
            self.uuid = simulated_uuid(f"{self.model.key}/{self.index}")
        if not self.pci_bus_id:
            self.pci_bus_id = f"00000000:{self.index + 1:02X}:00.0"

    @classmethod
    def create(cls, model: str = "a10", *, index: int = 0, seed: str = "") -> SimulatedGpu:
        """A GPU of a catalogue model; ``seed`` (e.g. the pod name) makes the UUID unique."""
        try:
            spec = GPU_MODELS[model]
        except KeyError:
            raise ValueError(f"unknown simulated GPU model {model!r}; "
                             f"choose one of {', '.join(sorted(GPU_MODELS))}") from None
        return cls(index=index, model=spec, uuid=simulated_uuid(f"{seed}/{model}/{index}"))

    # -- what the twin drives -----------------------------------------------------------------
    def load_model(self, memory_bytes: int, *, pid: int = 1) -> None:
        """A serving process on this GPU holds ``memory_bytes`` of weights and activations."""
        used = int(memory_bytes) + self.model.context_bytes
        self.processes = [SimulatedProcess(pid, used)]
        self.memory_used_bytes = min(used + self.model.memory_reserved_bytes,
                                     self.model.memory_total_bytes)

    def unload(self) -> None:
        """No process on the GPU any more (scale to zero keeps no pod, so this is rare)."""
        self.processes = []
        self.memory_used_bytes = self.model.memory_reserved_bytes
        self.utilization = 0.0

    def current_power_watts(self) -> float:
        """Board power now: the override, or idle-to-busy in proportion to utilisation."""
        if self.power_watts is not None:
            return self.power_watts
        m = self.model
        return m.power_idle_watts + (m.power_busy_watts - m.power_idle_watts) * self._util()

    def current_temperature_celsius(self) -> float:
        """Die temperature now: the override, or the value :meth:`advance` has been tracking."""
        if self.temperature_celsius is not None:
            return self.temperature_celsius
        if self._temperature is None:
            self._temperature = self._target_temperature()
        return self._temperature

    def advance(self, seconds: float, *, thermal_time_constant: float = 90.0) -> None:
        """Let ``seconds`` pass at the current state: energy accumulates, temperature follows."""
        if seconds <= 0:
            return
        self.energy_joules += self.current_power_watts() * seconds
        current = self.current_temperature_celsius()
        target = self._target_temperature()
        self._temperature = target + (current - target) * math.exp(-seconds / thermal_time_constant)

    # -- what the collector reads -------------------------------------------------------------
    def reading(self) -> GpuReading:
        """This GPU as NVML would report it (percent, bytes, milliwatts, millijoules, MHz)."""
        m, util = self.model, self._util()
        power = self.current_power_watts()
        reasons = _IDLE_BIT if util == 0 else 0
        if power >= 0.98 * m.power_limit_watts:
            reasons |= _SW_POWER_CAP_BIT
        mem_util = self.memory_utilization if self.memory_utilization is not None else 0.6 * util
        used = min(max(self.memory_used_bytes, 0), m.memory_total_bytes)
        return GpuReading(
            index=self.index,
            uuid=self.uuid,
            name=m.name,
            pci_bus_id=self.pci_bus_id,
            minor_number=self.index,
            utilization_percent=round(util * 100.0, 3),
            memory_utilization_percent=round(min(max(mem_util, 0.0), 1.0) * 100.0, 3),
            memory_total_bytes=m.memory_total_bytes,
            memory_used_bytes=used,
            memory_free_bytes=m.memory_total_bytes - used,
            memory_reserved_bytes=m.memory_reserved_bytes,
            power_milliwatts=round(power * 1000.0, 3),
            power_limit_milliwatts=m.power_limit_watts * 1000.0,
            energy_millijoules=round(self.energy_joules * 1000.0, 3),
            temperature_celsius=round(self.current_temperature_celsius(), 1),
            sm_clock_mhz=m.sm_clock_idle_mhz if util == 0 else m.sm_clock_busy_mhz,
            memory_clock_mhz=m.memory_clock_mhz,
            clocks_event_reasons=reasons,
            ecc_corrected_errors=self.ecc_corrected_errors,
            ecc_uncorrected_errors=self.ecc_uncorrected_errors,
            pcie_replays=self.pcie_replays,
            pcie_tx_bytes=self.pcie_tx_bytes,
            pcie_rx_bytes=self.pcie_rx_bytes,
            xid_errors=dict(self.xid_errors),
            **self._remapping(),
            last_xid=max(self.xid_errors, default=0) if self.xid_errors else 0,
            processes=[
                ProcessReading(
                    p.pid,
                    p.memory_used_bytes,
                    round((util if p.sm_utilization is None else p.sm_utilization) * 100.0, 3),
                )
                for p in self.processes
            ],
        )

    def _remapping(self) -> dict[str, int | None]:
        if not self.model.row_remapping:  # before Ampere: page retirement
            return {"retired_pages_single_bit": 0, "retired_pages_double_bit": 0}
        return {"remapped_rows_correctable": self.remapped_rows_correctable,
                "remapped_rows_uncorrectable": self.remapped_rows_uncorrectable,
                "row_remap_pending": 0, "row_remap_failure": self.row_remap_failure}

    def _util(self) -> float:
        return min(max(float(self.utilization), 0.0), 1.0)

    def _target_temperature(self) -> float:
        m = self.model
        span = m.temperature_busy_celsius - m.temperature_idle_celsius
        return m.temperature_idle_celsius + span * self._util()


def simulated_uuid(seed: str) -> str:
    """A stable GPU UUID in NVML's format for a simulated GPU."""
    return f"GPU-{uuidlib.uuid5(uuidlib.NAMESPACE_URL, 'sdobs-sim-gpu:' + seed)}"


class SimulatedBackend:
    """A backend over caller-owned :class:`SimulatedGpu` objects; reads never touch hardware."""

    name = "simulated"

    def __init__(
        self,
        gpus: list[SimulatedGpu] | None = None,
        *,
        driver_version: str = "550.54.15",
        cuda_driver_version: str = "12.4",
    ) -> None:
        self.gpus: list[SimulatedGpu] = list(gpus or [])
        self.info = SystemInfo(driver_version, cuda_driver_version, "12." + driver_version)
        self.error_counts: dict[str, int] = {}
        self._fail_next: str | None = None

    def fail_next_read(self, kind: str = "gpu_is_lost") -> None:
        """Make the next read fail as if the driver lost the GPUs (a what-if for the twin)."""
        self._fail_next = kind

    def open(self) -> SystemInfo:
        return self.info

    def read(self) -> Snapshot:
        if self._fail_next is not None:
            kind, self._fail_next = self._fail_next, None
            self.error_counts[kind] = self.error_counts.get(kind, 0) + 1
            raise BackendError(kind, f"simulated failure: {kind}")
        return Snapshot(gpus=[g.reading() for g in self.gpus])

    def close(self) -> None:
        return None
