"""The pages' data functions return the known traffic from a real Prometheus, in both dialects."""

from __future__ import annotations

import app_traffic as at
import knative_traffic as kt
import numpy as np
import pytest

from sdobs.app import data, figures
from sdobs.app.source import Source
from sdobs.app.state import ViewState, parse_search
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus
OURS = [p for p in kt.PODS if p.namespace == kt.NS and p.service == kt.SVC]


@pytest.fixture
def source(known):
    src = Source(PrometheusClient(known.url, max_workers=10))
    yield src
    src.close()


def state(known, service: str | None = kt.SVC, **extra) -> ViewState:
    return parse_search(known.search(service, **extra)).state


def test_the_dialect_is_detected(known, source) -> None:
    assert source.catalog().dialect.name == known.dialect
    assert known.dialect in source.start()


def test_service_headline_is_the_reference_console_over_the_range(known, source) -> None:
    page = data.load_service(source, state(known))
    assert page.errors() == [] and page.dialect == known.dialect
    h = data.headline(page)
    assert h["volume"] == pytest.approx(129 / 600)
    assert h["requests"] == 129  # exact: counted from the per-pod counters, not rate × span
    assert h["success"] == pytest.approx(126 / 129)
    assert h["rate_4xx"] == pytest.approx(6 / 600)
    assert h["rate_5xx"] == pytest.approx(3 / 600)
    assert h["pods"] == 3  # actual pods of both revisions at the range's end
    buckets = kt.bucket_counts(kt.window_latencies(OURS), known.dialect)
    for q in (0.5, 0.9, 0.95, 0.99):
        assert h[f"latency_{q:g}"] == pytest.approx(kt.histogram_quantile(q, buckets), rel=1e-6)


def test_service_panels_have_every_series(known, source) -> None:
    page = data.load_service(source, state(known))
    by_rev = page.frame("by_revision")
    assert set(by_rev["revision"]) == {kt.REV_A, kt.REV_B}
    assert set(page.frame("by_code_class")["code_class"]) == {"2xx", "4xx", "5xx"}
    for key in ("volume", "success", "rate_4xx", "rate_5xx", "latency_0.5", "latency_0.99",
                "pods_desired", "pods_requested", "pods_actual", "pods_pending",
                "pods_terminating"):
        frame = page.frame(key)
        assert frame is not None and not frame.empty, key
    desired = page.frame("pods_desired")["value"].unique()
    assert list(desired) == [4]  # 3 + 1 desired pods, constant
    # The series sit on the range query's grid, so figures keep gaps as gaps.
    lines = figures.series(page.frame("volume"), page.window)
    assert len(lines) == 1 and len(lines[0][1]) == len(page.window.grid())
    assert page.queries == len(data.service_specs(source.catalog(), state(known), page.window))


def test_revision_filter_narrows_every_panel(known, source) -> None:
    page = data.load_service(source, state(known, rev=kt.REV_B))
    h = data.headline(page)
    assert h["volume"] == pytest.approx(20 / 600)
    assert h["success"] == pytest.approx(1.0)
    assert h["rate_5xx"] == 0.0  # traffic without 5xx series: a zero rate, not unknown
    assert set(page.frame("by_revision")["revision"]) == {kt.REV_B}
    # The comparison still sees every revision: traffic shares add up to one.
    table = data.comparison(page, kt.REV_A, kt.REV_B)
    assert table["share"].sum() == pytest.approx(1.0)


