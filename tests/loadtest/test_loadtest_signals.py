"""SIGTERM is Ctrl-C for ``sdobs loadtest`` (issue 16): summary printed and written, records
flushed, exit 143; and a stopped run's rate counts over the time it was sending."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eventually import eventually

ROOT = Path(__file__).resolve().parents[2]


def _start(server_url: str, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "sdobs.cli", "loadtest", server_url, "--no-progress",
           "--records", str(tmp_path / "r.jsonl"), "--summary", str(tmp_path / "s.json"),
           *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


@pytest.mark.timing
@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_keeps_what_was_measured(fake_a1111, tmp_path: Path, sig: int,
                                          status: int) -> None:
    server = fake_a1111(delay=1.0)
    proc = _start(server.url, tmp_path, "-c", "4", "-n", "100")
    try:
        # the first 4 answered, the next ones in flight
        eventually(lambda: server.count >= 6, timeout=20, interval=0.02)
        time.sleep(0.3)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert "Traceback" not in err and "stopping" in err
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["stop_reason"] == "stopped"
    assert doc["requests"] >= 4 and doc["cancelled"] >= 1
    records = (tmp_path / "r.jsonl").read_text().splitlines()
    assert len(records) == doc["requests"] + doc["cancelled"]
    assert str(doc["requests"]) in out  # the table was printed
    # 4+ requests over the ~1.3 s the run was sending: a few per second, not thousands.
    assert 0 < doc["rate"] < 10, doc["rate"]


def test_a_stopped_runs_rate_counts_until_the_stop() -> None:
    from sdobs.loadtest.coldstart import ColdStartReport
    from sdobs.loadtest.records import RequestRecord
    from sdobs.loadtest.summary import summarize

    records = [RequestRecord(seq=i, client=i, scheduled=0.0001 * i, start=0.0001 * i,
                             end=1.0, status=200, images=1) for i in range(4)]
    common = dict(target="t", host_header="", mode="closed", settings={}, started_at=0.0,
                  stop_reason="stopped", max_in_flight=4, cold_start=ColdStartReport())
    assert summarize(records, **common).rate > 1000  # vegeta's rate over the starts alone
    assert summarize(records, **common, stopped_at=2.0).rate == pytest.approx(2.0, rel=1e-3)
