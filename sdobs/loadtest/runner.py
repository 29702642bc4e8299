"""The load engine: a closed loop (N virtual clients, M requests) or an open loop (arrivals at a
constant or Poisson rate, latency from the intended send time), on one asyncio event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sdobs.loadtest import errors
from sdobs.loadtest.coldstart import detect
from sdobs.loadtest.config import LoadTestConfig
from sdobs.loadtest.errors import RequestError
from sdobs.loadtest.httpclient import Exchange, Target, VirtualClient, parse_target
from sdobs.loadtest.metrics import ClientMetrics
from sdobs.loadtest.records import RequestRecord
from sdobs.loadtest.response import error_name, image_extension, parse_txt2img
from sdobs.loadtest.summary import Summary, summarize

log = logging.getLogger(__name__)

STOP_COMPLETED = "completed"
STOP_DURATION = "duration reached"
STOP_REQUESTED = "stopped"
STOP_INTERNAL = "internal error"


@dataclass(frozen=True, slots=True)
class ImageEvent:
    """One generated image as it arrives (``index`` within its response)."""

    seq: int
    index: int
    data: bytes
    extension: str


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run for a progress bar or a page that polls."""

    sent: int
    done: int  # planned is 0 when only a duration bounds the run
    succeeded: int
    failed: int
    in_flight: int
    elapsed: float
    planned: int
    deadline_s: float
    running: bool
    stop_reason: str | None

    @property
    def fraction(self) -> float:
        """Share of the run done, by count or by time, whichever is further along."""
        by_count = self.done / self.planned if self.planned else 0.0
        by_time = self.elapsed / self.deadline_s if self.deadline_s else 0.0
        return 1.0 if not self.running and self.stop_reason else min(1.0, max(by_count, by_time))


RecordHook = Callable[[RequestRecord], None]
ImageHook = Callable[[ImageEvent], None]


def arrivals(config: LoadTestConfig) -> Iterator[float]:
    """Intended send times (seconds from the start) of an open-loop run, within its bounds."""
    assert config.rate is not None
    rng = random.Random(config.arrival_seed)
    t = 0.0
    for i in range(config.total_cap):
        if config.arrival == "poisson":
            t = t + rng.expovariate(config.rate) if i else 0.0
        else:
            t = i / config.rate
        if t >= config.deadline_s:
            return
        yield t


