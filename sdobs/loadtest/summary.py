"""The end-of-run report in the shape of vegeta's JSON report, with exact percentiles, and a table.

Keys follow ``vegeta report -type=json`` (``requests, rate, throughput, success, latencies{total,
mean, 50th, 90th, 95th, 99th, max, min}, bytes_in, bytes_out, earliest, latest, end, duration,
wait, status_codes, errors``) and so do their units: vegeta's ``lib/metrics.go`` types every
duration as Go's ``time.Duration``, which JSON writes as integer nanoseconds, so ``latencies``,
``duration`` and ``wait`` are integer nanoseconds here too, and a tool that reads vegeta's JSON
reads ours right. sdobs' own distributions (``success_latencies``, ``time_to_first_byte``, ...)
have the same shape and unit; sdobs' other durations are seconds and their keys end in ``_s``.
The text table and the in-memory :class:`Summary` stay in seconds. Percentiles are exact,
computed like numpy's default (linear) method on every recorded value, never from buckets.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sdobs.loadtest import errors
from sdobs.loadtest.coldstart import ColdStartReport
from sdobs.loadtest.records import RequestRecord

PERCENTILES = (50, 90, 95, 99)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The p-th percentile of sorted values, bit for bit what ``numpy.percentile`` returns."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no values")
    virtual = (n - 1) * (p / 100)
    if virtual >= n - 1:
        return sorted_values[-1]
    if virtual <= 0:
        return sorted_values[0]
    lo = math.floor(virtual)
    gamma = virtual - lo
    a, b = sorted_values[lo], sorted_values[lo + 1]
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


@dataclass(frozen=True)
class Distribution:
    """Exact statistics of one measured quantity, in seconds."""

    count: int
    total: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    min: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution | None:
        """Statistics of the values, or None when there are none."""
        xs = sorted(values)
        if not xs:
            return None
        total = math.fsum(xs)
        return cls(
            count=len(xs),
            total=total,
            mean=total / len(xs),
            p50=percentile(xs, 50),
            p90=percentile(xs, 90),
            p95=percentile(xs, 95),
            p99=percentile(xs, 99),
            max=xs[-1],
            min=xs[0],
        )

    def to_dict(self) -> dict[str, float | int]:
        """Vegeta's ``latencies`` keys in seconds, plus ``count``."""
        return {
            "count": self.count,
            "total": self.total,
            "mean": self.mean,
            "50th": self.p50,
            "90th": self.p90,
            "95th": self.p95,
            "99th": self.p99,
            "max": self.max,
            "min": self.min,
        }

    def to_vegeta(self) -> dict[str, int]:
        """Vegeta's ``latencies`` object: its keys in integer nanoseconds, plus ``count``."""
        return {k: v if k == "count" else nanoseconds(v) for k, v in self.to_dict().items()}


