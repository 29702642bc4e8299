"""The app in real headless Chromium (Debian's), driven by Playwright.

Every page shows data for the reference service; the revision and the time range change from
the controls; the URL reloads to the same view; a stopped Prometheus raises the banner and
marks panels stale, and the data comes back when it returns. Screenshots of each page go to
``artifacts/app-screenshots/`` (gitignored).
"""

from __future__ import annotations

from pathlib import Path

import knative_traffic as kt
import pytest
from app_traffic import fleet_text, load_known
from browser import chromium

pytestmark = pytest.mark.prometheus

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "app-screenshots"
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, t0: int):
    """Known traffic (OpenTelemetry dialect) plus a small fleet, and the app in a thread."""
    from sdobs.app import serve
    from sdobs.prom.harness import LocalPrometheus

    prom = LocalPrometheus(tmp_path_factory.mktemp("browser"))
    load_known(prom, "opentelemetry", t0)
    prom.backfill_text(fleet_text(t0, 24, span=kt.SPAN))
    prom.start()
    handle = serve(prom.url, cache_seconds=0)
    try:
        yield handle, prom
    finally:
        handle.stop()
        prom.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.console_errors = errors
    yield pg
    context.close()


def whole(t0: int, service: str | None = kt.SVC) -> str:
    svc = f"&service={service}" if service else ""
    return f"?ns={kt.NS}{svc}&from={t0}&to={t0 + kt.SPAN}"


def loaded(pg, name: str, *, after: str | None = None) -> None:
    """Wait until the page's data callback has answered (a new answer when ``after`` given)."""
    status = pg.locator(f"#{name}-status")
    status.filter(has_text="queries").wait_for()
    if after is not None:
        pg.wait_for_function(
            "([sel, old]) => { const e = document.querySelector(sel);"
            " return e && e.textContent.includes('queries') && e.textContent !== old; }",
            arg=[f"#{name}-status", after])


def graph_traces(pg) -> dict[str, int]:
    """Traces drawn in each graph of the page, by graph id (once plotly has drawn them all)."""
    pg.wait_for_function(
        "() => Array.from(document.querySelectorAll('.dash-graph')).every(g => {"
        " const p = g.querySelector('.js-plotly-plot'); return p && p._fullLayout"
        " && Array.isArray(p.data) && !(p.layout.meta && p.layout.meta.placeholder); })")
    return pg.evaluate(
        "() => Object.fromEntries(Array.from(document.querySelectorAll('.dash-graph'))"
        ".map(g => [g.id, (g.querySelector('.js-plotly-plot') || {}).data?.length || 0]))")


def shoot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.wait_for_timeout(300)  # let plotly finish its transitions
    pg.screenshot(path=str(path), full_page=True)
    return path


def pick(pg, control: str, option: str) -> None:
    pg.click(f"#{control}")
    pg.get_by_role("option", name=option, exact=True).click()
    pg.keyboard.press("Escape")


def test_every_page_has_data_for_the_reference_service(served, page, t0) -> None:
    handle, _ = served
    views = {"service": whole(t0), "scaling": whole(t0), "gpu": whole(t0),
             "fleet": f"?from={t0}&to={t0 + kt.SPAN}"}
    for name, search in views.items():
        page.goto(f"{handle.url}/{name}{search}")
        loaded(page, name)
        traces = graph_traces(page)
        if name == "gpu" and not any(traces.values()):
            pytest.skip("the catalog has no GPU signals yet")
        empty = [g for g, n in traces.items() if n == 0]
        assert not empty, f"{name}: graphs without data: {empty}"
        assert page.locator(".banner").count() == 0
        shoot(page, name)
    # The fleet lists every service and links each to its service page.
    rows = page.locator("#fleet-table tr")
    assert rows.count() == 1 + 24 + 4  # header, the fleet, the known services (2 namespaces)
    page.locator(f"#fleet-table a.svc:text-is('{kt.SVC}')").first.click()
    page.wait_for_url(f"**/service?ns={kt.NS}&service={kt.SVC}*")
    loaded(page, "service")
    assert page.locator("#card-volume .card-value").inner_text().endswith("req/s")
    # The scaling page of the revision that scales marks its events.
    page.goto(f"{handle.url}/scaling{whole(t0, 'sd-burst')}")
    loaded(page, "scaling")
    assert page.locator("#events-table tr").count() == 1 + 4
    shoot(page, "scaling-events")
    assert page.console_errors == []


def test_controls_url_reload_and_a_prometheus_outage(served, page, t0) -> None:
    handle, prom = served
    start, end = t0 + kt.WINDOW_START, t0 + kt.WINDOW_END
    page.goto(f"{handle.url}/service?ns={kt.NS}&service={kt.SVC}&from={start}&to={end}")
    loaded(page, "service")
    assert page.locator("#card-volume .card-value").inner_text() == "0.215 req/s"
    assert page.locator("#card-success .card-value").inner_text() == "97.67 %"

    # Change the revision: the URL follows and the numbers narrow to it.
    status = page.locator("#service-status").inner_text()
    pick(page, "ctl-rev", kt.REV_B)
    page.wait_for_url(f"**rev={kt.REV_B}*")
    loaded(page, "service", after=status)
    assert page.locator("#card-volume .card-value").inner_text() == f"{20 / 600:.3g} req/s"
    assert page.locator("#card-success .card-value").inner_text() == "100 %"

    # Change the time range to a preset: the known traffic (3 h ago) is inside the last 6 h.
    status = page.locator("#service-status").inner_text()
    pick(page, "ctl-range", "last 6h")
    page.wait_for_url("**range=6h*")
    loaded(page, "service", after=status)
    traces = graph_traces(page)
    assert (traces.pop("service-4xx"), traces.pop("service-5xx")) == (0, 0)  # none on 00002
    assert "no 5xx responses in this range" in page.locator("#service-5xx").inner_text()
    assert all(n > 0 for n in traces.values()), traces
    assert page.locator("#ctl-from").input_value() == ""

    # Share the URL and reload it in a fresh page: the same view comes back.
    shared = page.url
    assert "from=" not in shared and f"rev={kt.REV_B}" in shared
    other = page.context.new_page()
    other.goto(shared)
    loaded(other, "service")
    assert other.locator("#ctl-service").inner_text() == kt.SVC
    assert kt.REV_B in other.locator("#ctl-rev").inner_text()
    assert other.locator("#ctl-range").inner_text() == "last 6h"
    assert other.locator("#card-success .card-value").inner_text() == "100 %"
    other.close()
    page.reload()
    loaded(page, "service")
    assert page.url == shared

    # Stop Prometheus: a banner says what failed and where; the panels keep data, marked stale.
    prom.stop()
    try:
        status = page.locator("#service-status").inner_text()
        pick(page, "ctl-range", "last 12h")
        banner = page.locator("#banner")
        banner.wait_for()
        text = banner.inner_text()
        assert f"cannot reach Prometheus at {prom.url}" in text
        assert "last good data" in text
        assert page.locator(".panel.stale").count() == 8
        assert sum(n > 0 for n in graph_traces(page).values()) == 8  # still drawn
        shoot(page, "service-prometheus-down")
    finally:
        prom.start()
    # Prometheus is back: the next load clears the banner and the stale marks.
    pick(page, "ctl-range", "last 6h")
    page.locator("#banner").wait_for(state="detached")
    loaded(page, "service", after=status)
    assert page.locator(".panel.stale").count() == 0
    assert sum(n > 0 for n in graph_traces(page).values()) == 8
    assert page.console_errors == []
