"""Fleet capacity on Dask: 50 services x a reduced sweep, serially vs on a Dask LocalCluster.

The fleet is the demo's six busy services cycled to 50 (each copy renamed, with its own seed), one
hour of history ending at a fixed time, backfilled into a real Prometheus. Measured side by
side in one run:

- the history read: batched (one query per signal for the fleet) vs one read per service;
- the replays of every (service, setting) task: serially in this process (the baseline) vs on
  a ``LocalCluster`` of ``--workers`` single-threaded worker processes (started before the
  clock; its start-up is printed apart). Parallel efficiency = serial / (dask x workers).

Then the measured serial cost per task projects 500 services on N workers (printed; the
figures are written into benchmarks/README.md by hand). The results of the two runs are
checked to be identical, value for value.

Run: .venv/bin/python benchmarks/capacity_fleet.py [--services 50] [--hours 1] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from sdobs.capacity.analysis import conclude
from sdobs.capacity.cost import PriceTable
from sdobs.capacity.fleet import dask_client, dask_runner, prepare_fleet, run_serial
from sdobs.capacity.history import load_histories, load_history
from sdobs.capacity.whatif import Setting
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus
from sdobs.sim.manifest import ServiceSpec, TrafficTarget
from sdobs.sim.scenarios import DEFAULT_SCENARIO, Scenario, load_scenario

END = 1_779_998_400  # 2026-05-28T20:00Z, as the capacity tests
SLO = 60.0
#: The reduced sweep: the deployed settings, a warm pod, a lower utilisation target.
SETTINGS = [Setting("as deployed"), Setting("warm pod", min_scale=1),
            Setting("TU 70 %", target_utilization=70)]  # fmt: skip


def renamed(svc: ServiceSpec, name: str) -> ServiceSpec:
    """The same Service under another name (its revisions and traffic renamed with it)."""
    def rev_name(old: str) -> str:
        return name + old[len(svc.name):] if old.startswith(svc.name) else f"{name}-{old}"

    revisions = tuple(replace(r, name=rev_name(r.name), service=name,
                              configuration=name) for r in svc.revisions)  # fmt: skip
    traffic = tuple(TrafficTarget(rev_name(t.revision), t.percent, t.tag) for t in svc.traffic)
    return replace(svc, name=name, revisions=revisions, traffic=traffic)


#: Demo services left out: they have no request in most hours (night-time batch, a trickle).
QUIET = ("sd-batch", "sd-sketch", "sd-internal")


def fleet_scenario(services: int, hours: float) -> Scenario:
    demo = load_scenario(DEFAULT_SCENARIO)
    busy = [r for r in demo.runs if r.service.name not in QUIET]
    runs = []
    for i in range(services):
        run = busy[i % len(busy)]
        copy = i // len(busy)
        name = run.service.name if copy == 0 else f"{run.service.name}-c{copy}"
        runs.append(replace(run, service=renamed(run.service, name)))
    return replace(demo, runs=tuple(runs), duration=hours * 3600.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from sdobs.sim.backfill import backfill_scenario

    scenario = fleet_scenario(args.services, args.hours)
    manifests = {(r.service.namespace, r.service.name): r.service for r in scenario.runs}
    print(f"{args.services} services x {len(SETTINGS)} settings, {args.hours:g} h of history; "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start (shared machine)")
    with tempfile.TemporaryDirectory() as work:
        prom = LocalPrometheus(Path(work) / "prometheus")
        t = time.perf_counter()
        summary = backfill_scenario(scenario, prom.tsdb, end_epoch=END, jobs=2)
        print(f"backfill: {time.perf_counter() - t:.1f} s")
        prom.start()
        try:
            with PrometheusClient(prom.url, timeout=600) as client:
                run(client, summary.start_epoch, summary.end_epoch, manifests, args)
        finally:
            prom.stop()


def run(client, start, end, manifests, args) -> None:
    t = time.perf_counter()
    fleet = load_histories(client, start, end)
    t_batch = time.perf_counter() - t
    t = time.perf_counter()
    for ns, svc in fleet.histories:
        load_history(client, ns, svc, start, end)
    t_each = time.perf_counter() - t
    n = len(fleet.histories)
    print(f"history read: batched {t_batch:5.2f} s ({fleet.queries} requests) vs per service "
          f"{t_each:5.2f} s ({n} x {fleet.queries} requests): {t_each / t_batch:.1f}x")
    prices = PriceTable()
    works, skipped = prepare_fleet(fleet, manifests, slo_seconds=SLO, prices=prices,
                                   settings=SETTINGS)  # fmt: skip
    assert not skipped, skipped
    tasks = sum(len(w.settings) for w in works)
    t = time.perf_counter()
    serial = run_serial(works)
    t_serial = time.perf_counter() - t
    t = time.perf_counter()
    with dask_client(workers=args.workers) as dask:
        t_start = time.perf_counter() - t
        t = time.perf_counter()
        parallel = dask_runner(dask)(works)
        t_dask = time.perf_counter() - t
    load = os.getloadavg()[0]
    a = pd.concat([conclude(w, r).frame for w, r in zip(works, serial, strict=True)])
    b = pd.concat([conclude(w, r).frame for w, r in zip(works, parallel, strict=True)])
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    per_task = t_serial / tasks
    eff = t_serial / (t_dask * args.workers)
    print(f"replays, {tasks} tasks: serial {t_serial:6.1f} s ({per_task:.2f} s a task), "
          f"Dask {args.workers} workers {t_dask:6.1f} s (cluster start {t_start:.1f} s apart)")
    print(f"speed-up {t_serial / t_dask:.2f}x, parallel efficiency "
          f"serial/(dask x workers) = {eff:.2f}; results identical; load {load:.1f} at end")
    print("projection, 500 services x this sweep, at the measured task cost and efficiency:")
    for workers in (2, 16, 64, 256):
        seconds = 500 * len(SETTINGS) * per_task / (workers * eff)
        print(f"  {workers:4d} workers: {seconds / 60:7.1f} min")


if __name__ == "__main__":
    main()