def test_revision_comparison(known, source) -> None:
    page = data.load_service(source, state(known))
    assert data.revisions_seen(page) == [kt.REV_A, kt.REV_B]
    assert data.default_pair(data.revisions_seen(page)) == (kt.REV_A, kt.REV_B)
    table = data.comparison(page, kt.REV_A, kt.REV_B).set_index("revision")
    assert table.loc[kt.REV_A, "share"] == pytest.approx(109 / 129)
    assert table.loc[kt.REV_B, "share"] == pytest.approx(20 / 129)
    assert table.loc[kt.REV_A, "volume"] == pytest.approx(109 / 600)
    assert table.loc[kt.REV_A, "success"] == pytest.approx(106 / 109)
    assert table.loc[kt.REV_A, "rate_4xx"] == pytest.approx(6 / 600)
    assert table.loc[kt.REV_B, "rate_4xx"] == 0.0
    b = kt.bucket_counts(kt.window_latencies([p for p in OURS if p.revision == kt.REV_B]),
                         known.dialect)
    assert table.loc[kt.REV_B, "latency_0.95"] == pytest.approx(kt.histogram_quantile(0.95, b))


def test_scale_events_are_found(known, source) -> None:
    page = data.load_scaling(source, state(known, at.BURST_SVC, whole=True))
    assert page.errors() == []
    events = data.scale_events(page.frame("pods_actual"))
    got = [(e.kind, e["from"], e["to"]) for _, e in events.iterrows()]
    assert got == [(k, float(a), float(b)) for k, a, b in at.BURST_EVENTS]
    offsets = [int(t.timestamp()) - known.t0 for t in events["time"]]
    step = page.window.step
    for got_t, (start, _) in zip(offsets, at.BURST_PODS[1:], strict=True):
        assert start <= got_t < start + step  # the first evaluation at or after the change
    for key in ("concurrency_stable", "concurrency_panic", "concurrency_target", "panic_mode",
                "excess_burst_capacity"):
        assert not page.frame(key).empty, key
    assert set(page.frame("panic_mode")["value"]) == {0.0, 1.0}
    # The reference service's activator concurrency: 0.4 on 00001, 0 on 00002.
    ref = data.load_scaling(source, state(known))
    act = ref.frame("activator_concurrency").groupby("revision")["value"].max().to_dict()
    assert act == pytest.approx({kt.REV_A: 0.4, kt.REV_B: 0.0})


def test_gpu_page(known, source) -> None:
    if not data.has_gpu(source.catalog()):
        pytest.skip("the catalog has no GPU signals yet")
    page = data.load_gpu(source, state(known))
    assert page.errors() == []
    util = page.frame("util_pod").groupby("pod")["value"].mean().to_dict()
    assert util == pytest.approx(at.GPU_UTIL)
    power = page.frame("power_revision").groupby("revision")["value"].mean().to_dict()
    assert power[kt.REV_B] == pytest.approx(at.GPU_POWER_IDLE + at.GPU_POWER_PER_UTIL * 0.2)
    h = data.gpu_headline(page)
    assert h["busy_ratio"] == pytest.approx(1.5 / 3)
    assert h["allocated"] == pytest.approx(3 * 600, rel=0.05)  # 3 GPUs held for 600 s


def test_fleet_table_of_the_known_services(known, source) -> None:
    page = data.load_fleet(source, state(known, None, whole=False))
    table = data.fleet_table(page).set_index(["namespace", "service"])
    assert set(table.index) == {(kt.NS, kt.SVC), (kt.NS, "svc"), (kt.NS, at.BURST_SVC)}
    assert table.loc[(kt.NS, kt.SVC), "rps"] == pytest.approx(129 / 600)
    assert table.loc[(kt.NS, "svc"), "success"] == pytest.approx(30 / 33)
    assert table.loc[(kt.NS, at.BURST_SVC), "rps"] == 0.0  # no traffic: zero, not unknown
    assert table.loc[(kt.NS, at.BURST_SVC), "pods"] == at.burst_pods_at(kt.WINDOW_END)
    spark_step = page.results["spark"].spec.step
    assert 12 <= len(page.window.grid(spark_step)) <= data.SPARK_POINTS + 1
    assert len(table.loc[(kt.NS, kt.SVC), "spark"]) == len(page.window.grid(spark_step))
    everyone = data.fleet_table(data.load_fleet(source, ViewState(
        range="custom", start=known.t0 + 300, end=known.t0 + 900)))
    assert set(everyone["namespace"]) == {kt.NS, "team-b"}


