"""``sdobs loadtest``: the table, the files, user errors in one sentence, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eventually import eventually

from sdobs.cli import main


def test_portal_run_prints_the_table_and_writes_files(fake_a1111, tmp_path, capsys) -> None:
    server = fake_a1111(delay=0.01)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# comment\nthe first private prompt\n\nthe second private prompt\n")
    rc = main(
        [
            "loadtest",
            server.url,
            "-c",
            "5",
            "-n",
            "20",
            "--host",
            "sd.default.example.com",
            "--prompt-file",
            str(prompts),
            "--steps",
            "4",
            "--size",
            "64x64",
            "--seed",
            "42",
            "--records",
            str(tmp_path / "r.jsonl"),
            "--summary",
            str(tmp_path / "s.json"),
            "--save-images",
            str(tmp_path / "img"),
            "--metrics-port",
            "0",
            "--metrics-linger",
            "0",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0
    assert "Latencies" in out and "200:20" in out and "closed loop, 5 in flight, 20 requests" in out
    assert "client-side metrics at http://127.0.0.1:" in err
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["requests"] == 20 and doc["success"] == 1.0 and doc["settings"]["prompts"] == 2
    assert doc["settings"]["width"] == 64 and doc["host"] == "sd.default.example.com"
    assert len(list((tmp_path / "img").iterdir())) == 20
    assert set(server.hosts) == {"sd.default.example.com"}
    everything = out + err + (tmp_path / "r.jsonl").read_text() + (tmp_path / "s.json").read_text()
    assert "private" not in everything


def test_json_output_and_exit_status_when_nothing_succeeds(fake_a1111, capsys) -> None:
    server = fake_a1111()
    rc = main(["loadtest", server.url + "/x/503", "-c", "1", "-n", "2", "--json", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1 and json.loads(out)["error_kinds"] == {"http_503": 2}


def test_user_errors_are_one_sentence(capsys, tmp_path) -> None:
    cases = [
        ["loadtest", "localhost:7860"],
        ["loadtest", "http://127.0.0.1:9", "-c", "100000"],
        ["loadtest", "http://127.0.0.1:9", "--records", str(tmp_path / "r.txt")],
        ["loadtest", "http://127.0.0.1:9", "--prompt-file", str(tmp_path / "missing.txt")],
        ["loadtest", "http://127.0.0.1:9", "--extra", "[1]"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("sdobs loadtest: ") and "\n" not in err and "Traceback" not in err


def test_ctrl_c_stops_cleanly_and_still_writes(fake_a1111, tmp_path) -> None:
    server = fake_a1111(delay=30.0)
    cmd = [
        sys.executable,
        "-m",
        "sdobs.cli",
        "loadtest",
        server.url,
        "-c",
        "2",
        "-n",
        "10",
        "--records",
        str(tmp_path / "r.jsonl"),
        "--summary",
        str(tmp_path / "s.json"),
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        eventually(lambda: server.in_flight >= 2, timeout=20, interval=0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopping" in err
    assert "Cancelled" in out
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["cancelled"] == 2 and doc["stop_reason"] == "stopped"
    assert (tmp_path / "r.jsonl").read_text().count("cancelled") == 2


def test_json_summary_is_in_vegetas_units(fake_a1111, tmp_path, capsys) -> None:
    """``--json``: where a key is vegeta's (lib/metrics.go), its value is in vegeta's unit.

    vegeta writes Go ``time.Duration`` fields, integer nanoseconds: a tool reading vegeta's
    JSON (Go's decoder refuses a fraction there; others take the number as nanoseconds) must
    read a 0.2 s latency as 200000000, never as 0.2."""
    server = fake_a1111(delay=0.2)
    records = tmp_path / "r.jsonl"
    rc = main(["loadtest", server.url, "-c", "5", "-n", "20", "--json", "--no-progress",
               "--records", str(records)])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["time_unit"] == "nanoseconds"
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    latencies = sorted(r["latency"] for r in rows)
    lat = doc["latencies"]
    for key in ("total", "mean", "50th", "90th", "95th", "99th", "max", "min"):
        assert isinstance(lat[key], int), key  # Go's json: time.Duration is an int64
    assert lat["min"] == round(latencies[0] * 1e9) and lat["max"] == round(latencies[-1] * 1e9)
    assert 0.2e9 <= lat["min"] <= lat["50th"] <= lat["max"] < 5e9  # a 0.2 s service time
    # The attack lasted about four rounds of five requests at 0.2 s each: 0.6 s between the
    # first and last send, then about 0.2 s waiting.
    assert isinstance(doc["duration"], int) and isinstance(doc["wait"], int)
    assert 0.5e9 < doc["duration"] < 5e9 and 0.19e9 < doc["wait"] < 5e9
    assert doc["rate"] == pytest.approx(20 / (doc["duration"] / 1e9))  # per second, as vegeta
    # sdobs' own distributions share the shape and the unit; sdobs' seconds say so in the key.
    assert isinstance(doc["success_latencies"]["50th"], int)
    assert doc["settings"]["timeout_s"] == 330 and "timeout" not in doc["settings"]
    counts = {"count", "requests", "candidates", "idle_periods"}
    assert all(k.endswith("_s") for k in set(doc["cold_start"]) - counts), doc["cold_start"]
