#!/usr/bin/env bash
# The GPU exporter on a real GPU: one prepared check for a machine with an NVIDIA GPU and torch.
#
#   exporters/gpu-check.sh                 # from the repository root; results in $OUT
#   OUT=/tmp/gpu-check DURATION=60 exporters/gpu-check.sh
#
# It installs prometheus-client and nvidia-ml-py into a private directory (from .whl/ when that
# folder holds wheels, else from the package index, else it uses the interpreter's own copies),
# times every NVML getter the backend calls, runs the exporter for DURATION seconds while a small
# torch matmul loop keeps the GPU busy, scrapes it every 2 s, and saves:
#   summary.txt            versions, driver, verdicts and figures (scrape time, CPU, RSS)
#   nvml-timings.json      per-getter call counts and mean/max latency over 50 reads
#   scrapes.tsv            one row per scrape: wall time, scrape seconds, collection seconds,
#                          utilisation, power, exporter RSS and CPU seconds
#   exposition-default.prom, exposition-dcgm.prom   full /metrics text in both naming modes
#   exporter.log, nvidia-smi.txt, load.log
# Exit status 0 only when the exporter reported up 1, /healthz answered 200 and the utilisation
# it exported rose above zero during the load.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/gpu-check-out}
DURATION=${DURATION:-60}
PORT=${PORT:-9402}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
SITE=$(mktemp -d /tmp/sdobs-gpu-check-XXXXXX)
EXPORTER_PID=""
LOAD_PID=""
cleanup() {
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
  [ -n "$EXPORTER_PID" ] && kill "$EXPORTER_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$SITE"
}
trap cleanup EXIT

say() { echo "$*" | tee -a "$OUT/summary.txt"; }
: >"$OUT/summary.txt"

# 1. the two dependencies, nothing else
if compgen -G "$ROOT/.whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "$ROOT"/.whl/*.whl
elif ! timeout 120 "$PY" -m pip install -q --target "$SITE" \
    "prometheus-client>=0.26,<0.27" "nvidia-ml-py>=13.615,<14" 2>"$OUT/pip.err"; then
  say "pip could not install the dependencies; using the interpreter's own copies"
fi
export PYTHONPATH="$SITE:$ROOT/exporters" PYTHONUNBUFFERED=1
"$PY" - <<'EOF' | tee -a "$OUT/summary.txt"
import platform, prometheus_client, pynvml
from importlib.metadata import version
print(f"python {platform.python_version()}, prometheus-client {version('prometheus-client')}, "
      f"nvidia-ml-py {version('nvidia-ml-py')} ({pynvml.__file__})")
EOF
nvidia-smi -q >"$OUT/nvidia-smi.txt" 2>&1 || say "nvidia-smi failed"

# 2. per-getter NVML latency, straight from the backend
"$PY" - "$OUT/nvml-timings.json" <<'EOF' | tee -a "$OUT/summary.txt"
import json, sys, time
from sdobs_exporters.gpu import BackendError, NvmlBackend
b = NvmlBackend(record_timings=True)
started = time.perf_counter()
try:
    info = b.open()
except BackendError as exc:
    json.dump({"error": exc.message}, open(sys.argv[1], "w"))
    print(f"FAIL: {exc.message}")
    sys.exit(0)  # the exporter run below still shows how it behaves without NVML
opened = time.perf_counter() - started
reads, t0 = 50, time.perf_counter()
for _ in range(reads):
    snap = b.read()
per_read = (time.perf_counter() - t0) / reads
b.close()
calls = {k: {"calls": t.calls, "mean_us": round(t.total_ns / t.calls / 1000, 1),
             "max_us": round(t.max_ns / 1000, 1)} for k, t in sorted(b.timings.items())}
json.dump({"driver": info.driver_version, "cuda": info.cuda_driver_version,
           "nvml": info.nvml_version, "gpus": [g.name for g in snap.gpus],
           "open_seconds": round(opened, 4), "reads": reads,
           "seconds_per_read": round(per_read, 6), "errors": b.error_counts, "calls": calls},
          open(sys.argv[1], "w"), indent=1)
print(f"driver {info.driver_version}, CUDA {info.cuda_driver_version}, "
      f"GPUs {[g.name for g in snap.gpus]}")
