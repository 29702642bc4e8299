"""The load tester: the reference portal's "N in flight, M in total" test of an A1111 endpoint,
plus open-loop arrivals, with exact client-side latencies, cold starts and Prometheus metrics.

Import from here: ``LoadTestConfig``, ``Txt2ImgOptions``, ``LoadTest`` (background run with
progress, stop and per-image callbacks), ``run_loadtest`` (blocking), ``Summary``, ``Limits``.
"""

from __future__ import annotations

from pathlib import Path

from sdobs.loadtest.coldstart import ColdStartPolicy, ColdStartReport
from sdobs.loadtest.config import DEFAULT_LIMITS, Limits, LoadTestConfig
from sdobs.loadtest.errors import LoadTestConfigError
from sdobs.loadtest.metrics import ClientMetrics
from sdobs.loadtest.payload import Txt2ImgOptions, load_prompts
from sdobs.loadtest.records import RequestRecord, read_records, write_records
from sdobs.loadtest.runner import ImageEvent, Progress
from sdobs.loadtest.session import LoadTest, Outputs
from sdobs.loadtest.summary import Distribution, Summary, percentile

__all__ = [
    "DEFAULT_LIMITS",
    "ClientMetrics",
    "ColdStartPolicy",
    "ColdStartReport",
    "Distribution",
    "ImageEvent",
    "Limits",
    "LoadTest",
    "LoadTestConfig",
    "LoadTestConfigError",
    "Outputs",
    "Progress",
    "RequestRecord",
    "Summary",
    "Txt2ImgOptions",
    "load_prompts",
    "percentile",
    "read_records",
    "run_loadtest",
    "write_records",
]


def run_loadtest(
    config: LoadTestConfig,
    *,
    records: str | Path | None = None,
    summary: str | Path | None = None,
    images_dir: str | Path | None = None,
    metrics: ClientMetrics | None = None,
) -> Summary:
    """Run a load test in the calling thread and return its summary.

    On Ctrl-C the run stops, its files are written, and KeyboardInterrupt propagates.
    """
    test = LoadTest(config, outputs=Outputs(records, summary, images_dir), metrics=metrics)
    result = test.run()
    if test.error is not None:
        raise test.error
    return result
