"""The access layer against a real Prometheus: frames, step clamping, concurrency, typed errors."""

from __future__ import annotations

import base64
import http.server
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

from sdobs.prom.client import (
    MAX_POINTS,
    InstantQuery,
    PrometheusClient,
    RangeQuery,
    clamp_step,
    frame_from_result,
)
from sdobs.prom.errors import (
    BadQuery,
    NoData,
    PrometheusHTTPError,
    PrometheusTimeout,
    PrometheusUnreachable,
)

STEP = 60


def _series_text(t0: int, hours: int = 6) -> str:
    lines = ["# HELP demo_requests_total Demo requests.", "# TYPE demo_requests_total counter"]
    for pod in ("p1", "p2"):
        k = 1 if pod == "p1" else 2
        lines += [f'demo_requests_total{{pod="{pod}",job="demo"}} {k * i} {t0 + i * STEP}'
                  for i in range(hours * 3600 // STEP + 1)]
    lines += ["# HELP demo_temp Demo gauge.", "# TYPE demo_temp gauge"]
    lines += [f'demo_temp{{pod="p1"}} {20 + (i % 7)} {t0 + i * STEP}' for i in range(361)]
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory):
    from sdobs.prom.harness import LocalPrometheus

    t0 = (int(time.time()) - 8 * 3600) // STEP * STEP
    p = LocalPrometheus(tmp_path_factory.mktemp("client"))
    p.backfill_text(_series_text(t0))
    p.start()
    yield p, t0
    p.stop()


pytestmark = pytest.mark.prometheus


def test_instant_query_is_a_tidy_frame(prom) -> None:
    p, t0 = prom
    with PrometheusClient(p.url) as client:
        frame = client.query("demo_requests_total", time=t0 + 600)
    assert list(frame.columns) == ["time", "__name__", "job", "pod", "value"]
    assert frame.sort_values("pod")["value"].tolist() == [10, 20]
    assert str(frame["time"].dtype).startswith("datetime64") and frame["time"].dt.tz is not None
    assert frame["time"].iloc[0] == pd.Timestamp(t0 + 600, unit="s", tz="UTC")


def test_range_query_values_and_scalar(prom) -> None:
    p, t0 = prom
    with PrometheusClient(p.url) as client:
        frame = client.query_range('sum by (pod) (rate(demo_requests_total[5m]))', t0 + 3600,
                                   t0 + 7200, step=300)
        assert set(frame.columns) == {"time", "pod", "value"}
        assert len(frame) == 2 * 13
        rates = frame.groupby("pod")["value"].mean()
        assert rates["p1"] == pytest.approx(1 / 60) and rates["p2"] == pytest.approx(2 / 60)
        scalar = client.query("scalar(sum(demo_temp)) * 2", time=t0 + 60)
        assert scalar["value"].tolist() == [42.0]


def test_step_is_clamped_to_the_point_limit(prom) -> None:
    p, t0 = prom
    start, end = t0, t0 + 6 * 3600
    assert clamp_step(start, end, 1) == pytest.approx(6 * 3600 / MAX_POINTS, abs=1e-3)
    with PrometheusClient(p.url) as client:
        frame = client.query_range("demo_temp", start, end, step=1)  # unclamped: HTTP 400
    assert 1 < len(frame) <= MAX_POINTS
    assert clamp_step(0, 600, None) == 2.0  # ~300 points by default
    with pytest.raises(ValueError, match="before its start"):
        clamp_step(10, 0, 1)


def test_page_queries_run_concurrently_and_keep_order(prom) -> None:
    p, t0 = prom
    with PrometheusClient(p.url) as client:
        asks = [InstantQuery(f"demo_temp * {k}", t0 + 60) for k in range(12)]
        asks.insert(3, RangeQuery("demo_temp", t0, t0 + 600, 60))
        asks.insert(5, InstantQuery("sum(", t0))
        out = client.query_many(asks, return_exceptions=True)
        assert isinstance(out[5], BadQuery)
        assert len(out[3]) == 11
        values = [f["value"].iloc[0] for i, f in enumerate(out) if i not in (3, 5)]
        assert values == [21.0 * k for k in range(12)]
        with pytest.raises(BadQuery):
            client.query_many(asks)


def test_bad_query_carries_prometheus_message(prom) -> None:
    p, _ = prom
    with PrometheusClient(p.url) as client, pytest.raises(BadQuery) as err:
        client.query("sum(rate(demo_requests_total[5m])")
    assert err.value.error_type == "bad_data"
    assert "unclosed left parenthesis" in err.value.detail
    assert p.url in str(err.value)


def test_no_data_only_when_required(prom) -> None:
    p, t0 = prom
    with PrometheusClient(p.url) as client:
        assert client.query("nothing_here", time=t0).empty
        with pytest.raises(NoData, match="no data"):
            client.query("nothing_here", time=t0, require_data=True)


def test_label_values_and_metric_names(prom) -> None:
    p, _ = prom
    with PrometheusClient(p.url) as client:
        assert "demo_requests_total" in client.metric_names()
        assert client.label_values("pod", match=["demo_requests_total"]) == ["p1", "p2"]
        assert client.ready()


def test_stopped_prometheus_is_unreachable(local_prometheus) -> None:
    p = local_prometheus()
    url = p.url
    p.stop()
    with PrometheusClient(url, timeout=2) as client:
        with pytest.raises(PrometheusUnreachable) as err:
            client.query("up")
        assert url in str(err.value)
        assert not client.ready()
        with pytest.raises(PrometheusUnreachable):
            client.label_values("job")


def test_slow_prometheus_times_out(local_prometheus) -> None:
    """A frozen (SIGSTOP) Prometheus accepts the connection but never answers."""
    p = local_prometheus()
    os.kill(p.pid, signal.SIGSTOP)
    try:
        with PrometheusClient(p.url, timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(PrometheusTimeout, match=r"did not answer within 0\.5 s"):
                client.query("up")
            assert time.monotonic() - started < 3  # no retries that multiply the wait
    finally:
        os.kill(p.pid, signal.SIGCONT)


def test_evaluation_timeout_answer_is_a_timeout() -> None:
    """Prometheus' own 503 ``errorType: timeout`` answer (its shape when --query.timeout hits)."""
    body = (b'{"status":"error","errorType":"timeout",'
            b'"error":"query timed out in expression evaluation"}')
    handler = type("H", (_Answer,), {"status": 503, "body": body})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with PrometheusClient(url) as client, pytest.raises(PrometheusTimeout, match="gave up"):
            client.query("up")
    finally:
        server.shutdown()
        server.server_close()


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 401
    body = b"unauthorised"

    def do_POST(self) -> None:
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "hint"), [(401, "username"), (403, "lack access"),
                                              (404, "path prefix"), (502, "logs")])
