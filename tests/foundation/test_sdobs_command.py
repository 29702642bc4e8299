"""The sdobs command: every listed subcommand exists, errors are one sentence, demo cleans up."""

from __future__ import annotations

import importlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sdobs.cli import SUBCOMMANDS
from sdobs.prom.harness import check_port_free, free_port


def sdobs(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdobs.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_help_lists_every_subcommand_and_each_exists() -> None:
    out = sdobs("--help")
    assert out.returncode == 0
    for cmd in SUBCOMMANDS:
        assert cmd.name in out.stdout
        module = importlib.import_module(cmd.module)
        assert callable(module.add_arguments) and callable(module.run), cmd.module
        assert sdobs(cmd.name, "--help").returncode == 0, cmd.name


def test_unknown_subcommand_is_an_error() -> None:
    out = sdobs("frobnicate")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_unreachable_prometheus_is_one_sentence_without_traceback() -> None:
    out = sdobs("dialect", "--prometheus-url", f"http://127.0.0.1:{free_port()}")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "cannot reach Prometheus" in out.stderr
    assert "Traceback" not in out.stderr


def test_query_prints_catalog_promql() -> None:
    out = sdobs("query", "request_rate", "--dialect", "opencensus", "--service", 'x"}',
                "--by", "revision", "--print-expr")
    assert out.returncode == 0
    assert out.stdout.strip().startswith("sum by (revision) (label_replace(rate(")
    assert 'service_name="x\\"}"' in out.stdout
    bad = sdobs("query", "request_rate", "--dialect", "nope", "--print-expr")
    assert bad.returncode == 2 and "unknown Knative metric dialect" in bad.stderr


@pytest.mark.prometheus
def test_demo_check_starts_and_leaves_nothing_behind(tmp_path) -> None:
    ports = [free_port() for _ in range(4)]
    flags = ["--prometheus-port", "--gateway-port", "--twin-metrics-port", "--app-port"]
    args = [x for pair in zip(flags, map(str, ports), strict=True) for x in pair]
    for _ in range(2):  # twice in a row: nothing left over from the first run
        # The demo's Alertmanager and fault control server on free ports too.
        alerting = ["--alertmanager-port", str(free_port()), "--fault-port", str(free_port())]
        out = sdobs("demo", "--check", "--no-history", "--dir", str(tmp_path), *args, *alerting)
        assert out.returncode == 0, out.stderr
        for port in ports[:2] + ports[3:]:
            assert f"http://127.0.0.1:{port}" in out.stdout
        assert f"{sys.executable} -m sdobs.cli loadtest" in out.stdout  # as it was started
        pid = int(out.stdout.split("(pid ")[1].split(",")[0])
        assert not Path(f"/proc/{pid}").exists()
        for port in ports:
            check_port_free("127.0.0.1", port)
    with socket.socket() as holder:  # a busy port: one clear sentence, nothing started
        holder.bind(("127.0.0.1", ports[1]))
        holder.listen()
        busy = sdobs("demo", "--check", "--no-history", "--dir", str(tmp_path), *args,
                     "--no-alerting")
    assert busy.returncode == 2
    assert f"port {ports[1]} on 127.0.0.1 is already in use" in busy.stderr
    check_port_free("127.0.0.1", ports[0])


def test_base_modules_import_without_pandas() -> None:
    """The exporter's light install has no pandas: the CLI must still list its commands."""
    code = ("import sys; sys.modules['pandas'] = None; sys.modules['numpy'] = None\n"
            "from sdobs.cli import main; sys.exit(main(['--help']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
