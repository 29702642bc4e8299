"""The serving twin: a Knative revision serving Stable Diffusion, in virtual time.

It reads real Knative Service manifests (:mod:`~sdobs.sim.manifest`), runs the KPA
(:mod:`~sdobs.sim.kpa`, clock-agnostic so a wall-clock driver reuses it), the activator and
queue-proxy (:mod:`~sdobs.sim.requestpath`), pod lifecycles (:mod:`~sdobs.sim.pods`) and
AUTOMATIC1111 service times per GPU (:mod:`~sdobs.sim.servicetime`) under traffic
(:mod:`~sdobs.sim.traffic`) in a discrete-event loop (:mod:`~sdobs.sim.engine`), and renders the
history as the metrics Knative and the GPU exporter expose (:mod:`~sdobs.sim.render`) for
backfill into Prometheus (:mod:`~sdobs.sim.backfill`, ``sdobs simulate``). See ``README.md`` here
for what is modelled and which figures are assumptions.
"""

from sdobs.sim.engine import RevisionLog, ServiceLog, SimOptions, simulate_service
from sdobs.sim.kpa import AutoscalerConfig, KpaSpec, RevisionAutoscaler
from sdobs.sim.manifest import ClusterConfig, ManifestError, RevisionSpec, ServiceSpec, load_files
from sdobs.sim.scenarios import DEFAULT_SCENARIO, REFERENCE_MANIFEST, Scenario, load_scenario
from sdobs.sim.servicetime import GPUS, ServiceTimeModel, Txt2Img
from sdobs.sim.traffic import (
    Bursts,
    ClosedLoop,
    Diurnal,
    Poisson,
    Recorded,
    Replay,
    RequestMix,
    Traffic,
)

__all__ = [
    "DEFAULT_SCENARIO",
    "GPUS",
    "REFERENCE_MANIFEST",
    "AutoscalerConfig",
    "Bursts",
    "ClosedLoop",
    "ClusterConfig",
    "Diurnal",
    "KpaSpec",
    "ManifestError",
    "Poisson",
    "Recorded",
    "Replay",
    "RequestMix",
    "RevisionAutoscaler",
    "RevisionLog",
    "RevisionSpec",
    "Scenario",
    "ServiceLog",
    "ServiceSpec",
    "ServiceTimeModel",
    "SimOptions",
    "Traffic",
    "Txt2Img",
    "load_files",
    "load_scenario",
    "simulate_service",
]
