"""The load test page (the portal) against the local fake A1111 server of the load tester's tests.

Callbacks called directly: start, progress, images, summary, histogram and service link; a
second start refused while one runs; the form bounded by the load tester's maxima; a bad target
answered in one sentence. Then one run from the page in Debian's headless Chromium (Playwright),
whose screenshot goes to ``artifacts/app-screenshots/loadtest.png`` (gitignored; the committed
copy is ``docs/screenshots/loadtest.png``).
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from pathlib import Path

import pytest
from browser import chromium

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtest"))
import loadtest_fake_a1111 as fake_module
from eventually import eventually
from loadtest_fake_a1111 import FakeA1111

from sdobs.app import create_app
from sdobs.app.pages import loadtest as lt
from sdobs.app.state import CUSTOM, parse_search
from sdobs.loadtest import DEFAULT_LIMITS
from sdobs.loadtest.summary import fmt_seconds

NOWHERE = "http://127.0.0.1:1"  # no Prometheus: the load test page needs none
HOST = "knative-sd-demo.default.example.com"
PROMPT = "a secret prompt about a lighthouse"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "app-screenshots"


@pytest.fixture
def fake():
    """Start fake A1111 servers with the given options; all stop when the test ends."""
    servers: list[FakeA1111] = []

    def start(**options) -> FakeA1111:
        server = FakeA1111(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def make_app():
    apps = []

    def make(**kwargs):
        app = create_app(NOWHERE, cache_seconds=0, **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.sdobs.loadtests.stop()
        app.sdobs.loadtests.wait(10)
        app.sdobs.source.close()


def form(target: str, **changes) -> list:
    values = {"target": target, "host": HOST, "prompt": PROMPT, "steps": 20, "size": "512x512",
              "mode": "closed", "concurrency": 2, "rate": 1, "total": 6, **changes}
    return [values[k] for k in lt.FORM]


def message(answer) -> str:
    return answer[0].children


def poll_until_done(app, timeout: float = 30.0) -> tuple[list[dict], dict]:
    """Poll like the page does until the run is over: every answer, and the slots' images."""
    poll = app.sdobs.callbacks["loadtest-poll"]
    seen: dict = {}
    answers: list[dict] = []
    slots: dict = {}

    def one_poll() -> bool:
        nonlocal seen
        answer = dict(zip(lt.POLL_OUTPUTS, poll(len(answers) + 1, seen), strict=True))
        answers.append(answer)
        for slot in lt.SLOTS:
            if answer[f"{slot}.src"] is not lt.no_update:
                slots[slot] = answer[f"{slot}.src"]
        if answer["lt-seen.data"] is not lt.no_update:
            seen = answer["lt-seen.data"]
        return answer["lt-poll.disabled"]

    eventually(one_poll, timeout=timeout, interval=0.1, what="the load test ended")
    return answers, slots


def summary_of(app):
    return app.sdobs.loadtests.view().summary


def text(component) -> str:
    import json

    from plotly.io.json import to_json_plotly

    return json.dumps(json.loads(to_json_plotly(component)), ensure_ascii=False)