def test_other_http_failures_are_explained(status: int, hint: str) -> None:
    handler = type("H", (_Answer,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with PrometheusClient(url, username="u", password="p") as client:
            with pytest.raises(PrometheusHTTPError, match=hint) as err:
                client.query("up")
            assert err.value.status == status
    finally:
        server.shutdown()
        server.server_close()


def test_auth_headers_are_sent() -> None:
    seen: dict[str, str] = {}

    class H(_Answer):
        def do_POST(self) -> None:
            seen["auth"] = self.headers.get("Authorization", "")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status":"success","data":{"resultType":"vector","result":[]}}')

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with PrometheusClient(url, bearer_token="s3cret") as client:
            assert client.query("up").empty
        assert seen["auth"] == "Bearer s3cret"
        with PrometheusClient(url, username="alice", password="pw") as client:
            client.query("up")
        assert seen["auth"].startswith("Basic ")
    finally:
        server.shutdown()
        server.server_close()


def test_frame_conversion_handles_special_values() -> None:
    result = [{"metric": {"a": "x"}, "values": [[1.5, "NaN"], [2.5, "+Inf"], [3.5, "-1e3"]]},
              {"metric": {"b": "y"}, "values": [[1.5, "2"]]}]
    frame = frame_from_result("matrix", result)
    assert frame["a"].tolist()[:3] == ["x", "x", "x"] and pd.isna(frame["a"].iloc[3])
    assert np.isnan(frame["value"].iloc[0]) and np.isinf(frame["value"].iloc[1])
    assert frame["value"].iloc[2] == -1000.0
    assert frame["time"].iloc[0] == pd.Timestamp(1500, unit="ms", tz="UTC")
    empty = frame_from_result("vector", [])
    assert list(empty.columns) == ["time", "value"] and empty.empty


def test_credentials_in_the_url_become_auth_and_never_show() -> None:
    seen: dict[str, str] = {}

    class H(_Answer):
        def do_POST(self) -> None:
            seen["auth"] = self.headers.get("Authorization", "")
            self.send_response(401)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://alice:s3cr%40t@127.0.0.1:{server.server_address[1]}/"
        with PrometheusClient(url) as client:
            assert "s3cr" not in client.url and "alice" not in client.url
            with pytest.raises(PrometheusHTTPError) as err:
                client.query("up")
        assert "s3cr" not in str(err.value)
        assert seen["auth"] == "Basic " + base64.b64encode(b"alice:s3cr@t").decode()
    finally:
        server.shutdown()
        server.server_close()


def test_url_is_checked() -> None:
    with pytest.raises(ValueError, match="must start with http"):
        PrometheusClient("localhost:9090")