def test_selector_options(known, source) -> None:
    opts = data.options(source, state(known))
    assert opts["namespace"] == [kt.NS, "team-b"]
    assert opts["service"] == [kt.SVC, at.BURST_SVC, "svc"]
    assert opts["revision"] == [kt.REV_A, kt.REV_B]


@pytest.mark.parametrize("hostile", ['x"} or vector(1) #', "svc.*", 'default"}', "\\"])
def test_hostile_state_values_select_nothing(known, source, hostile: str) -> None:
    # Built directly, past the URL's validation: the catalog's escaping still holds.
    start, end = known.window()
    for bad in (ViewState(namespace=hostile, range="custom", start=start, end=end),
                ViewState(namespace=kt.NS, service=hostile, range="custom", start=start,
                          end=end),
                ViewState(namespace=kt.NS, service=kt.SVC, revisions=(hostile,),
                          range="custom", start=start, end=end)):
        page = data.load_service(source, bad)
        assert page.errors() == []
        # The revision comparison looks at every revision of the service by design.
        for key, result in page.results.items():
            if not (bad.revisions and key.startswith("c_")):
                assert result.frame.empty, (bad, key)


def test_an_empty_range_says_so(known, source) -> None:
    page = data.load_service(source, parse_search(
        f"?ns={kt.NS}&service={kt.SVC}&from={known.t0 - 7200}&to={known.t0 - 3600}").state)
    assert page.errors() == [] and page.empty
    fig = figures.timeseries(figures.series(page.frame("volume"), page.window), page.window,
                             "reqps")
    assert fig["data"] == []
    assert fig["layout"]["annotations"][0]["text"] == "no requests in this range"
    assert data.headline(page)["volume"] is None


def test_windows_follow_the_range() -> None:
    w = data.Window.of(0, 86400)
    assert (w.step, w.rate_window, w.span_window) == (600, "615s", "86400s")
    w = data.Window.of(0, 600)
    assert (w.step, w.rate_window) == (15, "60s")
    assert len(w.grid()) == 41 and w.grid()[-1] == 600_000
    assert np.all(np.diff(data.Window.of(0, 3600).grid()) == 30_000)


def test_panels_run_the_shared_panel_queries() -> None:
    # Grafana draws the same panels from sdobs.catalog.panels: same expressions, same numbers.
    from sdobs.catalog import Catalog, Selection
    from sdobs.catalog.panels import PANELS

    cat = Catalog("opencensus")
    state = ViewState(namespace=kt.NS, service=kt.SVC)
    window = data.Window.of(0, 3600)
    sel = Selection(namespace=kt.NS, service=kt.SVC, window=window.rate_window)
    specs = {s.key: s.query for s in data.service_specs(cat, state, window)}
    assert specs["success"] == PANELS["success_rate"].queries(cat, sel)[0]
    assert specs["by_code_class"] == PANELS["volume_by_code_class"].queries(cat, sel)[0]
    assert [specs[f"pods_{s}"] for s in data.POD_TREND] == PANELS["pod_trend"].queries(cat, sel)
    scaling = {s.key: s.query for s in data.scaling_specs(cat, state, window)}
    assert scaling["panic_mode"] == PANELS["panic_mode"].queries(cat, sel)[0]
    gpu = {s.key: s.query for s in data.gpu_specs(cat, state, window)}
    assert gpu["memory_total"] == PANELS["gpu_memory_by_pod"].queries(cat, sel)[1]
    fleet = {s.key: s.query for s in data.fleet_specs(cat, ViewState(), window)}
    span = Selection(window=window.span_window)
    assert [fleet[k] for k in ("rps", "success", "p95", "pods", "gpu")] == \
        PANELS["fleet_table"].queries(cat, span)
