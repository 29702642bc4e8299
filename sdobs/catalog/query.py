"""The catalog's vocabulary: what a query covers (:class:`Selection`), what it returns
(:class:`Query`), the units results come in, and which labels a result may be grouped by.

Its own module so that the signal mixins (``gpu``, ``sd``, ``capacity``, ...) import it at the
top and type their methods, while :mod:`sdobs.catalog.catalog` imports the mixins to build
:class:`~sdobs.catalog.catalog.Catalog` (which re-exports these names for importers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sdobs.catalog import promql
from sdobs.catalog.honest import QuantileReading, read_quantile
from sdobs.catalog.promql import Matcher, Var
from sdobs.errors import InputError
from sdobs.knative.dialects import CANONICAL_LABELS, CODE_CLASS, Dialect

QUANTILES = (0.5, 0.9, 0.95, 0.99)
#: Labels a Knative request signal can be grouped by (dialect labels are copied onto these).
GROUPABLE = (*CANONICAL_LABELS, CODE_CLASS)

# Grafana unit ids double as sdobs' unit names: one vocabulary for the app and the dashboards.
UNIT_RPS = "reqps"
UNIT_RATIO = "percentunit"
UNIT_SECONDS = "s"
UNIT_COUNT = "short"
UNIT_BYTES = "bytes"
UNIT_WATTS = "watt"
UNIT_CELSIUS = "celsius"
UNIT_HERTZ = "hertz"


def check_by(by: Sequence[str], allowed: Sequence[str], what: str = "") -> tuple[str, ...]:
    """``by`` as a tuple, or a one-sentence error naming the labels ``what`` can be grouped by.

    One check for every signal family: each passes the labels its series carry.
    """
    for label in by:
        if label not in allowed:
            subject = f"{what} " if what else ""
            raise InputError(f"cannot group {subject}by {label!r}; "
                             f"use some of: {', '.join(allowed)}")
    return tuple(by)


@dataclass(frozen=True)
class Selection:
    """Which requests a query covers: one namespace/service, some revisions, a rate window.

    ``None`` means "any". Values are data: they are escaped into the query, never spliced.
    A :class:`Var` stands for a Grafana template variable.
    """

    namespace: str | Var | None = None
    service: str | Var | None = None
    configuration: str | Var | None = None
    revisions: tuple[str, ...] | Var | None = None
    window: str | Var = "1m"

    def __post_init__(self) -> None:
        promql.check_window(self.window)
        if isinstance(self.revisions, str):
            object.__setattr__(self, "revisions", (self.revisions,))
        elif isinstance(self.revisions, Sequence):
            object.__setattr__(self, "revisions", tuple(self.revisions))
        for name in ("namespace", "service", "configuration"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, Var)):
                raise TypeError(f"Selection.{name} must be a string, got {type(value).__name__}")

    def matchers(self, dialect: Dialect) -> list[Matcher]:
        """Matchers on ``dialect``'s label names (Knative's own series)."""
        labels = dialect.labels
        out = []
        for canonical in ("namespace", "service", "configuration"):
            value = getattr(self, canonical)
            if value is not None:
                out.append(promql.equals(labels.key(canonical), value))
        if self.revisions is not None:
            out.append(promql.one_of(labels.revision, self.revisions))
        return out

    def canonical_matchers(self) -> list[Matcher]:
        """Matchers on the canonical label names, for series that carry them themselves: the
        sdobs GPU and SD exporters' and the recording rules' (whatever the Knative dialect)."""
        out = []
        for label in ("namespace", "service", "configuration"):
            value = getattr(self, label)
            if value is not None:
                out.append(promql.equals(label, value))
        if self.revisions is not None:
            out.append(promql.one_of("revision", self.revisions))
        return out


@dataclass(frozen=True)
class Query:
    """One PromQL expression and what its result means."""

    signal: str
    expr: str
    unit: str
    by: tuple[str, ...] = ()
    description: str = ""
    #: a histogram quantile's finite bucket bounds in seconds (see ``sdobs.catalog.honest``)
    bounds: tuple[float, ...] = ()

    def reading(self, value: float | None) -> QuantileReading:
        """An honest reading of one value of this query ("> 10 s", "20–50 s", "12.3 s")."""
        return read_quantile(value, self.bounds)

    @property
    def legend(self) -> str:
        """A Grafana legend format naming the grouping labels."""
        return " ".join("{{" + label + "}}" for label in self.by)

    def __str__(self) -> str:
        return self.expr
