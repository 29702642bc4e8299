"""Metric names, types, units and label keys of both naming modes: the one place that owns them.

``default`` follows Prometheus conventions: prefix ``sdobs_gpu_``, base units (ratios, bytes,
watts, joules, hertz), ``_total`` on counters, Knative identity labels with the canonical keys
``namespace``, ``service``, ``configuration``, ``revision``, ``pod`` (plus ``container``).

``dcgm`` reproduces dcgm-exporter's names, units (percent, MiB, MHz, mJ) and labels (``gpu``,
``UUID``, ``pci_bus_id``, ``device``, ``modelName``, ``Hostname``, ``DCGM_FI_DRIVER_VERSION``,
``container``, ``namespace``, ``pod``; ``GPU_I_PROFILE``/``GPU_I_ID`` on MIG instances) so existing
dashboards and alerts keep working. The Knative keys are added as dcgm-exporter's pod-label option
would spell them (``serving_knative_dev_revision``, ...). dcgm-exporter declares some series
counters without ``_total``; a counter must end in ``_total`` in OpenMetrics, so they are
exposed untyped here, which PromQL's ``rate()`` treats the same.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT = "default"
DCGM = "dcgm"
NAMINGS = (DEFAULT, DCGM)

MIB = 1024 * 1024

# Identity label keys, in the order Identity.values() returns them.
IDENTITY_KEYS = ("namespace", "pod", "container", "service", "configuration", "revision")
DEFAULT_GPU_KEYS = ("gpu", "uuid", *IDENTITY_KEYS)
DCGM_IDENTITY_KEYS = ("namespace", "pod", "container", "serving_knative_dev_service",
                      "serving_knative_dev_configuration", "serving_knative_dev_revision")
DCGM_GPU_KEYS = ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname",
                 "DCGM_FI_DRIVER_VERSION", *DCGM_IDENTITY_KEYS)


@dataclass(frozen=True, slots=True)
class Signal:
    """One scalar per-GPU value and how each naming mode exposes it."""

    attr: str
    name: str
    kind: str
    help: str
    scale: float = 1.0
    dcgm: str | None = None
    dcgm_kind: str = "gauge"
    dcgm_help: str = ""
    dcgm_scale: float = 1.0
    dcgm_floor: bool = False


GPU_SIGNALS: tuple[Signal, ...] = (
    Signal("utilization_percent", "sdobs_gpu_utilization_ratio", "gauge",
           "Fraction of the last NVML sample period (1/6 s to 1 s) in which a kernel ran.", 0.01,
           "DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    Signal("memory_utilization_percent", "sdobs_gpu_memory_copy_utilization_ratio", "gauge",
           "Fraction of the last NVML sample period in which device memory was read or written.",
           0.01, "DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    Signal("memory_used_bytes", "sdobs_gpu_memory_used_bytes", "gauge",
           "Device memory in use, reserved memory included (what nvidia-smi shows).", 1.0,
           "DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", 1 / MIB, True),
    Signal("memory_free_bytes", "sdobs_gpu_memory_free_bytes", "gauge",
           "Device memory free for allocation.", 1.0,
           "DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", 1 / MIB, True),
    Signal("memory_total_bytes", "sdobs_gpu_memory_total_bytes", "gauge",
           "Device memory installed.", 1.0,
           "DCGM_FI_DEV_FB_TOTAL", "gauge", "Framebuffer memory total (in MiB).", 1 / MIB, True),
    Signal("memory_reserved_bytes", "sdobs_gpu_memory_reserved_bytes", "gauge",
           "Device memory reserved by the driver and firmware.", 1.0,
           "DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB).", 1 / MIB,
           True),
    Signal("power_milliwatts", "sdobs_gpu_power_watts", "gauge",
           "Board power draw (a 1 s average on Ampere and newer, instantaneous before).", 0.001,
           "DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", 0.001),
    Signal("power_limit_milliwatts", "sdobs_gpu_power_limit_watts", "gauge",
           "Power limit the driver enforces.", 0.001,
           "DCGM_FI_DEV_ENFORCED_POWER_LIMIT", "gauge", "Enforced power limit (in W).", 0.001),
    Signal("energy_millijoules", "sdobs_gpu_energy_joules_total", "counter",
           "Energy used since the driver was loaded; rate() of it is the average power.", 0.001,
           "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "unknown",
           "Total energy consumption since boot (in mJ)."),
    Signal("temperature_celsius", "sdobs_gpu_temperature_celsius", "gauge",
           "GPU die temperature.", 1.0,
           "DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    Signal("sm_clock_mhz", "sdobs_gpu_sm_clock_hertz", "gauge",
           "Streaming multiprocessor clock.", 1e6,
           "DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    Signal("memory_clock_mhz", "sdobs_gpu_memory_clock_hertz", "gauge",
           "Memory clock.", 1e6,
           "DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    Signal("pcie_replays", "sdobs_gpu_pcie_replays_total", "counter",
           "PCIe transfers the link had to retry.", 1.0,
           "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "unknown", "Total number of PCIe retries."),
    Signal("pcie_tx_bytes", "sdobs_gpu_pcie_transmit_bytes_total", "counter",
           "Bytes the GPU sent over PCIe (the NVML counter may wrap).", 1.0),
    Signal("pcie_rx_bytes", "sdobs_gpu_pcie_receive_bytes_total", "counter",
           "Bytes the GPU received over PCIe (the NVML counter may wrap).", 1.0),
    Signal("ecc_corrected_errors", "sdobs_gpu_ecc_corrected_errors_total", "counter",
           "Corrected (single-bit) ECC memory errors since the driver was loaded.", 1.0,
           "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "unknown",
           "Total number of single-bit volatile ECC errors."),
    Signal("ecc_uncorrected_errors", "sdobs_gpu_ecc_uncorrected_errors_total", "counter",
           "Uncorrected (double-bit) ECC memory errors since the driver was loaded.", 1.0,
           "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "unknown",
           "Total number of double-bit volatile ECC errors."),
    Signal("retired_pages_single_bit", "sdobs_gpu_retired_pages_single_bit", "gauge",
           "Memory pages retired after repeated single-bit errors (before Ampere).", 1.0,
           "DCGM_FI_DEV_RETIRED_SBE", "unknown",
           "Total number of retired pages due to single-bit errors."),
    Signal("retired_pages_double_bit", "sdobs_gpu_retired_pages_double_bit", "gauge",
           "Memory pages retired after a double-bit error (before Ampere).", 1.0,
           "DCGM_FI_DEV_RETIRED_DBE", "unknown",
           "Total number of retired pages due to double-bit errors."),
    Signal("remapped_rows_correctable", "sdobs_gpu_remapped_rows_correctable", "gauge",
           "Memory rows remapped after correctable errors (Ampere and newer).", 1.0,
           "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "unknown",
           "Number of remapped rows for correctable errors"),
    Signal("remapped_rows_uncorrectable", "sdobs_gpu_remapped_rows_uncorrectable", "gauge",
           "Memory rows remapped after uncorrectable errors (Ampere and newer).", 1.0,
           "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "unknown",
           "Number of remapped rows for uncorrectable errors"),
    Signal("row_remap_pending", "sdobs_gpu_row_remap_pending", "gauge",
           "1 while a row remapping waits for the next GPU reset.", 1.0,
           "DCGM_FI_DEV_ROW_REMAP_PENDING", "gauge", "Whether remapping of rows is pending"),
    Signal("row_remap_failure", "sdobs_gpu_row_remap_failure", "gauge",
           "1 once row remapping has failed: the GPU has no spare rows left.", 1.0,
           "DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
    Signal("last_xid", "", "gauge", "", 1.0,
           "DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
)

# Clocks event (throttle) reason bits of nvmlDeviceGetCurrentClocksEventReasons.
THROTTLE_REASONS: tuple[tuple[str, int], ...] = (
    ("gpu_idle", 0x1),
    ("applications_clocks_setting", 0x2),
    ("sw_power_cap", 0x4),
    ("hw_slowdown", 0x8),
    ("sync_boost", 0x10),
    ("sw_thermal_slowdown", 0x20),
    ("hw_thermal_slowdown", 0x40),
    ("hw_power_brake_slowdown", 0x80),
    ("display_clock_setting", 0x100),
)

# Families outside GPU_SIGNALS: (name, type, help). Counters are named with their _total.
THROTTLE = ("sdobs_gpu_throttle_reason_active", "gauge",
            "1 while NVML reports this reason for holding the clocks down (clocks event reason).")
DCGM_THROTTLE = ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "gauge",
                 "Current clock throttle reasons (bitmask of nvmlClocksEventReason*).")
XID_ERRORS = ("sdobs_gpu_xid_errors_total", "counter",
              "XID errors the driver reported for this GPU since the exporter started.")
PROCESS_MEMORY = ("sdobs_gpu_process_memory_used_bytes", "gauge",
                  "Device memory held by one process (PIDs of the host PID namespace).")
PROCESS_SM = ("sdobs_gpu_process_sm_utilization_ratio", "gauge",
              "Fraction of time one process used the SMs, from NVML's latest sample.")
MIG_MEMORY_USED = ("sdobs_gpu_mig_memory_used_bytes", "gauge",
                   "Device memory in use in one MIG instance.")
MIG_MEMORY_FREE = ("sdobs_gpu_mig_memory_free_bytes", "gauge",
                   "Device memory free in one MIG instance.")
MIG_MEMORY_TOTAL = ("sdobs_gpu_mig_memory_total_bytes", "gauge",
                    "Device memory of one MIG instance.")
MIG_UTILIZATION = ("sdobs_gpu_mig_utilization_ratio", "gauge",
                   "Fraction of time a kernel ran in one MIG instance, where NVML reports it.")
GPU_INFO = ("sdobs_gpu_info", "info",
            "Identity of a GPU (model, PCI bus, driver) to join on uuid; always 1.")
POD_INFO = ("sdobs_gpu_pod_info", "info",
            "Which Knative revision and pod hold a GPU, to join on uuid; always 1.")
EXPORTER_INFO = ("sdobs_gpu_exporter_info", "info",
                 "Version, naming mode, attribution mode and backend of this exporter; always 1.")

# Health families, the same in both modes.
UP = ("sdobs_gpu_exporter_up", "gauge",
      "1 when NVML was initialised and every known GPU was read in this collection.")
GPU_UP = ("sdobs_gpu_exporter_gpu_up", "gauge",
          "1 when this GPU was read in this collection, 0 when it was lost or is missing.")
GPUS = ("sdobs_gpu_exporter_gpus", "gauge", "GPUs NVML shows to this exporter.")
LAST_SUCCESS = ("sdobs_gpu_exporter_last_success_timestamp_seconds", "gauge",
                "Unix time of the last collection with up 1.")
DURATION = ("sdobs_gpu_exporter_collection_duration_seconds", "gauge",
            "Seconds the collection for this scrape took (waiting for the NVML lock excluded).")
NVML_ERRORS = ("sdobs_gpu_exporter_nvml_errors_total", "counter",
               "NVML calls that failed, by NVML error kind, since the exporter started.")
INITS = ("sdobs_gpu_exporter_nvml_initializations_total", "counter",
         "NVML initialisations attempted, by result; more than one success means re-initialised.")
UNSUPPORTED = ("sdobs_gpu_exporter_unsupported_calls", "gauge",
               "NVML getters this GPU does not support, skipped until NVML is re-initialised.")
BUSY = ("sdobs_gpu_exporter_busy_scrapes_total", "counter",
        "Scrapes answered without GPU data because another collection held NVML too long.")
MAPPING_UP = ("sdobs_gpu_exporter_pod_mapping_up", "gauge",
              "Node mode: 1 when the last kubelet pod-resources List call succeeded.")
MAPPING_LAST_SUCCESS = ("sdobs_gpu_exporter_pod_mapping_last_success_timestamp_seconds", "gauge",
                        "Node mode: Unix time of the last successful pod-resources List call.")
MAPPING_ERRORS = ("sdobs_gpu_exporter_pod_mapping_errors_total", "counter",
                  "Node mode: pod-resources List calls that failed, by reason.")

# Error kinds exported at 0 from the start, so alerts on increase() work from the first failure.
KNOWN_ERROR_KINDS = ("not_supported", "no_permission", "not_found", "timeout", "unknown",
                     "uninitialized", "driver_not_loaded", "library_not_found",
                     "function_not_found", "gpu_is_lost", "gpu_not_found",
                     "lib_rm_version_mismatch", "internal")


def all_family_names() -> list[str]:
    """Every family name either mode can emit (counters with _total), for tests and docs."""
    names = [s.name for s in GPU_SIGNALS if s.name] + [s.dcgm for s in GPU_SIGNALS if s.dcgm]
    for fam in (THROTTLE, DCGM_THROTTLE, XID_ERRORS, PROCESS_MEMORY, PROCESS_SM, MIG_MEMORY_USED,
                MIG_MEMORY_FREE, MIG_MEMORY_TOTAL, MIG_UTILIZATION, GPU_INFO, POD_INFO,
                EXPORTER_INFO, UP, GPU_UP, GPUS, LAST_SUCCESS, DURATION, NVML_ERRORS, INITS,
                UNSUPPORTED, BUSY, MAPPING_UP, MAPPING_LAST_SUCCESS, MAPPING_ERRORS):
        names.append(fam[0])
    return names
