"""Plain values a device backend hands to the collector: one snapshot of every GPU per scrape.

Values stay in the units NVML reports (percent, bytes, milliwatts, millijoules, megahertz) so
the two naming modes can each convert once, exactly, to the units they promise. ``None`` means
"this GPU does not give this value": the collector then exports nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class ProcessReading:
    """One compute process on a GPU (PIDs are in the host PID namespace)."""

    pid: int
    memory_used_bytes: int | None = None
    sm_utilization_percent: float | None = None


@dataclass(slots=True)
class MigReading:
    """One MIG device (a GPU instance / compute instance pair) of a MIG-enabled GPU."""

    uuid: str
    gpu_instance_id: int
    compute_instance_id: int
    profile: str = ""
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None
    utilization_percent: float | None = None
    processes: list[ProcessReading] = field(default_factory=list)


@dataclass(slots=True)
class GpuReading:
    """Everything read from one physical GPU in one collection."""

    index: int
    uuid: str
    name: str
    pci_bus_id: str = ""
    minor_number: int | None = None
    mig_enabled: bool = False
    utilization_percent: float | None = None
    memory_utilization_percent: float | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_reserved_bytes: int | None = None
    power_milliwatts: float | None = None
    power_limit_milliwatts: float | None = None
    energy_millijoules: float | None = None
    temperature_celsius: float | None = None
    sm_clock_mhz: float | None = None
    memory_clock_mhz: float | None = None
    clocks_event_reasons: int | None = None
    ecc_corrected_errors: int | None = None
    ecc_uncorrected_errors: int | None = None
    retired_pages_single_bit: int | None = None
    retired_pages_double_bit: int | None = None
    remapped_rows_correctable: int | None = None
    remapped_rows_uncorrectable: int | None = None
    row_remap_pending: int | None = None
    row_remap_failure: int | None = None
    pcie_replays: int | None = None
    pcie_tx_bytes: int | None = None
    pcie_rx_bytes: int | None = None
    xid_errors: dict[int, int] | None = None
    last_xid: int | None = None
    processes: list[ProcessReading] | None = None
    mig_devices: list[MigReading] = field(default_factory=list)
    unsupported_calls: int = 0


@dataclass(slots=True)
class GpuFailure:
    """A GPU that was visible once but could not be read in this collection."""

    index: int
    uuid: str
    kind: str


@dataclass(slots=True)
class SystemInfo:
    """Driver-level facts, read once per NVML initialisation."""

    driver_version: str = ""
    cuda_driver_version: str = ""
    nvml_version: str = ""


@dataclass(slots=True)
class Snapshot:
    """One collection: the GPUs read, the GPUs that failed, and whether NVML must be re-opened."""

    gpus: list[GpuReading]
    failures: list[GpuFailure] = field(default_factory=list)
    needs_reinit: bool = False


class BackendError(Exception):
    """The backend cannot give any data now; ``kind`` is a short snake_case error name."""

    def __init__(self, kind: str, message: str, *, lifecycle: bool = True) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.lifecycle = lifecycle


class Backend(Protocol):
    """A source of GPU snapshots: real NVML or the twin's simulation."""

    name: str
    error_counts: dict[str, int]

    def open(self) -> SystemInfo:
        """Initialise the device library; raise BackendError when it cannot be used."""
        ...

    def read(self) -> Snapshot:
        """Read every GPU; raise BackendError when nothing at all can be read."""
        ...

    def close(self) -> None:
        """Release the device library; never raises."""
        ...
