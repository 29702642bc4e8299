"""Find the requests that found the service scaled to zero, which Knative itself never measures.

A request is a cold-start candidate when it was sent after the service had been idle (the start
of the run, or a gap with nothing in flight of at least ``idle_gap_s``, Knative's 60 s stable
window after which it may scale to zero) and before the first good response after that gap. A
candidate counts as a cold start when its time to first byte is far above the steady state
(the median of all other good requests): above ``factor`` times it and ``min_extra_s`` more.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from sdobs.loadtest import errors
from sdobs.loadtest.records import RequestRecord

DEFAULT_IDLE_GAP_S = 60.0


@dataclass(frozen=True)
class ColdStartPolicy:
    """Thresholds of cold-start detection."""

    idle_gap_s: float = DEFAULT_IDLE_GAP_S
    factor: float = 3.0
    min_extra_s: float = 1.0


@dataclass
class IdlePeriodEnd:
    """One moment the service may have been at zero, and how long until it answered."""

    at: float
    candidates: int
    cold_starts: int
    time_to_first_response: float | None


@dataclass
class ColdStartReport:
    """Cold starts found in a run; ``extra_s`` estimates what one cost over the steady state."""

    count: int = 0
    seqs: list[int] = field(default_factory=list)
    candidates: int = 0
    steady_ttfb_p50: float | None = None
    threshold_s: float | None = None
    ttfb_max: float | None = None
    extra_s: float | None = None
    periods: list[IdlePeriodEnd] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The report as plain JSON-ready values."""
        return {
            "count": self.count,
            "requests": self.seqs,
            "candidates": self.candidates,
            "steady_ttfb_p50_s": self.steady_ttfb_p50,
            "threshold_s": self.threshold_s,
            "ttfb_max_s": self.ttfb_max,
            "extra_s": self.extra_s,
            "idle_periods": [
                {
                    "at_s": p.at,
                    "candidates": p.candidates,
                    "cold_starts": p.cold_starts,
                    "time_to_first_response_s": p.time_to_first_response,
                }
                for p in self.periods
            ],
        }


def _wait(rec: RequestRecord) -> float:
    return rec.ttfb if rec.ttfb is not None else rec.end - rec.start


def detect(
    records: Sequence[RequestRecord], policy: ColdStartPolicy | None = None
) -> ColdStartReport:
    """Mark ``cold_start`` on the records that found the service at zero and report them."""
    policy = policy or ColdStartPolicy()
    done = sorted((r for r in records if r.error != errors.CANCELLED), key=lambda r: r.start)
    for rec in done:
        rec.cold_start = False
    # Idle moments (the first request, then any start after a quiet gap) and their candidates.
    groups: list[tuple[float, list[RequestRecord], float | None]] = []
    busy_until = float("-inf")
    i = 0
    while i < len(done):
        rec = done[i]
        if groups and rec.start - busy_until < policy.idle_gap_s:
            busy_until = max(busy_until, rec.end)
            i += 1
            continue
        first_ok = min(
            (r.first_byte for r in done[i:] if r.ok and r.first_byte is not None), default=None
        )
        members: list[RequestRecord] = []
        while i < len(done) and (first_ok is None or done[i].start < first_ok):
            members.append(done[i])
            busy_until = max(busy_until, done[i].end)
            i += 1
        groups.append((rec.start, members, None if first_ok is None else first_ok - rec.start))
    candidate_ids = {id(r) for _, members, _ in groups for r in members}
    steady = [_wait(r) for r in done if r.ok and id(r) not in candidate_ids]
    report = ColdStartReport(candidates=len(candidate_ids))
    if steady:
        p50 = statistics.median(steady)
        report.steady_ttfb_p50 = p50
        report.threshold_s = max(policy.factor * p50, p50 + policy.min_extra_s)
    for at, members, ttfr in groups:
        cold = [
            r for r in members if report.threshold_s is not None and _wait(r) > report.threshold_s
        ]
        for r in cold:
            r.cold_start = True
        report.periods.append(IdlePeriodEnd(at, len(members), len(cold), ttfr))
    cold_all = [r for r in done if r.cold_start]
    report.count = len(cold_all)
    report.seqs = sorted(r.seq for r in cold_all)
    if cold_all:
        report.ttfb_max = max(_wait(r) for r in cold_all)
        if report.steady_ttfb_p50 is not None:
            report.extra_s = statistics.fmean(_wait(r) for r in cold_all) - report.steady_ttfb_p50
    return report