# -- callbacks -------------------------------------------------------------------------------
def test_start_progress_images_and_summary(fake, make_app, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    server = fake(delay=0.2)
    app = make_app(loadtest_target=server.url, loadtest_host=HOST)
    poll, start = app.sdobs.callbacks["loadtest-poll"], app.sdobs.callbacks["loadtest-start"]

    # Mounted before any test: the defaults, the given target, nothing running.
    first = dict(zip(lt.POLL_OUTPUTS, poll(0, {}), strict=True))
    assert first["lt-target.value"] == server.url and first["lt-host.value"] == HOST
    assert first["lt-concurrency.value"] == 5 and first["lt-total.value"] == 20
    assert (first["lt-poll.disabled"], first["lt-start.disabled"]) == (True, False)
    assert "No load test has run" in text(first["lt-progress.children"])

    answer = start(1, *form(server.url))
    assert message(answer) == "Run 1 started: 6 requests, 2 in flight."
    assert answer[1:] == (False, True)  # polling on, Start off
    t0 = time.time()
    answers, slots = poll_until_done(app)
    assert server.count == 6 and server.max_in_flight == 2
    assert set(server.hosts) == {HOST}  # Knative addressing
    running = [a for a in answers if not a["lt-poll.disabled"]]
    assert all(a["lt-start.disabled"] and not a["lt-stop.disabled"] for a in running)

    # Each image reached its slot as a PNG data URI.
    pictures = [src for src in slots.values() if src]
    assert len(pictures) == 6
    assert all(src.startswith("data:image/png;base64,iVBORw0KGgo") for src in pictures)
    last = answers[-1]
    assert last["lt-image-note.children"] == "the last 6 of 6"
    assert "finished: completed · 6/6 done · 6 ok · 0 failed" in text(last["lt-progress.children"])

    # The summary, the histogram of six latencies, the link to the service page.
    result = last["lt-result.children"]
    body = text(result)
    assert "lt-summary-table" in body and "200:6" in body and "100 %" in body
    assert PROMPT not in body
    graph = next(c for c in _walk(result) if getattr(c, "id", None) == "lt-histogram")
    traces = graph.figure["data"]
    d = summary_of(app).latencies
    assert [t["name"] for t in traces] == ["succeeded", f"P50 {fmt_seconds(d.p50)}",
                                           f"P95 {fmt_seconds(d.p95)}",
                                           f"P99 {fmt_seconds(d.p99)}"]
    assert sum(traces[0]["y"]) == 6 and traces[3]["x"] == [d.p99, d.p99]
    assert all(0.19 < x < 5 for x in traces[0]["x"]) and len(traces[0]["x"]) <= lt.MAX_BINS
    link = next(c for c in _walk(result) if getattr(c, "id", None) == "lt-service-link")
    path, _, search = link.href.partition("?")
    assert path == "/service"
    state = parse_search(search).state
    assert (state.namespace, state.service, state.range) == ("default", "knative-sd-demo", CUSTOM)
    assert state.start <= t0 - 59 and state.end >= t0 + 60
    summary = summary_of(app)
    assert summary.requests == 6 and summary.success == 1.0 and summary.images == 6

    # The final state is sent once; later polls change nothing.
    again = dict(zip(lt.POLL_OUTPUTS, poll(99, answers[-1]["lt-seen.data"]), strict=True))
    assert again["lt-result.children"] is lt.no_update and again["lt-poll.disabled"] is True
    # A page mounted afterwards shows the last run's settings (target without credentials).
    remount = dict(zip(lt.POLL_OUTPUTS, poll(0, {}), strict=True))
    assert remount["lt-concurrency.value"] == 2 and remount["lt-total.value"] == 6
    assert "lt-summary-table" in text(remount["lt-result.children"])
    assert PROMPT not in caplog.text  # prompts are never logged


def _walk(component):
    if isinstance(component, list | tuple):
        for child in component:
            yield from _walk(child)
        return
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        for child in children:
            yield from _walk(child)
    elif children is not None and not isinstance(children, str | int | float):
        yield from _walk(children)


def test_one_test_at_a_time_and_stop(fake, make_app) -> None:
    server = fake(slow_s=2.0)
    app = make_app()
    cbs = app.sdobs.callbacks
    slow = form(server.url, prompt="slow", concurrency=2, total=4)
    assert message(cbs["loadtest-start"](1, *slow)).startswith("Run 1 started")
    refused = cbs["loadtest-start"](2, *form(server.url))
    assert refused[1:] == (lt.no_update, lt.no_update)
    assert message(refused).startswith("A load test is already running (run 1, started ")
    assert "stop it or wait for it to end" in message(refused)
    # Another app has its own runner: one test at a time per app, not per process.
    other = make_app()
    assert not other.sdobs.loadtests.running
    # A second browser tab mounting the page sees the running test and polls it.
    mounted = dict(zip(lt.POLL_OUTPUTS, cbs["loadtest-poll"](0, {}), strict=True))
    assert mounted["lt-poll.disabled"] is False and mounted["lt-start.disabled"] is True
    assert mounted["lt-prompt.value"] == "slow" and mounted["lt-total.value"] == 4

    time.sleep(0.3)
    assert cbs["loadtest-stop"](1).children.startswith("Stopping")
    answers, _ = poll_until_done(app, timeout=10)
    summary = app.sdobs.loadtests.view().summary
    assert summary.stop_reason == "stopped" and summary.cancelled == 2
    assert "stopped (2 cancelled)" in text(answers[-1]["lt-result.children"])
    assert cbs["loadtest-stop"](2).children == "No load test is running."
    # Over: the next test starts.
    assert message(cbs["loadtest-start"](3, *form(server.url, total=2))).startswith("Run 2 ")
    poll_until_done(app)
    assert app.sdobs.loadtests.view().summary.requests == 2


@pytest.mark.parametrize(("changes", "said"), [
    ({"concurrency": DEFAULT_LIMITS.max_concurrency + 1},
     f"Concurrency must be a whole number from 1 to {DEFAULT_LIMITS.max_concurrency:,}."),
    ({"concurrency": 0}, "Concurrency must be a whole number from 1 to 1,000."),
    ({"concurrency": None}, "Concurrency must be a whole number from 1 to 1,000."),
    ({"concurrency": 2.5}, "Concurrency must be a whole number from 1 to 1,000."),
    ({"total": DEFAULT_LIMITS.max_requests + 1},
     f"The total must be a whole number from 1 to {DEFAULT_LIMITS.max_requests:,}."),
    ({"mode": "constant", "rate": DEFAULT_LIMITS.max_rate * 2},
     "The rate must be a number of requests/s above 0 and at most 10000."),
    ({"mode": "poisson", "rate": None},
     "The rate must be a number of requests/s above 0 and at most 10000."),
    ({"mode": "constant", "concurrency": 5000},
     "Max in flight must be a whole number from 1 to 1,000."),
    ({"mode": "burst"}, "The mode must be one of closed, constant, poisson."),
    ({"steps": 1001}, "Steps must be a whole number from 1 to 1,000."),
    ({"size": "large"}, "The size must be WIDTHxHEIGHT in pixels, e.g. 512x512, not 'large'."),
    ({"size": "9000x512"}, "Width and height must be at most 8192 pixels."),
    ({"prompt": "  \n "}, "Give a prompt (one a line; the test uses them in turn)."),
    ({"prompt": "x\n" * 101}, "Give at most 100 prompts of at most 2000 characters each."),
])
def test_inputs_bounded_by_the_load_testers_maxima(make_app, changes, said) -> None:
    app = make_app()
    answer = app.sdobs.callbacks["loadtest-start"](1, *form("http://127.0.0.1:9", **changes))
    assert message(answer) == said
    assert answer[0].className == "msg error"
    assert app.sdobs.loadtests.view() is None  # nothing started
    assert lt.LIMITS is DEFAULT_LIMITS


@pytest.mark.parametrize(("target", "host", "said"), [
    ("", "", "Give the target: the A1111 base URL, e.g. http://127.0.0.1:7860."),
    ("ftp://sd.example.com", "",
     "The URL must start with http:// or https://, not 'ftp://sd.example.com'."),
    ("http://", "", "The URL 'http://' has no host name."),
    ("http://127.0.0.1:99999", "", "The URL 'http://127.0.0.1:99999' has an invalid port."),
    ("http://127.0.0.1:8080", "bad host", "The Host header 'bad host' is not a host name."),
])
def test_bad_target_is_one_sentence(make_app, target, host, said) -> None:
    app = make_app()
    answer = app.sdobs.callbacks["loadtest-start"](1, *form(target, host=host))
    assert message(answer) == said
    assert app.sdobs.loadtests.view() is None


def test_unreachable_target_says_so(make_app) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app()
    start = app.sdobs.callbacks["loadtest-start"]
    assert message(start(1, *form(f"http://127.0.0.1:{port}", host=""))).startswith("Run 1")
    answers, slots = poll_until_done(app)
    assert not any(slots.values())
    body = text(answers[-1]["lt-result.children"])
    assert f"No request to http://127.0.0.1:{port}/sdapi/v1/txt2img succeeded" in body
    assert "connection_refused: connection refused. Check the target URL" in body
    progress = text(answers[-1]["lt-progress.children"])
    assert "errors: connection_refused ×6" in progress
    # No service in an IP address: the link opens the service page on every service.
    assert "/service?from=" in body
    graph = next(c for c in _walk(answers[-1]["lt-result.children"])
                 if getattr(c, "id", None) == "lt-histogram")
    assert graph.figure["data"][0]["name"] == "failed" and sum(graph.figure["data"][0]["y"]) == 6


def test_open_loop_from_the_form(fake, make_app) -> None:
    server = fake()
    app = make_app()
    start = app.sdobs.callbacks["loadtest-start"]
    answer = start(1, *form(server.url, mode="poisson", rate=40, concurrency=3, total=8))
    assert message(answer) == "Run 1 started: 8 requests at 40/s (poisson)."
    poll_until_done(app)
    summary = summary_of(app)
    assert summary.mode == "open" and summary.requests == 8 and summary.success == 1.0
    assert summary.settings["max_in_flight"] == 3 and summary.settings["arrival"] == "poisson"
    assert app.sdobs.callbacks["loadtest-rate"]("closed") is True
    assert app.sdobs.callbacks["loadtest-rate"]("constant") is False


@pytest.mark.parametrize(("target", "host", "named"), [
    ("http://127.0.0.1:8080", HOST, ("default", "knative-sd-demo")),
    ("http://sd.team-a.svc.cluster.local", "", ("team-a", "sd")),
    ("http://127.0.0.1:8080", "", (None, None)),
    ("http://[::1]:8080", "", (None, None)),
    ("http://localhost:7860", "", (None, None)),
    ("http://gateway.example.com", "Not_A.Name.example.com", (None, None)),
    # The twin's path form, which sdobs demo prefills (the link used to lose the service).
    ("http://127.0.0.1:18080/services/default/knative-sd-demo", "", ("default", "knative-sd-demo")),
    ("http://127.0.0.1:18080/services/team-a/sd/", "", ("team-a", "sd")),
    ("http://127.0.0.1:18080/services/Bad_NS/sd", "", (None, None)),
    ("http://127.0.0.1:18080/services/default", "", (None, None)),
])
def test_knative_service_from_the_address(target, host, named) -> None:
    assert lt.knative_service(target, host or None) == named


def test_the_page_is_in_the_navigation_without_the_metric_controls(make_app) -> None:
    app = make_app()
    client = app.server.test_client()
    assert client.get("/loadtest").status_code == 200
    answer = app.sdobs.callbacks["route"]("/loadtest", "")
    assert "lt-start" in str(answer[0]) and answer[-1] == {"display": "none"}
    assert app.sdobs.callbacks["route"]("/service", "")[-1] == {}
    assert "nav-loadtest" in str(app.layout)


# -- in Chromium -----------------------------------------------------------------------------
@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def test_a_small_test_from_the_page(fake, browser, monkeypatch) -> None:
    from sdobs.app import serve
    from sdobs.sim.live.png import picture

    # A picture worth looking at in the screenshot (the fake's own PNG is 2 x 2 pixels).
    monkeypatch.setattr(fake_module, "PNG", picture("a lighthouse at dusk", 7))
    server = fake(delay=1.5)  # three rounds of 1.5 s: polls (1 s) see images before the end
    handle = serve(NOWHERE, cache_seconds=0, loadtest_target=server.url)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{handle.url}/fleet")
        page.click("#nav-loadtest")
        page.wait_for_url("**/loadtest*")
        target = page.locator("#lt-target")
        page.wait_for_function("() => document.querySelector('#lt-target').value !== ''")
        assert target.input_value() == server.url  # the app's default target
        assert not page.locator("#controls").is_visible()
        page.fill("#lt-host", HOST)
        page.fill("#lt-prompt", PROMPT)
        page.fill("#lt-steps", "4")
        page.fill("#lt-size", "512x512")
        page.fill("#lt-concurrency", "2")
        page.fill("#lt-total", "6")
        page.click("#lt-start")
        page.locator("#lt-message").filter(has_text="Run 1 started: 6 requests, 2 in flight.") \
            .wait_for()
        assert page.locator("#lt-start").is_disabled()

        # Images appear while the test still runs, before any summary.
        shown = page.locator("#lt-gallery img[src^='data:image/png']")
        shown.first.wait_for()
        assert page.locator("#lt-summary-table").count() == 0
        assert "running" in page.locator("#lt-counts").inner_text()

        # The end: six images, the summary table, the histogram, the service page link.
        page.locator("#lt-summary-table").wait_for()
        assert shown.count() == 6
        table = page.locator("#lt-summary-table").inner_text()
        assert "200:6" in table and "completed" in table
        assert page.locator("#lt-cards .card-value").first.inner_text() == "6"
        assert "finished: completed · 6/6 done · 6 ok" in page.locator("#lt-counts").inner_text()
        page.wait_for_function(
            "() => { const p = document.querySelector('#lt-histogram .js-plotly-plot');"
            " return p && p.data && p.data.length === 4 && p.data[0].type === 'bar'"
            " && p.data[0].y.reduce((a, b) => a + b, 0) === 6; }")
        href = page.locator("#lt-service-link").get_attribute("href")
        assert href.startswith("/service?ns=default&service=knative-sd-demo&from=")
        assert page.locator("#lt-start").is_enabled() and page.locator("#lt-stop").is_disabled()
        assert server.count == 6 and set(server.hosts) == {HOST}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(300)  # let plotly finish drawing
        page.screenshot(path=str(ARTIFACTS / "loadtest.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
        handle.stop()
