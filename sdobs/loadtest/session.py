"""A load test running in a background thread: what the CLI and a Dash page drive.

``LoadTest(config).start()`` returns at once; ``progress()`` polls, ``stop()`` ends it early,
``wait()`` returns the summary. Each record and each image is handed to optional callbacks as
it arrives (on the load test's thread: keep them short, e.g. ``queue.put_nowait``). Records and
the JSON summary are written when the run ends, however it ends. A page would do::

    images = queue.Queue(maxsize=50)            # a full queue drops images, never the run
    test = LoadTest(LoadTestConfig(url, concurrency=5, requests=20), on_image=images.put_nowait)
    test.start()
    ...  # each poll: test.progress(), images.get_nowait(); a button: test.stop()
    summary = test.wait(0)                      # None until the run is over
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from sdobs.loadtest.config import LoadTestConfig
from sdobs.loadtest.metrics import ClientMetrics
from sdobs.loadtest.records import RequestRecord, records_format, write_records
from sdobs.loadtest.runner import ImageHook, Progress, RecordHook, Runner
from sdobs.loadtest.summary import Summary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outputs:
    """Files a run writes: per-request records (.jsonl/.csv), the JSON summary, images."""

    records: str | Path | None = None
    summary: str | Path | None = None
    images_dir: str | Path | None = None

    def check(self) -> None:
        """Raise LoadTestConfigError before the run for a records path of unknown format."""
        if self.records is not None:
            records_format(self.records)


class LoadTest:
    """One load test on its own thread and event loop."""

    def __init__(
        self,
        config: LoadTestConfig,
        *,
        outputs: Outputs | None = None,
        on_record: RecordHook | None = None,
        on_image: ImageHook | None = None,
        metrics: ClientMetrics | None = None,
    ) -> None:
        self.outputs = outputs or Outputs()
        self.outputs.check()
        self.runner = Runner(
            config,
            on_record=on_record,
            on_image=on_image,
            metrics=metrics,
            images_dir=self.outputs.images_dir,
        )
        self.config = self.runner.config
        self.error: BaseException | None = None
        self.written: list[Path] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        # Not Thread.join(): a join interrupted by Ctrl-C can later report a live thread as ended.
        self._finished = threading.Event()
        self._stop_requested = False

    def start(self) -> LoadTest:
        """Start the run in a daemon thread and return self."""
        if self._thread is not None:
            raise RuntimeError("this load test was already started")
        self._thread = threading.Thread(target=self._main, name="sdobs-loadtest", daemon=True)
        self._thread.start()
        self._started.wait()
        return self

    def run(self) -> Summary:
        """Run in the calling thread and return the summary; Ctrl-C stops it cleanly first."""
        self._main()
        assert self.runner.summary is not None
        return self.runner.summary

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._started.set()
        task = loop.create_task(self._run())
        try:
            try:
                loop.run_until_complete(task)
            except KeyboardInterrupt as exc:  # run() in the main thread: cancel what is in flight
                self.error = exc
                self.runner.request_stop()
                loop.run_until_complete(task)
        except BaseException as exc:  # recorded for wait(); the summary is still written below
            self.error = self.error or exc
            if not isinstance(exc, KeyboardInterrupt):
                log.exception("load test thread failed")
        finally:
            if self.runner.summary is None:
                self.runner.summary = self.runner.build_summary()
            self._write()
            loop.close()
            self._finished.set()

    async def _run(self) -> None:
        if self._stop_requested:
            self.runner.request_stop()
        await self.runner.run()

    def _write(self) -> None:
        out = self.outputs
        summary = self.runner.summary
        try:
            if out.records is not None:
                self.written.append(
                    write_records(
                        out.records,
                        self.runner.records,
                        self.runner.started_at,
                        prompts=self.config.record_prompts,
                    )
                )
            if out.summary is not None and summary is not None:
                path = Path(out.summary)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
                self.written.append(path)
        except OSError as exc:
            self.error = self.error or exc
            log.error("load test: cannot write results (%s)", exc)

    def progress(self) -> Progress:
        """A snapshot of the run; safe from any thread."""
        return self.runner.progress()

    def stop(self) -> None:
        """Stop sending, cancel requests in flight, and finish; safe from any thread."""
        self._stop_requested = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the run is over
                loop.call_soon_threadsafe(self.runner.request_stop)

    @property
    def done(self) -> bool:
        """Whether the run is over and its summary written."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> Summary | None:
        """Wait for the end and return the summary, or None if still running after ``timeout``."""
        if self._thread is None:
            raise RuntimeError("this load test was not started")
        if not self._finished.wait(timeout):
            return None
        return self.runner.summary

    @property
    def records(self) -> list[RequestRecord]:
        """The records so far (the list grows while the run goes on)."""
        return self.runner.records

    @property
    def summary(self) -> Summary | None:
        """The summary once the run is over."""
        return self.runner.summary