@dataclass
class Summary:
    """What a run measured, as a caller or the Dash page reads it."""

    target: str
    host_header: str
    mode: str
    settings: dict[str, Any]
    started_at: float
    stop_reason: str
    requests: int
    success: float
    rate: float
    throughput: float
    duration: float
    wait: float
    earliest: float | None
    latest: float | None
    end: float | None
    latencies: Distribution | None
    success_latencies: Distribution | None
    warm_latencies: Distribution | None
    scheduling_lag: Distribution | None
    time_to_first_byte: Distribution | None
    process_time: Distribution | None
    outside_process_time: Distribution | None
    bytes_in_total: int
    bytes_out_total: int
    images: int
    status_codes: dict[str, int]
    error_kinds: dict[str, int]
    errors: list[str]
    cancelled: int
    max_in_flight: int
    cold_start: ColdStartReport = field(default_factory=ColdStartReport)

    @property
    def successes(self) -> int:
        """How many requests succeeded."""
        return round(self.success * self.requests)

    def to_dict(self) -> dict[str, Any]:
        """The vegeta-shaped JSON report (vegeta's durations in its integer nanoseconds)."""

        def dist(d: Distribution | None) -> dict[str, int] | None:
            return None if d is None else d.to_vegeta()

        n = self.requests
        return {
            "target": self.target,
            "host": self.host_header,
            "mode": self.mode,
            "settings": {f"{k}_s" if k in _SECONDS_SETTINGS else k: v
                         for k, v in self.settings.items()},
            "time_unit": "nanoseconds",
            "stop_reason": self.stop_reason,
            "latencies": dist(self.latencies) or _EMPTY_LATENCIES,
            "bytes_in": {
                "total": self.bytes_in_total,
                "mean": self.bytes_in_total / n if n else 0.0,
            },
            "bytes_out": {
                "total": self.bytes_out_total,
                "mean": self.bytes_out_total / n if n else 0.0,
            },
            "earliest": _iso(self.started_at, self.earliest),
            "latest": _iso(self.started_at, self.latest),
            "end": _iso(self.started_at, self.end),
            "duration": nanoseconds(self.duration),
            "wait": nanoseconds(self.wait),
            "requests": n,
            "rate": self.rate,
            "throughput": self.throughput,
            "success": self.success,
            "status_codes": self.status_codes,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "cancelled": self.cancelled,
            "images": self.images,
            "max_in_flight": self.max_in_flight,
            "success_latencies": dist(self.success_latencies),
            "warm_latencies": dist(self.warm_latencies),
            "scheduling_lag": dist(self.scheduling_lag),
            "time_to_first_byte": dist(self.time_to_first_byte),
            "server_process_time": dist(self.process_time),
            "outside_process_time": dist(self.outside_process_time),
            "cold_start": self.cold_start.to_dict(),
        }

    def table(self) -> str:
        """The summary as a readable text table, like ``vegeta report``."""
        rows: list[tuple[str, str, str]] = []
        target = self.target + (f" (Host: {self.host_header})" if self.host_header else "")
        rows.append(("Target", "", target))
        rows.append(("Mode", "", _mode_text(self.mode, self.settings)))
        rows.append(
            (
                "Requests",
                "[total, rate, throughput]",
                f"{self.requests}, {self.rate:.2f}/s, {self.throughput:.2f}/s",
            )
        )
        rows.append(
            (
                "Duration",
                "[total, attack, wait]",
                ", ".join(
                    fmt_seconds(x) for x in (self.duration + self.wait, self.duration, self.wait)
                ),
            )
        )
        for label, d in (
            ("Latencies", self.latencies),
            ("  successes", self.success_latencies),
            ("  warm successes", self.warm_latencies if self.cold_start.count else None),
            ("Time to first byte", self.time_to_first_byte),
            ("Scheduling lag", self.scheduling_lag if self.mode == "open" else None),
            ("Server X-Process-Time", self.process_time),
            ("Outside the process", self.outside_process_time),
        ):
            if d is not None:
                rows.append((label, "[min, mean, 50, 90, 95, 99, max]", _dist_text(d)))
        n = self.requests
        rows.append(
            (
                "Bytes In",
                "[total, mean]",
                f"{self.bytes_in_total}, {self.bytes_in_total / n if n else 0:.2f}",
            )
        )
        rows.append(
            (
                "Bytes Out",
                "[total, mean]",
                f"{self.bytes_out_total}, {self.bytes_out_total / n if n else 0:.2f}",
            )
        )
        rows.append(("Success", "[ratio]", f"{self.success * 100:.2f}%"))
        rows.append(("Images", "[total]", str(self.images)))
        codes = " ".join(f"{k}:{v}" for k, v in sorted(self.status_codes.items()))
        rows.append(("Status Codes", "[code:count]", codes or "-"))
        kinds = " ".join(f"{k}:{v}" for k, v in sorted(self.error_kinds.items()))
        rows.append(("Errors", "[kind:count]", kinds or "-"))
        if self.cancelled:
            rows.append(("Cancelled", "[in flight at stop]", str(self.cancelled)))
        cs = self.cold_start
        if cs.count:
            extra = "" if cs.extra_s is None else f", +{fmt_seconds(cs.extra_s)} over steady TTFB"
            rows.append(
                ("Cold starts", "[requests]", f"{cs.count} of {cs.candidates} after idle{extra}")
            )
        else:
            rows.append(
                ("Cold starts", "[requests]", f"none detected ({cs.candidates} after idle)")
            )
        rows.append(("Stopped", "", self.stop_reason))
        w1 = max(len(r[0]) for r in rows)
        w2 = max(len(r[1]) for r in rows)
        lines = [
            (f"{a:<{w1}}  {b:<{w2}}  {c}" if b else f"{a:<{w1}}  {c}").rstrip() for a, b, c in rows
        ]
        if self.errors:
            lines.append("Error Set:")
            lines += [f"  {e}" for e in self.errors]
        return "\n".join(lines)


_EMPTY_LATENCIES = {
    "count": 0,
    "total": 0,
    "mean": 0,
    "50th": 0,
    "90th": 0,
    "95th": 0,
    "99th": 0,
    "max": 0,
    "min": 0,
}
#: Settings that are durations in seconds: their JSON keys say so with ``_s``.
_SECONDS_SETTINGS = ("duration", "timeout")


