"""Every target of every generated dashboard returns data from a real Prometheus holding the
known Knative traffic and the GPU exporter's series, in every dialect; no panel is empty."""

from __future__ import annotations

import math

import gpu_traffic
import knative_traffic as kt
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
    assert len(dashboards) == 4 and ran >= 70


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
                           {**PICKS["all"], **values}, ten)  # fmt: skip
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
               and p.namespace == kt.NS)  # fmt: skip
    assert value(gpu, "GPUs allocated vs busy", "B") == pytest.approx({"": busy})
    idle = value(gpu, "GPU-seconds idle")[""]
    alloc = value(gpu, "GPU-seconds allocated")[""]
    assert alloc == pytest.approx(3 * 600, rel=0.06)  # 20 or 21 subquery steps of 30 s
    assert idle == pytest.approx(alloc - value(gpu, "GPU-seconds busy")[""])
