"""The app over the serving twin's history: what sdobs/sim renders is what the app reads."""

from __future__ import annotations

import pytest

from sdobs.app import create_app
from sdobs.app.pages.common import by_id

pytestmark = pytest.mark.prometheus

START = 1_717_200_000  # 2024-06-01T00:00:00Z
DURATION = 3600
MANIFEST = """apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: sd-twin
  namespace: sd-test
spec:
  template:
    metadata:
      annotations:
        k8s.aliyun.com/eci-use-specs: ecs.gn6i-c4g1.xlarge
        autoscaling.knative.dev/max-scale: "4"
    spec:
      containerConcurrency: 1
      containers:
      - image: sd-webui
"""


@pytest.mark.parametrize("dialect", ["opencensus", "opentelemetry"])
def test_every_service_graph_has_data_from_the_twin(dialect, tmp_path, local_prometheus) -> None:
    sim = pytest.importorskip("sdobs.sim.engine")
    from sdobs.sim.manifest import load_text
    from sdobs.sim.render import RenderOptions, render_to_file
    from sdobs.sim.servicetime import Txt2Img
    from sdobs.sim.traffic import Poisson, RequestMix, Traffic

    services, _ = load_text(MANIFEST)
    mix = RequestMix(((1.0, Txt2Img(steps=20)),), unknown_sampler=0.05)
    log = sim.simulate_service(services[0], Traffic(sources=[Poisson(0.3)], mix=mix),
                               sim.SimOptions(duration=DURATION, warmup=300, seed=7))
    path = tmp_path / "twin.om"
    render_to_file([log], path, RenderOptions(start_epoch=START, scrape_interval=15,
                                              dialects=(dialect,)))
    prom = local_prometheus(start=False)
    prom.backfill(path)
    prom.start()
    app = create_app(prom.url, cache_seconds=0)
    search = f"?ns=sd-test&service=sd-twin&from={START}&to={START + DURATION}"
    service = app.sdobs.callbacks["service"]
    answer = by_id(service, service(search, 0, {}))
    assert answer["service-banner.children"] is None
    assert app.sdobs.source.dialect.name == dialect
    for key in ("service-volume", "service-success", "service-4xx", "service-by-revision",
                "service-by-code", "service-latency", "service-pods"):
        assert answer[f"{key}.figure"]["data"], key
    scaling = app.sdobs.callbacks["scaling"]
    answer = by_id(scaling, scaling(search, 0, {}))
    for key in ("scaling-pods", "scaling-concurrency", "scaling-panic", "scaling-ebc"):
        assert answer[f"{key}.figure"]["data"], key
    gpu = app.sdobs.callbacks["gpu"]
    answer = by_id(gpu, gpu(search, 0, {}))
    for key in ("gpu-allocated", "gpu-util-pod", "gpu-memory-pod", "gpu-power-revision"):
        assert answer[f"{key}.figure"]["data"], key
    app.sdobs.source.close()
