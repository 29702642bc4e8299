"""The app's load test: one at a time per app, started and polled by the load test page.

The page's callbacks run on the web server's threads and the test on its own, so every read and
write of the current run goes through one lock. The last images are kept in a bounded ring (raw
bytes; the page encodes the ones it has not shown yet), so a long run cannot grow the app's
memory, and prompts never leave the test's configuration (nothing here logs them).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from sdobs.loadtest import ImageEvent, LoadTest, LoadTestConfig, Progress, RequestRecord, Summary
from sdobs.loadtest import errors as kinds

log = logging.getLogger(__name__)

RING = 20  # images kept for the page
MAX_IMAGE_BYTES = 8 << 20  # larger images are counted, not kept
MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif",
        "gif": "image/gif"}


class Busy(RuntimeError):
    """A load test is already running in this app; the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class Shown:
    """An image kept for the page: its number in the run (from 1) and where it came from."""

    number: int
    seq: int
    index: int
    data: bytes
    mime: str

    def data_uri(self) -> str:
        return f"data:{self.mime};base64," + base64.b64encode(self.data).decode("ascii")


@dataclass(frozen=True)
class RunView:
    """A snapshot of the current (or last) run, for one answer of the page's poll."""

    run: int
    form: dict[str, Any]
    target: str
    started_at: float
    progress: Progress
    done: bool
    images: tuple[Shown, ...]
    image_count: int
    images_not_shown: int
    error_kinds: dict[str, int]
    last_error: str | None
    summary: Summary | None
    latencies: tuple[tuple[float, bool], ...] = ()  # (seconds, succeeded), once done


@dataclass
class _Run:
    run: int
    test: LoadTest
    form: dict[str, Any]
    started_at: float
    ring: deque = field(default_factory=lambda: deque(maxlen=RING))
    image_count: int = 0
    not_shown: int = 0
    error_kinds: Counter = field(default_factory=Counter)
    last_error: str | None = None


class LoadTestRunner:
    """Holds the app's current load test; ``start`` refuses a second one while it runs."""

    def __init__(self, default_target: str = "", default_host: str = "", *,
                 ring: int = RING, max_image_bytes: int = MAX_IMAGE_BYTES) -> None:
        self.default_target = default_target
        self.default_host = default_host
        self.ring = ring
        self.max_image_bytes = max_image_bytes
        self._lock = threading.Lock()
        self._current: _Run | None = None
        self._runs = 0

    @property
    def running(self) -> bool:
        with self._lock:
            return self._current is not None and not self._current.test.done

    def start(self, config: LoadTestConfig, form: dict[str, Any] | None = None) -> int:
        """Start ``config`` in the background and return its run number.

        Raises Busy while another test runs, and LoadTestConfigError for settings the load
        tester rejects (its message is one sentence naming the setting).
        """
        with self._lock:
            cur = self._current
            if cur is not None and not cur.test.done:
                raise Busy(f"a load test is already running (run {cur.run}, started "
                           f"{time.strftime('%H:%M:%S', time.gmtime(cur.started_at))} UTC "
                           f"against {cur.test.runner.target.display_url}); stop it or wait "
                           "for it to end")
            number = self._runs + 1
            holder: list[_Run] = []
            test = LoadTest(config, on_image=lambda ev: self._image(holder, ev),
                            on_record=lambda rec: self._record(holder, rec))
            run = _Run(number, test, dict(form or {}), time.time(),
                       ring=deque(maxlen=self.ring))
            holder.append(run)
            test.start()
            self._runs = number
            self._current = run
        c = test.config
        log.info("load test %d started: %s, %s, %d in flight, %d requests at most", number,
                 test.runner.target.display_url, c.mode, c.in_flight_cap, c.total_cap)
        return number

    def stop(self) -> bool:
        """Ask the running test to stop (requests in flight are cancelled); False if none."""
        with self._lock:
            cur = self._current
        if cur is None or cur.test.done:
            return False
        cur.test.stop()
        log.info("load test %d: stop requested", cur.run)
        return True

    def wait(self, timeout: float | None = None) -> Summary | None:
        """Wait for the current test to end (tests and shutdown); None if still running."""
        with self._lock:
            cur = self._current
        return None if cur is None else cur.test.wait(timeout)

    def view(self) -> RunView | None:
        """The current or last run as the page shows it, or None before the first."""
        with self._lock:
            cur = self._current
            if cur is None:
                return None
            done = cur.test.done
            images = tuple(cur.ring)
            counts = dict(sorted(cur.error_kinds.items()))
            image_count, not_shown, last_error = cur.image_count, cur.not_shown, cur.last_error
        progress = cur.test.progress()
        latencies: tuple[tuple[float, bool], ...] = ()
        if done:
            latencies = tuple((r.latency, r.ok) for r in cur.test.records
                              if r.error != kinds.CANCELLED)
        return RunView(run=cur.run, form=cur.form, target=cur.test.runner.target.display_url,
                       started_at=cur.started_at, progress=progress, done=done,
                       images=images, image_count=image_count, images_not_shown=not_shown,
                       error_kinds=counts, last_error=last_error,
                       summary=cur.test.summary if done else None,
                       latencies=latencies)

    # -- on the load test's thread: short, under the lock ------------------------------------
    def _image(self, holder: list[_Run], ev: ImageEvent) -> None:
        run = holder[0]
        mime = MIME.get(ev.extension)
        with self._lock:
            run.image_count += 1
            if mime is None or len(ev.data) > self.max_image_bytes:
                run.not_shown += 1
                return
            run.ring.append(Shown(run.image_count, ev.seq, ev.index, ev.data, mime))

    def _record(self, holder: list[_Run], rec: RequestRecord) -> None:
        if rec.error is None or rec.error == kinds.CANCELLED:
            return
        run = holder[0]
        with self._lock:
            run.error_kinds[rec.error] += 1
            run.last_error = f"{rec.error}: {rec.error_detail}" if rec.error_detail else rec.error
