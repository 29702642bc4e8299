"""Fleet-wide capacity (``sdobs capacity --fleet``) on a real Dask LocalCluster and a real
Prometheus holding the demo fleet's twin history: the batched history read is value for value
the per-service read, its query count does not grow with the services, and the fleet replayed
on two worker processes is value for value the serial run."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from capacity_reference import END

from sdobs.capacity.analysis import analyse
from sdobs.capacity.fleet import analyse_fleet, dask_client, dask_runner, run_serial
from sdobs.capacity.history import ServiceHistory, load_histories, load_history
from sdobs.capacity.whatif import Setting
from sdobs.cli import main
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus, free_port

pytestmark = pytest.mark.prometheus
#: Hours of the demo fleet's history: enough for every service to scale, short to replay.
HOURS = 1
#: A reduced sweep: what a fleet run replays for every service in these tests.
SETTINGS = [Setting("as deployed"), Setting("warm pod", min_scale=1)]
SLO = 60.0


class CountingClient(PrometheusClient):
    """A real client that counts the HTTP requests it sends to Prometheus."""

    requests = 0

    def _post(self, path, form, expr):  # type: ignore[override]
        self.requests += 1
        return super()._post(path, form, expr)

    def label_values(self, *args, **kwargs):  # type: ignore[override]
        self.requests += 1
        return super().label_values(*args, **kwargs)


@pytest.fixture(scope="module")
def demo_fleet(tmp_path_factory: pytest.TempPathFactory):
    """The demo's nine services (two namespaces), two hours ending at ``END``, in Prometheus."""
    from sdobs.sim.backfill import backfill_scenario
    from sdobs.sim.scenarios import DEFAULT_SCENARIO, load_scenario

    scenario = replace(load_scenario(DEFAULT_SCENARIO), duration=HOURS * 3600.0)
    prom = LocalPrometheus(Path(tmp_path_factory.mktemp("fleet")) / "prometheus")
    summary = backfill_scenario(scenario, prom.tsdb, end_epoch=END, jobs=2)
    prom.start()
    try:
        yield prom, summary.start_epoch, summary.end_epoch, scenario
    finally:
        prom.stop()


def _same(x, y) -> bool:
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    return x == y or (x != x and y != y)  # NaN is NaN


def assert_same_history(a: ServiceHistory, b: ServiceHistory) -> None:
    """Every field, value for value (frames with check_exact)."""
    for f in dataclasses.fields(ServiceHistory):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y, check_exact=True, obj=f.name)
        else:
            assert _same(x, y), f.name


def test_batched_read_is_the_per_service_read_with_a_fixed_number_of_queries(demo_fleet):
    prom, start, end, scenario = demo_fleet
    keys = {(r.service.namespace, r.service.name) for r in scenario.runs}
    with CountingClient(prom.url) as fleet_client:
        fleet = load_histories(fleet_client, start, end)
        fleet_requests = fleet_client.requests
    assert set(fleet.histories) == keys and not fleet.skipped
    assert fleet.queries == fleet_requests
    with PrometheusClient(prom.url) as client:
        for (ns, svc), history in fleet.histories.items():
            assert_same_history(history, load_history(client, ns, svc, start, end))
    # One service's namespace costs as many requests as the nine services of the fleet.
    with CountingClient(prom.url) as one:
        single = load_histories(one, start, end, namespace="default")
    assert list(single.histories) == [("default", "knative-sd-demo")]
    assert one.requests == fleet_requests
    assert len(fleet.histories) == 9 and fleet_requests < 30


