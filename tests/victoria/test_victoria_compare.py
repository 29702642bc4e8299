"""sdobs on VictoriaMetrics: every catalog signal, every dashboard target and the app's pages
answer as on Prometheus holding the same history, except where MetricsQL documents otherwise
(named and bounded per signal in ``relations.py``, pinned on hand-made series below)."""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request

import knative_traffic as kt
import pytest
from relations import (
    CHANGES,
    RATE,
    RATIO,
    RELATIONS,
    SAME,
    SUBQUERY,
    compare,
    relation_of_expr,
)

from sdobs.catalog import Catalog, Selection
from sdobs.catalog.panels import PANELS, RANGE
from sdobs.prom.harness import LocalPrometheus
from sdobs.prom.victoria import LocalVictoriaMetrics, prometheus_line

# Like Prometheus, VictoriaMetrics is required, not optional: ./run test installs it, and
# without it the harness fails with what to install.
pytestmark = pytest.mark.prometheus

STEP = 30
#: The known window, and one whose start lies before the history (the edge of rate()).
WINDOWS = ("1m", "10m")


def _range(t0: int) -> tuple[int, int]:
    return t0 + kt.WINDOW_START + 60, t0 + kt.WINDOW_END


def _query(signal, cat: Catalog, sel: Selection):
    args = tuple("10m" if a == RANGE else a for a in signal.args)
    kwargs = {k: "10m" if v == RANGE else v for k, v in signal.kwargs}
    return getattr(cat, signal.method)(sel, *args, **kwargs)


def _ask(twins, expr: str, relation, start: int, end: int):
    """Both stores' answers; a subquery is read off its inner-step grid (see relations.py)."""
    if relation.kind == SUBQUERY:
        t = end - end % STEP - STEP // 2  # halfway between two inner points (epoch-aligned)
        return twins.prom.query(expr, time=t), twins.vm.query(expr, time=t)
    return (twins.prom.query_range(expr, start, end, step=STEP),
            twins.vm.query_range(expr, start, end, step=STEP))


def test_every_catalog_signal_answers_as_on_prometheus(twins) -> None:
    cat = Catalog(twins.dialect)
    start, end = _range(twins.t0)
    methods = {s.method for p in PANELS.values() for s in p.signals}
    unnamed = sorted(methods - RELATIONS.keys())
    assert not unnamed, f"name the relation of these catalog methods in relations.py: {unnamed}"
    problems, ran, edge = [], 0, 0
    exact: dict[str, int] = {}
    for window in WINDOWS:
        sel = Selection(namespace=kt.NS, service=kt.SVC, window=window)
        for key, panel in PANELS.items():
            for signal in panel.signals:
                query = _query(signal, cat, sel)
                relation = RELATIONS[signal.method]
                prom, vm = _ask(twins, query.expr, relation, start, end)
                found, on_edge, equal = compare(
                    f"{key}/{signal.method}[{window}]", relation, prom, vm,
                    window=float(window[:-1]) * 60, first=twins.first, t0=twins.t0,
                    series=len(kt.PODS))
                problems += found
                ran += 1
                edge += on_edge
                exact[relation.kind] = exact.get(relation.kind, 0) + equal
    assert problems == [], "\n".join(problems[:20])
    assert ran >= 2 * 100 and set(exact) == {SAME, RATE, RATIO, CHANGES, SUBQUERY}
    # Every kind was held to equality on many points, and the 10m windows reaching before the
    # history exercised the named edge.
    assert min(exact.values()) >= 5 and edge > 0, (exact, edge)


