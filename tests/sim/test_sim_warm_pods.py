"""Pods a scenario starts with warm leave the endpoints when the autoscaler deletes them."""

from __future__ import annotations

import numpy as np

from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.manifest import load_text
from sdobs.sim.traffic import Poisson, Traffic

MANIFEST = """apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: warm, namespace: default}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/target-burst-capacity: "0"
        k8s.aliyun.com/eci-use-specs: ecs.gn7i-c8g1.2xlarge
    spec:
      containerConcurrency: 1
      containers: [{name: sd, image: sd}]
"""


def test_deleted_warm_pods_get_no_more_requests() -> None:
    (svc,), _ = load_text(MANIFEST)
    rev = svc.revisions[0].name
    log = simulate_service(svc, Traffic(sources=[Poisson(0.05)]),
                           SimOptions(duration=1800, seed=5, initial_pods={rev: 3}))
    pods, reqs = log.pods, log.requests
    warm = np.flatnonzero(pods["created"] <= 0)
    assert len(warm) == 3 and np.isfinite(pods["deleted"][warm]).all()  # scaled down
    for i in warm:
        mine = reqs["pod"] == pods["id"][i]
        assert (reqs["t_qp"][mine] < pods["deleted"][i]).all()  # none after its deletion
