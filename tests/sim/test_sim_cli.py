"""``sdobs simulate`` end to end: the default scenario into a TSDB that a real Prometheus reads."""

from __future__ import annotations

import pytest

from sdobs.catalog import Catalog, Selection
from sdobs.cli import main
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus
from sdobs.sim.scenarios import load_scenario

SERVICES = {"knative-sd-demo", "sd-anime", "sd-portrait", "sd-batch", "sd-sketch", "sd-xl-lab",
            "sd-internal", "sd-avatar", "sd-inpaint-eu"}


def test_default_scenario_is_a_fleet_with_a_canary_and_the_reference_service() -> None:
    sc = load_scenario()
    names = {r.service.name for r in sc.runs}
    assert names == SERVICES and sc.duration >= 86400
    gpus = {rev.gpu for r in sc.runs for rev in r.service.revisions}
    assert {"p100", "p4", "t4", "a10"} <= gpus
    canary = [r.service for r in sc.runs if len(r.service.revisions) == 2]
    assert canary and sorted(t.percent for t in canary[0].traffic) == [10, 90]


def test_bad_options_are_one_sentence(tmp_path, capsys) -> None:
    assert main(["simulate", "--dialect", "prometheus-classic", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown Knative metric dialect" in err and "Traceback" not in err
    assert main(["simulate", "--end", "yesterday-ish", "--dir", str(tmp_path)]) == 2


@pytest.mark.prometheus
def test_simulate_fills_a_local_prometheus(tmp_path, capsys) -> None:
    args = ["simulate", "--dir", str(tmp_path), "--duration", "30m", "--quiet",
            "--end", "2024-06-01T12:00:00Z"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SERVICES)
    assert any((tmp_path / "data").iterdir())
    assert main(args) == 2  # the TSDB holds data now
    assert "--replace" in capsys.readouterr().err
    with LocalPrometheus(tmp_path) as prom:
        client = PrometheusClient(prom.url)
        q = Catalog("opencensus").request_rate(Selection(window="30m"), by=("service",))
        frame = client.query(q.expr, time=1717243200 - 30)
        assert set(frame["service"]) <= SERVICES and len(frame) >= 6
        assert (frame["value"] > 0).all()