def test_every_dashboard_target_answers_as_on_prometheus(twins) -> None:
    from test_dashboards_queries import PICKS, WINDOWS, _leaf_panels

    from sdobs.dashboards.generate import GENERATED, load_generated
    from sdobs.dashboards.interpolate import interpolate

    start, end = _range(twins.t0)
    problems, ran, empty = [], 0, set()
    for dash in load_generated(GENERATED / twins.dialect):
        variables = dash["templating"]["list"]
        values = dict(PICKS["both revisions"])
        if dash["uid"].startswith("sdobs-fleet"):
            values = {"namespace": kt.NS}
        for panel in _leaf_panels(dash):
            for target in panel["targets"]:
                expr = interpolate(target["expr"], variables, values, WINDOWS)
                relation = relation_of_expr(expr)
                if target.get("instant") and relation.kind != SUBQUERY:
                    prom, vm = twins.prom.query(expr, time=end), twins.vm.query(expr, time=end)
                else:
                    prom, vm = _ask(twins, expr, relation, start, end)
                name = f"{dash['uid']}/{panel['title']}[{target['refId']}]"
                found, _, _ = compare(name, relation, prom, vm, window=WINDOWS.range_seconds,
                                   first=twins.first, t0=twins.t0, series=len(kt.PODS))
                problems += found
                ran += 1
                if prom.empty and vm.empty:
                    empty.add(expr)
    assert problems == [], "\n".join(problems[:20])
    assert ran >= 70
    # Only the SLO row and the recorded fleet dashboard are empty in both: they read recorded
    # series, which these stores lack (the demo test has vmalert record them into
    # VictoriaMetrics); every other target answered.
    assert empty and all("slo:" in e or ":sdobs_" in e for e in empty), sorted(empty)
    assert any("slo:" in e for e in empty)


def test_metadata_answers_as_on_prometheus(twins) -> None:
    """Label values and series, which the app's pickers and Grafana's variables read."""
    cat = Catalog(twins.dialect)
    start, end = twins.t0, twins.t0 + kt.SPAN
    for label in ("namespace", "service", "revision"):
        query = cat.label_values_query(label, Selection(namespace=kt.NS))
        got = twins.vm.label_values(query.label, [query.series], start, end)
        assert got == twins.prom.label_values(query.label, [query.series], start, end), label
        assert got, label
    names = twins.prom.metric_names(start, end)
    assert twins.vm.metric_names(start, end) == names and len(names) > 20


def test_app_pages_read_the_same_numbers(twins) -> None:
    """The app's data path (the pages' queries through its Source) on both stores."""
    from sdobs.app import data
    from sdobs.app.source import Source
    from sdobs.app.state import parse_search
    from sdobs.prom.client import PrometheusClient

    start, end = twins.t0 + kt.WINDOW_START, twins.t0 + kt.WINDOW_END
    search = f"?ns={kt.NS}&service={kt.SVC}&from={start}&to={end}"
    state = parse_search(search).state
    pages = {}
    for store, client in (("prom", twins.prom), ("vm", twins.vm)):
        source = Source(PrometheusClient(client.url, max_workers=10))
        try:
            assert source.catalog().dialect.name == twins.dialect  # detection works on VM
            pages[store] = {name: load(source, state, now=end) for name, load in (
                ("service", data.load_service), ("scaling", data.load_scaling),
                ("gpu", data.load_gpu), ("fleet", data.load_fleet))}
        finally:
            source.close()
    for name, page in pages["vm"].items():
        assert page.errors() == [], (name, page.errors())
        assert sorted(page.results) == sorted(pages["prom"][name].results), name
    head_p, head_v = data.headline(pages["prom"]["service"]), data.headline(pages["vm"]["service"])
    assert head_v.keys() == head_p.keys()
    for key, p in head_p.items():
        v = head_v[key]
        assert (p is None and v is None) or math.isclose(p, v, rel_tol=1e-9), (key, p, v)
    assert head_v["requests"] == 129  # the known traffic's requests in the window, exactly
    # GPU-seconds are a subquery read at the range's end, on its 30 s grid: Prometheus adds the
    # inner point at exactly end - range (relations.py); VictoriaMetrics' is the 10 minutes.
    gpu_p, gpu_v = data.gpu_headline(pages["prom"]["gpu"]), data.gpu_headline(pages["vm"]["gpu"])
    gpus = 3  # the reference service's three pods, one GPU each (gpu_traffic)
    assert gpu_v["allocated"] == pytest.approx(gpus * 600)
    assert 0 <= gpu_p["allocated"] - gpu_v["allocated"] <= gpus * 30