class Runner:
    """Runs one load test on the current event loop; ``run()`` returns its summary."""

    def __init__(
        self,
        config: LoadTestConfig,
        *,
        on_record: RecordHook | None = None,
        on_image: ImageHook | None = None,
        metrics: ClientMetrics | None = None,
        images_dir: str | Path | None = None,
    ) -> None:
        self.config = config.validated()
        self.target: Target = parse_target(
            config.url, host=config.host, headers=config.headers, insecure=config.insecure
        )
        self.on_record = on_record
        self.on_image = on_image
        self.metrics = metrics
        self.images_dir = Path(images_dir) if images_dir is not None else None
        self.bodies = config.payload.encoded()
        self.records: list[RequestRecord] = []
        self.started_at = time.time()
        self.t0 = time.perf_counter()
        self.sent = self.succeeded = self.failed = self.in_flight = self.max_in_flight = 0
        self.running = False
        self.stop_reason: str | None = None
        #: When a stop was asked for (seconds from t0): the end of sending for the rate.
        self.stopped_at: float | None = None
        self.summary: Summary | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._hook_failed = False
        self._next = 0

    # --- control -------------------------------------------------------------------------------

    def request_stop(self, reason: str = STOP_REQUESTED) -> None:
        """Stop sending and cancel what is in flight; call on the loop's thread."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.stopped_at is None and self.running:
            self.stopped_at = time.perf_counter() - self.t0
        self._stopping = True
        if self._main is not None and not self._main.done():
            self._main.cancel()  # wakes a sleeping scheduler and cancels requests in flight
        for task in list(self._tasks):
            task.cancel()

    def progress(self) -> Progress:
        """A snapshot; safe to call from any thread."""
        done = self.succeeded + self.failed
        return Progress(
            sent=self.sent,
            done=done,
            succeeded=self.succeeded,
            failed=self.failed,
            in_flight=self.in_flight,
            elapsed=(time.perf_counter() - self.t0)
            if self.running or not done
            else self._elapsed(),
            planned=self.config.total_cap
            if self.config.requests or not self.config.duration_s
            else 0,
            deadline_s=self.config.deadline_s if self.config.duration_s else 0.0,
            running=self.running,
            stop_reason=self.stop_reason,
        )

    def _elapsed(self) -> float:
        return max((r.end for r in self.records), default=0.0)

    # --- the run -------------------------------------------------------------------------------

    async def run(self) -> Summary:
        """Run to the end (or a stop) and return the summary; the summary is always built."""
        self.started_at = time.time()
        self.t0 = time.perf_counter()
        self.running = True
        if self.metrics is not None:
            self.metrics.set_running(True)
        try:
            if self.images_dir is not None:
                self.images_dir.mkdir(parents=True, exist_ok=True)
            main = self._open_loop() if self.config.mode == "open" else self._closed_loop()
            self._main = asyncio.ensure_future(main)
            await self._main
            if self.stop_reason is None:
                self.stop_reason = STOP_COMPLETED
        except asyncio.CancelledError:
            self.request_stop()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        except Exception as exc:  # a bug must not lose what was measured
            log.exception("load test engine failed")
            self.stop_reason = f"{STOP_INTERNAL} ({type(exc).__name__})"
            self.request_stop(self.stop_reason)
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self.running = False
            if self.metrics is not None:
                self.metrics.set_running(False)
            self.summary = self.build_summary()
            if self.metrics is not None:
                self.metrics.cold_starts.labels(self.metrics.target).set(
                    self.summary.cold_start.count
                )
        return self.summary

    def build_summary(self) -> Summary:
        """Detect cold starts and summarize the records gathered so far."""
        report = detect(self.records, self.config.cold_start)
        return summarize(
            self.records,
            target=self.target.display_url,
            host_header=self.config.host or "",
            mode=self.config.mode,
            settings=self.config.settings(),
            started_at=self.started_at,
            stop_reason=self.stop_reason or STOP_REQUESTED,
            max_in_flight=self.max_in_flight,
            cold_start=report,
            stopped_at=self.stopped_at if self.stop_reason == STOP_REQUESTED else None,
        )

    def _client(self, index: int) -> VirtualClient:
        c = self.config
        return VirtualClient(
            index, self.target, timeout_s=c.timeout_s, connect_timeout_s=c.connect_timeout_s
        )

    async def _closed_loop(self) -> None:
        clients = [self._client(i) for i in range(self.config.concurrency)]
        self._next = 0
        for vc in clients:
            task = asyncio.ensure_future(self._client_loop(vc))
            self._tasks.add(task)
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for vc in clients:
                vc.close()

    async def _client_loop(self, vc: VirtualClient) -> None:
        cap, deadline = self.config.total_cap, self.config.deadline_s
        while not self._stopping:
            if self._next >= cap:
                return
            now = time.perf_counter() - self.t0
            if now >= deadline:
                if self.stop_reason is None:
                    self.stop_reason = STOP_DURATION
                return
            seq = self._next
            self._next += 1
            await self._one(vc, seq, now)

    async def _open_loop(self) -> None:
        cap = self.config.in_flight_cap
        idle: list[VirtualClient] = []
        created: list[VirtualClient] = []
        free = asyncio.Event()
        loop = asyncio.get_running_loop()
        seq = -1

        async def one(vc: VirtualClient, seq: int, scheduled: float) -> None:
            try:
                await self._one(vc, seq, scheduled)
            finally:
                idle.append(vc)
                free.set()

        try:
            for seq, due in enumerate(arrivals(self.config)):
                if self._stopping:
                    break
                delay = self.t0 + due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                    if self._stopping:
                        break
                while not idle and len(created) >= cap:
                    free.clear()
                    await free.wait()  # at the in-flight cap: the lag shows in the records
                if idle:
                    vc = idle.pop()
                else:
                    vc = self._client(len(created))
                    created.append(vc)
                task = loop.create_task(one(vc, seq, due))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                if self.config.duration_s and seq + 1 < self.config.total_cap:
                    self.stop_reason = self.stop_reason or STOP_DURATION
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            for vc in created:
                vc.close()

    async def _one(self, vc: VirtualClient, seq: int, scheduled: float) -> None:
        self.sent += 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        if self.metrics is not None:
            self.metrics.in_flight_child.inc()
        start = time.perf_counter()
        try:
            ex = await vc.post(self.bodies[seq % len(self.bodies)])
        except asyncio.CancelledError:
            now = time.perf_counter() - self.t0
            self._finish(
                RequestRecord(
                    seq,
                    vc.index,
                    scheduled,
                    start - self.t0,
                    now,
                    error=errors.CANCELLED,
                    error_detail="the run stopped while the request was in flight",
                )
            )
            raise
        finally:
            self.in_flight -= 1
            if self.metrics is not None:
                self.metrics.in_flight_child.dec()
        self._finish(self._record(seq, vc.index, scheduled, ex))

    def _record(self, seq: int, client: int, scheduled: float, ex: Exchange) -> RequestRecord:
        t0 = self.t0
        rec = RequestRecord(
            seq=seq,
            client=client,
            scheduled=scheduled,
            start=ex.start - t0,
            end=ex.end - t0,
            first_byte=None if ex.first_byte is None else ex.first_byte - t0,
            connect=ex.connect,
            status=ex.status,
            bytes_out=ex.bytes_out,
        )
        if self.config.record_prompts:
            prompts = self.config.payload.prompts
            rec.prompt = prompts[seq % len(prompts)]
        resp = ex.response
        if resp is not None:
            rec.status = resp.status
            rec.bytes_in = resp.head_bytes + len(resp.body)
            pt = resp.headers.get("x-process-time")
            if pt is not None:
                with contextlib.suppress(ValueError):
                    rec.process_time = float(pt)
        if ex.error is not None:
            rec.error, rec.error_detail = ex.error.kind, ex.error.detail
            return rec
        assert resp is not None
        if not 200 <= resp.status < 300:
            rec.error = errors.http_status(resp.status)
            rec.error_detail = error_name(resp.body) or None
            return rec
        want = self.config.decode_images or self.on_image is not None or self.images_dir is not None
        try:
            result = parse_txt2img(resp.body, decode=want)
        except RequestError as err:
            rec.error, rec.error_detail = err.kind, err.detail
            return rec
        rec.images = result.image_count
        rec.seed = result.seed
        rec.job_timestamp = result.job_timestamp
        for index, data in enumerate(result.images):
            self._deliver(ImageEvent(seq, index, data, image_extension(data)))
        return rec

    def _deliver(self, image: ImageEvent) -> None:
        if self.images_dir is not None:
            path = self.images_dir / f"{image.seq:06d}-{image.index}.{image.extension}"
            try:
                path.write_bytes(image.data)
            except OSError as exc:
                self._hook_error("saving an image", exc)
        if self.on_image is not None:
            try:
                self.on_image(image)
            except Exception as exc:
                self._hook_error("the image callback", exc)

    def _finish(self, rec: RequestRecord) -> None:
        self.records.append(rec)
        if rec.error == errors.CANCELLED:
            pass
        elif rec.error is None:
            self.succeeded += 1
        else:
            self.failed += 1
        if self.metrics is not None:
            self.metrics.observe(rec)
        if self.on_record is not None:
            try:
                self.on_record(rec)
            except Exception as exc:
                self._hook_error("the record callback", exc)

    def _hook_error(self, what: str, exc: Exception) -> None:
        if not self._hook_failed:
            self._hook_failed = True
            log.warning("load test: %s failed (%s); the run goes on", what, type(exc).__name__)