print(f"NVML open {opened * 1000:.1f} ms; one read of every GPU {per_read * 1000:.2f} ms; "
      f"errors {b.error_counts}")
slow = sorted(calls.items(), key=lambda kv: -kv[1]["mean_us"])[:5]
print("slowest getters (mean us): " + ", ".join(f"{k} {v['mean_us']}" for k, v in slow))
EOF

# 3. the exporter, served, while the GPU works
"$PY" -m sdobs_exporters.gpu --listen "127.0.0.1:$PORT" --mode none \
  >"$OUT/exporter.log" 2>&1 &
EXPORTER_PID=$!
"$PY" - "$DURATION" >"$OUT/load.log" 2>&1 <<'EOF' &
import sys, time
import torch
x = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
end, n = time.time() + float(sys.argv[1]), 0
while time.time() < end:
    for _ in range(20):
        y = x @ x
    torch.cuda.synchronize()
    n += 20
    time.sleep(0.05)  # leave some idle time in each sample period
print(f"{n} matmuls of 4096x4096 bf16")
EOF
LOAD_PID=$!

"$PY" - "$PORT" "$DURATION" "$OUT" <<'EOF' | tee -a "$OUT/summary.txt"
import sys, time, urllib.error, urllib.request
from prometheus_client.parser import text_string_to_metric_families
port, duration, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
url = f"http://127.0.0.1:{port}"

def fetch(path):
    try:
        with urllib.request.urlopen(url + path, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()

deadline = time.time() + 20
while True:
    try:
        health = fetch("/healthz")[0]
        break
    except OSError:
        if time.time() > deadline:
            print("FAIL: the exporter did not answer"); sys.exit(1)
        time.sleep(0.2)
rows, ups, utils, last = [], [], [], ""
end = time.time() + duration
while time.time() < end:
    t0 = time.perf_counter()
    status, text = fetch("/metrics")
    took = time.perf_counter() - t0
    last = text
    v = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if not s.labels or s.labels.get("gpu") == "0":
                v.setdefault(s.name, s.value)
    ups.append(v.get("sdobs_gpu_exporter_up"))
    utils.append(v.get("sdobs_gpu_utilization_ratio") or 0.0)
    rows.append([time.time(), took, v.get("sdobs_gpu_exporter_collection_duration_seconds"),
                 v.get("sdobs_gpu_utilization_ratio"), v.get("sdobs_gpu_power_watts"),
                 v.get("process_resident_memory_bytes"), v.get("process_cpu_seconds_total")])
    time.sleep(2)
with open(f"{out}/scrapes.tsv", "w") as f:
    f.write("time\tscrape_s\tcollection_s\tutilization\tpower_w\trss_bytes\tcpu_s\n")
    f.writelines("\t".join("" if x is None else str(x) for x in r) + "\n" for r in rows)
with open(f"{out}/exposition-default.prom", "w") as f:
    f.write(last)
scrape = sorted(r[1] for r in rows)
cpu = "n/a"
if rows[0][6] is not None and len(rows) > 1:  # process CPU between scrapes, idle time included
    cpu = f"{(rows[-1][6] - rows[0][6]) / (len(rows) - 1) * 1000:.1f} ms"
print(f"{len(rows)} scrapes: median {scrape[len(scrape) // 2] * 1000:.1f} ms, "
      f"max {scrape[-1] * 1000:.1f} ms; exporter RSS {(rows[-1][5] or 0) / 2**20:.1f} MiB; "
      f"exporter CPU per scrape {cpu}")
print(f"utilisation during load: max {max(utils):.2f}; up values {sorted(set(ups))}; "
      f"/healthz {health}")
ok = health == 200 and set(ups) == {1.0} and max(utils) > 0
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
EOF
STATUS=$?

"$PY" - "$OUT/exposition-dcgm.prom" <<'EOF'
import sys
from sdobs_exporters.gpu import GpuCollector, NvmlBackend
c = GpuCollector(NvmlBackend(), naming="dcgm")
open(sys.argv[1], "wb").write(c.render())
c.close()
EOF
wait "$LOAD_PID" 2>/dev/null
LOAD_PID=""
exit $STATUS
