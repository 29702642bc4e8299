"""The fleet page at 500 services: every service listed, searchable, sortable, paged, quick."""

from __future__ import annotations

import json
import time

import pytest
from app_traffic import fleet_service, fleet_text

from sdobs.app import create_app, data
from sdobs.app.pages.common import by_id
from sdobs.app.pages.fleet import ROWS_PER_PAGE
from sdobs.app.state import parse_search

pytestmark = pytest.mark.prometheus
N = 500
SPAN = 900


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, t0: int):
    from sdobs.prom.harness import LocalPrometheus

    prom = LocalPrometheus(tmp_path_factory.mktemp("fleet"))
    prom.backfill_text(fleet_text(t0, N, span=SPAN))
    prom.start()
    app = create_app(prom.url, scrape_interval=30)
    yield app, f"?from={t0}&to={t0 + SPAN}"
    app.sdobs.source.close()
    prom.stop()


def text_of(component) -> str:
    from plotly.io.json import to_json_plotly

    return json.dumps(json.loads(to_json_plotly(component)), ensure_ascii=False)


def expected(i: int) -> dict:
    return fleet_service(i)


def test_every_service_with_its_numbers(fleet) -> None:
    app, search = fleet
    page = data.load_fleet(app.sdobs.source, parse_search(search).state)
    assert page.errors() == []
    table = data.fleet_table(page)
    assert len(table) == N
    zero = table[table["zero"] == True]  # noqa: E712
    assert len(zero) == sum(1 for i in range(N) if expected(i)["pods"] == 0)
    row = table.set_index("service").loc["model-123"]
    want = expected(123)
    assert row["namespace"] == want["namespace"]
    assert row["pods"] == want["pods"]
    assert row["rps"] == pytest.approx(want["rate"], rel=0.05)
    assert row["success"] == pytest.approx(1 - want["error_share"], abs=0.005)
    assert 2.5 < row["p95"] < 7.5  # inside the bucket the fleet's 95th percentile falls in
    assert all(len(s) == len(table["spark"].iloc[0]) for s in table["spark"])


def test_queries_do_not_grow_with_the_fleet(fleet) -> None:
    app, search = fleet
    page = data.load_fleet(app.sdobs.source, parse_search(search).state)
    assert page.queries == len(data.fleet_specs(app.sdobs.source.catalog(),
                                                parse_search(search).state, page.window))
    assert page.queries <= 7


def test_search_sort_and_pages(fleet) -> None:
    app, search = fleet
    table = data.fleet_table(data.load_fleet(app.sdobs.source, parse_search(search).state))
    found = data.filter_sort(table, "model-12", "service", False)
    assert list(found["service"]) == [f"model-{i}" for i in range(120, 130)]
    assert len(data.filter_sort(table, "team-03", "rps", True)) == N // 10
    by_rps = data.filter_sort(table, "", "rps", True)
    assert by_rps["rps"].is_monotonic_decreasing
    by_p95 = data.filter_sort(table, "", "p95", False)
    known = by_p95["p95"].dropna()
    assert known.is_monotonic_increasing and by_p95["p95"].iloc[-1] != by_p95["p95"].iloc[-1]


def test_fleet_page_renders_one_page_of_rows_quickly(fleet) -> None:
    app, search = fleet
    cb = app.sdobs.callbacks["fleet"]
    started = time.perf_counter()
    answer = by_id(cb, cb(search + "&sort=service&desc=0&p=3", 0, {}))
    first = time.perf_counter() - started
    body = text_of(answer["fleet-body.children"][0])
    assert body.count("/service?ns=") == ROWS_PER_PAGE
    assert "model-100" in body and "model-149" in body and "model-150" not in body
    pager = text_of(answer["fleet-body.children"][1])
    assert "101–150 of 500" in pager
    # Sorting and searching reuse the load: no new queries to Prometheus.
    started = time.perf_counter()
    again = by_id(cb, cb(search + "&q=model-4&sort=p95", 0, {}))
    second = time.perf_counter() - started
    assert "1–50 of 100" in text_of(again["fleet-body.children"][1])
    assert first < 5.0 and second < 1.0, (first, second)
