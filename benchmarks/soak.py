"""Soak: the demo under steady background traffic plus back-to-back load tests (issue 16).

``sdobs demo --no-history`` runs on free loopback ports in its own temporary directory, with
background traffic to the fleet services; ``sdobs loadtest -c 5 -n 20`` (the reference story,
with 5 sampling steps so that more runs fit) runs against the reference service again and again
for the given minutes. Every load test must
answer every request; the resident memory of the demo and of its Prometheus must stay flat
after the first (warm-up) load test, and their open file descriptors must come back to the
warm baseline once the load has stopped and the pods have gone (up to 3 minutes). Prints the
figures; exit status 1 when a check fails.

    .venv/bin/python benchmarks/soak.py --minutes 5
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sdobs.prom.harness import free_port  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
#: Memory is flat when the last sample is within this of the warm one (Python's allocator keeps
#: arenas, so a little growth after warm-up is normal; a leak grows with every load test).
RSS_SLACK = (1.15, 24 * 2**20)
FD_SLACK = 4
#: How long the soak waits after the load for the pods to go back to zero (KPA: about 60 s of
#: stable window plus the scale-to-zero grace period).
QUIET_S = 180


@dataclass
class Sample:
    t: float
    rss: dict[str, int]
    fds: dict[str, int]


@dataclass
class Soak:
    minutes: float
    samples: list[Sample] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    quiet_s: float = 0.0


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def _wait_http(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the demo exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:g} s")


def run(minutes: float, concurrency: int = 5, requests: int = 20, steps: int = 5) -> Soak:
    soak = Soak(minutes)
    ports = {k: free_port() for k in ("prometheus", "gateway", "twin", "app")}
    with tempfile.TemporaryDirectory(prefix="sdobs-soak-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        demo = subprocess.Popen(
            [sys.executable, "-m", "sdobs.cli", "demo", "--dir", str(Path(tmp) / "demo"),
             "--no-history", "--no-app", "--background-rate", "0.2",
             "--prometheus-port", str(ports["prometheus"]),
             "--gateway-port", str(ports["gateway"]),
             "--twin-metrics-port", str(ports["twin"]), "--app-port", str(ports["app"])],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            _wait_http(f"http://127.0.0.1:{ports['prometheus']}/-/ready", demo)
            _wait_http(f"http://127.0.0.1:{ports['twin']}/healthz", demo)
            procs = {"demo": demo.pid}
            for child in _children(demo.pid):
                if _comm(child).startswith("prometheus"):
                    procs["prometheus"] = child
            target = f"http://127.0.0.1:{ports['gateway']}/services/default/knative-sd-demo"

            def sample() -> None:
                soak.samples.append(Sample(time.monotonic(), {k: _rss(p) for k, p in procs.items()},
                                           {k: _fds(p) for k, p in procs.items()}))

            sample()
            end = time.monotonic() + minutes * 60
            while time.monotonic() < end or len(soak.runs) < 2:
                summary = Path(tmp) / f"s{len(soak.runs)}.json"
                lt = subprocess.run(
                    [sys.executable, "-m", "sdobs.cli", "loadtest", target, "-c",
                     str(concurrency), "-n", str(requests), "--steps", str(steps), "--no-progress",
                     "--summary", str(summary), "--timeout", "120s"],
                    env=env, capture_output=True, text=True, timeout=600, check=False,
                )
                doc = json.loads(summary.read_text()) if summary.exists() else {}
                soak.runs.append({"rc": lt.returncode, "requests": doc.get("requests"),
                                  "ok": round(doc.get("success", 0) * doc.get("requests", 0)),
                                  # vegeta's JSON: nanoseconds
                                  "p99": (doc.get("latencies", {}).get("99th") or 0) / 1e9,
                                  "errors": doc.get("errors", [])})
                sample()
            # Open files follow the pods: each pod is a scrape target with its own connection.
            # Back to baseline means once the reference service is back at zero (about a
            # minute after the last response), so wait for that, at most QUIET_S.
            quiet_until = time.monotonic() + QUIET_S
            while True:
                time.sleep(5)
                sample()
                warm = soak.samples[1]
                if all(soak.samples[-1].fds[k] <= warm.fds[k] + FD_SLACK for k in procs) or \
                        time.monotonic() > quiet_until:
                    break
            soak.quiet_s = soak.samples[-1].t - soak.samples[len(soak.runs)].t
        finally:
            demo.send_signal(signal.SIGTERM)
            try:
                _, err = demo.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                demo.kill()
                _, err = demo.communicate()
        if demo.returncode not in (0, -signal.SIGTERM, 143):
            soak.problems.append(f"the demo exited with {demo.returncode}: {err[-300:]}")
    _check(soak, requests)
    return soak


def _check(soak: Soak, requests: int) -> None:
    for i, r in enumerate(soak.runs):
        if r["rc"] != 0 or r["requests"] != requests or r["ok"] != requests:
            soak.problems.append(f"load test {i + 1}: {r['ok']}/{r['requests']} answered "
                                 f"(exit {r['rc']}, {r['errors'][:3]})")
    warm, last = soak.samples[1], soak.samples[-1]
    for name, rss in last.rss.items():
        limit = warm.rss[name] * RSS_SLACK[0] + RSS_SLACK[1]
        if rss > limit:
            soak.problems.append(f"{name}: memory grew from {warm.rss[name] / 2**20:.0f} MiB "
                                 f"(warm) to {rss / 2**20:.0f} MiB")
    for name, fds in last.fds.items():
        if fds > warm.fds[name] + FD_SLACK:
            soak.problems.append(f"{name}: {fds} open files after the load, {warm.fds[name]} "
                                 "when warm")


def report(soak: Soak) -> str:
    first, warm, last = soak.samples[0], soak.samples[1], soak.samples[-1]
    minutes = (last.t - first.t) / 60
    answered = sum(r["ok"] or 0 for r in soak.runs)
    sent = sum(r["requests"] or 0 for r in soak.runs)
    lines = [f"soak: {minutes:.1f} min, {len(soak.runs)} load tests, {answered}/{sent} answered"]
    for name in last.rss:
        lines.append(f"  {name}: RSS {first.rss[name] / 2**20:.0f} -> {warm.rss[name] / 2**20:.0f}"
                     f" (warm) -> {last.rss[name] / 2**20:.0f} MiB (end, "
                     f"{last.rss[name] / warm.rss[name]:.3f}x warm); open files "
                     f"{first.fds[name]} -> {warm.fds[name]} (warm) -> {last.fds[name]} "
                     f"({soak.quiet_s:.0f} s after the load)")
    p99 = [r["p99"] for r in soak.runs if r["p99"]]
    if p99:
        lines.append(f"  load test P99: first {p99[0]:.2f} s, last {p99[-1]:.2f} s")
    lines += [f"  PROBLEM: {p}" for p in soak.problems] or ["  every check passed"]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=5.0)
    args = p.parse_args()
    soak = run(args.minutes)
    print(report(soak))
    return 1 if soak.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
