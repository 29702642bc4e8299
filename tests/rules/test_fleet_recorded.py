"""The fleet page on recorded series: detected where the rules' series exist, and showing the
numbers the raw queries show (twin history of a fleet service, recorded series backfilled)."""

from __future__ import annotations

import math

import pytest
from test_rules_scenarios import FAULTS

from sdobs.app import data
from sdobs.app import recorded as rec_page
from sdobs.app.source import Source
from sdobs.app.state import ViewState
from sdobs.catalog import Selection
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module")
def prom(fault_history):
    prom, _, _, end = fault_history(FAULTS / "5xx-burst.yaml")  # shared, see conftest.py
    return prom, end


@pytest.mark.timeout(900)
def test_recorded_fleet_matches_raw(prom):
    prom, end = prom
    rec_page.forget()
    source = Source(PrometheusClient(prom.url), scrape_interval=30)
    state = ViewState(range="3h")
    window = data.window_for(state, end, source.scrape_interval)
    raw = data.fleet_table(data.load(source, lambda c: data.fleet_specs(c, state, window, 30),
                                     window)).set_index("service")
    page = data.load(source, lambda c: rec_page.fleet_specs(c, state, window, 30), window)
    assert not page.errors(), page.errors()
    rec = data.fleet_table(page).set_index("service")
    assert list(rec.index) == list(raw.index) == ["sd-oom"]
    a, b = raw.loc["sd-oom"], rec.loc["sd-oom"]
    assert b.rps == pytest.approx(a.rps, rel=0.05)
    assert b.success == pytest.approx(a.success, abs=0.02) and 0.5 < b.success < 0.8
    assert b.p95 == pytest.approx(a.p95, rel=0.25)
    # Pods and GPUs now: the recorded value is the last evaluation's (up to a minute older), so
    # it is one of the raw counts of the last minute and a half, which may differ from now's.
    cat = source.catalog()
    recent = source.client.query_range(cat.pods(Selection(service="sd-oom"), "actual").expr,
                                       end - 90, end, step=1)["value"]
    assert recent.min() <= b.pods <= recent.max() and b.pods >= 1, (b.pods, recent.tolist())
    assert abs(b.gpus - a.gpus) <= max(2, recent.max() - recent.min())
    assert not math.isnan(b.gpu)
    assert sum(1 for v in b.spark if not math.isnan(v)) >= len(b.spark) // 2


def test_detection_follows_the_rules(prom, tmp_path):
    prom, end = prom
    rec_page.forget()
    source = Source(PrometheusClient(prom.url), scrape_interval=30)
    assert rec_page.has_recorded(source)
    page = data.load_fleet(source, ViewState(range="3h"), end)
    assert page.dialect.endswith("recorded series")
    # A range that begins before the recording did is read raw (the demo's backfilled day).
    assert rec_page.has_recorded(source, since=end - 3 * 3600)
    assert not rec_page.has_recorded(source, since=end - 7 * 3600)
    page = data.load_fleet(source, ViewState(range="12h"), end)
    assert not page.dialect.endswith("recorded series") and not page.errors()
    from sdobs.prom.harness import LocalPrometheus

    with LocalPrometheus(tmp_path) as empty:
        rec_page.forget()
        assert not rec_page.has_recorded(Source(PrometheusClient(empty.url)))
