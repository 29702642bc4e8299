"""Fill a local Prometheus TSDB with a scenario's history: simulate, render, promtool, in parallel.

Each Service is simulated and rendered into its own OpenMetrics shard by a worker process; as
shards finish, ``promtool tsdb create-blocks-from openmetrics`` turns them into blocks in the
TSDB (Prometheus 2.39+ merges the overlapping blocks). Shards are deleted once ingested unless
kept. ``sdobs simulate`` and ``sdobs demo`` call :func:`backfill_scenario`.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdobs.sim.engine import ServiceLog, simulate_service
from sdobs.sim.render import (
    OpenMetricsWriter,
    RenderOptions,
    render_control_plane_up,
    render_service,
)
from sdobs.sim.scenarios import Scenario


class BackfillError(RuntimeError):
    """The history could not be written into the TSDB; the message says what to do."""


@dataclass
class ShardResult:
    """What one Service's worker produced."""

    service: str
    namespace: str
    path: Path
    requests: dict[int, int]  # status code seen by clients -> requests
    qp_requests: dict[int, int]  # status code at queue-proxy -> requests
    pods: int
    samples: int
    series: int
    bytes: int
    simulate_seconds: float
    render_seconds: float
    events: int


@dataclass
class BackfillSummary:
    start_epoch: float
    end_epoch: float
    shards: list[ShardResult] = field(default_factory=list)
    simulate_seconds: float = 0.0  # summed over workers
    render_seconds: float = 0.0
    promtool_seconds: float = 0.0  # summed over promtool runs
    wall_seconds: float = 0.0
    tsdb: Path | None = None

    @property
    def samples(self) -> int:
        return sum(s.samples for s in self.shards)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    @property
    def requests(self) -> int:
        return sum(sum(s.requests.values()) for s in self.shards)

    @property
    def pods(self) -> int:
        return sum(s.pods for s in self.shards)


class Progress:
    """A one-line progress bar with an ETA on stderr (plain lines when it is not a terminal).

    On a terminal the line is redrawn every second (:meth:`start` ... :meth:`close`), so the
    elapsed time moves while the first, longest step runs; elsewhere a line is printed per step.
    """

    def __init__(self, total: float, *, stream=None, enabled: bool = True) -> None:
        self.total = max(total, 1e-9)
        self.done = 0.0
        self.what = "starting"
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.perf_counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._finished = False

    def line(self, now: float | None = None) -> str:
        """The bar, the share done, the elapsed time, the ETA and what was done last."""
        elapsed = (time.perf_counter() if now is None else now) - self.started
        frac = self.done / self.total
        if frac == 0:
            eta = "ETA    ?"
        elif frac < 1:
            eta = f"ETA {elapsed / frac - elapsed:4.0f}s"
        else:
            eta = "done    "
        bar = "#" * int(frac * 30)
        return f"[{bar:<30}] {frac * 100:5.1f}%  {elapsed:5.0f}s  {eta}  {self.what}"

    def start(self, what: str) -> Progress:
        """Show the bar at 0 % with what is being done (and keep it ticking on a terminal)."""
        self.what = what
        if self.enabled:
            self._draw()
            if self.tty:
                self._ticker = threading.Thread(target=self._tick, daemon=True,
                                                name="sdobs-progress")
                self._ticker.start()
        return self

    def step(self, what: str, n: float = 1) -> None:
        with self._lock:
            self.done = min(self.total, self.done + n)
            self.what = what
        if self.enabled:
            self._draw()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(2)
            self._ticker = None
            with self._lock:
                if not self._finished:
                    self._finished = True
                    self.stream.write("\n")
                    self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._draw()

    def _draw(self) -> None:
        with self._lock:
            if self._finished:
                return
            line = self.line()
            self._finished = self.done >= self.total
            if self.tty:
                self.stream.write("\r" + line[:110].ljust(110) + ("\n" if self._finished else ""))
            else:
                self.stream.write(line + "\n")
            self.stream.flush()


