"""Every dashboard panel returns data on the serving twin's history, in both dialects.

The twin simulates the reference service (its manifest as shipped) for an hour of Poisson
traffic with a 5-in-flight / 20-request load test in the middle, a few requests the WebUI
rejects (400) and a few too large for the P100 (500), and renders what Knative and the GPU
exporter would have exposed; Prometheus gets it by backfill.
"""

from __future__ import annotations

import math

import pytest
from test_dashboards_queries import WINDOWS, _leaf_panels

from sdobs.dashboards.generate import GENERATED, load_generated
from sdobs.dashboards.interpolate import interpolate
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus

START = 1_717_200_000  # 2024-06-01T00:00:00Z
DURATION = 3600


@pytest.mark.parametrize("dialect", ["opencensus", "opentelemetry"])
def test_every_panel_has_data_on_the_twin_history(dialect, tmp_path, local_prometheus) -> None:
    from sdobs.sim.engine import SimOptions, simulate_service
    from sdobs.sim.manifest import load_files
    from sdobs.sim.render import RenderOptions, render_to_file
    from sdobs.sim.scenarios import SCENARIO_DIR
    from sdobs.sim.servicetime import Txt2Img
    from sdobs.sim.traffic import ClosedLoop, Poisson, RequestMix, Traffic

    services, _ = load_files([SCENARIO_DIR / "knative-sd-demo.yaml"])
    svc = services[0]
    mix = RequestMix(((0.97, Txt2Img(steps=20)), (0.03, Txt2Img(steps=20, width=2048,
                                                                 height=2048))),
                     unknown_sampler=0.03)
    traffic = Traffic(sources=[Poisson(0.05)], closed=[ClosedLoop(5, 20, start=1800)], mix=mix)
    log = simulate_service(svc, traffic, SimOptions(duration=DURATION, warmup=300, seed=3))
    path = tmp_path / "twin.om"
    render_to_file([log], path, RenderOptions(start_epoch=START, scrape_interval=15,
                                              dialects=(dialect,)))
    prom = local_prometheus(start=False)
    prom.backfill(path)
    prom.start()
    # The SLO row reads what sdobs' recording rules record: record it for this history too.
    from sdobs.rules.backfill import backfill_records
    from sdobs.rules.generate import rule_groups

    backfill_records(prom, [g for t in (dialect, "gpu") for gs in rule_groups(t).values()
                            for g in gs], START, START + DURATION, eval_interval="30s")
    client = PrometheusClient(prom.url)
    values = {"namespace": svc.namespace, "service": svc.name, "revision": "$__all"}
    empty, ran = [], 0
    for dash in load_generated(GENERATED / dialect):
        variables = dash["templating"]["list"]
        pick = {"namespace": svc.namespace} if dash["uid"].startswith("sdobs-fleet") else values
        for panel in _leaf_panels(dash):
            for target in panel["targets"]:
                expr = interpolate(target["expr"], variables, pick, WINDOWS)
                # Instant panels are read while the load test runs: with no request in the
                # last window a ratio or a quantile is NaN, as it would be in Grafana.
                frame = client.query(expr, time=START + 1860) if target.get("instant") else \
                    client.query_range(expr, START + 300, START + DURATION, step=60)
                ran += 1
                if not any(not math.isnan(v) for v in frame.get("value", [])):
                    empty.append(f"{dash['uid']} / {panel['title']} [{target['refId']}]")
    client.close()
    # The reference service is ACK's mpa class: the MSE gateway, not the activator, holds its
    # queue (knative-sd-demo.yaml), so Knative's activator reports nothing for it.
    assert svc.revisions[0].autoscaler_class == "mpa"
    assert [e for e in empty if "Activator concurrency" not in e] == [], "\n".join(empty)
    assert ran >= 70
