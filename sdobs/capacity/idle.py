"""Services kept warm without a request: nothing to size or replay, but their pods are billed.

A service with ``min-scale`` ≥ 1 that no one called in the range holds its pods all the same;
leaving it out of a fleet report would leave out its cost. Its deployed cost is what the
autoscaler's pod counts say was allocated (the same figure as the "observed" row of a sized
service); there are no requests to size it from, so its recommendation is its own min-scale,
said in words: whether it may scale to zero (a cold start for the next caller) is a decision
the history cannot make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdobs.capacity.cost import PriceTable
from sdobs.capacity.history import ServiceHistory
from sdobs.capacity.report import observed_row
from sdobs.sim.manifest import RevisionSpec, ServiceSpec


@dataclass(frozen=True)
class WarmIdle:
    """One service with no request in the range and pods kept up by its min-scale."""

    history: ServiceHistory
    revision: RevisionSpec  # the routed revision with the highest min-scale
    min_scale: int
    observed: dict[str, Any]  # :func:`~sdobs.capacity.report.observed_row`: billed pods, cost

    @property
    def recommendation(self) -> str:
        return f"keep min-scale {self.min_scale} (no requests: not sized)"

    @property
    def note(self) -> str:
        h = self.history
        return (f"{h.namespace}/{h.service} had no requests in the range but min-scale "
                f"{self.min_scale} kept {self.observed['mean_pods']:.2g} pods on average; its "
                "cost is counted as deployed and as recommended (nothing to size it from; "
                "min-scale 0 would save it at the price of a cold start for the next caller)")


def warm_idle(history: ServiceHistory, svc: ServiceSpec, prices: PriceTable) -> WarmIdle | None:
    """``history`` as a :class:`WarmIdle` when it had no request and a routed revision of
    ``svc`` has min-scale ≥ 1; else None (a service that can be sized, or one at zero)."""
    if history.requests() > 0:
        return None
    routed = {t.revision for t in svc.traffic if t.percent > 0}
    revisions = [r for r in svc.revisions if r.name in routed] or list(svc.revisions)
    if not revisions:
        return None
    rev = max(revisions, key=lambda r: r.kpa.min_scale)
    if rev.kpa.min_scale < 1:
        return None
    return WarmIdle(history, rev, rev.kpa.min_scale, observed_row(history, rev, prices))
