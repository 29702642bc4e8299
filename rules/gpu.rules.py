"""GPU recording rules and alerts over the sdobs GPU exporter's series (any Knative dialect)."""

from sdobs.catalog import alerting as a
from sdobs.catalog import recorded as rec
from sdobs.rules.model import Alert, Group, Record

SOURCE = "gpu"
POD = "{{ $labels.namespace }}/{{ $labels.pod }}"
REV = "{{ $labels.namespace }}/{{ $labels.revision }}"


def groups(ctx):
    cat = ctx.catalog
    records = [Record(rec.GPUS_BUSY, cat.record_gpus_busy()),
               Record(rec.GPUS_ALLOCATED, cat.record_gpus_allocated()),
               Record(rec.GPU_UTILIZATION, cat.record_gpu_utilization())]
    alerts = [
        Alert("SDGpuLost", a.gpu_lost(), "1m", "critical", f"A GPU of {POD} is lost",
              f"The GPU exporter of {POD} can no longer read GPU {{{{ $labels.gpu }}}} (NVML "
              "reports it lost or missing): the pod's generations fail until it is replaced."),
        Alert("SDGpuExporterUnhealthy", a.gpu_exporter_unhealthy(), "5m", "warning",
              f"The GPU exporter of {POD} fails to read its GPUs",
              f"sdobs_gpu_exporter_up of {POD} has been 0 for 5 minutes: NVML calls fail (see "
              "sdobs_gpu_exporter_nvml_errors_total by kind)."),
        Alert("SDGpuExporterAbsent", a.gpu_exporter_absent("1h"), "10m", "warning",
              f"{REV} has ready pods but its GPU metrics stopped",
              f"{REV} reported GPU metrics within the last hour and still has ready pods, but "
              "no GPU exporter series now: the sidecar crashed or its scrape broke."),
        Alert("SDGpuXidErrors", a.gpu_xid_errors("10m"), "0s", "warning",
              f"GPU {{{{ $labels.gpu }}}} of {POD} reported XID errors",
              f"The driver reported XID errors for GPU {{{{ $labels.gpu }}}} of {POD} in the "
              "last 10 minutes (application faults, or hardware trouble for XID 48, 63, 64, 74, "
              "79, 92-95)."),
        Alert("SDGpuEccUncorrected", a.gpu_ecc_uncorrected("10m"), "0s", "critical",
              f"GPU {{{{ $labels.gpu }}}} of {POD} had uncorrected ECC errors",
              f"Uncorrectable memory errors on GPU {{{{ $labels.gpu }}}} of {POD}: results may "
              "be corrupt and the GPU needs a reset or replacement."),
        Alert("SDGpuThrottled", a.gpu_throttled(), "10m", "warning",
              f"GPU {{{{ $labels.gpu }}}} of {POD} is slowed by heat or power",
              f"For 10 minutes NVML has reported {{{{ $labels.reason }}}} for GPU "
              f"{{{{ $labels.gpu }}}} of {POD}: generations run slower than the GPU can."),
    ]
    return [Group("sdobs-gpu-recording", records), Group("sdobs-gpu-alerts", alerts)]
