"""The reference story as a new user lives it, from a fresh clone, as the README says.

A copy of the repository without ``../shared`` (a fresh clone's layout); ``./run demo`` in it
with its default ``--dir`` (only the ports are free ones, so a developer's own demo can run);
the load-test command exactly as the demo prints it, pasted in the same folder; then what a
person checks: through the catalog, the service's requests over the run are exactly 20, all
successful, with P50-P99; pods peaked at 5 and went back to 0 in the time the Service's settings
give; the live pods' GPU series are there. The same through the app in Chromium: the service
page shows the 20 requests; a load test from the app's page and its link to the service page;
the service, scaling, GPU and load-test pages of the run are saved to ``docs/screenshots/``.
Finally SIGTERM stops everything without a traceback.

The demo backfills 2 h of history here instead of its default 24 h (``SDOBS_DEMO_HISTORY``, the
default of ``sdobs demo --history``; ``SDOBS_STORY_HISTORY`` overrides it, ``24h`` for the full
day): the command stays the README's ``./run demo`` with its default flags, and everything live
(the twin continuing the history, the load test, scaling, the app's pages, which default to the
last hour) is the same; only the past is shorter. The default scenario's full 24 h backfill is
exercised by tests/rules/test_rules_scenarios.py (the healthy reference day), and the demo's
backfill path by tests/twin/test_demo_state.py.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from browser import chromium
from eventually import eventually
from fresh_clone import REPO, env, make_clone

from sdobs.app.data import headline, load_service
from sdobs.app.source import Source
from sdobs.app.state import CUSTOM, ViewState
from sdobs.catalog import QUANTILES, Catalog, Selection
from sdobs.demo import time_to_zero
from sdobs.duration import parse_duration
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import free_port
from sdobs.sim.manifest import load_text
from sdobs.sim.scenarios import SCENARIO_DIR

pytestmark = [pytest.mark.prometheus, pytest.mark.fresh_clone, pytest.mark.timeout(1800)]

SCREENSHOTS = REPO / "docs" / "screenshots"
NS, SVC = "default", "knative-sd-demo"
SEL = Selection(namespace=NS, service=SVC, window="1m")
#: The history the demo backfills here (see the module's docstring): covers the app's 1 h views.
STORY_HISTORY = "2h"


class Demo:
    """``./run demo`` in a clone, its output collected by a thread."""

    def __init__(self, clone: Path, ports: dict[str, int]) -> None:
        self.clone, self.ports, self.lines = clone, ports, []
        cmd = ["./run", "demo", "--prometheus-port", str(ports["prometheus"]),
               "--gateway-port", str(ports["gateway"]), "--twin-metrics-port",
               str(ports["metrics"]), "--app-port", str(ports["app"]),
               "--alertmanager-port", str(ports["alertmanager"]),
               "--fault-port", str(ports["fault"])]
        self.history = os.environ.get("SDOBS_STORY_HISTORY", STORY_HISTORY)
        self.proc = subprocess.Popen(cmd, cwd=clone,
                                     env=env(clone, SDOBS_DEMO_HISTORY=self.history),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo never printed {text!r}:\n{self.output[-3000:]}")
            time.sleep(0.5)


def _series(client: PrometheusClient, expr: str, start: float, end: float) -> list[tuple]:
    frame = client.query_range(expr, start, end, step=1)
    if frame.empty:
        return []
    times = (frame["time"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().tolist()
    return list(zip(times, frame["value"].tolist(), strict=True))


def _page(browser, url: str, shot: str | None = None):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.locator("[id$='-status']").filter(has_text="queries").first.wait_for()
    page.wait_for_timeout(800)  # let plotly finish drawing
    if shot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
    return page


def test_the_reference_story_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    ports = {k: free_port() for k in ("prometheus", "gateway", "metrics", "app", "alertmanager",
                                      "fault")}
    demo = Demo(clone, ports)
    try:
        demo.wait_for("Ctrl-C", timeout=900)  # a 24 h backfill (SDOBS_STORY_HISTORY) takes minutes
        assert "history ready" in demo.output  # the demo backfilled (SDOBS_DEMO_HISTORY long)
        out = demo.output
        assert "note:" not in out and (clone / ".sdobs" / "demo" / "history.json").is_file()
        marker = json.loads((clone / ".sdobs" / "demo" / "history.json").read_text())
        assert marker["end"] - marker["start"] == parse_duration(demo.history), marker
        # The load test, exactly as printed, pasted where ./run demo was typed.
        command = next(line.strip() for line in out.splitlines()
                       if line.strip().startswith("./run loadtest"))
        app_url = f"http://127.0.0.1:{ports['app']}"
        assert f"{app_url}/service?ns={NS}&service={SVC}" in out
        started = time.time()
        run = subprocess.run(shlex.split(command), cwd=clone, env=env(clone), timeout=600,
                             capture_output=True, text=True, check=False)
        last_response = time.time()
        assert run.returncode == 0, run.stdout + run.stderr
        assert re.search(r"Success\s+\[ratio\]\s+100\.00%", run.stdout), run.stdout
        assert "200:20" in run.stdout and "Traceback" not in run.stderr

        # Through the catalog, what the app's service page reads: exactly 20 requests.
        client = PrometheusClient(f"http://127.0.0.1:{ports['prometheus']}")
        source = Source(client)
        # From 30 s before the load test, but not before the history ends: with a short history
        # the backfill ends seconds before the test starts, and the history's own requests of
        # its last seconds are requests too.
        view = ViewState(namespace=NS, service=SVC, range=CUSTOM,
                         start=float(max(int(started) - 30, math.ceil(marker["end"]) + 1)),
                         end=float(int(last_response) + 30))
        time.sleep(12)  # two of the demo's 5 s scrapes after the last response
        h = headline(load_service(source, view, now=view.end))
        assert h["requests"] == 20 and h["success"] == 1.0, h
        assert all(h[f"latency_{q:g}"] and h[f"latency_{q:g}"] > 0 for q in QUANTILES), h
        cat = Catalog(source.catalog().dialect)
        actual = _series(client, cat.pods(SEL, "actual").expr, started, last_response + 5)
        assert max(v for _, v in actual) == 5, actual
        gpus = _series(client, cat.gpus_allocated(SEL).expr, started, last_response)
        assert max(v for _, v in gpus) == 5, "the five live pods' GPU exporters were scraped"

        with chromium() as browser:
            # The service page for the test's range shows the 20 requests.
            page = _page(browser, f"{app_url}/service{view.to_search()}")
            assert page.locator("#card-requests .card-value").inner_text() == "20"
            page.close()

            # Back to zero in the time the Service's settings give (see time_to_zero).
            spec = load_text((SCENARIO_DIR / "knative-sd-demo.yaml").read_text())[0][0]
            expected = time_to_zero(spec)

            def at_zero() -> bool:
                frame = client.query(cat.pods(SEL, "actual").expr)
                return not frame.empty and frame["value"].iloc[0] == 0

            eventually(at_zero, timeout=expected + 60, interval=1.0,
                       what="the reference service to go back to zero")
            time.sleep(2)  # so that the range query's 1 s grid reaches past the first zero
            pods = _series(client, cat.pods(SEL, "actual").expr, last_response, time.time())
            zero_at = next(t for t, v in pods if v == 0)
            # A 2 s autoscaler tick, a 3 s re-enqueue and a 5 s scrape on top of the model.
            assert expected - 2 <= zero_at - last_response <= expected + 12, (
                zero_at - last_response, expected)

            # The whole story on screen: the run, 5 pods and back to zero.
            story = ViewState(namespace=NS, service=SVC, range=CUSTOM,
                              start=float(int(started) - 120), end=float(int(time.time()) + 30))
            _page(browser, f"{app_url}/service{story.to_search()}", "service.png").close()
            _page(browser, f"{app_url}/scaling{story.to_search()}", "scaling.png").close()
            _page(browser, f"{app_url}/gpu{story.to_search()}", "gpu.png").close()
            _page(browser, f"{app_url}/fleet", "fleet.png").close()

            # A load test from the app's page, and its link to the service page.
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(300_000)
            page.goto(f"{app_url}/loadtest")
            page.wait_for_function("() => { const e = document.querySelector('#lt-target');"
                                   " return e !== null && e.value !== ''; }")
            page.fill("#lt-steps", "20")
            page.fill("#lt-concurrency", "5")
            page.fill("#lt-total", "10")
            page.click("#lt-start")
            page.locator("#lt-summary-table").wait_for()
            assert "200:10" in page.locator("#lt-summary-table").inner_text()
            page.wait_for_timeout(800)
            page.screenshot(path=str(SCREENSHOTS / "loadtest.png"), full_page=True)
            # Two of the demo's 5 s scrapes after the last response, as above: the service page
            # counts what Prometheus holds when it opens.
            page.wait_for_timeout(12_000)
            page.click("#lt-service-link")
            page.wait_for_url("**/service?*")
            page.locator("#service-status").filter(has_text="queries").wait_for()
            assert f"ns={NS}" in page.url and f"service={SVC}" in page.url and "from=" in page.url
            assert SVC in page.locator("#ctl-service").inner_text()
            page.locator("#card-requests .card-value").filter(has_text=re.compile(r"^\d+$")) \
                .wait_for()
            assert int(page.locator("#card-requests .card-value").inner_text()) >= 10
            page.close()
    finally:
        if demo.proc.poll() is None:
            demo.proc.send_signal(signal.SIGTERM)
            demo.proc.wait(timeout=60)
    assert demo.proc.returncode == 0, demo.output[-3000:]
    demo.reader.join(10)
    assert "Traceback" not in demo.output and "Task was destroyed" not in demo.output, \
        demo.output[-3000:]
    assert "stopped." in demo.output
