"""Knative scaling debugging: what the autoscaler sees and decides, per revision."""

from sdobs.dashboards.builders import Cell, DashboardSpec, Row, Variable, dialect_from_env

spec = DashboardSpec(
    key="scaling",
    title="Knative scaling debugging",
    description="The KPA autoscaler's view of one service: observed against target "
                "concurrency, panic mode, excess burst capacity, the activator, pods and scale "
                "decisions, and what each revision's containers use (CPU, memory against the "
                "limit, restarts, OOM kills).",
    variables=(
        Variable("namespace", "Namespace"),
        Variable("service", "Service"),
        Variable("revision", "Revision", multi=True, include_all=True),
    ),
    rows=(
        Row("Now", (
            Cell("desired_pods", "stat", w=8, h=4, instant=True),
            Cell("ready_pods", "stat", w=8, h=4, instant=True),
            Cell("panic_mode", "stat", w=8, h=4, instant=True,
                 thresholds=(("green", None), ("red", 1))),
        )),
        Row("Concurrency", (
            Cell("concurrency", w=24),
            Cell("panic_mode", w=8, draw="bars", min=0, max=1),
            Cell("excess_burst_capacity", w=8),
            Cell("activator_concurrency", w=8),
        )),
        Row("Pods", (
            Cell("pods_by_state", w=12),
            Cell("ready_pods_by_revision", w=12, stacking="normal"),
            Cell("scale_events", w=24, draw="bars"),
        )),
        Row("Revision resources", (
            Cell("revision_cpu", w=12),
            Cell("revision_memory", w=12),
            Cell("memory_limit_ratio_by_pod", w=12, min=0, max=1),
            Cell("revision_restarts", w=12, draw="bars"),
        )),
    ),
)

dashboard = spec.build(dialect_from_env())
