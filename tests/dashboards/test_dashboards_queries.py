"""Every target of every generated dashboard returns data from a real Prometheus holding the
known Knative traffic and the GPU exporter's series, in every dialect; no panel is empty."""

from __future__ import annotations

import math
import re

import gpu_traffic
import knative_traffic as kt
import pandas as pd
import pytest
import sd_traffic

from sdobs.dashboards.generate import DIALECT_NAMES, GENERATED, load_generated
from sdobs.dashboards.interpolate import Windows, interpolate
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus

pytestmark = pytest.mark.prometheus

#: The reference service with both revisions picked, and with "All".
PICKS = {
    "both revisions": {"namespace": kt.NS, "service": kt.SVC, "revision": [kt.REV_A, kt.REV_B]},
    "all": {"namespace": kt.NS, "service": kt.SVC, "revision": "$__all"},
}
WINDOWS = Windows(rate_interval="1m", interval="30s", range="10m", range_seconds=600)


@pytest.fixture(scope="module", params=DIALECT_NAMES)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(client, dashboards of the dialect, t0): a Prometheus with Knative and GPU history."""
    t0 = kt.t0_for_tests()
    knative = kt.exposition(request.param, t0)
    prom = LocalPrometheus(tmp_path_factory.mktemp(f"dash-{request.param}"))
    prom.backfill_text(sd_traffic.with_sd(gpu_traffic.with_knative(knative, t0), t0))
    prom.backfill_text(kt.cluster(t0))
    prom.start()
    # The SLO row reads what sdobs' recording rules record: record it for the known traffic.
    from sdobs.rules.backfill import backfill_records
    from sdobs.rules.generate import rule_groups

    backfill_records(prom, [g for t in (request.param, "gpu")
                            for gs in rule_groups(t).values() for g in gs],
                     t0, t0 + kt.SPAN, eval_interval="30s")
    client = PrometheusClient(prom.url)
    try:
        yield client, load_generated(GENERATED / request.param), t0
    finally:
        client.close()
        prom.stop()


def _leaf_panels(dash):
    out = []
    for p in dash["panels"]:
        out += p.get("panels", []) if p["type"] == "row" else [p]
    return out


@pytest.mark.parametrize("pick", list(PICKS))
def test_every_panel_returns_data(loaded, pick: str) -> None:
    client, dashboards, t0 = loaded
    start, end = t0 + kt.WINDOW_START + 60, t0 + kt.WINDOW_END
    empty, ran = [], 0
    for dash in dashboards:
        variables = dash["templating"]["list"]
        values = dict(PICKS[pick])
        if dash["uid"].startswith("sdobs-fleet"):
            values = {"namespace": "$__all" if pick == "all" else kt.NS}
        for panel in _leaf_panels(dash):
            for target in panel["targets"]:
                expr = interpolate(target["expr"], variables, values, WINDOWS)
                if target.get("instant"):
                    frame = client.query(expr, time=end)
                else:
                    frame = client.query_range(expr, start, end, step=30)
                ran += 1
                finite = [v for v in frame["value"] if not math.isnan(v)] if len(frame) else []
                if not finite:
                    empty.append(f"{dash['uid']} / {panel['title']} [{target['refId']}]: {expr}")
    assert empty == [], "\n".join(empty)
    assert len(dashboards) == 5 and ran >= 80  # fleet-recorded joined the four


def test_variables_list_the_reference_service(loaded) -> None:
    client, dashboards, _ = loaded
    for dash in dashboards:
        variables = dash["templating"]["list"]
        picked: dict[str, str | list[str]] = {}
        for var in variables:
            if var["type"] != "query":
                continue
            series, label = _parse_label_values(var["query"])
            series = interpolate(series, variables, picked, WINDOWS)
            got = client.label_values(label, match=[series])
            want = {"namespace": kt.NS, "service": kt.SVC, "revision": kt.REV_A}[var["name"]]
            assert want in got, (dash["uid"], var["name"], got)
            if var["name"] == "revision":
                assert got == [kt.REV_A, kt.REV_B]
            picked[var["name"]] = want


def _parse_label_values(query: str) -> tuple[str, str]:
    assert query.startswith("label_values(") and query.endswith(")"), query
    series, _, label = query[len("label_values("):-1].rpartition(", ")
    return series, label


def test_known_numbers_through_the_dashboards(loaded) -> None:
    """A few panels read back the traffic written: same expressions, same numbers."""
    client, dashboards, t0 = loaded
    te = t0 + kt.WINDOW_END
    service = next(d for d in dashboards if d["uid"].startswith("sdobs-service"))
    gpu = next(d for d in dashboards if d["uid"].startswith("sdobs-gpu"))
    ten = Windows(rate_interval="10m", interval="30s", range="10m", range_seconds=600)

    def value(dash, title: str, ref: str = "A", **values) -> dict[str, float]:
        panel = next(p for p in _leaf_panels(dash) if p["title"] == title)
        target = next(t for t in panel["targets"] if t["refId"] == ref)
        expr = interpolate(target["expr"], dash["templating"]["list"],
                           {**PICKS["all"], **values}, ten)
        frame = client.query(expr, time=te)
        key = next((c for c in ("revision", "pod") if c in frame), None)
        return {(row[key] if key else ""): row["value"] for _, row in frame.iterrows()}

    assert value(service, "Request Volume") == pytest.approx({"": 129 / 600})
    assert value(service, "Success Rate") == pytest.approx({"": 126 / 129})
    assert value(service, "Request Volume by Revision") == pytest.approx(
        {kt.REV_A: 109 / 600, kt.REV_B: 20 / 600})
    assert value(service, "Request Volume", revision=[kt.REV_B]) == pytest.approx(
        {"": 20 / 600})
    assert value(gpu, "GPUs allocated vs busy", "A") == {"": 3}
    busy = sum(gpu_traffic.BUSY[p.name] for p in kt.PODS if p.service == kt.SVC
               and p.namespace == kt.NS)
    assert value(gpu, "GPUs allocated vs busy", "B") == pytest.approx({"": busy})
    idle = value(gpu, "GPU-seconds idle")[""]
    alloc = value(gpu, "GPU-seconds allocated")[""]
    assert alloc == pytest.approx(3 * 600, rel=0.06)  # 20 or 21 subquery steps of 30 s
    assert idle == pytest.approx(alloc - value(gpu, "GPU-seconds busy")[""])


#: A recorded series' name (``level:metric:operations``), to find when its rule group evaluated.
RECORDED_NAME = re.compile(r"\b[a-z_]+:sdobs_[a-z0-9_]+:[a-z0-9_]+\b")


def _rows(frame, shift: float = 0.0) -> dict[tuple, float]:
    """Each sample keyed by its labels (and its time plus ``shift`` seconds)."""
    keys = [c for c in frame.columns if c != "value"]
    out = {}
    for _, row in frame.iterrows():
        key = tuple(str((row[k] + pd.Timedelta(seconds=shift)).round("1s")) if k == "time"
                    else str(row[k])
                    for k in keys)
        out[key] = row["value"]
    return out


def _same(got: dict[tuple, float], want: dict[tuple, float], what: str) -> None:
    assert got.keys() == want.keys(), what
    for k, v in want.items():
        assert (math.isnan(v) and math.isnan(got[k])) or got[k] == pytest.approx(v, rel=1e-9), \
            (what, k, got[k], v)


def _lag(client: PrometheusClient, expr: str, at: float) -> float:
    """Seconds from the last evaluation of the rule group ``expr`` reads to ``at``."""
    names = set(RECORDED_NAME.findall(expr))
    assert names, expr
    stamps = {client.query(f"max(timestamp({n}))", time=at)["value"].iloc[0] for n in names}
    assert len(stamps) == 1, (expr, stamps)  # one target reads one rule group
    return at - stamps.pop()


def test_recorded_fleet_matches_raw_fleet(loaded) -> None:
    """Every target of the recorded fleet dashboard shows the raw fleet dashboard's numbers.

    Two differences are expected, and each is pinned here rather than hidden in a tolerance:
    the recorded rates are 5-minute rates (so the raw target is read with a 5-minute
    ``$__rate_interval``; Grafana's is usually shorter), and a recorded value is its rule
    group's last evaluation's (every 30 s, at a phase Prometheus derives from the group), so
    the recorded target at T equals the raw one at that evaluation, 0-30 s before T. With both
    named, they agree to rounding.
    """
    client, dashboards, t0 = loaded
    raw = next(d for d in dashboards if d["uid"].startswith("sdobs-fleet-")
               and "recorded" not in d["uid"])
    rec = next(d for d in dashboards if d["uid"].startswith("sdobs-fleet-recorded-"))
    five = Windows(rate_interval="5m", interval="30s", range="10m", range_seconds=600)
    te, start = t0 + kt.WINDOW_END, t0 + kt.WINDOW_START + 60
    twins = {p["title"]: p for p in _leaf_panels(raw)}
    compared, nonempty = 0, 0
    for panel in _leaf_panels(rec):
        twin = twins[panel["title"]]
        assert [t["refId"] for t in panel["targets"]] == [t["refId"] for t in twin["targets"]]
        for target, raw_target in zip(panel["targets"], twin["targets"], strict=True):
            assert "$__rate_interval" not in target["expr"], target["expr"]
            lag = _lag(client, target["expr"], te)
            assert 0 <= lag < 30, (panel["title"], lag)
            for ns in ("$__all", kt.NS):
                expr = interpolate(target["expr"], rec["templating"]["list"], {"namespace": ns},
                                   five)
                want = interpolate(raw_target["expr"], raw["templating"]["list"],
                                   {"namespace": ns}, five)
                what = f"{panel['title']} [{target['refId']}] namespace={ns}"
                if target.get("instant"):
                    exact = _rows(client.query(want, time=te - lag).drop(columns="time"))
                    got = _rows(client.query(expr, time=te).drop(columns="time"))
                else:  # every step (30 s, as the rules) lags its evaluation by the same
                    exact = _rows(client.query_range(want, start - lag, te - lag, step=30), lag)
                    got = _rows(client.query_range(expr, start, te, step=30))
                _same(got, exact, what)
                nonempty += any(not math.isnan(v) for v in exact.values())
                compared += 1
    assert compared == 2 * 12 and nonempty == compared
