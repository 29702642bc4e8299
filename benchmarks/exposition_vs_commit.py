"""Prometheus text writers against an earlier commit, side by side in one run.

Times the three writers that share :mod:`sdobs_exporters.exposition_text`: the twin's history
renderer (one revision at 1 request/s for ``--hours`` simulated hours, rendered to OpenMetrics
with the GPU, SD-exporter and cluster series: CPU seconds per render), the live twin's
queue-proxy and autoscaler expositions, and one GPU exporter scrape of ``gpu_exporter_scrape``'s
8 simulated A100s (CPU microseconds per call). Each side runs in its own process from this
checkout and from ``--baseline`` (extracted with ``git archive``), alternating so that load from
elsewhere on the machine falls on both alike; the best of ``--rounds`` is compared and the
ratio baseline / this checkout printed (>= 1.0: this checkout is no slower). Both sides' output
bytes are hashed (the exporter's own collection time and duration masked) and must be equal.

Run: ``.venv/bin/python benchmarks/exposition_vs_commit.py --baseline 72be392 [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CODE = """
import sys, time, hashlib, json, tempfile, os, re
tree = {tree!r}
sys.path[:0] = [tree, os.path.join(tree, 'exporters'), os.path.join(tree, 'benchmarks')]
import sdobs, sdobs_exporters
assert sdobs.__file__.startswith(tree) and sdobs_exporters.__file__.startswith(tree)
from sdobs.knative.dialects import OPENCENSUS, OPENTELEMETRY
from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.live import exposition as live
from sdobs.sim.manifest import load_text
from sdobs.sim.render import RenderOptions, render_to_file
from sdobs.sim.servicetime import Txt2Img
from sdobs.sim.traffic import Poisson, RequestMix, Traffic
import sim_speed, gpu_exporter_scrape

(svc,), _ = load_text(sim_speed.ONE_REVISION)
traffic = Traffic(sources=[Poisson(1.0)], mix=RequestMix(((1.0, Txt2Img(steps=20)),)))
log = simulate_service(svc, traffic, SimOptions(duration=3600 * {hours!r}, seed=1))
opts = RenderOptions(start_epoch=1_717_200_000.0, dialects=(OPENCENSUS, OPENTELEMETRY))
# The GPU exporter's own collection time and duration differ run to run: masked.
TIMED = re.compile(rb"((?:_collection_duration_seconds|_last_success_timestamp_seconds)"
                   rb"(?:\\{{[^}}]*\\}})?) \\S+")
def digest(text):
    return hashlib.sha256(TIMED.sub(rb"\\1 T", text)).hexdigest()
out = {{}}
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'h.om')
    c0 = time.process_time()
    render_to_file([log], path, opts)
    out['history_s'] = time.process_time() - c0
    out['history_sha'] = digest(open(path, 'rb').read())

spec = svc.revisions[0]
stats = live.PodStats()
for i in range(400):
    for d in (OPENCENSUS, OPENTELEMETRY):
        live.observe(d, stats, i % 3 == 0, 200 if i % 7 else 503, 0.37 + i * 0.731)
rows = [live.RevisionNow(spec, 3.0, 7.5, 1.25, 2.5, i % 2, True, 3, 1, 0, 0, 3, 0.5)
        for i in range(3)]
def live_once():
    parts = []
    for d in (OPENCENSUS, OPENTELEMETRY):
        parts.append(live.queue_proxy(d, spec, 'bench-00001-deployment-abc', stats, 2))
        parts.append(live.autoscaler(d, rows))
        parts.append(live.activator(d, rows, 'activator-0'))
    return b''.join(parts)
out['live_sha'] = digest(live_once())
gpu = gpu_exporter_scrape.make_collector('default')
out['gpu_sha'] = digest(gpu.render())
for key, fn, n in (('live_us', live_once, 300), ('gpu_us', gpu.render, 1000)):
    fn()
    best = float('inf')
    for _ in range(5):
        c0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - c0) / n * 1e6)
    out[key] = best
print(json.dumps(out))
"""


def _extract(commit: str, into: Path) -> None:
    data = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "sdobs", "exporters",
                           "benchmarks"], check=True, capture_output=True).stdout
    archive = into / "src.tar"
    archive.write_bytes(data)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def _one(tree: Path, hours: float) -> dict[str, float | str]:
    out = subprocess.run([sys.executable, "-c", _CODE.format(tree=str(tree), hours=hours)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=True, help="the commit to compare against")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--hours", type=float, default=6.0, help="simulated hours of history")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        _extract(args.baseline, base)
        runs: dict[str, list[dict[str, float | str]]] = {"baseline": [], "this": []}
        for _ in range(args.rounds):
            runs["baseline"].append(_one(base, args.hours))
            runs["this"].append(_one(ROOT, args.hours))
    for sha in ("history_sha", "live_sha", "gpu_sha"):
        seen = {r[sha] for side in runs.values() for r in side}
        if len(seen) != 1:
            raise SystemExit(f"{sha}: the two sides wrote different bytes")
    print(f"{args.rounds} rounds, alternating; best of each (output bytes identical on both sides)")
    for key, what in (("history_s", f"history render, {args.hours:g} h, CPU s"),
                      ("live_us", "live twin expositions, CPU µs/call"),
                      ("gpu_us", "GPU exporter scrape, CPU µs/call")):
        b = min(float(r[key]) for r in runs["baseline"])
        t = min(float(r[key]) for r in runs["this"])
        print(f"  {what:40s} baseline {b:10.3f}  this {t:10.3f}  ratio {b / t:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
