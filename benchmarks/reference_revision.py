"""The revision the twin's speed benchmarks simulate, shared so that they measure the same thing.

One T4 revision (``ecs.gn6i-c4g1.xlarge``), ``containerConcurrency: 1``, at most 20 pods, KPA
defaults, under Poisson traffic of 1 request/s of 20-step txt2img: every KPA tick, window
average, activator and pod event of the engine runs, at a cost that grows with simulated time.
"""

from __future__ import annotations

from sdobs.sim.engine import ServiceLog, SimOptions, simulate_service
from sdobs.sim.manifest import ServiceSpec, load_text
from sdobs.sim.servicetime import Txt2Img
from sdobs.sim.traffic import Poisson, RequestMix, Traffic

MANIFEST = """apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: bench, namespace: default}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/max-scale: "20"
        k8s.aliyun.com/eci-use-specs: ecs.gn6i-c4g1.xlarge
    spec:
      containerConcurrency: 1
      containers: [{image: sd}]
"""


def service() -> ServiceSpec:
    """The Service of :data:`MANIFEST`."""
    (svc,), _ = load_text(MANIFEST)
    return svc


def traffic(rate: float = 1.0) -> Traffic:
    """Poisson arrivals at ``rate`` per second, every request a 20-step txt2img."""
    return Traffic(sources=[Poisson(rate)], mix=RequestMix(((1.0, Txt2Img(steps=20)),)))


def simulate(seconds: float, seed: int) -> ServiceLog:
    """The reference revision at 1 request/s for ``seconds`` of virtual time."""
    return simulate_service(service(), traffic(), SimOptions(duration=seconds, seed=seed))
