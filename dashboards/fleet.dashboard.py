"""Fleet overview: every Knative service at once, with links into each service's dashboard."""

from sdobs.dashboards.builders import Cell, DashboardSpec, Row, Variable, dialect_from_env

spec = DashboardSpec(
    key="fleet",
    title="Knative fleet overview",
    description="Every service of the selected namespaces: traffic, success, P95, pods, GPU "
                "use and which are scaled to zero; click a service to open its dashboard.",
    variables=(
        Variable("namespace", "Namespace", multi=True, include_all=True),
    ),
    rows=(
        Row("Services", (
            Cell("services_at_zero", "stat", w=4, h=8, instant=True),
            Cell("fleet_table", "table", w=20, h=8, link_to="service"),
        )),
        Row("Traffic and latency", (
            Cell("volume_by_service", stacking="normal"),
            Cell("rate_5xx_by_service"),
            Cell("latency_p95_by_service"),
            Cell("ready_pods_by_service", stacking="normal"),
        )),
        Row("GPUs", (
            Cell("gpus_allocated_by_service", stacking="normal"),
            Cell("gpu_utilization_by_service", max=1),
        )),
    ),
)

dashboard = spec.build(dialect_from_env())
