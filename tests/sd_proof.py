"""The SD exporter proof scenario: 30 s generations on two T4 pods, OpenTelemetry-era Knative,
rendered by the twin (with the SD exporter's own code) into a real Prometheus."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from sdobs.knative.dialects import OPENTELEMETRY
from sdobs.prom.harness import LocalPrometheus
from sdobs.sim.engine import ServiceLog, SimOptions, simulate_service
from sdobs.sim.manifest import load_text
from sdobs.sim.render import RenderOptions, render_to_file
from sdobs.sim.sdexporter import ANNOTATION
from sdobs.sim.servicetime import Txt2Img
from sdobs.sim.traffic import ClosedLoop, RequestMix, Traffic

NS, SVC = "proof", "sd-long"
# 165 steps at 512x512 on a T4 (5.5 it/s): about 30 s per generation.
MIX = RequestMix(((1.0, Txt2Img(steps=165)),))
DURATION = 4200.0
STEP = 15
MANIFEST = f"""apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {SVC}
  namespace: {NS}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "2"
        autoscaling.knative.dev/max-scale: "2"
        k8s.aliyun.com/eci-use-specs: ecs.gn6i-c4g1.xlarge
        {ANNOTATION}: extension
    spec:
      containerConcurrency: 1
      containers:
      - image: sd-webui
"""


def true_quantile(q: float, values: np.ndarray) -> float:
    ordered = np.sort(values)
    return float(ordered[max(math.ceil(q * len(ordered)) - 1, 0)])


def build(tmp: Path) -> tuple[LocalPrometheus, int, int, ServiceLog]:
    """(stopped Prometheus holding the history, start epoch, query time, the twin's log)."""
    (svc,), _ = load_text(MANIFEST)
    traffic = Traffic(closed=[ClosedLoop(3, 240, start=60)], mix=MIX)
    log = simulate_service(svc, traffic, SimOptions(duration=DURATION, seed=7,
                                                    initial_pods={f"{SVC}-00001": 0}))
    start = (int(time.time()) - 3 * 3600) // STEP * STEP
    render_to_file([log], tmp / "proof.om", RenderOptions(
        start_epoch=start, scrape_interval=STEP, aligned=True, dialects=(OPENTELEMETRY,)))
    prom = LocalPrometheus(tmp / "prom")
    prom.backfill(tmp / "proof.om")
    te = start + int(DURATION) // STEP * STEP - STEP
    return prom, start, te, log
