"""Fleet capacity on Dask: 50 services x a reduced sweep, serially vs on a Dask LocalCluster.

The fleet is the demo's six busy services cycled to 50 (each copy renamed, with its own seed), one
two hours of history ending at a fixed time, backfilled into a real Prometheus. Measured side by
side in one run:

- the history read: batched (one query per signal for the fleet) vs one read per service, and
  both again with the plain catalog forms (canonical labels copied onto every raw series: the
  queries before they grouped on the dialect's own label names);
- the replays of every (service, setting) task: serially in this process (the baseline) vs on
  a ``LocalCluster`` of ``--workers`` single-threaded worker processes (started before the
  clock; its start-up is printed apart). Parallel efficiency = serial / (dask x workers).

Then the measured serial cost per task projects 500 services on N workers (printed; the
figures are written into benchmarks/README.md by hand). The results of the two runs are
checked to be identical, value for value.

Run: .venv/bin/python benchmarks/capacity_fleet.py [--services 50] [--hours 2] [--workers 2]
     [--rounds 2] [--read-only]
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from sdobs.capacity.analysis import conclude
from sdobs.capacity.cost import PriceTable
from sdobs.capacity.fleet import dask_client, dask_runner, prepare_fleet, run_serial
from sdobs.capacity.history import SERVICE_KEYS, _queries, load_histories, load_history
from sdobs.capacity.whatif import Setting
from sdobs.catalog import Catalog, Selection
from sdobs.knative.detect import detect_dialect
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus
from sdobs.sim.manifest import ServiceSpec, TrafficTarget
from sdobs.sim.scenarios import DEFAULT_SCENARIO, Scenario, load_scenario

END = 1_779_998_400  # 2026-05-28T20:00Z, as the capacity tests
SLO = 60.0
#: The reduced sweep: the deployed settings, a warm pod, a lower utilisation target.
SETTINGS = [Setting("as deployed"), Setting("warm pod", min_scale=1),
            Setting("TU 70 %", target_utilization=70)]


def renamed(svc: ServiceSpec, name: str) -> ServiceSpec:
    """The same Service under another name (its revisions and traffic renamed with it)."""
    def rev_name(old: str) -> str:
        return name + old[len(svc.name):] if old.startswith(svc.name) else f"{name}-{old}"

    revisions = tuple(replace(r, name=rev_name(r.name), service=name,
                              configuration=name) for r in svc.revisions)
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
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="history reads of each way")
    parser.add_argument("--read-only", action="store_true", help="measure the reads only")
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
                run(client, prom.pid, summary.start_epoch, summary.end_epoch, manifests, args)
        finally:
            prom.stop()


def run(client, prom_pid, start, end, manifests, args) -> None:
    import psutil

    prom_proc = psutil.Process(prom_pid)

    def measured(read) -> tuple[float, float]:
        """(wall s, Prometheus CPU s) of one read: CPU is what a shared machine cannot blur."""
        c, t = sum(prom_proc.cpu_times()[:2]), time.perf_counter()
        read()
        return time.perf_counter() - t, sum(prom_proc.cpu_times()[:2]) - c

    def each() -> None:
        for ns, svc in fleet.histories:
            load_history(client, ns, svc, start, end)

    fleet = load_histories(client, start, end)  # warms Prometheus' caches for every way
    n = len(fleet.histories)
    cat = Catalog(next(iter(fleet.histories.values())).dialect)
    step = next(iter(fleet.histories.values())).step
    spans = sorted({(h.start, h.end) for h in fleet.histories.values()})

    def plain_read(sel: Selection, by: tuple[str, ...],
                   reads: list[tuple[str | None, str | None, float, float]]) -> None:
        """A read's requests with the plain catalog forms (before native grouping): the
        dialect's detection and the probe as the read makes them, then its queries."""
        detect_dialect(client, start, end)
        client.query_range(cat.pods(sel, "desired", by=by).expr, start, end, step)
        for ns, svc, a, b in reads:
            client.query_many(_queries(cat, ns, svc, a, b, step, by=by, native=False))

    def plain_batched() -> None:
        plain_read(Selection(), SERVICE_KEYS, [(None, None, a, b) for a, b in spans])

    def plain_each() -> None:
        for (ns, svc), h in fleet.histories.items():
            plain_read(Selection(namespace=ns, service=svc), (), [(ns, svc, h.start, h.end)])

    ways = {"batched": lambda: load_histories(client, start, end), "per service": each,
            "batched, plain forms": plain_batched, "per service, plain forms": plain_each}
    rounds = [{k: measured(f) for k, f in ways.items()} for _ in range(args.rounds)]
    best = {k: tuple(min(r[k][i] for r in rounds) for i in (0, 1)) for k in ways}
    print(f"history read, {fleet.queries} requests batched, {n} x {fleet.queries} per service "
          f"(best of {args.rounds}, alternated, after a warm-up; wall s, Prometheus CPU s):")
    for k, (wall, cpu) in best.items():
        print(f"  {k:26s} wall {wall:6.2f}  CPU {cpu:6.2f}")
    (b_wall, b_cpu), (e_wall, e_cpu) = best["batched"], best["per service"]
    print(f"per service / batched: wall {e_wall / b_wall:.2f}, CPU {e_cpu / b_cpu:.2f}; "
          f"batched plain / native CPU {best['batched, plain forms'][1] / b_cpu:.2f}; "
          f"per service plain / native CPU {best['per service, plain forms'][1] / e_cpu:.2f}")
    if args.read_only:
        return
    prices = PriceTable()
    works, skipped = prepare_fleet(fleet, manifests, slo_seconds=SLO, prices=prices,
                                   settings=SETTINGS)
    assert not skipped, skipped
    tasks = sum(len(w.settings) for w in works)
    t, c = time.perf_counter(), time.process_time()
    serial = run_serial(works)
    t_serial, c_serial = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    with dask_client(workers=args.workers) as dask:
        # Workers import the twin on their first task: done here, before the clock.
        dask.run(importlib.import_module, "sdobs.capacity.whatif")
        t_start = time.perf_counter() - t
        w0, c = dask.run(time.process_time), time.process_time()
        t = time.perf_counter()
        parallel = dask_runner(dask)(works)
        t_dask = time.perf_counter() - t
        # CPU of the workers (replays and their share of Dask) and of this process (client and
        # the LocalCluster's scheduler): the overhead a shared machine cannot hide or inflate.
        c_main, w1 = time.process_time() - c, dask.run(time.process_time)
    c_dask = sum(w1[k] - w0[k] for k in w0) + c_main
    load = os.getloadavg()[0]
    a = pd.concat([conclude(w, r).frame for w, r in zip(works, serial, strict=True)])
    b = pd.concat([conclude(w, r).frame for w, r in zip(works, parallel, strict=True)])
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    per_task = c_serial / tasks
    eff = t_serial / (t_dask * args.workers)
    eff_cpu = c_serial / c_dask
    print(f"replays, {tasks} tasks: serial {t_serial:6.1f} s wall, {c_serial:6.1f} s CPU "
          f"({per_task:.3f} CPU s a task); Dask, {args.workers} workers: {t_dask:6.1f} s wall, "
          f"{c_dask:6.1f} s CPU (workers + client/scheduler; cluster start and imports "
          f"{t_start:.1f} s apart)")
    print(f"wall: speed-up {t_serial / t_dask:.2f}x, parallel efficiency serial/(dask x "
          f"workers) = {eff:.2f} (load {load:.1f} at end); CPU: serial/Dask = {eff_cpu:.2f}; "
          "results identical")
    print("projection, 500 services x this sweep on N dedicated single-core workers, at the "
          "measured CPU per task and CPU efficiency:")
    for workers in (2, 16, 64, 256):
        seconds = 500 * len(SETTINGS) * per_task / (workers * eff_cpu)
        print(f"  {workers:4d} workers: {seconds / 60:7.2f} min")


if __name__ == "__main__":
    main()
