"""Why queries do not go through PrometheusConnect.custom_query: measured side by side.

1. Time until a query that Prometheus times out (HTTP 503, errorType timeout) reaches the caller,
   with prometheus-api-client's default retries vs the sdobs client (same fake server, same run).
2. Per-query cost on a real local Prometheus: custom_query (list of dicts) vs the sdobs client
   (POST + tidy DataFrame), same instant query, interleaved rounds.
3. Request-line length of a 500-revision fleet query sent as GET parameters vs a POST form.
Run: .venv/bin/python benchmarks/prom_client.py
"""

from __future__ import annotations

import contextlib
import http.server
import statistics
import threading
import time
import urllib.parse

from prometheus_api_client import PrometheusConnect

from sdobs.catalog import Catalog, Selection
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus

TIMEOUT_BODY = b'{"status":"error","errorType":"timeout","error":"query timed out"}'


class TimedOut(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(TIMEOUT_BODY)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def time_to_error(call) -> float:
    started = time.perf_counter()
    with contextlib.suppress(Exception):  # we time whatever each client raises
        call()
    return time.perf_counter() - started


def main() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TimedOut)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    theirs = time_to_error(lambda: PrometheusConnect(url).custom_query("up"))
    ours = time_to_error(lambda: PrometheusClient(url).query("up"))
    server.shutdown()
    print(f"1. time to report a Prometheus query timeout: PrometheusConnect {theirs:.2f} s, "
          f"sdobs {ours * 1000:.1f} ms -> {theirs / ours:.0f}x sooner")

    now = int(time.time())
    text = ["# TYPE demo_total counter"]
    text += [f'demo_total{{pod="p{i}"}} {j} {now - 7200 + j * 15}' for i in range(50)
             for j in range(400)]
    with LocalPrometheus() as prom:
        prom.backfill_text("\n".join([*text, "# EOF", ""]))
        pc, sc = PrometheusConnect(prom.url), PrometheusClient(prom.url)
        expr = "rate(demo_total[5m])"
        at = {"time": now - 3600}
        a, b = [], []
        for _ in range(5):  # interleave rounds so both see the same machine noise
            t = time.perf_counter()
            for _ in range(40):
                pc.custom_query(expr, params=at)
            a.append((time.perf_counter() - t) / 40)
            t = time.perf_counter()
            for _ in range(40):
                sc.query(expr, time=now - 3600)
            b.append((time.perf_counter() - t) / 40)
        ta, tb = statistics.median(a), statistics.median(b)
        print(f"2. instant query, 50 series: custom_query {ta * 1000:.2f} ms (raw dicts), "
              f"sdobs {tb * 1000:.2f} ms (tidy frame) -> ratio sdobs/custom_query {tb / ta:.2f}")

    revisions = tuple(f"model-{i:03d}-00001" for i in range(500))
    q = Catalog("opencensus").request_rate(Selection(namespace="models", revisions=revisions))
    get_line = len("/api/v1/query?" + urllib.parse.urlencode({"query": q.expr}))
    print(f"3. 500-revision query: {get_line} bytes in the GET request line "
          f"(custom_query, also with method=POST) vs 14 bytes (/api/v1/query) with a POST form; "
          f"proxies commonly cap request lines at 8192 bytes")


if __name__ == "__main__":
    main()
