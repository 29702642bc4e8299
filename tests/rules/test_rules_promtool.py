"""Every alert fires when it should and stays quiet when it should not, and every recording rule
records the value and canonical labels it should, by ``promtool test rules`` on the generated
rule files of each Knative dialect (and the GPU source)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from rules_cases import (
    NS,
    OTHER,
    RUNBOOK_BASE,
    SVC,
    Case,
    Expect,
    Source,
    canonical,
    counter,
    gauge,
    slo_for_tests,
)

from sdobs.catalog import recorded as rec
from sdobs.catalog import slo as s
from sdobs.knative.dialects import DIALECTS
from sdobs.rules.generate import GENERATED, rule_file, rule_groups
from sdobs.rules.promtool import check_rules, run_unit_tests

DIALECT_NAMES = [d.name for d in DIALECTS]
SVC_LABELS = {"namespace": NS, "service": SVC}
INF = math.inf


def write_rules(tmp: Path, target: str, slo) -> list[str]:
    """Rule files of ``target`` (plus the GPU source) generated with the test SLOs."""
    paths = []
    for t in (target, "gpu") if target != "gpu" else ("gpu", DIALECT_NAMES[0]):
        for key, groups in rule_groups(t, slo).items():
            path = tmp / f"{t}-{key}.rules.yaml"
            path.write_text(yaml.safe_dump(rule_file(groups, RUNBOOK_BASE), sort_keys=False,
                                           width=1 << 16))
            paths.append(path.name)
    return paths


def alert_test(expect: Expect, name: str, at: int, labels: dict | None,
               match: dict | None = None) -> dict:
    exp = [] if labels is None else expect.firing(name, labels, match)
    assert labels is None or exp, f"no rule of {name} matches {match}"
    return {"eval_time": f"{at}m", "alertname": name, "exp_alerts": exp}


def knative_cases(dialect: str, expect: Expect) -> list[Case]:
    t = Source(dialect)
    fast = Source(dialect, OTHER)
    rev = canonical()
    cases: list[Case] = []

    def both(name: str, at: int, fire: list, quiet: list, labels: dict, match=None) -> None:
        cases.append(Case(f"{name} fires", fire, [alert_test(expect, name, at, labels, match)]))
        cases.append(Case(f"{name} stays quiet", quiet, [alert_test(expect, name, at, None)]))

    # 5xx share above 10 %.
    both("SDHighErrorRatio", 30,
         [t.requests(200, 60, 40), t.requests(500, 20, 40), *t.warm(1, 40)],
         [t.requests(200, 98, 40), t.requests(500, 2, 40), *t.warm(1, 40)], SVC_LABELS)
    # Availability budget (99 %): 25 % errors burn every window; after 2 h the 3-day pair
    # (for: 3h) is still pending.
    burning = [t.requests(200, 60, 130), t.requests(500, 20, 130), *t.warm(1, 130)]
    cases.append(Case("SDAvailabilityBudgetBurn fires", burning, [
        {"eval_time": "120m", "alertname": "SDAvailabilityBudgetBurn",
         "exp_alerts": [e for long in ("1h", "6h", "1d")
                        for e in expect.firing("SDAvailabilityBudgetBurn", {**SVC_LABELS},
                                               {"long": long})]}]))
    assert len(cases[-1].alerts[0]["exp_alerts"]) >= 2
    cases.append(Case("SDAvailabilityBudgetBurn stays quiet",
                      [t.requests(200, 199, 130), t.requests(500, 1, 130), *t.warm(1, 130)],
                      [alert_test(expect, "SDAvailabilityBudgetBurn", 120, None)]))
    # Latency budget (90 % under 10 s): 5 of 6 requests slower; a 14.4x burn is impossible at
    # a 90 % objective, so the fast page pair stays quiet while 6x and 3x fire.
    slow = [t.requests(200, 60, 130), *t.buckets({10: 10, INF: 60}, 130), *t.warm(1, 130)]
    cases.append(Case("SDLatencyBudgetBurn fires", slow, [
        {"eval_time": "120m", "alertname": "SDLatencyBudgetBurn",
         "exp_alerts": [e for long in ("6h", "1d")
                        for e in expect.firing("SDLatencyBudgetBurn", SVC_LABELS,
                                               {"long": long})]}]))
    assert len(cases[-1].alerts[0]["exp_alerts"]) >= 2
    cases.append(Case("SDLatencyBudgetBurn stays quiet",
                      [t.requests(200, 60, 130), *t.buckets({10: 59, INF: 60}, 130),
                       *t.warm(1, 130)],
                      [alert_test(expect, "SDLatencyBudgetBurn", 120, None)]))
    # Cold-start budget (95 %): every request came through the activator at zero ready pods.
    cold = [t.requests(200, 30, 130), t.activator_requests(200, 30, 130),
            t.autoscaler("pods_desired", 1, 130), t.autoscaler("pods_actual", 0, 130)]
    warm = [t.requests(200, 30, 130), t.activator_requests(200, 30, 130), *t.warm(1, 130)]
    cases.append(Case("SDColdStartBudgetBurn fires", cold, [
        {"eval_time": "120m", "alertname": "SDColdStartBudgetBurn",
         "exp_alerts": [e for long in ("1h", "6h", "1d")
                        for e in expect.firing("SDColdStartBudgetBurn", SVC_LABELS,
                                               {"long": long})]}]))
    assert len(cases[-1].alerts[0]["exp_alerts"]) >= 2
    cases.append(Case("SDColdStartBudgetBurn stays quiet", warm,
                      [alert_test(expect, "SDColdStartBudgetBurn", 120, None)]))
    # P99 above the 5 s threshold that sd-fast's SLO override sets.
    both("SDLatencyP99AboveObjective", 30,
         [fast.requests(200, 60, 40), *fast.buckets({5: 30, INF: 60}, 40), *fast.warm(1, 40)],
         [fast.requests(200, 60, 40), *fast.buckets({5: 60, INF: 60}, 40), *fast.warm(1, 40)],
         {"namespace": NS, "service": OTHER})
    both("SDColdRequestsWaiting", 15,
         [t.activator_concurrency(2, 20), t.autoscaler("pods_desired", 1, 20),
          t.autoscaler("pods_actual", 0, 20)],
         [t.activator_concurrency(2, 20), *t.warm(1, 20)], rev)
    # Requested (after max-scale) above ready; a revision held at max-scale is not "not ready".
    both("SDPodsNotReady", 20,
         [t.autoscaler("pods_requested", 3, 30), t.autoscaler("pods_actual", 1, 30)],
         [t.autoscaler("pods_desired", 8, 30), t.autoscaler("pods_requested", 3, 30),
          t.autoscaler("pods_actual", 3, 30)], rev)
    # 503 overflow, every requested pod ready, the autoscaler wanting more than max-scale.
    both("SDMaxScaleSaturated", 20,
         [t.requests(503, 10, 30), t.requests(200, 60, 30), t.queue_depth(10, 30),
          t.autoscaler("pods_desired", 8, 30), t.autoscaler("pods_requested", 5, 30),
          t.autoscaler("pods_actual", 5, 30)],
         [t.requests(503, 10, 30), t.requests(200, 60, 30), t.queue_depth(10, 30),
          t.autoscaler("pods_desired", 8, 30), t.autoscaler("pods_requested", 6, 30),
          t.autoscaler("pods_actual", 5, 30)], rev)
    both("SDPanicModeStuck", 50,
         [t.autoscaler("panic_mode", 1, 60), *t.warm(1, 60)],
         [{**t.autoscaler("panic_mode", 1, 60), "values": "1x20 0x40"}, *t.warm(1, 60)], rev)
    both("SDIdleNotScaledToZero", 60,
         [t.requests(200, 0, 70), *t.warm(1, 70)],
         [t.requests(200, 1, 70), *t.warm(1, 70)], rev)
    both("SDRequestMetricsAbsent", 20,
         [t.autoscaler("pods_desired", 1, 30), t.autoscaler("pods_actual", 1, 30)],
         [*t.warm(1, 30)], rev)
    return cases


def recording_cases(dialect: str) -> list[Case]:
    t = Source(dialect)
    rev = canonical()

    def sample(name: str, value: float, **labels: str) -> dict:
        inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
        return {"labels": f"{name}{{{inner}}}", "value": value}

    def expr(text: str, at: int, *samples: dict) -> dict:
        return {"expr": text, "eval_time": f"{at}m", "exp_samples": list(samples)}

    cases = [
        Case("requests by code class", [t.requests(200, 60, 20), t.requests(500, 30, 20),
                                        t.requests(503, 6, 20)],
             exprs=[expr(f"{rec.REQUESTS}", 10,
                         sample(rec.REQUESTS, 1, **rev, code_class="2xx"),
                         sample(rec.REQUESTS, 0.6, **rev, code_class="5xx"))]),
        Case("latency buckets in seconds", t.buckets({10: 30, INF: 60}, 20),
             exprs=[expr(f'{rec.BUCKETS}{{le=~"10|\\\\+Inf|5"}}', 10,
                         sample(rec.BUCKETS, 0, **rev, le="5"),
                         sample(rec.BUCKETS, 0.5, **rev, le="10"),
                         sample(rec.BUCKETS, 1, **rev, le="+Inf"))]),
        Case("pods by state", [t.autoscaler("pods_desired", 3, 20),
                               t.autoscaler("pods_actual", 2, 20),
                               t.autoscaler("pods_pending", 1, 20)],
             exprs=[expr(f"{rec.PODS}", 10, sample(rec.PODS, 2, **rev, state="actual"),
                         sample(rec.PODS, 3, **rev, state="desired"),
                         sample(rec.PODS, 1, **rev, state="pending"))]),
        Case("activator's own 5xx", [t.activator_requests(503, 12, 20), t.requests(503, 6, 20),
                                     t.requests(200, 60, 20)],
             exprs=[expr(rec.ACTIVATOR_ERRORS, 10, sample(rec.ACTIVATOR_ERRORS, 0.1, **rev))]),
        Case("activator relaying queue-proxy's 5xx adds none",
             [t.activator_requests(503, 6, 20), t.requests(503, 6, 20)],
             exprs=[expr(rec.ACTIVATOR_ERRORS, 10, sample(rec.ACTIVATOR_ERRORS, 0, **rev))]),
        Case("cold requests", [t.activator_requests(200, 12, 20),
                               t.autoscaler("pods_actual", 0, 20)],
             exprs=[expr(rec.COLD_REQUESTS, 10, sample(rec.COLD_REQUESTS, 0.2, **rev))]),
        Case("no cold requests with a ready pod", [t.activator_requests(200, 12, 20),
                                                   t.autoscaler("pods_actual", 1, 20)],
             exprs=[expr(rec.COLD_REQUESTS, 10)]),
        Case("activator concurrency, queue depth, panic mode",
             [t.activator_concurrency(2, 20), t.queue_depth(3, 20),
              t.autoscaler("panic_mode", 1, 20)],
             exprs=[expr(rec.ACTIVATOR_CONCURRENCY, 10,
                         sample(rec.ACTIVATOR_CONCURRENCY, 2, **rev)),
                    expr(rec.QUEUE_DEPTH, 10, sample(rec.QUEUE_DEPTH, 3, **rev)),
                    expr(rec.PANIC_MODE, 10, sample(rec.PANIC_MODE, 1, **rev))]),
    ]
    fast = Source(dialect, OTHER)
    svc = dict(SVC_LABELS)
    other = {"namespace": NS, "service": OTHER}
    slo_series = [t.requests(200, 48, 130), t.requests(500, 16, 130), *t.warm(1, 130),
                  *t.buckets({10: 32, INF: 64}, 130), *fast.warm(1, 130)]
    cases.append(Case("SLO objectives, thresholds, ratios, burn rate and budget", slo_series,
                      exprs=[
        expr(f'{s.OBJECTIVE}{{slo="availability"}}', 10,
             sample(s.OBJECTIVE, 0.99, **svc, slo="availability", source="default"),
             sample(s.OBJECTIVE, 0.999, **other, slo="availability", source="annotation")),
        expr(s.THRESHOLD, 10, sample(s.THRESHOLD, 10, **svc, source="default"),
             sample(s.THRESHOLD, 5, **other, source="annotation")),
        expr(f'{s.ratio_record("5m")}{{service="{SVC}"}}', 60,
             sample(s.ratio_record("5m"), 0.25, **svc, slo="availability"),
             sample(s.ratio_record("5m"), 0.5, **svc, slo="latency"),
             sample(s.ratio_record("5m"), 0, **svc, slo="cold_start")),
        expr(f'{s.ratio_record("1d")}{{service="{SVC}", slo="availability"}}', 120,
             sample(s.ratio_record("1d"), 0.25, **svc, slo="availability")),
        expr(f'round({s.BURN_RATE}{{service="{SVC}", slo="availability"}}, 0.001)', 60,
             sample("", 25, **svc, slo="availability")),
        expr(f'round({s.BUDGET_REMAINING}{{service="{SVC}", slo="latency"}}, 0.001)', 125,
             sample("", -4, **svc, slo="latency")),
    ]))
    return cases


def gpu_cases(expect: Expect) -> list[Case]:
    ident = {**canonical(), "pod": "sd-test-00001-deployment-abc"}
    gpu = {**ident, "gpu": "0", "uuid": "GPU-1"}
    t = Source(DIALECT_NAMES[0])

    def g(name: str, values: str, **extra: str) -> dict:
        inner = ", ".join(f'{k}="{v}"' for k, v in {**gpu, **extra}.items())
        return {"series": f"{name}{{{inner}}}", "values": values}

    cases: list[Case] = []

    def both(name: str, at: int, fire: list, quiet: list, labels: dict | None) -> None:
        cases.append(Case(f"{name} fires", fire, [alert_test(expect, name, at, labels)]))
        cases.append(Case(f"{name} stays quiet", quiet, [alert_test(expect, name, at, None)]))

    both("SDGpuLost", 5, [g("sdobs_gpu_exporter_gpu_up", gauge(0, 10))],
         [g("sdobs_gpu_exporter_gpu_up", gauge(1, 10))], gpu)
    both("SDGpuExporterUnhealthy", 10, [g("sdobs_gpu_exporter_up", gauge(0, 20))],
         [g("sdobs_gpu_exporter_up", gauge(1, 20))], ident)
    both("SDGpuExporterAbsent", 60,
         [g("sdobs_gpu_memory_total_bytes", "1x30 _x40"), *t.warm(1, 70)],
         [g("sdobs_gpu_memory_total_bytes", gauge(1, 70)), *t.warm(1, 70)], canonical())
    both("SDGpuXidErrors", 15, [g("sdobs_gpu_xid_errors_total", "0x10 1x20")],
         [g("sdobs_gpu_xid_errors_total", gauge(0, 30))], gpu)
    both("SDGpuEccUncorrected", 15, [g("sdobs_gpu_ecc_uncorrected_errors_total", "0x10 2x20")],
         [g("sdobs_gpu_ecc_uncorrected_errors_total", counter(0, 30))], gpu)
    both("SDGpuThrottled", 20,
         [g("sdobs_gpu_throttle_reason_active", gauge(1, 30), reason="hw_thermal_slowdown")],
         [g("sdobs_gpu_throttle_reason_active", gauge(1, 30), reason="gpu_idle")],
         {**gpu, "reason": "hw_thermal_slowdown"})
    util = [g("sdobs_gpu_utilization_ratio", gauge(0.5, 20)),
            {**g("sdobs_gpu_utilization_ratio", gauge(0.25, 20), gpu="1", uuid="GPU-2")},
            g("sdobs_gpu_memory_total_bytes", gauge(1, 20)),
            g("sdobs_gpu_memory_total_bytes", gauge(1, 20), gpu="1", uuid="GPU-2")]
    rev = canonical()
    cases.append(Case("GPU busy, allocated, utilisation", util, exprs=[
        {"expr": rec.GPUS_BUSY, "eval_time": "10m",
         "exp_samples": [{"labels": _labels(rec.GPUS_BUSY, rev), "value": 0.75}]},
        {"expr": rec.GPUS_ALLOCATED, "eval_time": "10m",
         "exp_samples": [{"labels": _labels(rec.GPUS_ALLOCATED, rev), "value": 2}]},
        {"expr": rec.GPU_UTILIZATION, "eval_time": "10m",
         "exp_samples": [{"labels": _labels(rec.GPU_UTILIZATION, rev), "value": 0.375}]},
    ]))
    return cases


def _labels(name: str, labels: dict) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def run_cases(tmp_path: Path, target: str, cases: list[Case]) -> tuple[bool, str]:
    files = write_rules(tmp_path, target, slo_for_tests())
    test = {"rule_files": files, "evaluation_interval": "1m",
            "tests": [c.to_dict() for c in cases]}
    path = tmp_path / f"{target}.test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False, width=1 << 16))
    result = run_unit_tests([path], cwd=tmp_path)
    return result.ok, result.output


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_every_knative_alert_fires_and_stays_quiet(tmp_path, dialect):
    expect = Expect(dialect, slo_for_tests())
    cases = knative_cases(dialect, expect)
    tested = {t["alertname"] for c in cases for t in c.alerts}
    knative_alerts = {a for a in expect.alerts if not a.startswith("SDGpu")}
    assert tested == knative_alerts, f"alerts without a test: {knative_alerts - tested}"
    ok, output = run_cases(tmp_path, dialect, cases)
    assert ok, output


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_every_recording_rule_records_its_value(tmp_path, dialect):
    ok, output = run_cases(tmp_path, dialect, recording_cases(dialect))
    assert ok, output


def test_every_gpu_alert_and_record(tmp_path):
    expect = Expect("gpu", slo_for_tests())
    cases = gpu_cases(expect)
    tested = {t["alertname"] for c in cases for t in c.alerts}
    assert tested == {a for a in expect.alerts if a.startswith("SDGpu")}
    ok, output = run_cases(tmp_path, "gpu", cases)
    assert ok, output


def test_a_wrong_expectation_fails(tmp_path):
    """The harness can fail: a quiet case expected to fire is reported by promtool."""
    expect = Expect("opentelemetry", slo_for_tests())
    t = Source("opentelemetry")
    case = Case("must fail", [*t.warm(3, 30)],
                [alert_test(expect, "SDPodsNotReady", 20, canonical())])
    ok, output = run_cases(tmp_path, "opentelemetry", [case])
    assert not ok and "SDPodsNotReady" in output


def test_generated_files_pass_promtool_check():
    paths = sorted(GENERATED.glob("*/*.rules.yaml"))
    assert {p.parent.name for p in paths} == {*DIALECT_NAMES, "gpu"}
    result = check_rules(paths)
    assert result.ok, result.output
