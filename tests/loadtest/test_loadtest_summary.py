"""Exact percentiles and the vegeta-shaped summary, on synthetic records."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from sdobs.loadtest import Distribution, percentile
from sdobs.loadtest.coldstart import ColdStartReport
from sdobs.loadtest.records import RequestRecord
from sdobs.loadtest.summary import summarize

VEGETA_KEYS = {
    "latencies",
    "bytes_in",
    "bytes_out",
    "earliest",
    "latest",
    "end",
    "duration",
    "wait",
    "requests",
    "rate",
    "throughput",
    "success",
    "status_codes",
    "errors",
}


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 101, 1000])
def test_percentiles_are_numpys_bit_for_bit(n: int) -> None:
    rng = random.Random(n)
    values = sorted(rng.lognormvariate(1.0, 0.8) for _ in range(n))
    for p in (0, 1, 25, 50, 90, 95, 99, 99.9, 100, rng.uniform(0, 100)):
        assert percentile(values, p) == float(np.percentile(values, p)), (n, p)


def test_distribution_matches_numpy() -> None:
    rng = random.Random(7)
    values = [rng.expovariate(0.3) for _ in range(500)]
    d = Distribution.of(values)
    assert d is not None
    arr = np.array(values)
    assert (d.p50, d.p90, d.p95, d.p99) == tuple(
        float(np.percentile(arr, q)) for q in (50, 90, 95, 99)
    )
    assert d.min == arr.min() and d.max == arr.max() and d.count == 500
    assert d.mean == pytest.approx(arr.mean(), rel=1e-12)
    assert Distribution.of([]) is None


def _rec(seq: int, start: float, end: float, **kw: object) -> RequestRecord:
    return RequestRecord(
        seq,
        seq % 2,
        scheduled=kw.pop("scheduled", start),
        start=start,
        end=end,
        first_byte=end - 0.001,
        **kw,
    )  # type: ignore[arg-type]


def test_summary_counts_errors_by_kind_and_cancelled_apart() -> None:
    records = [
        _rec(0, 0.0, 1.0, status=200, images=1),
        _rec(1, 0.5, 2.0, status=503, error="http_503"),
        _rec(2, 1.0, 1.5, status=0, error="timeout", error_detail="no complete response"),
        _rec(3, 2.0, 3.0, status=200, images=2),
        _rec(4, 2.5, 2.6, status=0, error="cancelled"),
    ]
    s = summarize(
        records,
        target="http://x/sdapi/v1/txt2img",
        host_header="h",
        mode="closed",
        settings={"concurrency": 2, "requests": 5},
        started_at=1_700_000_000.0,
        stop_reason="stopped",
        max_in_flight=2,
        cold_start=ColdStartReport(),
    )
    assert s.requests == 4 and s.cancelled == 1
    assert s.success == 0.5 and s.successes == 2
    assert s.status_codes == {"0": 1, "200": 2, "503": 1}
    assert s.error_kinds == {"http_503": 1, "timeout": 1}
    assert s.errors == ["http_503", "timeout: no complete response"]
    assert s.images == 3
    assert s.duration == 2.0 and s.wait == 1.0  # last send at 2.0, last answer at 3.0
    assert s.rate == 2.0 and s.throughput == pytest.approx(2 / 3)
    doc = s.to_dict()
    assert doc.keys() >= VEGETA_KEYS
    assert set(doc["latencies"]) >= {"total", "mean", "50th", "90th", "95th", "99th", "max", "min"}
    assert doc["earliest"].startswith("2023-11-14T22:13:20")
    json.dumps(doc)  # plain JSON
    table = s.table()
    for word in ("Latencies", "Status Codes", "http_503:1", "timeout:1", "Cancelled", "50.00%"):
        assert word in table


def test_summary_of_nothing_is_complete() -> None:
    s = summarize(
        [],
        target="t",
        host_header="",
        mode="open",
        settings={"rate": 1.0},
        started_at=0.0,
        stop_reason="stopped",
        max_in_flight=0,
        cold_start=ColdStartReport(),
    )
    doc = s.to_dict()
    assert doc["requests"] == 0 and doc["latencies"]["99th"] == 0.0 and doc["earliest"] is None
    assert "Requests" in s.table()
