"""Honest quantile readings: a real Prometheus' histogram_quantile, read against the bucket
bounds, always names a range that holds the true quantile of the known requests."""

from __future__ import annotations

import math

import knative_traffic as kt
import pytest

from sdobs.catalog import QUANTILES, Selection
from sdobs.catalog.honest import read_quantile, seconds_text

pytestmark = pytest.mark.prometheus

SEL = Selection(namespace=kt.NS, service=kt.SVC, window=kt.WINDOW)
OURS = [p for p in kt.PODS if p.namespace == kt.NS and p.service == kt.SVC]


def true_quantile(q: float, values: list[float]) -> float:
    """The rank-``ceil(q n)`` value of the requests themselves (what a request log says)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def test_readings_hold_the_true_quantile_in_every_dialect(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    values = kt.window_latencies(OURS)
    for q in (*QUANTILES, 0.999):
        query = cat.latency(SEL, q)
        got = float(client.query(query.expr, time=te, require_data=True)["value"].iloc[0])
        reading = query.reading(got)
        truth = true_quantile(q, values)
        if reading.above_top:
            assert truth > reading.lower, (q, reading)
            assert reading.text == f"> {seconds_text(reading.lower)}"
        else:
            assert reading.lower <= truth <= reading.upper + 0.001, (q, truth, reading)
        if cat.dialect.name.startswith("opentelemetry") and q >= 0.9:
            # 12.5 s and 45 s requests: OpenTelemetry's buckets end at 10 s.
            assert got == 10 and reading.text == "> 10 s" and "10 s" in reading.reason


def test_opencensus_coarse_bucket_reads_as_interval() -> None:
    # OpenCensus bounds jump 20 -> 50 s: 31 s and 49 s interpolate inside the same bucket.
    bounds = tuple(b / 1000 for b in kt.OC_BOUNDS_MS)
    for value in (31.0, 49.0):
        r = read_quantile(value, bounds)
        assert (r.text, r.lower, r.upper, r.coarse, r.above_top) == ("20–50 s", 20, 50, True,
                                                                      False)
        assert seconds_text(value) in r.reason
    assert read_quantile(100.0, bounds).text == "> 100 s"
    fine = read_quantile(0.123, bounds)
    assert (fine.text, fine.coarse, fine.reason) == ("0.123 s", False, "")
    assert read_quantile(float("nan"), bounds).text == "no data"
    assert read_quantile(None, bounds).value is None
    assert read_quantile(7.0, ()).text == "7 s"  # no bounds known: the value as it is


def test_sdobs_query_prints_the_reading(knative) -> None:
    import subprocess
    import sys

    client, cat = knative.client, knative.catalog
    out = subprocess.run(
        [sys.executable, "-m", "sdobs.cli", "query", "latency", "--quantile", "0.99",
         "--namespace", kt.NS, "--service", kt.SVC, "--window", "10m", "--range", "14400",
         "--dialect", cat.dialect.name, "--prometheus-url", client.url],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "reading" in out.stdout
    if cat.dialect.name.startswith("opentelemetry"):
        assert "> 10 s" in out.stdout and "# note: " in out.stdout
    else:
        assert "10–20 s" in out.stdout or "20–50 s" in out.stdout
