"""Fleet-wide capacity (``sdobs capacity --fleet``) on a real Dask LocalCluster and a real
Prometheus holding the demo fleet's twin history: the batched history read is value for value
the per-service read, its query count does not grow with the services, and the fleet replayed
on two worker processes is value for value the serial run."""

from __future__ import annotations

import dataclasses
import os
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
                                         engine="dask", **kwargs)  # fmt: skip
        # A fleet row is exactly what `sdobs capacity --service` concludes for that service.
        one = analyse(client, "default", "knative-sd-demo", start, end, slo_seconds=SLO,
                      settings=SETTINGS, jobs=1)  # fmt: skip
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
                                  one.frame, check_exact=True)  # fmt: skip
    # The report: one row per service, costs and pods both ways, SLO breakers named.
    frame = serial.frame()
    assert len(frame) == len(serial.analyses)
    assert (frame["deployed_usd_day"] > 0).all()
    assert frame["savings_usd_day"].sum() == pytest.approx(
        frame["deployed_usd_day"].sum() - frame["recommended_usd_day"].sum())
    breaking = serial.breaking_slo()
    assert set(breaking) == {k for k, a in serial.analyses.items()
                             if not a.frame.loc["as deployed", "meets_slo"]}  # fmt: skip
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
              "--end", _iso(end), "--settings", str(settings)]  # fmt: skip
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
                                         t0, t1, 60)  # fmt: skip
            alone = client.query_range(cat.latency(Selection(namespace="default",
                                                             service="knative-sd-demo",
                                                             window="5m"), q).expr, t0, t1, 60)
            assert set(zip(grouped["namespace"], grouped["service"], strict=True)) == {
                ("default", "knative-sd-demo")}
            assert len(alone) > 100
            pd.testing.assert_series_equal(grouped["value"], alone["value"], check_exact=True)
            pd.testing.assert_series_equal(grouped["time"], alone["time"])
