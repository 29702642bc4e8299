"""Failure is visible, never fatal: stopped, frozen or erroring Prometheus; no dialect yet."""

from __future__ import annotations

import http.server
import json
import signal
import threading

import knative_traffic as kt
import pytest
from app_traffic import load_known
from dash import no_update

from sdobs.app import create_app
from sdobs.app.pages.common import by_id
from sdobs.prom.harness import free_port

pytestmark = pytest.mark.prometheus


def search(t0: int, service: str = kt.SVC) -> str:
    return f"?ns={kt.NS}&service={service}&from={t0}&to={t0 + kt.SPAN}"


def banner_text(answer: dict, page: str) -> str:
    banner = answer[f"{page}-banner.children"]
    return "" if banner is None else json.dumps(banner.to_plotly_json(), default=str)


def test_stopped_prometheus_keeps_the_last_data_marked_stale(local_prometheus, t0) -> None:
    prom = local_prometheus(start=False)
    load_known(prom, "opencensus", t0)
    prom.start()
    app = create_app(prom.url, cache_seconds=0)
    cb = app.sdobs.callbacks["scaling"]
    good = by_id(cb, cb(search(t0), 0, {}))
    meta = good["scaling-meta.data"]
    assert meta["ok_at"] and banner_text(good, "scaling") == ""

    prom.stop()
    down = by_id(cb, cb(search(t0), 1, meta))
    text = banner_text(down, "scaling")
    assert f"cannot reach Prometheus at {prom.url}" in text
    assert "failed 8 of 8 queries" in text and "Concurrency: stable / panic / target" in text
    assert "last good data" in text and "marked stale" in text
    for key, value in down.items():
        if key.endswith(".figure"):
            assert value is no_update, key  # the last good figure stays
        if key.endswith("-box.className"):
            assert "stale" in value, key
    assert down["scaling-meta.data"] == meta

    prom.start()  # same port, same data
    back = by_id(cb, cb(search(t0), 2, meta))
    assert banner_text(back, "scaling") == ""
    assert all(v["data"] for k, v in back.items() if k.endswith(".figure"))
    assert all("stale" not in v for k, v in back.items() if k.endswith("-box.className"))
    app.sdobs.source.close()


def test_frozen_prometheus_times_out_with_a_banner(local_prometheus, t0) -> None:
    prom = local_prometheus(openmetrics=kt.exposition("opentelemetry", t0))
    app = create_app(prom.url, timeout=1.0, cache_seconds=0)
    cb = app.sdobs.callbacks["scaling"]
    by_id(cb, cb(search(t0), 0, {}))  # detect while it answers
    prom.proc.send_signal(signal.SIGSTOP)
    try:
        answer = by_id(cb, cb(search(t0), 1, {}))
    finally:
        prom.proc.send_signal(signal.SIGCONT)
    text = banner_text(answer, "scaling")
    assert f"Prometheus at {prom.url} did not answer within 1 s" in text
    assert "No data to show yet" in text
    assert "failed" in answer["scaling-pods.figure"]["layout"]["annotations"][0]["text"]
    app.sdobs.source.close()


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Knows the OTel marker metric but rejects every query as Prometheus does."""

    def do_GET(self) -> None:  # label values: detection works
        self._send(200, {"status": "success", "data": ["kn_serving_queue_depth"]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(422, {"status": "error", "errorType": "execution",
                         "error": "query processing would load too many samples into memory"})

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_prometheus_errors_are_shown_in_its_own_words(t0) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        app = create_app(url, cache_seconds=0)
        for page in ("service", "scaling", "gpu", "fleet"):
            cb = app.sdobs.callbacks[page]
            text = banner_text(by_id(cb, cb(search(t0), 0, {})), page)
            assert f"Prometheus at {url} rejected the query (execution)" in text, page
            assert "too many samples" in text, page
        app.sdobs.source.close()
    finally:
        server.shutdown()
        server.server_close()


def test_dialect_is_checked_again_after_a_failure(local_prometheus, t0) -> None:
    prom = local_prometheus(start=False, port=free_port())
    app = create_app(prom.url, cache_seconds=0)  # created while Prometheus is down
    source = app.sdobs.source
    assert "no dialect yet" in source.start()
    cb = app.sdobs.callbacks["service"]
    down = by_id(cb, cb(search(t0), 0, {}))
    assert "cannot reach Prometheus" in banner_text(down, "service")

    prom.start()  # up, but no Knative metrics in it yet
    empty = by_id(cb, cb(search(t0), 1, {}))
    assert "No Knative metrics found" in banner_text(empty, "service")

    prom.backfill_text(kt.exposition("opentelemetry", t0))  # restarts it around the backfill
    up = by_id(cb, cb(search(t0), 2, {}))
    assert banner_text(up, "service") == ""
    assert up["service-volume.figure"]["data"]
    assert source.dialect.name == "opentelemetry" and source.detections >= 3
    source.close()
