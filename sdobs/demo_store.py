"""``sdobs demo --store victoriametrics``: the demo's story on VictoriaMetrics.

Prometheus stays the default store. With this flag the demo runs a
:class:`~sdobs.prom.victoria_stack.VictoriaStack` in its place: vmagent scrapes the live twin
(the same jobs and file-SD targets Prometheus would scrape), the scenario's history goes in
through the import API, vmalert evaluates sdobs' rules, and the app reads VictoriaMetrics.
"""

from __future__ import annotations

import argparse
from pathlib import Path

STORES = ("prometheus", "victoriametrics")


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", choices=STORES, default="prometheus",
                        help="the metrics store the demo runs (default prometheus; "
                             "victoriametrics: VictoriaMetrics, vmagent, vmalert)")


def victoria_stack(state: Path, *, port: int, scrape_interval: str, scrape_configs,
                   file_sd_jobs):
    from sdobs.prom.victoria_stack import VictoriaStack

    return VictoriaStack(state / "victoriametrics", port=port, scrape_interval=scrape_interval,
                         evaluation_interval=scrape_interval, scrape_configs=scrape_configs,
                         file_sd_jobs=file_sd_jobs)


def ensure_history(state: Path, scenario, stack) -> float | None:
    """Import the scenario's history into the running store unless a complete one is there;
    returns where a new one ends (like the Prometheus demo's backfill)."""
    from sdobs.demo import _history_complete, _history_state, _write_history_state
    from sdobs.sim.backfill import Progress, backfill_scenario

    folder = stack.workdir
    if _history_state(folder).get("state") == "complete":
        return None
    hours, n = scenario.duration / 3600, len(scenario.runs)
    _write_history_state(folder, state="started", scenario=scenario.name)
    progress = Progress(2 * n + 1).start(
        f"simulating {hours:g} h of {n} services ({scenario.dialects[0].name}), "
        "then importing them into VictoriaMetrics")

    def ingest(openmetrics: Path, _unused: Path) -> float:
        import time

        started = time.perf_counter()
        stack.store.import_openmetrics_file(openmetrics)
        return time.perf_counter() - started

    try:
        summary = backfill_scenario(scenario, folder / "import-scratch", replace=True,
                                    progress=progress, work_dir=state / "backfill-work",
                                    promtool=ingest)
    finally:
        progress.close()
    return _history_complete(folder, scenario.name, summary)
