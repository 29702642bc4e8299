"""Benchmark of ``sdobs loadtest`` against a zero-latency local A1111 endpoint, beside wrk and hey.

Measures, in one run and on the same endpoint: the requests per second the load tester
sustains on one core (closed loop), the same for ``wrk -t1`` and ``hey`` (GOMAXPROCS=1) on the
same core, and the load tester's scheduling lag at 200 requests/s open loop. Goals: at least
1,000 requests/s and a lag P99 under 5 ms. The endpoint (benchmarks/loadtest_server.py) runs on
another core when there is one; wrk may be bounded by it, which the output says.

    .venv/bin/python benchmarks/loadtest_throughput.py [--requests 20000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from sdobs.loadtest import LoadTestConfig, run_loadtest

HERE = Path(__file__).resolve().parent
BODY = json.dumps({"prompt": "benchmark", "steps": 20, "width": 512, "height": 512})
GOAL_RPS = 1000.0
GOAL_LAG_P99_S = 0.005


def _cpus() -> tuple[int, int | None]:
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[0], (cpus[1] if len(cpus) > 1 else None)


def start_server(cpu: int | None) -> tuple[subprocess.Popen[str], str]:
    """Start the zero-latency endpoint (pinned to ``cpu``) and return it with its URL."""

    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    proc = subprocess.Popen(
        [sys.executable, str(HERE / "loadtest_server.py"), "0"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=pin,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise SystemExit("benchmark: the local endpoint did not start")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/sdapi/v1/txt2img"


def sdobs_closed(url: str, concurrency: int, requests: int, cpu: int) -> float:
    """Requests per second of a closed-loop run in this process, pinned to one core."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        s = run_loadtest(LoadTestConfig(url=url, concurrency=concurrency, requests=requests))
    finally:
        os.sched_setaffinity(0, before)
    if s.success < 1.0:
        raise SystemExit(f"benchmark: sdobs run had errors {s.error_kinds}")
    return s.requests / (s.duration + s.wait)


def sdobs_open(url: str, rate: float, duration: float, cpu: int) -> dict[str, float]:
    """Scheduling lag (seconds) of a Poisson open-loop run at ``rate``."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        s = run_loadtest(
            LoadTestConfig(
                url=url, rate=rate, duration_s=duration, arrival="poisson", arrival_seed=1
            )
        )
    finally:
        os.sched_setaffinity(0, before)
    lag = s.scheduling_lag
    assert lag is not None and s.latencies is not None
    return {
        "requests": s.requests,
        "lag_p50": lag.p50,
        "lag_p99": lag.p99,
        "lag_max": lag.max,
        "latency_p99": s.latencies.p99,
        "achieved_rate": s.rate,
    }


def _run_tool(
    name: str, argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> float | None:
    """Run a baseline tool and read its Requests/sec, or say why there is none."""
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=True, env=env
        ).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"  {name} failed ({exc}); no baseline from it", file=sys.stderr)
        return None
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    return float(m.group(1)) if m else None


def wrk_rps(url: str, concurrency: int, seconds: int, cpu: int) -> float | None:
    """wrk -t1 requests per second on one core, or None when wrk is absent."""
    if shutil.which("wrk") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        fh.write(f"wrk.body = {json.dumps(BODY)}\n")
        script = fh.name
    argv = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s"]
    try:
        return _run_tool("wrk", [*argv, "-s", script, url], seconds + 30)
    finally:
        os.unlink(script)


def hey_rps(url: str, concurrency: int, requests: int, cpu: int) -> float | None:
    """hey requests per second with GOMAXPROCS=1 on one core, or None when hey is absent."""
    if shutil.which("hey") is None:
        return None
    argv = ["taskset", "-c", str(cpu), "hey", "-c", str(concurrency), "-n", str(requests)]
    argv += ["-m", "POST", "-T", "application/json", "-d", BODY, url]
    return _run_tool("hey", argv, 300, env={**os.environ, "GOMAXPROCS": "1"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each tool; median kept")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--open-duration", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    client_cpu, server_cpu = _cpus()
    server, url = start_server(server_cpu)
    figures: dict[str, object] = {"concurrency": args.concurrency, "requests": args.requests}
    try:
        sdobs_runs, wrk_runs, hey_runs = [], [], []
        for _ in range(args.repeats):
            sdobs_runs.append(sdobs_closed(url, args.concurrency, args.requests, client_cpu))
            seconds = max(2, min(10, round(args.requests / max(sdobs_runs[-1], 1.0))))
            if (w := wrk_rps(url, args.concurrency, seconds, client_cpu)) is not None:
                wrk_runs.append(w)
            if (h := hey_rps(url, args.concurrency, args.requests, client_cpu)) is not None:
                hey_runs.append(h)
        open_loop = sdobs_open(url, args.rate, args.open_duration, client_cpu)
    finally:
        server.kill()
        server.wait()
    sdobs = statistics.median(sdobs_runs)
    wrk = statistics.median(wrk_runs) if wrk_runs else None
    hey = statistics.median(hey_runs) if hey_runs else None
    figures.update(
        sdobs_rps=sdobs,
        wrk_rps=wrk,
        hey_rps=hey,
        open_loop=open_loop,
        sdobs_runs=sdobs_runs,
        wrk_runs=wrk_runs,
        hey_runs=hey_runs,
        client_cpu=client_cpu,
        server_cpu=server_cpu,
    )

    print(f"endpoint: zero-latency A1111 stand-in on cpu {server_cpu}; clients on cpu {client_cpu}")
    print(f"closed loop, {args.concurrency} in flight, median of {args.repeats} runs:")
    print(
        f"  sdobs loadtest  {sdobs:10.0f} requests/s   (goal >= {GOAL_RPS:.0f}: "
        f"{'met' if sdobs >= GOAL_RPS else 'NOT met'})"
    )
    for name, value, how in (
        ("wrk -t1", wrk, "apt-get install wrk"),
        ("hey", hey, "apt-get install hey"),
    ):
        if value is None:
            print(f"  {name:<14}  not installed ({how}): no baseline for this ratio")
        else:
            print(
                f"  {name:<14}  {value:10.0f} requests/s   sdobs/{name.split()[0]} = "
                f"{sdobs / value:.2f}"
            )
    if wrk is not None:
        print("  (wrk's figure can be bounded by the single-core Python endpoint)")
    lag = open_loop
    print(
        f"open loop, Poisson {args.rate:g}/s for {args.open_duration:g}s "
        f"({lag['requests']} requests):"
    )
    print(
        f"  scheduling lag P50 {lag['lag_p50'] * 1e3:.3f} ms, P99 {lag['lag_p99'] * 1e3:.3f} ms, "
        f"max {lag['lag_max'] * 1e3:.3f} ms   (goal P99 < 5 ms: "
        f"{'met' if lag['lag_p99'] < GOAL_LAG_P99_S else 'NOT met'})"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    ok = sdobs >= GOAL_RPS and lag["lag_p99"] < GOAL_LAG_P99_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
