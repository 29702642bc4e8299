"""The app's page loads against Prometheus answering the same queries, side by side in one run.

Two pages: the service page over 24 h (one busy service, two revisions, 60 s samples) and the
fleet page at 500 services (15 minutes, 30 s samples). For each, interleaved rounds of:

- Prometheus alone: the page's own catalog queries (built by the same ``data.*_specs``), sent
  concurrently with the app's concurrency (8) over one keep-alive session, bodies read, nothing
  decoded;
- the app: one POST of the page's data callback to the app served by waitress in this process,
  until the answer (every figure as plotly JSON, cards, tables) is read — request to rendered
  figures, as the browser receives them.

App overhead = (app - Prometheus) / Prometheus on the medians; the goal is <= 50 %. With
``--browser`` (and Debian's Chromium) it also times the page in headless Chromium until plotly
has drawn every graph. Run: .venv/bin/python benchmarks/app_pages.py [--rounds 15] [--browser]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / p) for p in ("tests", "tests/app")]

import app_traffic as at  # noqa: E402

from sdobs.app import create_app, data, serve  # noqa: E402
from sdobs.app.state import parse_search  # noqa: E402
from sdobs.prom.client import clamp_step  # noqa: E402
from sdobs.prom.harness import LocalPrometheus  # noqa: E402

CONCURRENCY = 8


def prometheus_alone(session: requests.Session, url: str, specs, window) -> float:
    """Wall time for Prometheus to answer the page's queries, sent as the app sends them."""

    def one(spec) -> int:
        if spec.instant:
            form = {"query": spec.query.expr, "time": f"{window.end:.3f}"}
            path = "/api/v1/query"
        else:
            step = clamp_step(window.start, window.end, spec.step or window.step)
            form = {"query": spec.query.expr, "start": f"{window.start:.3f}",
                    "end": f"{window.end:.3f}", "step": f"{step:g}"}
            path = "/api/v1/query_range"
        resp = session.post(url + path, data=form, timeout=60)
        resp.raise_for_status()
        return len(resp.content)

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        sizes = list(pool.map(one, specs))
    assert all(sizes)
    return time.perf_counter() - started


def callback_body(app, page: str, search: str) -> dict:
    """The JSON the browser POSTs for a page's data callback."""
    deps = app.server.test_client().get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if f"{page}-status.children" in d["output"])
    outs = []
    for part in dep["output"].strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        outs.append({"id": cid, "property": prop})
    return {"output": dep["output"], "outputs": outs,
            "inputs": [{"id": "url", "property": "search", "value": search},
                       {"id": "tick", "property": "n_intervals", "value": 0}],
            "state": [{"id": f"{page}-meta", "property": "data", "value": {}}],
            "changedPropIds": ["url.search"]}


def app_page(session: requests.Session, url: str, body: dict) -> tuple[float, int]:
    started = time.perf_counter()
    resp = session.post(url + "/_dash-update-component", json=body, timeout=120)
    resp.raise_for_status()
    size = len(resp.content)
    elapsed = time.perf_counter() - started
    answer = json.loads(resp.content)["response"]
    assert not any(v.get("children") for k, v in answer.items() if k.endswith("-banner"))
    return elapsed, size


def browser_times(handle, views: dict[str, str], rounds: int) -> dict[str, float]:
    """Median time in headless Chromium from navigation until every graph is drawn."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {}
    if not Path("/usr/bin/chromium").exists():
        return {}
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--no-first-run"]
    out = {}
    drawn = ("() => { const s = document.querySelector('#PAGE-status');"
             " if (!s || !s.textContent.includes('queries')) return false;"
             " return Array.from(document.querySelectorAll('.dash-graph')).every(g => {"
             " const p = g.querySelector('.js-plotly-plot'); return p && p._fullLayout &&"
             " !(p.layout.meta && p.layout.meta.placeholder); }); }")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name, search in views.items():
            page.goto(f"{handle.url}/{name}{search}")  # warm the bundles
            page.wait_for_function(drawn.replace("PAGE", name), timeout=60_000)
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                page.goto(f"{handle.url}/{name}{search}")
                page.wait_for_function(drawn.replace("PAGE", name), timeout=60_000)
                times.append(time.perf_counter() - started)
            out[name] = statistics.median(times)
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--browser", action="store_true", help="also time headless Chromium")
    args = parser.parse_args()

    now = int(time.time()) // 60 * 60
    day_t0 = now - 24 * 3600 - 60
    fleet_t0 = now - 2 * 3600
    with tempfile.TemporaryDirectory(prefix="sdobs-bench-") as tmp:
        prom = LocalPrometheus(Path(tmp))
        t = time.perf_counter()
        prom.backfill_text("\n".join(at.service_day(day_t0)) + "\n")
        prom.backfill_text(at.fleet_text(fleet_t0, 500, span=900))
        print(f"backfilled 24 h of one service and 15 min of 500 services in "
              f"{time.perf_counter() - t:.1f} s")
        prom.start()
        handle = serve(create_app(prom.url, cache_seconds=0), threads=8)
        source = handle.app.sdobs.source
        views = {
            "service": (f"?ns=default&service={at.DAY_SVC}&from={day_t0 + 60}&to={now}",
                        data.service_specs, data.load_service),
            "fleet": (f"?from={fleet_t0}&to={fleet_t0 + 900}",
                      lambda cat, st, w: data.fleet_specs(cat, st, w, 15.0), data.load_fleet),
        }
        session = requests.Session()
        rows = []
        try:
            for name, (search, specs_of, load) in views.items():
                state = parse_search(search).state
                page = load(source, state)
                assert not page.errors() and not page.empty, page.errors()
                specs = specs_of(source.catalog(), state, page.window)
                body = callback_body(handle.app, name, search)
                prom_t, app_t, size = [], [], 0
                for _ in range(2):  # warm both paths
                    prometheus_alone(session, prom.url, specs, page.window)
                    app_page(session, handle.url, body)
                for _ in range(args.rounds):
                    prom_t.append(prometheus_alone(session, prom.url, specs, page.window))
                    elapsed, size = app_page(session, handle.url, body)
                    app_t.append(elapsed)
                p, a = statistics.median(prom_t), statistics.median(app_t)
                rows.append((name, len(specs), p, a, size))
            browser = browser_times(handle, {k: v[0] for k, v in views.items()},
                                    max(3, args.rounds // 3)) if args.browser else {}
        finally:
            handle.stop()
            prom.stop()

    print(f"\n{'page':<26}{'queries':>8}{'Prometheus':>12}{'app':>10}{'overhead':>10}"
          f"{'answer':>10}")
    labels = {"service": "service, 24 h", "fleet": "fleet, 500 services"}
    for name, n, p, a, size in rows:
        print(f"{labels[name]:<26}{n:>8}{p * 1000:>10.0f}ms{a * 1000:>8.0f}ms"
              f"{(a - p) / p:>9.0%}{size / 1024:>8.0f}KiB")
    for name, seconds in browser.items():
        print(f"{labels[name]:<26} headless Chromium, navigation to every graph drawn: "
              f"{seconds * 1000:.0f} ms")
    print("\nqueries: one data callback per page load, all sent at once; the selectors add "
          "3 label-value look-ups (namespaces, services, revisions).")


if __name__ == "__main__":
    main()
