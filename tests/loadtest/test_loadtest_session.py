"""The background API a Dash page drives: start, poll, receive images, stop, summary; and limits."""

from __future__ import annotations

import queue
import time

import pytest
from eventually import eventually

from sdobs.loadtest import (
    DEFAULT_LIMITS,
    Limits,
    LoadTest,
    LoadTestConfig,
    LoadTestConfigError,
    Outputs,
    Txt2ImgOptions,
)


def test_background_run_streams_images_and_progress(fake_a1111) -> None:
    server = fake_a1111(delay=0.02)
    images: queue.Queue = queue.Queue()
    records: list = []
    test = LoadTest(
        LoadTestConfig(url=server.url, concurrency=2, requests=10),
        on_image=images.put_nowait,
        on_record=records.append,
    )
    test.start()
    seen = []
    while (summary := test.wait(0.01)) is None:
        seen.append(test.progress())
    assert summary.success == 1.0 and test.done
    assert any(p.running for p in seen)
    final = test.progress()
    assert final.done == 10 and final.succeeded == 10 and not final.running
    assert final.fraction == 1.0 and final.in_flight == 0
    got = [images.get_nowait() for _ in range(images.qsize())]
    assert len(got) == 10 and {g.seq for g in got} == set(range(10))
    assert all(g.data.startswith(b"\x89PNG") and g.extension == "png" for g in got)
    assert len(records) == 10


def test_stop_cancels_in_flight_and_still_writes(fake_a1111, tmp_path) -> None:
    server = fake_a1111(delay=5.0)
    out = Outputs(records=tmp_path / "r.jsonl", summary=tmp_path / "s.json")
    test = LoadTest(LoadTestConfig(url=server.url, concurrency=3, requests=20), outputs=out).start()
    eventually(lambda: test.progress().in_flight >= 3, timeout=5, interval=0.01)
    t0 = time.monotonic()
    test.stop()
    summary = test.wait(5)
    assert summary is not None and time.monotonic() - t0 < 2
    assert summary.stop_reason == "stopped" and summary.cancelled == 3 and summary.requests == 0
    assert (tmp_path / "s.json").exists()
    assert (tmp_path / "r.jsonl").read_text().count('"cancelled"') == 3


def test_stop_wakes_a_sleeping_open_loop(fake_a1111) -> None:
    server = fake_a1111()
    test = LoadTest(LoadTestConfig(url=server.url, rate=0.2, requests=5)).start()
    time.sleep(0.2)
    t0 = time.monotonic()
    test.stop()
    summary = test.wait(3)
    assert summary is not None and time.monotonic() - t0 < 1
    assert summary.requests == 1 and summary.stop_reason == "stopped"


def test_a_failing_callback_does_not_stop_the_run(fake_a1111) -> None:
    server = fake_a1111()

    def broken(_image: object) -> None:
        raise RuntimeError("page went away")

    s = LoadTest(LoadTestConfig(url=server.url, concurrency=1, requests=3), on_image=broken).run()
    assert s.success == 1.0 and s.requests == 3


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"concurrency": DEFAULT_LIMITS.max_concurrency + 1}, "concurrency"),
        ({"concurrency": 0}, "concurrency"),
        ({"requests": DEFAULT_LIMITS.max_requests + 1}, "requests"),
        ({"rate": -1.0}, "rate"),
        ({"rate": DEFAULT_LIMITS.max_rate * 2}, "rate"),
        ({"duration_s": float("inf")}, "duration"),
        ({"timeout_s": 0}, "timeout"),
        ({"arrival": "bursty"}, "arrivals"),
        ({"url": "ftp://x"}, "http"),
        ({"url": "http://"}, "host"),
        ({"host": "a b/c"}, "Host"),
        ({"payload": Txt2ImgOptions(steps=0)}, "steps"),
        ({"payload": Txt2ImgOptions(prompts=())}, "prompt"),
    ],
)
def test_limits_and_bad_settings_are_one_sentence(changes: dict, words: str) -> None:
    config = LoadTestConfig(url="http://127.0.0.1:9").with_(**changes)
    with pytest.raises(LoadTestConfigError, match=words):
        LoadTest(config)


def test_a_page_can_tighten_the_limits() -> None:
    page = Limits(max_concurrency=20, max_requests=500)
    with pytest.raises(LoadTestConfigError, match="maximum of 20"):
        LoadTestConfig(url="http://x", concurrency=21, limits=page).validated()
    cfg = LoadTestConfig(url="http://x", duration_s=10.0, rate=100.0, limits=page)
    assert cfg.validated().total_cap == 500  # a duration-bound run is still capped in count


def test_bounds_default_to_the_portal() -> None:
    cfg = LoadTestConfig(url="http://x")
    assert (cfg.concurrency, cfg.total_cap, cfg.mode) == (5, 20, "closed")
    assert cfg.timeout_s > 300
    with pytest.raises(LoadTestConfigError, match="jsonl"):
        LoadTest(cfg, outputs=Outputs(records="r.txt"))