# -- the differences themselves, on series whose answers are known -----------------------------
T = 1_717_200_000  # on a 30 s boundary


def _known_text() -> str:
    lines = ["# TYPE c counter"]  # 1 per second from T, scraped every 15 s for 10 minutes
    lines += [f"c_total {15 * k} {T + 15 * k}" for k in range(41)]
    lines.append("# TYPE g gauge")
    lines += [f"g {v} {T + 15 * k}" for k, v in enumerate((1, 1, 2, 2, 3, 3, 3, 1))]
    lines.append("# TYPE h histogram")
    for k in range(5):
        lines += [f'h_bucket{{le="{le}"}} {n * k} {T + 15 * k}'
                  for le, n in (("0.1", 1), ("1", 2), ("+Inf", 10))]
        lines += [f"h_count {10 * k} {T + 15 * k}", f"h_sum {3 * k} {T + 15 * k}"]
    return "\n".join(lines) + "\n# EOF\n"


def _value(url: str, expr: str, t: int) -> float | None:
    query = urllib.parse.urlencode({"query": expr, "time": t})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as resp:
        result = json.loads(resp.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else None


#: (expression, seconds after T, Prometheus' answer, VictoriaMetrics' answer)
KNOWN = [
    # rate() over a window reaching before the first sample: Prometheus divides the increase
    # (300, not extrapolated past the counter's zero) by the window, VictoriaMetrics by the
    # 300 s its samples cover.
    ("rate(c_total[10m])", 300, 0.5, 1.0),
    ("increase(c_total[10m])", 300, 300, 300),
    ("rate(c_total[10m])", 600, 1.0, 1.0),  # the window within the series: the same
    ("rate(c_total[1m])", 300, 1.0, 1.0),
    ("increase(c_total[1m])", 307, 60, 60),  # between scrapes: Prometheus extrapolates to 60
    ("rate(h_count[10m])", 60, 40 / 600, 40 / 60),
    # changes(): VictoriaMetrics counts the window's first sample when nothing precedes it.
    ("changes(g[10m])", 100, 2, 3),
    ("changes(g[1m])", 60, 2, 2),
    # A subquery on its inner grid: Prometheus 2.x includes the point at t - 2m.
    ("sum_over_time(g[2m:30s])", 120, 10, 9),
    ("sum_over_time(g[2m:30s])", 135, 9, 9),
    # Lookback: both carry the last sample for 5 minutes, then nothing.
    ("g", 105 + 299, 1, 1),
    ("g", 105 + 301, None, None),
    # histogram_quantile: same interpolation, the same answer in the +Inf bucket (the top
    # finite bound).
    ("histogram_quantile(0.15, rate(h_bucket[1m]))", 60, 0.55, 0.55),
    ("histogram_quantile(0.95, rate(h_bucket[1m]))", 60, 1.0, 1.0),
]


def test_metricsql_differences_on_known_series(tmp_path) -> None:
    text = _known_text()
    prom = LocalPrometheus(tmp_path / "prom")
    prom.backfill_text(text)
    with prom, LocalVictoriaMetrics(tmp_path / "vm") as vm:
        vm.import_openmetrics(text)
        for expr, dt, want_p, want_v in KNOWN:
            got = (_value(prom.url, expr, T + dt), _value(vm.url, expr, T + dt))
            assert got == (pytest.approx(want_p), pytest.approx(want_v)), (expr, dt, got)
    assert {RELATIONS["request_rate"].kind, RELATIONS["latency"].kind} == {RATE, RATIO}


def test_openmetrics_lines_become_prometheus_text_with_milliseconds() -> None:
    assert prometheus_line('a_total{x="1 }2",le="+Inf"} 3.5 1717200000.25') == \
        'a_total{x="1 }2",le="+Inf"} 3.5 1717200000250'
    assert prometheus_line("up 1 1717200000") == "up 1 1717200000000"
    assert prometheus_line("up 1") == "up 1"  # no timestamp: stamped at import
    assert prometheus_line("# EOF") is None and prometheus_line("") is None
    with pytest.raises(Exception, match="timestamp"):
        prometheus_line("up 1 yesterday")
