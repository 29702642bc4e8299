"""Knative service: the reference console's panels for one service, plus canary comparison."""

from sdobs.dashboards.builders import Cell, DashboardSpec, Row, Variable, dialect_from_env

GOOD_RATIO = (("red", None), ("orange", 0.95), ("green", 0.99))
BUDGET = (("red", None), ("orange", 0.0), ("green", 0.25))
FIRING = (("green", None), ("red", 1))

spec = DashboardSpec(
    key="service",
    title="Knative service",
    description="Request volume, success, errors, response time and pod scaling of one "
                "Knative service, per revision, as the reference platform's console shows them.",
    variables=(
        Variable("namespace", "Namespace"),
        Variable("service", "Service"),
        Variable("revision", "Revision", multi=True, include_all=True),
    ),
    rows=(
        Row("Overview", (
            Cell("request_volume", "stat", w=6, h=4),
            Cell("success_rate", "stat", w=6, h=4, thresholds=GOOD_RATIO),
            Cell("rate_4xx", "stat", w=6, h=4),
            Cell("rate_5xx", "stat", w=6, h=4),
            Cell("volume_by_revision"),
            Cell("volume_by_code_class", stacking="normal"),
            Cell("pod_trend", w=24),
        )),
        Row("Response Time", (
            Cell("latency_p50", w=6),
            Cell("latency_p90", w=6),
            Cell("latency_p95", w=6),
            Cell("latency_p99", w=6),
        )),
        Row("SD requests (sdobs SD request exporter)", (
            Cell("sd_latency", w=12),
            Cell("latency_p99_by_source", w=12),
            Cell("sd_phases", w=8, stacking="normal"),
            Cell("sd_its_by_gpu", w=8),
            Cell("sd_cold_start", w=8),
        )),
        Row("Revision comparison (canary)", (
            Cell("revision_table", "table", w=24, h=6),
            Cell("traffic_share_by_revision", w=12, stacking="percent"),
            Cell("success_by_revision", w=12, max=1),
            Cell("rate_5xx_by_revision", w=8),
            Cell("app_latency_p95_by_revision", w=8),
            Cell("queue_depth_by_pod", w=8),
        )),
        Row("SLO and alerts", (
            Cell("slo_budget_remaining", "stat", w=8, h=6, instant=True, thresholds=BUDGET),
            Cell("alerts_firing", "stat", w=4, h=6, instant=True, thresholds=FIRING),
            Cell("slo_burn_rate", w=12, h=6),
            Cell("alerts_by_name", w=24, h=6, draw="bars"),
        )),
    ),
)

dashboard = spec.build(dialect_from_env())