def nanoseconds(seconds: float) -> int:
    """Seconds as Go's ``time.Duration`` writes them in JSON: integer nanoseconds."""
    return round(seconds * 1e9)


def _iso(started_at: float, offset: float | None) -> str | None:
    if offset is None:
        return None
    return datetime.fromtimestamp(started_at + offset, UTC).isoformat(timespec="microseconds")


def fmt_seconds(x: float) -> str:
    """A duration with a unit that keeps three significant figures readable."""
    ax = abs(x)
    if ax < 1e-3:
        return f"{x * 1e6:.1f}µs"
    if ax < 1:
        return f"{x * 1e3:.2f}ms"
    if ax < 600:
        return f"{x:.3f}s"
    return f"{x / 60:.1f}min"


def _dist_text(d: Distribution) -> str:
    return ", ".join(fmt_seconds(x) for x in (d.min, d.mean, d.p50, d.p90, d.p95, d.p99, d.max))


def _mode_text(mode: str, s: dict[str, Any]) -> str:
    bound = []
    if s.get("requests"):
        bound.append(f"{s['requests']} requests")
    if s.get("duration"):
        bound.append(f"{s['duration']:g} s")
    bounds = " or ".join(bound)
    if mode == "open":
        return f"open loop, {s.get('arrival')} arrivals at {s.get('rate'):g}/s, {bounds}"
    return f"closed loop, {s.get('concurrency')} in flight, {bounds}"


def summarize(
    records: Sequence[RequestRecord],
    *,
    target: str,
    host_header: str,
    mode: str,
    settings: dict[str, Any],
    started_at: float,
    stop_reason: str,
    max_in_flight: int,
    cold_start: ColdStartReport,
    stopped_at: float | None = None,
) -> Summary:
    """Build the summary of a run from its records (cancelled ones are counted apart).

    ``stopped_at`` (same clock as the records) is when a user stopped the run: it was sending
    until then, so the rate counts over that span too, not just over the first and last start
    of the requests that finished (4 requests started together and then Ctrl-C read 7,025/s).
    """
    done = [r for r in records if r.error != errors.CANCELLED]
    n = len(done)
    ok = [r for r in done if r.ok]
    earliest = min((r.start for r in done), default=None)
    latest = max((r.start for r in done), default=None)
    end = max((r.end for r in done), default=None)
    duration = (latest - earliest) if earliest is not None and latest is not None else 0.0
    wait = (end - latest) if end is not None and latest is not None else 0.0
    kinds = Counter(r.error for r in done if r.error is not None)
    details = sorted(
        {
            f"{r.error}: {r.error_detail}" if r.error_detail else str(r.error)
            for r in done
            if r.error is not None
        }
    )
    outside = [(r.end - r.start) - r.process_time for r in ok if r.process_time is not None]
    return Summary(
        target=target,
        host_header=host_header,
        mode=mode,
        settings=settings,
        started_at=started_at,
        stop_reason=stop_reason,
        requests=n,
        success=len(ok) / n if n else 0.0,
        rate=n / span if (span := _sending_span(duration, earliest, stopped_at)) > 0 else 0.0,
        throughput=len(ok) / (duration + wait) if duration + wait > 0 else 0.0,
        duration=duration,
        wait=wait,
        earliest=earliest,
        latest=latest,
        end=end,
        latencies=Distribution.of(r.latency for r in done),
        success_latencies=Distribution.of(r.latency for r in ok),
        warm_latencies=Distribution.of(r.latency for r in ok if not r.cold_start),
        scheduling_lag=Distribution.of(r.lag for r in done),
        time_to_first_byte=Distribution.of(r.ttfb for r in done if r.ttfb is not None),
        process_time=Distribution.of(r.process_time for r in done if r.process_time is not None),
        outside_process_time=Distribution.of(outside),
        bytes_in_total=sum(r.bytes_in for r in done),
        bytes_out_total=sum(r.bytes_out for r in done),
        images=sum(r.images for r in done),
        status_codes={str(k): v for k, v in sorted(Counter(r.status for r in done).items())},
        error_kinds=dict(sorted(kinds.items())),
        errors=details[:100],
        cancelled=len(records) - n,
        max_in_flight=max_in_flight,
        cold_start=cold_start,
    )


def _sending_span(duration: float, earliest: float | None, stopped_at: float | None) -> float:
    """Seconds the run was sending: first to last start, or to the stop when one was asked."""
    if earliest is None or stopped_at is None:
        return duration
    return max(duration, stopped_at - earliest)
