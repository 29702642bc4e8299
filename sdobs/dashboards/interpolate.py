"""Replace Grafana's variables in a dashboard's PromQL the way Grafana's Prometheus source does.

Used to run a generated dashboard's every target against a real Prometheus (the tests, and
``sdobs dashboards check --prometheus``). Multi-value and "All" variables become an escaped
regex alternation ``(a|b)`` (or the variable's ``allValue``), single values are escaped for a
string literal, and ``$__rate_interval``, ``$__interval``, ``$__range`` and ``$__range_s``
take the windows given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sdobs.errors import InputError

_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_REGEX_SPECIAL = set(r"\.+*?()|[]{}^$")


@dataclass(frozen=True)
class Windows:
    """Values for Grafana's built-in interval variables."""

    rate_interval: str = "1m"
    interval: str = "15s"
    range: str = "15m"
    range_seconds: int = 900

    def builtins(self) -> dict[str, str]:
        return {"__rate_interval": self.rate_interval, "__interval": self.interval,
                "__range": self.range, "__range_s": str(self.range_seconds)}


def _regex_escape(value: str) -> str:
    # Grafana's prometheusSpecialRegexEscape: regex specials, then string-literal escaping.
    escaped = "".join("\\" + c if c in _REGEX_SPECIAL else c for c in value)
    return escaped.replace("\\", "\\\\").replace('"', '\\"')


def _string_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\\\'").replace('"', '\\"')


def interpolate(expr: str, templating: Sequence[Mapping[str, Any]],
                values: Mapping[str, str | Sequence[str]],
                windows: Windows = Windows()) -> str:
    """``expr`` with every ``$var``/``${var}`` replaced; unknown names raise KeyError.

    ``values`` maps a variable to its selected value(s); a missing one means "All".
    """
    variables = {v["name"]: v for v in templating}
    builtins = windows.builtins()

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.isdigit():  # label_replace's $1 / ${1}: Grafana leaves unknown names alone
            return match.group(0)
        if name in builtins:
            return builtins[name]
        if name not in variables:
            raise KeyError(f"variable ${name} is neither a dashboard variable nor a builtin")
        var = variables[name]
        value = values.get(name, "$__all")
        picked = [value] if isinstance(value, str) else list(value)
        if picked == ["$__all"]:
            if var.get("allValue"):
                return str(var["allValue"])
            raise KeyError(f"variable ${name} is All but has no allValue; give its values")
        if var.get("multi") or var.get("includeAll"):
            parts = [_regex_escape(p) for p in picked]
            return parts[0] if len(parts) == 1 else "(" + "|".join(parts) + ")"
        if len(picked) != 1:
            raise InputError(f"variable ${name} takes one value, got {picked}")
        return _string_escape(picked[0])

    return _VAR.sub(one, expr)
