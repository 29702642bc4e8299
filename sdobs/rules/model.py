"""Typed rules: a recording rule, an alerting rule, a group, and their Prometheus YAML form.

The YAML is the rule-file format Prometheus, the Prometheus Operator's ``PrometheusRule`` and
vmalert all read (``groups: [{name, interval, rules: [{record|alert, expr, for, labels,
annotations}]}]``), using no field that one of them lacks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sdobs.errors import InputError

_RECORD = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_ALERT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
SEVERITIES = ("critical", "warning", "info")
#: Every sdobs alert carries this label, so consumers (the app) can tell sdobs' alerts apart.
SDOBS_LABEL = ("sdobs", "true")


def _labels(labels: Mapping[str, str], what: str) -> dict[str, str]:
    out = {}
    for key, value in labels.items():
        if not _LABEL.match(key) or key.startswith("__"):
            raise InputError(f"{what}: {key!r} is not a valid label name")
        out[key] = str(value)
    return out


@dataclass(frozen=True)
class Record:
    """A recording rule: ``record`` named ``level:metric:operations``."""

    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _RECORD.match(self.record) or self.record.count(":") != 2:
            raise InputError(f"recording rule name {self.record!r} must be level:metric:operations")
        object.__setattr__(self, "labels", _labels(self.labels, self.record))

    @property
    def name(self) -> str:
        return self.record

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record, "expr": self.expr}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True)
class Alert:
    """An alerting rule with the annotations every sdobs alert has.

    ``summary`` and ``description`` may use ``{{ $labels.<name> }}``; ``runbook`` is the anchor
    of the alert's section in ``docs/runbooks.md`` (default: the alert name in lower case).
    """

    alert: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    labels: Mapping[str, str] = field(default_factory=dict)
    runbook: str = ""

    def __post_init__(self) -> None:
        if not _ALERT.match(self.alert):
            raise InputError(f"alert name {self.alert!r} must be an identifier")
        if not _DURATION.match(self.for_):
            raise InputError(f"{self.alert}: for {self.for_!r} is not a duration such as 5m")
        if self.severity not in SEVERITIES:
            raise InputError(f"{self.alert}: severity {self.severity!r} must be one of "
                             f"{', '.join(SEVERITIES)}")
        if not self.summary or not self.description:
            raise InputError(f"{self.alert}: summary and description are required")
        object.__setattr__(self, "labels", _labels(self.labels, self.alert))
        if not self.runbook:
            object.__setattr__(self, "runbook", self.alert.lower())

    @property
    def name(self) -> str:
        return self.alert

    def all_labels(self) -> dict[str, str]:
        return {"severity": self.severity, SDOBS_LABEL[0]: SDOBS_LABEL[1], **self.labels}

    def annotations(self, runbook_base: str) -> dict[str, str]:
        return {"summary": self.summary, "description": self.description,
                "runbook_url": f"{runbook_base}#{self.runbook}"}

    def to_dict(self, runbook_base: str) -> dict[str, Any]:
        return {"alert": self.alert, "expr": self.expr, "for": self.for_,
                "labels": self.all_labels(), "annotations": self.annotations(runbook_base)}


Rule = Record | Alert


@dataclass(frozen=True)
class Group:
    """A rule group, evaluated in order every ``interval`` (the global interval when empty).

    Rules that read what another rule records belong in a later group: vmalert writes recorded
    samples asynchronously, so chaining inside one group is unreliable there.
    """

    name: str
    rules: Sequence[Rule]
    interval: str = ""

    def __post_init__(self) -> None:
        if self.interval and not _DURATION.match(self.interval):
            raise InputError(f"group {self.name}: interval {self.interval!r} is not a duration")
        object.__setattr__(self, "rules", tuple(self.rules))
        if not self.rules:
            raise InputError(f"group {self.name} has no rules")

    def to_dict(self, runbook_base: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.interval:
            out["interval"] = self.interval
        out["rules"] = [r.to_dict(runbook_base) if isinstance(r, Alert) else r.to_dict()
                        for r in self.rules]
        return out
