"""GPUs of a Knative service: utilisation, memory, power, temperature, health, idle cost."""

from sdobs.dashboards.builders import Cell, DashboardSpec, Row, Variable, dialect_from_env

spec = DashboardSpec(
    key="gpu",
    title="Knative service GPUs",
    description="What the GPUs of one service do, per pod and per revision, from the sdobs GPU "
                "exporter or NVIDIA's dcgm-exporter, how healthy they are, and how many "
                "GPU-seconds were paid for against how many were busy.",
    variables=(
        # Knative's revisions, not the GPU series: dcgm-exporter and node-mode series carry no
        # service label of their own (the panels join it from kube_pod_labels).
        Variable("namespace", "Namespace"),
        Variable("service", "Service"),
        Variable("revision", "Revision", multi=True, include_all=True),
    ),
    rows=(
        Row("Cost of idle GPUs", (
            Cell("gpu_seconds_allocated", "stat", w=6, h=4, instant=True),
            Cell("gpu_seconds_busy", "stat", w=6, h=4, instant=True),
            Cell("gpu_seconds_idle", "stat", w=6, h=4, instant=True),
            Cell("gpu_utilization", "stat", w=6, h=4),
            Cell("gpus_allocated_vs_busy", w=12),
            Cell("gpus_allocated_by_revision", w=12, stacking="normal"),
            Cell("ready_pods_by_revision", w=12, stacking="normal"),
            Cell("volume_by_revision", w=12),
        )),
        Row("Utilisation", (
            Cell("gpu_utilization_by_pod", max=1),
            Cell("gpu_utilization_by_revision", max=1),
        )),
        Row("Memory, power, temperature", (
            Cell("gpu_memory_by_pod"),
            Cell("gpu_memory_by_revision"),
            Cell("gpu_power_by_pod", w=8),
            Cell("gpu_power_by_revision", w=8),
            Cell("gpu_temperature_by_pod", w=8),
            Cell("gpu_memory_free_by_pod", w=12),
            Cell("gpu_sm_clock_by_pod", w=12),
        )),
        Row("GPU health", (
            Cell("gpu_xid_by_pod", w=12),
            Cell("gpu_ecc_by_pod", w=12),
            Cell("gpu_row_remap_by_pod", w=12),
            Cell("gpu_throttle_reasons", w=12),
        )),
        Row("Exporter health", (
            Cell("gpu_exporter_up", "stat", w=6, instant=True,
                 thresholds=(("red", None), ("green", 1))),
            Cell("gpu_sources", "stat", w=6, instant=True),
            Cell("gpu_exporter_up_by_pod", w=12, min=0, max=1),
        )),
    ),
)

dashboard = spec.build(dialect_from_env())
