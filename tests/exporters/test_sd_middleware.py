"""The SD request exporter's middleware on a real FastAPI app (A1111's txt2img with a generation
lock) served by uvicorn, driven over HTTP."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from eventually import eventually
from sd_fake_a1111 import create_app, serve
from sd_scrape import count, value
from sdobs_exporters.sd import Identity, SdMetrics, install

IDENT = Identity(namespace="default", pod="knative-sd-demo-00001-deployment-abc-xyz",
                 service="knative-sd-demo", configuration="knative-sd-demo",
                 revision="knative-sd-demo-00001")
SECRET = "a castle made of secret prompt words"


def _metrics(**kw) -> SdMetrics:
    return SdMetrics(identity=IDENT, gpu_model="NVIDIA A10", **kw)


HOLD = 0.3  # seconds the lock stays taken after all requests wait for it


def _post_while_locked(served, bodies: list[dict]) -> list[httpx.Response]:
    """Send ``bodies`` at once while the generation lock is held; release it once all of them
    wait, ``HOLD`` seconds later: each waits at least HOLD, the k-th also k generations."""
    out: list = [None] * len(bodies)
    lock = served.app.state.queue_lock

    def one(i: int) -> None:
        out[i] = httpx.post(f"{served.url}/sdapi/v1/txt2img", json=bodies[i], timeout=60)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    lock.acquire()
    try:
        for t in threads:
            t.start()
        eventually(lambda: value(httpx.get(f"{served.url}/metrics", timeout=5).text,
                                 "sdobs_sd_requests_waiting") >= len(bodies),
                   timeout=30, interval=0.02, what="the requests reaching the lock")
        time.sleep(HOLD)
    finally:
        lock.release()
    for t in threads:
        t.join()
    return out


def test_queue_wait_generation_and_response_split() -> None:
    app = create_app(seconds_per_step=0.01, encode_seconds=0.05)
    metrics = install(app, _metrics(process_start=time.time() - 42))
    with serve(app) as s:
        ready = httpx.get(f"{s.url}/sdobs/ready", timeout=5)
        assert ready.status_code == 503 and ready.json() == {"ready": False}
        metrics.model_loaded("v1-5-pruned-emaonly", "6ce0161689", seconds=3.5)
        ready = httpx.get(f"{s.url}/sdobs/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["checkpoint"] == "v1-5-pruned-emaonly"
        body = {"prompt": SECRET, "seed": 1234567, "steps": 20, "sampler_name": "DPM++ 2M"}
        answers = _post_while_locked(s, [body] * 4)
        assert [a.status_code for a in answers] == [200] * 4
        assert httpx.get(f"{s.url}/sdapi/v1/progress", timeout=5).status_code == 200
        text = httpx.get(f"{s.url}/metrics", timeout=5).text
    assert SECRET not in text and "1234567" not in text  # prompts and seeds never in labels
    base = {"endpoint": "txt2img", "namespace": "default", "revision": "knative-sd-demo-00001"}
    d = "sdobs_sd_request_duration_seconds"
    assert value(text, f"{d}_count", **base, status="2xx") == 4
    assert value(text, "sdobs_sd_generations_total", **base, sampler="DPM++ 2M",
                 size_class="512") == 4
    assert count(text, f"{d}_count") == 1  # progress is not a generation request
    gen = value(text, "sdobs_sd_generation_seconds_sum", **base, gpu_model="NVIDIA A10")
    wait = value(text, "sdobs_sd_queue_wait_seconds_sum", **base)
    resp = value(text, "sdobs_sd_response_seconds_sum", **base)
    total = value(text, f"{d}_sum", **base)
    assert 4 * 0.2 <= gen < 4 * 0.2 + 1.0  # 20 steps of 10 ms each (a busy machine adds)
    assert wait >= 4 * HOLD + gen - gen / 4 - 0.01  # all waited HOLD; k-th also k generations
    assert 4 * 0.05 <= resp < 4 * 0.05 + 1.0
    assert total == pytest.approx(gen + wait + resp, abs=0.05)  # the phases tile the request
    assert value(text, "sdobs_sd_steps_total", **base) == 80
    assert value(text, "sdobs_sd_images_total", **base) == 4
    assert value(text, "sdobs_sd_megapixels_total", **base) == pytest.approx(4 * 0.262144)
    assert value(text, "sdobs_sd_requests_in_flight") == 0
    assert value(text, "sdobs_sd_requests_waiting") == 0
    assert value(text, "sdobs_sd_model_load_seconds_sum") == 3.5
    assert value(text, "sdobs_sd_ready") == 1
    assert 42 <= value(text, "sdobs_sd_cold_start_seconds") < 60
    assert value(text, "sdobs_sd_checkpoint_info", sha256="6ce0161689") == 1
    assert "_created" not in text


def test_rejected_and_failing_requests_are_counted_and_the_server_keeps_serving() -> None:
    app = create_app(seconds_per_step=0.001)
    install(app, _metrics())
    with serve(app) as s:
        post = lambda body, **kw: httpx.post(f"{s.url}/sdapi/v1/txt2img", timeout=10,  # noqa: E731
                                             **({"json": body} if body is not None else kw))
        assert post({"steps": "abc"}).status_code == 422
        assert post(None, content=b"not json",
                    headers={"content-type": "application/json"}).status_code == 422
        assert post({"sampler_name": "nope"}).status_code == 400
        assert post({"prompt": "raise"}).status_code == 500
        assert post({"steps": 5, "width": 1024, "height": 1024, "batch_size": 2}).status_code == 200
        text = httpx.get(f"{s.url}/metrics", timeout=5).text
    d = "sdobs_sd_request_duration_seconds_count"
    assert value(text, d, status="4xx") == 3
    assert value(text, d, status="5xx") == 1
    assert value(text, d, status="2xx") == 1
    assert value(text, "sdobs_sd_generations_total", size_class="1024") == 1
    # Only the request that reached the lock has a generation and a queue wait.
    assert value(text, "sdobs_sd_generation_seconds_count") == 1
    assert value(text, "sdobs_sd_queue_wait_seconds_count") == 1
    assert value(text, "sdobs_sd_images_total") == 2
    assert value(text, "sdobs_sd_requests_in_flight") == 0
    assert value(text, "sdobs_sd_requests_waiting") == 0


def test_metrics_answer_while_generation_requests_block_on_the_lock() -> None:
    app = create_app(seconds_per_step=0.001)
    install(app, _metrics())
    with serve(app) as s:
        app.state.queue_lock.acquire()
        try:
            waiting = [threading.Thread(target=httpx.post, args=(f"{s.url}/sdapi/v1/txt2img",),
                                        kwargs={"json": {"steps": 1}, "timeout": 30})
                       for _ in range(3)]
            for t in waiting:
                t.start()
            time.sleep(0.3)
            started = time.perf_counter()
            text = httpx.get(f"{s.url}/metrics", timeout=5).text
            assert time.perf_counter() - started < 1.0
            assert value(text, "sdobs_sd_requests_waiting") == 3
            assert value(text, "sdobs_sd_requests_in_flight") == 3
        finally:
            app.state.queue_lock.release()
        for t in waiting:
            t.join(10)
        om = httpx.get(f"{s.url}/metrics", timeout=5,
                       headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")


def test_install_after_the_app_served_requests() -> None:
    """The A1111 order: the server answers before app_started adds the middleware."""
    app = create_app(seconds_per_step=0.001, marks=False)
    with serve(app) as s:
        assert httpx.post(f"{s.url}/sdapi/v1/txt2img", json={"steps": 2},
                          timeout=10).status_code == 200
        assert httpx.get(f"{s.url}/metrics", timeout=5).status_code == 404
        install(app, _metrics())
        assert httpx.post(f"{s.url}/sdapi/v1/txt2img", json={"steps": 2},
                          timeout=10).status_code == 200
        text = httpx.get(f"{s.url}/metrics", timeout=5).text
    assert value(text, "sdobs_sd_request_duration_seconds_count") == 1
    # Without the server's lock marks only the total is known; the body still tells the steps.
    assert value(text, "sdobs_sd_generation_seconds_count") == 0
    assert value(text, "sdobs_sd_queue_wait_seconds_count") == 0


def test_labels_stay_bounded_whatever_the_request_says() -> None:
    metrics = _metrics()
    for i in range(50):
        metrics.observe("txt2img", 200, 1.0, queue_wait=0.1, generation=0.8, response=0.1,
                        steps=20, width=520 + i, height=512, images=1,
                        sampler=f"<my sampler {i}> {SECRET}")
    text = metrics.render()[0].decode()
    assert SECRET not in text and "my sampler" not in text
    assert value(text, "sdobs_sd_generations_total", sampler="other") == 50
    assert count(text, "sdobs_sd_generations_total") == 1  # 520..569 px: one class
    # The successful txt2img series exist before the first request (so rate() counts it).
    fresh = _metrics().render()[0].decode()
    assert value(fresh, "sdobs_sd_request_duration_seconds_count", status="2xx") == 0
    assert count(fresh, "sdobs_sd_request_duration_seconds_count", status="2xx") == 1
