"""SLOs per service: objectives from rules/slo.yaml (and Service annotations), SLI error ratios
at the SRE workbook's windows, error budget left over the period, multiwindow multi-burn-rate
alerts (page: 14.4x over 1h and 5m, 6x over 6h and 30m; ticket: 3x over 1d and 2h, 1x over 3d
and 6h), each window pair one rule with the kubernetes-mixin's ``for:``."""

from sdobs.catalog import slo as s
from sdobs.rules.model import Alert, Group, Record

SOURCE = "knative"
TITLES = {"availability": "availability (non-5xx share)",
          "latency": "latency (share of requests under the threshold)",
          "cold_start": "cold-start (share of requests that did not wait for a pod)"}
NAMES = {"availability": "SDAvailabilityBudgetBurn", "latency": "SDLatencyBudgetBurn",
         "cold_start": "SDColdStartBudgetBurn"}
SEVERITY = {"page": "critical", "ticket": "warning"}


def groups(ctx):
    cfg, cat = ctx.slo, ctx.catalog
    overrides = []
    for (namespace, service), values in sorted(cfg.overrides.items()):
        ident = {"namespace": namespace, "service": service, "source": s.SOURCE_OVERRIDE}
        for slo in s.SLOS:
            if slo in values:
                overrides.append(Record(s.OBJECTIVE, s.constant(values[slo]),
                                        {**ident, "slo": slo}))
        if "latency_threshold" in values:
            overrides.append(Record(s.THRESHOLD, s.constant(values["latency_threshold"]), ident))
    defaults = [Record(s.OBJECTIVE, s.default_objective(cat, slo, cfg.defaults.ratio(slo)),
                       {"slo": slo, "source": s.SOURCE_DEFAULT}) for slo in s.SLOS
                if cfg.defaults.ratio(slo) is not None]
    defaults.append(Record(s.THRESHOLD, s.default_threshold(cat, cfg.defaults.latency_threshold),
                           {"source": s.SOURCE_DEFAULT}))
    sli = []
    for slo in s.SLOS:
        sli.append(Record(s.ERRORS, s.error_rate(slo, cfg.thresholds()), {"slo": slo}))
        sli.append(Record(s.TOTAL, s.total_rate(), {"slo": slo}))
    ratios = [Record(s.ratio_record(w), s.error_ratio(slo, w), {"slo": slo}) for slo in s.SLOS
              for w in s.RATIO_WINDOWS]
    burn = [Record(s.BURN_RATE, s.current_burn_rate(slo), {"slo": slo}) for slo in s.SLOS]
    hourly = [Record(s.ERRORS_1H, s.hourly(s.ERRORS)), Record(s.TOTAL_1H, s.hourly(s.TOTAL))]
    period = [Record(s.ratio_record(cfg.period), s.period_ratio(slo, cfg.period), {"slo": slo})
              for slo in s.SLOS]
    budget = [Record(s.BUDGET_REMAINING, s.budget_remaining(slo, cfg.period), {"slo": slo})
              for slo in s.SLOS]
    alerts = []
    for slo in s.SLOS:
        for severity, short, long, factor, for_ in s.BURN_WINDOWS:
            alerts.append(Alert(
                NAMES[slo], s.burn_alert(slo, short, long, factor), for_, SEVERITY[severity],
                f"{{{{ $labels.namespace }}}}/{{{{ $labels.service }}}} burns its {slo} error "
                f"budget {factor:g}x too fast ({long} and {short})",
                f"Over both the last {long} and the last {short}, the {TITLES[slo]} of "
                f"{{{{ $labels.namespace }}}}/{{{{ $labels.service }}}} failed {factor:g} times "
                f"as often as its objective allows; at this pace the {cfg.period} budget is gone "
                f"in {_exhaustion(cfg.period, factor)}.",
                {"slo": slo, "slo_severity": severity, "long": long, "short": short},
                runbook=NAMES[slo].lower()))
    out = []
    if overrides:
        out.append(Group("sdobs-slo-overrides", overrides))
    out += [Group("sdobs-slo-objectives", defaults), Group("sdobs-slo-sli", sli),
            Group("sdobs-slo-hourly", hourly, interval="5m"),
            Group("sdobs-slo-ratios", ratios),
            Group("sdobs-slo-burn", burn),
            Group("sdobs-slo-period", period, interval="5m"),
            Group("sdobs-slo-budget", budget, interval="5m"),
            Group("sdobs-slo-alerts", alerts)]
    return out


def _exhaustion(period: str, factor: float) -> str:
    from sdobs.catalog.gpu import duration_seconds

    hours = duration_seconds(period) / 3600 / factor
    return f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.0f} days"