def test_fleet_on_a_local_cluster_is_the_serial_run(demo_fleet, tmp_path):
    from distributed import get_task_stream

    prom, start, end, _ = demo_fleet
    kwargs = dict(namespace=None, slo_seconds=SLO, settings=SETTINGS)
    with PrometheusClient(prom.url) as client:
        serial = analyse_fleet(client, start, end, runner=run_serial, **kwargs)
        with dask_client(workers=2) as dask:
            pids = dask.run(os.getpid)
            with get_task_stream(dask) as stream:
                parallel = analyse_fleet(client, start, end, runner=dask_runner(dask),
                                         engine="dask", **kwargs)
        # A fleet row is exactly what `sdobs capacity --service` concludes for that service.
        one = analyse(client, "default", "knative-sd-demo", start, end, slo_seconds=SLO,
                      settings=SETTINGS, jobs=1)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    ran_on = {t["worker"] for t in stream.data if str(t["key"]).startswith("replay")}
    assert len(ran_on) == 2, "both worker processes replayed"
    # Services without a request in the hour (sd-batch, sd-sketch at night) are named, not sized.
    assert len(serial.analyses) + len(serial.skipped) == 9 and len(serial.analyses) >= 5
    assert all("no requests" in why for why in serial.skipped.values()), serial.skipped
    assert parallel.skipped == serial.skipped
    pd.testing.assert_frame_equal(serial.frame(), parallel.frame(), check_exact=True)
    for key, a in serial.analyses.items():
        b = parallel.analyses[key]
        pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
        assert a.recommendation.setting == b.recommendation.setting
    pd.testing.assert_frame_equal(serial.analyses[("default", "knative-sd-demo")].frame,
                                  one.frame, check_exact=True)
    # The report: one row per service, costs and pods both ways, SLO breakers named.
    frame = serial.frame()
    assert len(frame) == len(serial.analyses)
    assert (frame["deployed_usd_day"] > 0).all()
    assert frame["savings_usd_day"].sum() == pytest.approx(
        frame["deployed_usd_day"].sum() - frame["recommended_usd_day"].sum())
    breaking = serial.breaking_slo()
    assert set(breaking) == {k for k, a in serial.analyses.items()
                             if not a.frame.loc["as deployed", "meets_slo"]}
    summary = " ".join(serial.summary())
    assert f"{len(breaking)} of {len(serial.analyses)} services miss P99" in summary
    html = parallel.write_html(tmp_path / "fleet.html").read_text()
    assert "<table" in html and "knative-sd-demo" in html and "plotly" in html


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def test_fleet_command_and_its_errors(demo_fleet, tmp_path, capsys):
    prom, _, end, _ = demo_fleet
    settings = tmp_path / "settings.yaml"
    settings.write_text("- {name: as deployed}\n")
    common = ["capacity", "--fleet", "--prometheus-url", prom.url, "--range", f"{HOURS}h",
              "--end", _iso(end), "--settings", str(settings)]
    html = tmp_path / "fleet.html"
    rc = main([*common, "--namespace", "sd-eu", "--jobs", "1", "--html", str(html)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Fleet capacity of namespace sd-eu: 1 services analysed" in out
    assert "$/day deployed" in out and "sd-inpaint-eu" in out and "sd-anime" not in out
    assert "sd-inpaint-eu" in html.read_text()

    def error(*argv: str) -> str:
        assert main([*common, *argv]) != 0
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        return err

    import dask.config
    import distributed  # noqa: F401  (its defaults are in dask.config before we change one)

    down = f"tcp://127.0.0.1:{free_port()}"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert f"cannot reach the Dask scheduler at {down}" in error("--scheduler", down)
    assert "is not a Dask address" in error("--scheduler", "http//nowhere")
    assert "no autoscaler series of namespace nowhere" in error("--namespace", "nowhere")
    assert "leave out --service" in error("--service", "sd-anime")
    assert "--fleet" in error_without_fleet(prom.url, capsys)


def error_without_fleet(url: str, capsys) -> str:
    assert main(["capacity", "--prometheus-url", url]) != 0
    return capsys.readouterr().err


@pytest.mark.parametrize("dialect", ["opencensus", "opentelemetry"])
def test_latency_per_group_is_the_per_service_latency_in_both_dialects(twin_history, dialect):
    from sdobs.catalog import Catalog, Selection

    cat = Catalog(dialect)
    t0, t1 = twin_history.start + 600, twin_history.end
    with PrometheusClient(twin_history.url) as client:
        for q in (0.5, 0.99):
            grouped = client.query_range(cat.latency_per_group(Selection(window="5m"), q).expr,
                                         t0, t1, 60)
            alone = client.query_range(cat.latency(Selection(namespace="default",
                                                             service="knative-sd-demo",
                                                             window="5m"), q).expr, t0, t1, 60)
            assert set(zip(grouped["namespace"], grouped["service"], strict=True)) == {
                ("default", "knative-sd-demo")}
            assert len(alone) > 100
            pd.testing.assert_series_equal(grouped["value"], alone["value"], check_exact=True)
            pd.testing.assert_series_equal(grouped["time"], alone["time"])


def _native_pairs(cat, sel_of, by):
    """(name, native query, plain query) of every signal the fleet's read groups natively."""
    from sdobs.catalog.query import Query

    def pair(name: str, build) -> tuple[str, Query, Query]:
        return name, build(True), build(False)

    per_rev = (*by, "revision")
    return [
        pair("request_counter", lambda n: cat.request_counter(
            sel_of("1m"), by=(*by, "revision", "pod", "code_class"), native=n)),
        *(pair(f"pods {s}", lambda n, s=s: cat.pods(sel_of("1m"), s, by=per_rev, native=n))
          for s in ("actual", "desired", "not_ready", "terminating")),
        pair("latency_histogram", lambda n: cat.latency_histogram(
            sel_of("30m"), by=per_rev, app=True, code_class="2xx", native=n)),
        pair("latency_mean", lambda n: cat.latency_mean(
            sel_of("30m"), by=per_rev, app=True, code_class="2xx", native=n)),
        pair("rates by class", lambda n: cat.latency_histogram(
            sel_of("5m"), by=(*by, "code_class"), native=n)),
    ]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = sorted(c for c in frame.columns if c != "value")
    return frame[[*keys, "value"]].sort_values(keys).reset_index(drop=True)


#: Signals whose values are sums of floats (rates): the plain form sums a label_replace'd
#: vector in map order, so it may differ from the native form in the last bits.
FLOAT_SUMS = ("latency_histogram", "latency_mean", "rates by class")


def _assert_plain(name: str, native: pd.DataFrame, plain: pd.DataFrame) -> None:
    """The same series; the same values (exactly for counts, to 1e-12 for sums of floats)."""
    exact = name not in FLOAT_SUMS
    pd.testing.assert_frame_equal(_sorted(native), _sorted(plain), check_exact=exact,
                                  rtol=1e-12, atol=0.0, obj=name)


@pytest.mark.parametrize("dialect", ["opencensus", "opentelemetry"])
def test_native_grouping_is_the_per_service_query_in_both_dialects(twin_history, dialect):
    """Each signal grouped on the dialect's own label names over the whole fleet answers, per
    group, bit for bit the same query for that service alone, and what the plain
    (canonical-label) form answers; the native form never copies labels onto raw series."""
    from sdobs.catalog import Catalog, Selection

    cat = Catalog(dialect)
    keys = ("namespace", "service")
    t0, t1 = twin_history.start + 1800, twin_history.end
    fleet = lambda w: Selection(window=w)  # noqa: E731
    one = lambda w: Selection(namespace="default", service="knative-sd-demo", window=w)  # noqa: E731
    with PrometheusClient(twin_history.url) as client:
        for (name, native, plain), (_, alone, alone_plain) in zip(
                _native_pairs(cat, fleet, keys), _native_pairs(cat, one, ()), strict=True):
            assert native.by == plain.by and native.expr != plain.expr, name
            # label_replace never on a raw series: the innermost ones wrap a sum.
            innermost = re.findall(r"label_replace\((?!label_replace\()(\w+)", native.expr)
            assert innermost and set(innermost) == {"sum"}, name
            got = client.query_range(native.expr, t0, t1, 300)
            assert not got.empty and len(got) > 10, name
            assert set(zip(got["namespace"], got["service"], strict=True)) == {
                ("default", "knative-sd-demo")}, name
            per_service = client.query_range(alone.expr, t0, t1, 300)
            pd.testing.assert_frame_equal(_sorted(got.drop(columns=list(keys))),
                                          _sorted(per_service), check_exact=True,
                                          obj=f"{name} per service")
            _assert_plain(name, got, client.query_range(plain.expr, t0, t1, 300))
            _assert_plain(name, per_service, client.query_range(alone_plain.expr, t0, t1, 300))


def test_native_grouping_keeps_canonical_labels_only(demo_fleet):
    """Over the nine services of two namespaces: the native forms return the canonical label
    names only (no dialect names left over), series for series the plain forms' answer."""
    from sdobs.catalog import Catalog, Selection
    from sdobs.knative.detect import detect_dialect

    prom, start, end, _ = demo_fleet
    with PrometheusClient(prom.url) as client:
        cat = Catalog(detect_dialect(client, start, end).name)
        for name, native, plain in _native_pairs(cat, lambda w: Selection(window=w),
                                                 ("namespace", "service")):
            got = client.query_range(native.expr, start + 1800, end, 300)
            assert set(got.columns) == {"time", "value", *native.by}, name
            assert got["service"].nunique() >= 5, name
            _assert_plain(name, got, client.query_range(plain.expr, start + 1800, end, 300))


@pytest.fixture(scope="module")
def warm_at_night(tmp_path_factory: pytest.TempPathFactory):
    """The fault scenario's service kept at one pod (min-scale 1), 01:00–03:00 UTC, when its
    diurnal traffic (floor 0) sends no request."""
    from sdobs.sim.backfill import backfill_scenario
    from sdobs.sim.scenarios import SCENARIO_DIR, load_scenario

    scenario = replace(load_scenario(SCENARIO_DIR / "faults" / "warm-at-night.yaml"),
                       duration=2 * 3600.0)
    prom = LocalPrometheus(Path(tmp_path_factory.mktemp("warm")) / "prometheus")
    night = END - 17 * 3600  # END is 20:00 UTC
    summary = backfill_scenario(scenario, prom.tsdb, end_epoch=night, jobs=1)
    prom.start()
    try:
        yield prom, summary.start_epoch, summary.end_epoch, scenario.runs[0].service
    finally:
        prom.stop()


def test_a_service_kept_warm_without_requests_is_in_the_fleet_report(warm_at_night, tmp_path):
    from sdobs.capacity.cost import PriceTable
    from sdobs.capacity.fleet import FleetError
    from sdobs.capacity.whatif import pod_hourly_usd, price_spec

    prom, start, end, svc = warm_at_night
    key = (svc.namespace, svc.name)
    prices = PriceTable()
    with PrometheusClient(prom.url) as client:
        fleet = analyse_fleet(client, start, end, namespace=None, slo_seconds=SLO,
                              manifests={key: svc}, settings=SETTINGS[:1], prices=prices)
        # The same history with a manifest at min-scale 0: nothing billed to explain, skipped.
        cold = replace(svc, revisions=tuple(
            replace(r, kpa=replace(r.kpa, min_scale=0)) for r in svc.revisions))
        with pytest.raises(FleetError, match="no requests"):
            analyse_fleet(client, start, end, namespace=None, slo_seconds=SLO,
                          manifests={key: cold}, settings=SETTINGS[:1])
    assert fleet.analyses == {} and fleet.skipped == {} and list(fleet.idle) == [key]
    idle = fleet.idle[key]
    assert idle.history.requests() == 0 and idle.min_scale == 1
    row = fleet.frame().set_index("service").loc[svc.name]
    rev = idle.revision
    one_pod_a_day = pod_hourly_usd(rev, prices, price_spec(rev, prices, None)) * 24
    # One pod held all night, billed as deployed and kept as recommended.
    assert row["deployed_pods"] == pytest.approx(1.0)
    assert row["deployed_usd_day"] == pytest.approx(one_pod_a_day, rel=1e-6)
    assert row["recommended_usd_day"] == row["deployed_usd_day"] and row["savings_usd_day"] == 0
    assert row["recommended"] == "keep min-scale 1 (no requests: not sized)"
    summary = "\n".join(fleet.summary())
    assert "1 services analysed (1 kept warm without requests)" in summary
    assert f"{svc.namespace}/{svc.name} had no requests in the range but min-scale 1" in summary
    assert f"${one_pod_a_day:,.2f}/day" in summary
    assert "sd-warm" in fleet.write_html(tmp_path / "fleet.html").read_text()