def _codes(codes: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(codes[codes > 0], return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def run_shard(scenario: Scenario, index: int, start_epoch: float, options: RenderOptions,
              path: Path) -> ShardResult:
    """Simulate and render one Service of a scenario into ``path`` (runs in a worker)."""
    run = scenario.runs[index]
    t0 = time.perf_counter()
    log = simulate_service(run.service, run.traffic, scenario.options(index, start_epoch),
                           pod_id_base=index * 1_000_000, ip_base=index * 65536)
    t1 = time.perf_counter()
    writer = OpenMetricsWriter(path)
    try:
        render_service(log, writer, options)
    except BaseException:
        writer.abort()
        raise
    stats = writer.close()
    t2 = time.perf_counter()
    return ShardResult(
        service=run.service.name, namespace=run.service.namespace, path=path,
        requests=_codes(_rendered(log, "code", "t_end")),
        qp_requests=_codes(_rendered(log, "code_qp", "t_qp_end")), pods=len(log.pod_names),
        samples=stats.samples, series=stats.series, bytes=stats.bytes,
        simulate_seconds=t1 - t0, render_seconds=t2 - t1, events=log.events,
    )


def _rendered(log: ServiceLog, code: str, when: str) -> np.ndarray:
    """Codes of requests that ended inside the rendered window."""
    r = log.requests
    m = (r[when] >= log.start) & (r[when] <= log.end)
    return r[code][m]


def _check_tsdb(tsdb: Path, replace: bool) -> None:
    lock = tsdb / "lock"
    if lock.exists():
        with open(lock, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
            except OSError:
                raise BackfillError(
                    f"a Prometheus is running on {tsdb}; stop it before backfilling "
                    "(history ending now would overlap its head block)") from None
    if tsdb.exists() and any(tsdb.iterdir()):
        if not replace:
            raise BackfillError(f"{tsdb} already holds data; pass --replace to start it afresh "
                                "or choose another --dir")
        shutil.rmtree(tsdb)


def backfill_scenario(
    scenario: Scenario,
    tsdb: str | Path,
    *,
    end_epoch: float | None = None,
    jobs: int = 2,
    gpu_naming: str | None = "default",
    replace: bool = False,
    keep_openmetrics: Path | None = None,
    work_dir: Path | None = None,
    progress: Progress | None = None,
    promtool: Callable[[Path, Path], float] | None = None,
) -> BackfillSummary:
    """Simulate ``scenario`` and write its history into the Prometheus TSDB at ``tsdb``.

    Shards are written to ``keep_openmetrics`` (kept), else to ``work_dir`` or a temporary
    folder (removed at the end). Worker processes die with this process, and an interruption
    (KeyboardInterrupt, or SIGTERM turned into one by the caller) ends them and removes the
    shards; after a SIGKILL only a ``work_dir`` can be cleaned, by the next call.
    """
    from sdobs.prom.harness import backfill as promtool_backfill

    ingest = promtool or (lambda om, db: promtool_backfill(om, db))
    tsdb = Path(tsdb)
    _check_tsdb(tsdb, replace)
    tsdb.mkdir(parents=True, exist_ok=True)
    interval = int(scenario.scrape_interval)
    end = math.floor((time.time() if end_epoch is None else end_epoch) / interval) * interval
    start = end - scenario.duration
    options = RenderOptions(start_epoch=start, scrape_interval=interval,
                            dialects=scenario.dialects, gpu_naming=gpu_naming,
                            activators=scenario.cluster.activators)
    if keep_openmetrics:
        work = Path(keep_openmetrics)
    elif work_dir is not None:
        work = Path(work_dir)
        shutil.rmtree(work, ignore_errors=True)  # what a killed earlier run left
    else:
        work = Path(tempfile.mkdtemp(prefix="sdobs-backfill-"))
    work.mkdir(parents=True, exist_ok=True)
    n = len(scenario.runs)
    progress = progress or Progress(2 * n + 1, enabled=False)
    # The bar moves by each Service's share of the work (its request rate), so the ETA does not
    # jump when a light Service finishes first; the control plane's share is small.
    weights = {scenario.runs[i].service.name: _weight(scenario, i) for i in range(n)}
    cp_weight = 0.01 * sum(weights.values())
    progress.total = 2 * sum(weights.values()) + cp_weight
    summary = BackfillSummary(start, end, tsdb=tsdb)
    started = time.perf_counter()
    # Heaviest first, so the last worker to finish is not the one with the busiest Service.
    order = sorted(range(n), key=lambda i: -_weight(scenario, i))
    ctx = multiprocessing.get_context("fork") if sys.platform != "win32" else None
    procs = ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx,
                                initializer=_worker_init)
    threads = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        pending: dict[Future, str] = {}
        for i in order:
            path = work / f"{i:03d}-{scenario.runs[i].service.name}.om"
            fut = procs.submit(run_shard, scenario, i, start, options, path)
            pending[fut] = "shard"
        cp = work / "control-plane.om"
        writer = OpenMetricsWriter(cp)
        render_control_plane_up(writer, options, start, end)
        writer.close()
        pending[threads.submit(_ingest, ingest, cp, tsdb, keep_openmetrics is None)] = "cp"
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                kind = pending.pop(fut)
                result = fut.result()
                if kind == "shard":
                    summary.shards.append(result)
                    summary.simulate_seconds += result.simulate_seconds
                    summary.render_seconds += result.render_seconds
                    progress.step(f"simulated and rendered {result.service}",
                                  weights[result.service])
                    job = threads.submit(_ingest, ingest, result.path, tsdb,
                                         keep_openmetrics is None)
                    pending[job] = f"ingest {result.service}"
                else:
                    summary.promtool_seconds += result
                    name = kind.removeprefix("ingest ")
                    progress.step(f"backfilled {name}" if kind != "cp" else
                                  "backfilled the control plane",
                                  weights.get(name, cp_weight))
    except BaseException:
        _end_workers(procs)
        raise
    finally:
        procs.shutdown(wait=True, cancel_futures=True)
        threads.shutdown(wait=True, cancel_futures=True)  # promtool runs end by themselves
        if keep_openmetrics is None:
            shutil.rmtree(work, ignore_errors=True)
    summary.wall_seconds = time.perf_counter() - started
    summary.shards.sort(key=lambda s: (s.namespace, s.service))
    return summary


def _worker_init() -> None:  # pragma: no cover - runs in each worker process
    """Workers die with their parent and leave Ctrl-C (sent to the whole group) to it."""
    from sdobs.prom.harness import die_with_parent

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _end_workers(procs: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes now (shutdown() alone waits for running shards)."""
    for proc in list((getattr(procs, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            proc.terminate()


def _weight(scenario: Scenario, i: int) -> float:
    run = scenario.runs[i]
    return sum(getattr(s, "rate", 0.0) for s in run.traffic.sources) + 0.01


def _ingest(ingest: Callable[[Path, Path], float], path: Path, tsdb: Path, delete: bool) -> float:
    try:
        return ingest(path, tsdb)
    finally:
        if delete:
            with contextlib.suppress(OSError):
                os.unlink(path)
