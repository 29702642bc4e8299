"""Remote write into a real Prometheus: samples land, and staleness ends backfilled series."""

from __future__ import annotations

import math
import time

import pytest

from sdobs.prom.client import PrometheusClient
from sdobs.prom.errors import PrometheusHTTPError
from sdobs.prom.remote_write import STALE_NAN, mark_stale, push, snappy_literal

pytestmark = pytest.mark.prometheus


def _history(end: int) -> str:
    lines = ["# TYPE gpu_busy gauge"]
    for pod in ("a", "b"):
        lines += [f'gpu_busy{{pod="{pod}"}} 0.5 {t}' for t in range(end - 600, end + 1, 30)]
    return "\n".join([*lines, "# EOF"])


def test_staleness_ends_backfilled_series_where_the_history_ends(local_prometheus) -> None:
    end = int(time.time()) // 30 * 30 - 300
    prom = local_prometheus(openmetrics=_history(end))
    client = PrometheusClient(prom.url)
    # Without a marker an instant query carries the last sample for the 5-minute lookback.
    assert sorted(client.query("gpu_busy", end + 120)["pod"]) == ["a", "b"]
    sent = mark_stale(f"{prom.url}/api/v1/write", [({"__name__": "gpu_busy", "pod": "a"},
                                                    end * 1000 + 1)])
    assert sent == 1
    assert client.query("gpu_busy", end)["pod"].tolist() == ["a", "b"]
    assert client.query("gpu_busy", end + 1)["pod"].tolist() == ["b"]
    assert client.query("gpu_busy", end + 120)["pod"].tolist() == ["b"]


def test_pushed_samples_are_stored_exactly(local_prometheus) -> None:
    prom = local_prometheus()
    now = int(time.time() * 1000)
    push(f"{prom.url}/api/v1/write", [
        ({"__name__": "pushed", "job": "t", "le": "+Inf"}, [(1.25, now - 1000), (-2e300, now)]),
    ])
    frame = PrometheusClient(prom.url).query_range("pushed", (now - 1000) / 1000, now / 1000,
                                                   step=1)
    assert frame["value"].tolist() == [1.25, -2e300]


def test_a_refused_write_says_what_to_do(local_prometheus) -> None:
    prom = local_prometheus()
    with pytest.raises(PrometheusHTTPError, match=r"remote-write-receiver|refused"):
        push(f"{prom.url}/api/v1/nope", [({"__name__": "x"}, [(1.0, 0)])])


def test_snappy_literal_stream_lengths() -> None:
    assert math.isnan(STALE_NAN)
    for size in (0, 1, 60, 61, 256, 257, 65536, 65537, 200_000):
        data = bytes(range(256)) * (size // 256 + 1)
        out = snappy_literal(data[:size])
        # header varint + one tag (1-3 bytes) per 64 KiB literal + the data itself
        assert len(out) - size <= 3 + 3 * (size // 65536 + 1)
