"""promtool unit tests for every sdobs alert and recording rule, written per Knative dialect.

Input series are spelled as each dialect's real source exposes them (names, label keys, units,
``le`` in milliseconds for OpenCensus), so a rule that reads a wrong name or label in one dialect
fails its case there. Each alert has a case where it fires and one where it must stay quiet;
each recording rule has a case checking its value and canonical labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sdobs.knative.dialects import Dialect, get_dialect
from sdobs.rules.generate import rule_groups
from sdobs.rules.model import Alert
from sdobs.rules.slofile import SloConfig

NS, SVC, REV = "default", "sd-test", "sd-test-00001"
OTHER = "sd-fast"  # a service whose SLO overrides the defaults (latency threshold 5 s)
OVERRIDE_THRESHOLD = 5.0
RUNBOOK_BASE = "https://example.org/runbooks.md"


@dataclass
class Case:
    name: str
    series: list[dict[str, str]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    exprs: list[dict[str, Any]] = field(default_factory=list)
    minutes: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "interval": "1m",
                               "input_series": self.series}
        if self.alerts:
            out["alert_rule_test"] = self.alerts
        if self.exprs:
            out["promql_expr_test"] = self.exprs
        return out


def _sel(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def counter(per_min: float, minutes: int, start: float = 0) -> str:
    return f"{start:g}+{per_min:g}x{minutes}"


def gauge(value: float, minutes: int) -> str:
    return f"{value:g}x{minutes}"


class Source:
    """Raw series of one dialect for one revision."""

    def __init__(self, dialect: Dialect | str, service: str = SVC, revision: str | None = None):
        self.d = get_dialect(dialect)
        self.service = service
        self.revision = revision or f"{service}-00001"

    def ident(self) -> dict[str, str]:
        lm = self.d.labels
        return {lm.namespace: NS, lm.service: self.service, lm.configuration: self.service,
                lm.revision: self.revision}

    def qp(self) -> dict[str, str]:
        return {**self.ident(), self.d.labels.pod: f"{self.revision}-deployment-abc"}

    def _code(self, code: int) -> dict[str, str]:
        out = {self.d.code_label: str(code)}
        if self.d.code_class_label:
            out[self.d.code_class_label] = f"{code // 100}xx"
        return out

    def requests(self, code: int, per_min: float, minutes: int) -> dict[str, str]:
        return {"series": _sel(self.d.request_count, {**self.qp(), **self._code(code)}),
                "values": counter(per_min, minutes)}

    def buckets(self, per_min_by_le_s: Mapping[float, float], minutes: int) -> list[dict]:
        """Cumulative bucket counters: {upper bound in seconds: requests per minute at or under
        it}; every other bound of the dialect gets the count of the next lower given bound."""
        fam = self.d.requests
        out = []
        for bound in (*fam.bounds, float("inf")):
            seconds = bound * fam.scale_to_base
            rate = max([v for b, v in per_min_by_le_s.items() if b <= seconds] or [0])
            le = "+Inf" if bound == float("inf") else (
                str(int(bound)) if bound == int(bound) else repr(float(bound)))
            out.append({"series": _sel(fam.bucket, {**self.qp(), **self._code(200), "le": le}),
                        "values": counter(rate, minutes)})
        return out

    def autoscaler(self, signal: str, value: float, minutes: int) -> dict[str, str]:
        return {"series": _sel(self.d.autoscaler[signal].name, self.ident()),
                "values": gauge(value, minutes)}

    def queue_depth(self, value: float, minutes: int) -> dict[str, str]:
        return {"series": _sel(self.d.queue_depth.name, self.qp()), "values": gauge(value, minutes)}

    def activator_concurrency(self, value: float, minutes: int) -> dict[str, str]:
        return {"series": _sel(self.d.activator_concurrency.name, self.ident()),
                "values": gauge(value, minutes)}

    def activator_requests(self, code: int, per_min: float, minutes: int) -> dict[str, str]:
        name = (self.d.activator_counters[0].name if self.d.activator_counters
                else self.d.activator_requests.count)
        return {"series": _sel(name, {**self.ident(), **self._code(code)}),
                "values": counter(per_min, minutes)}

    def warm(self, pods: int, minutes: int) -> list[dict[str, str]]:
        return [self.autoscaler("pods_desired", pods, minutes),
                self.autoscaler("pods_requested", pods, minutes),
                self.autoscaler("pods_actual", pods, minutes), self.queue_depth(0, minutes)]


def canonical(service: str = SVC, revision: str | None = None) -> dict[str, str]:
    return {"namespace": NS, "service": service, "configuration": service,
            "revision": revision or f"{service}-00001"}


def slo_for_tests() -> SloConfig:
    return SloConfig(overrides={(NS, OTHER): {"latency_threshold": OVERRIDE_THRESHOLD,
                                              "availability": 0.999}})


def _expand(text: str, labels: Mapping[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)


class Expect:
    """Expected alerts, with annotations expanded as Prometheus expands them."""

    def __init__(self, target: str, slo: SloConfig):
        groups = [g for gs in rule_groups(target, slo).values() for g in gs]
        if target != "gpu":
            groups += [g for gs in rule_groups("gpu", slo).values() for g in gs]
        self.alerts: dict[str, list[Alert]] = {}
        for g in groups:
            for r in g.rules:
                if isinstance(r, Alert):
                    self.alerts.setdefault(r.alert, []).append(r)

    def firing(self, name: str, labels: Mapping[str, str],
               match: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Expected entries of ``name``'s rules whose own labels include ``match``."""
        out = []
        for rule in self.alerts[name]:
            if match and any(rule.labels.get(k) != v for k, v in match.items()):
                continue
            full = {**rule.all_labels(), **labels}
            ann = rule.annotations(RUNBOOK_BASE)
            out.append({"exp_labels": full,
                        "exp_annotations": {k: _expand(v, full) for k, v in ann.items()}})
        return out
