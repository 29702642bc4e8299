"""Empty panels agree: a range with no 4xx says so as the 5xx panel does, series or none."""

from __future__ import annotations

import pandas as pd
import pytest

from sdobs.app.data import PageData, Result, Spec, Window
from sdobs.app.pages import scaling
from sdobs.app.pages.service import GRAPHS
from sdobs.app.state import ViewState
from sdobs.catalog import Catalog, Selection

T0 = 1_800_000_000


def _page(values: dict[str, list[float] | None]) -> PageData:
    window = Window.of(T0, T0 + 600, scrape_interval=15)
    cat = Catalog("opencensus")
    page = PageData(window)
    for key, ys in values.items():
        times = pd.to_datetime([T0 + 15 * i for i in range(len(ys or []))], unit="s", utc=True)
        frame = pd.DataFrame({"time": times, "value": ys or []})
        page.results[key] = Result(Spec(key, cat.rate_4xx(Selection())), frame=frame)
    return page


def _figure(panel_id: str, page: PageData) -> dict:
    panel = next(p for p in (*GRAPHS, *scaling.GRAPHS) if p.id == panel_id)
    return panel.build(page, ViewState())


@pytest.mark.parametrize(("four", "five"), [
    ([0.0] * 20, None),  # a 4xx series at zero beside no 5xx series at all
    (None, [0.0] * 20),
    ([0.0] * 20, [0.0] * 20),
])
def test_no_errors_reads_the_same_in_both_panels(four, five) -> None:
    page = _page({"rate_4xx": four, "rate_5xx": five})
    for panel_id, cls in (("service-4xx", "4xx"), ("service-5xx", "5xx")):
        fig = _figure(panel_id, page)
        assert fig["layout"]["meta"]["empty"] is True, panel_id
        assert fig["layout"]["annotations"][0]["text"] == f"no {cls} responses in this range"


def test_errors_in_the_range_are_drawn() -> None:
    page = _page({"rate_4xx": [0.0] * 10 + [0.2] + [0.0] * 9, "rate_5xx": None})
    fig = _figure("service-4xx", page)
    assert fig["data"] and max(fig["data"][0]["y"]) == pytest.approx(0.2)


def test_an_activator_panel_empty_by_design_says_why() -> None:
    # The autoscaler scaled the service, the activator saw nothing: an ingress held the queue.
    fig = _figure("scaling-activator", _page({"activator_concurrency": None,
                                              "pods_desired": [1.0] * 20}))
    assert fig["layout"]["annotations"][0]["text"] == scaling.NO_ACTIVATOR
    assert "mpa" in scaling.NO_ACTIVATOR
    # Nothing known about the service at all: plain "no data".
    fig = _figure("scaling-activator", _page({"activator_concurrency": None,
                                              "pods_desired": None}))
    assert fig["layout"]["annotations"][0]["text"] == "no data in this range"
