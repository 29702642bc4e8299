"""The local Prometheus harness: scraping via file SD, rules, backfill, stopping, leaks."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import knative_traffic as kt
import pytest
from eventually import eventually

from sdobs.knative.detect import detect_dialect, detect_dialects
from sdobs.knative.dialects import OPENCENSUS, OPENTELEMETRY, OPENTELEMETRY_EARLY
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import HarnessError, LocalPrometheus, PortInUse, check_port_free

pytestmark = pytest.mark.prometheus

EXPOSITION = b"""# HELP revision_request_count The number of requests that are routed to queue-proxy
# TYPE revision_request_count counter
revision_request_count{namespace_name="default",response_code="200",response_code_class="2xx",revision_name="r1"} 7
"""  # noqa: E501
RULES = textwrap.dedent("""\
    groups:
      - name: sdobs
        interval: 1s
        rules:
          - record: namespace:revision_request_count:sum
            expr: sum by (namespace_name) (revision_request_count)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def exporter():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(EXPOSITION)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_file_sd_targets_are_scraped_with_their_labels(local_prometheus, exporter) -> None:
    prom = local_prometheus(scrape_interval="1s", file_sd_jobs=["queue-proxy"])
    client = PrometheusClient(prom.url)
    assert client.query("up").empty
    prom.set_targets("queue-proxy", [(exporter, {"namespace": "default", "pod": "p-1"})])
    eventually(lambda: not client.query("revision_request_count").empty, timeout=15)
    frame = client.query("revision_request_count")
    assert frame[["job", "namespace", "pod", "revision_name"]].values.tolist() == [
        ["queue-proxy", "default", "p-1", "r1"]]
    prom.set_targets("queue-proxy", [])
    eventually(lambda: client.query('up{job="queue-proxy"}').empty, timeout=15)
    with pytest.raises(HarnessError, match="not a file-SD job"):
        prom.set_targets("nope", [])


@pytest.mark.parametrize("workdir", ["relative", "absolute", "with spaces/state dir"])
def test_file_sd_and_rules_work_whatever_the_state_dir(
    workdir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exporter
) -> None:
    # Prometheus resolves relative paths in its config against the config file's folder: a
    # relative state dir (the demo's default) once made every file_sd target invisible.
    monkeypatch.chdir(tmp_path)
    rules = Path("rules dir") / "rules.yml"
    rules.parent.mkdir()
    rules.write_text(RULES)
    where = tmp_path / workdir if workdir == "absolute" else Path(workdir)
    prom = LocalPrometheus(where, scrape_interval="1s", evaluation_interval="1s",
                           file_sd_jobs=["queue-proxy"], rule_files=[rules])
    try:
        prom.check_config()
        prom.start()
        prom.set_targets("queue-proxy", [(exporter, {"pod": "p-1"})])
        client = PrometheusClient(prom.url)
        eventually(lambda: not client.query("namespace:revision_request_count:sum").empty,
                   timeout=15)
        assert client.query('revision_request_count{pod="p-1"}')["value"].tolist() == [7]
        assert "Error adding file watch" not in prom.log_path.read_text()
    finally:
        prom.stop()


def test_rule_files_are_loaded_and_checked(local_prometheus, tmp_path: Path, exporter) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    prom = local_prometheus(start=False, scrape_interval="1s", evaluation_interval="1s",
                            rule_files=[rules],
                            scrape_configs=[{"job_name": "qp",
                                             "static_configs": [{"targets": [exporter]}]}])
    prom.check_config()
    prom.start()
    client = PrometheusClient(prom.url)
    eventually(lambda: not client.query("namespace:revision_request_count:sum").empty, timeout=15)
    assert client.query("namespace:revision_request_count:sum")["value"].tolist() == [7]


def test_backfill_before_and_while_running(local_prometheus) -> None:
    t0 = kt.t0_for_tests()
    prom = local_prometheus(start=False)
    seconds = prom.backfill_text(kt.opencensus(t0))
    assert seconds > 0
    prom.start()
    client = PrometheusClient(prom.url)
    assert detect_dialects(client) == [OPENCENSUS]
    # Backfilling a running instance restarts it around promtool, on the same port.
    url = prom.url
    prom.backfill_text(kt.opentelemetry(t0))
    assert prom.url == url and prom.running
    assert detect_dialects(client) == [OPENTELEMETRY, OPENCENSUS]


def test_bad_openmetrics_is_a_clear_error(local_prometheus) -> None:
    prom = local_prometheus(start=False)
    with pytest.raises(HarnessError, match="promtool could not backfill"):
        prom.backfill_text("this is { not openmetrics\n")


def test_detect_each_dialect_and_none(local_prometheus) -> None:
    t0 = kt.t0_for_tests()
    early = local_prometheus(openmetrics=kt.opentelemetry(t0, early=True))
    assert detect_dialects(PrometheusClient(early.url)) == [OPENTELEMETRY_EARLY]
    empty = local_prometheus()
    assert detect_dialects(PrometheusClient(empty.url)) == []
    with pytest.raises(LookupError, match="no Knative metrics"):
        detect_dialect(PrometheusClient(empty.url))


def test_stop_kills_by_pid_frees_port_and_cleans_up() -> None:
    prom = LocalPrometheus().start()
    pid, port, workdir = prom.pid, prom.port, prom.workdir
    assert _alive(pid) and workdir.exists()
    prom.stop()
    assert not _alive(pid)
    assert not workdir.exists()
    check_port_free("127.0.0.1", port)  # raises if still bound


def test_busy_port_is_a_clear_error(local_prometheus) -> None:
    first = local_prometheus()
    second = LocalPrometheus(port=first.port)
    with pytest.raises(PortInUse, match=f"port {first.port} on 127.0.0.1 is already in use"):
        second.start()
    second.stop()


@pytest.mark.parametrize("module, server", [("sdobs.prom.harness", "LocalPrometheus"),
                                            ("sdobs.prom.victoria", "LocalVictoriaMetrics")])
def test_server_dies_with_a_killed_parent(tmp_path: Path, module: str, server: str) -> None:
    """Even SIGKILL of the owning process (no cleanup code runs) leaves no server behind (both
    stores start through sdobs.prom.child)."""
    script = textwrap.dedent(f"""\
        import sys, time
        from {module} import {server}
        p = {server}({str(tmp_path / "w")!r}).start()
        print(p.pid, flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid = int(child.stdout.readline())
    assert _alive(pid)
    child.kill()
    child.wait()
    eventually(lambda: not _alive(pid), timeout=10)


def test_interrupted_owner_stops_prometheus_at_exit(tmp_path: Path) -> None:
    """KeyboardInterrupt in the owner: the atexit hook stops Prometheus by PID."""
    script = textwrap.dedent(f"""\
        import os, signal, sys
        from sdobs.prom.harness import LocalPrometheus
        p = LocalPrometheus({str(tmp_path / "w")!r}).start()
        print(p.pid, flush=True)
        os.kill(os.getpid(), signal.SIGINT)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    pid = int(proc.stdout.split()[0])
    assert "KeyboardInterrupt" in proc.stderr
    eventually(lambda: not _alive(pid), timeout=10)


def test_missing_binary_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from sdobs.prom import harness

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(harness.os, "access", lambda *a: False)
    with pytest.raises(HarnessError, match="apt-get install prometheus"):
        harness.find_binary("promtool")
