"""Safe PromQL building blocks: label values are data, never code (docs/architecture.md #3).

Every user-supplied value reaches PromQL only through :func:`quote` (a string literal) or
:func:`regex_literal` (a regex matching exactly that value), so ``a"}or vector(1)#`` or ``svc.*``
select nothing instead of changing the query. Grafana template variables are the one exception
and are spelled :class:`Var`, whose names are validated identifiers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sdobs.errors import InputError

_RE2_SPECIAL = set(r"\.+*?()|[]{}^$")
# Used with fullmatch: '$' alone would accept a trailing newline ("5m\n", "namespace\n").
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")
_GRAFANA_WINDOWS = ("$__rate_interval", "$__interval", "$__range")


@dataclass(frozen=True)
class Var:
    """A Grafana template variable, rendered verbatim (``$name``) into a matcher.

    ``multi`` marks a multi-value (or "All") variable: Grafana expands it to a regex such as
    ``(a|b)``, so an equality matcher on it becomes ``=~``.
    """

    name: str
    multi: bool = False

    def __post_init__(self) -> None:
        if not _IDENT.fullmatch(self.name):
            raise InputError(f"Grafana variable name {self.name!r} must be an identifier")

    def __str__(self) -> str:
        return f"${self.name}"


def quote(value: str) -> str:
    """A PromQL double-quoted string literal holding exactly ``value``.

    Prometheus label values are UTF-8, so text that cannot be (a lone surrogate, as Python
    makes of undecodable bytes in argv) is refused here with a sentence, not at send time.
    """
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"{value[:40]!r} is not valid UTF-8 text, so no label can hold "
                             "it") from None
    out = ['"']
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def regex_literal(value: str) -> str:
    """An RE2 pattern that matches exactly ``value`` (Prometheus anchors matchers itself)."""
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in value)


def check_label_name(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise InputError(f"{name!r} is not a valid Prometheus label name")
    return name


def check_window(window: str | Var) -> str:
    """A range-vector window: a Prometheus duration or one of Grafana's interval variables."""
    text = str(window)
    if isinstance(window, Var) or text in _GRAFANA_WINDOWS or _DURATION.fullmatch(text):
        return text
    raise InputError(
        f"window {text!r} is not a Prometheus duration such as 5m or 1h30m "
        f"(or one of {', '.join(_GRAFANA_WINDOWS)})"
    )


@dataclass(frozen=True)
class Matcher:
    """One label matcher; ``value`` is raw text already made safe by the constructors below."""

    label: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value}"


def equals(label: str, value: str | Var) -> Matcher:
    if isinstance(value, Var):
        return Matcher(check_label_name(label), "=~" if value.multi else "=", f'"{value}"')
    return Matcher(check_label_name(label), "=", quote(value))


def one_of(label: str, values: Sequence[str] | Var) -> Matcher:
    """``label`` equal to any of ``values``: ``=`` for one value, an escaped ``=~`` otherwise."""
    if isinstance(values, Var):
        return Matcher(check_label_name(label), "=~", f'"{values}"')
    values = list(dict.fromkeys(values))
    if not values:
        raise InputError(f"no values given for label {label!r}")
    if len(values) == 1:
        return equals(label, values[0])
    return Matcher(check_label_name(label), "=~",
                   quote("|".join(regex_literal(v) for v in values)))


def raw(label: str, op: str, pattern: str) -> Matcher:
    """A matcher with a pattern written by sdobs itself (never user input)."""
    if op not in ("=", "!=", "=~", "!~"):
        raise InputError(f"unknown matcher operator {op!r}")
    return Matcher(check_label_name(label), op, quote(pattern))


def selector(metric: str, matchers: Iterable[Matcher]) -> str:
    """``metric{m1, m2}`` (or just ``metric`` without matchers)."""
    ms = ", ".join(str(m) for m in matchers)
    return f"{metric}{{{ms}}}" if ms else metric


def by(labels: Sequence[str]) -> str:
    return f" by ({', '.join(check_label_name(x) for x in labels)})" if labels else ""


def copy_label(expr: str, dst: str, src: str, *, replacement: str = "$1",
               pattern: str = "(.*)") -> str:
    """``label_replace`` that copies ``src`` (or a pattern of it) into ``dst``."""
    return (f"label_replace({expr}, {quote(check_label_name(dst))}, {quote(replacement)}, "
            f"{quote(check_label_name(src))}, {quote(pattern)})")
