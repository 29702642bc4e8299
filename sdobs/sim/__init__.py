"""The serving twin: a Knative revision serving Stable Diffusion, in virtual time.

It reads real Knative Service manifests (:mod:`~sdobs.sim.manifest`), runs the KPA
(:mod:`~sdobs.sim.kpa`, clock-agnostic so a wall-clock driver reuses it), the activator and
queue-proxy (:mod:`~sdobs.sim.requestpath`), pod lifecycles (:mod:`~sdobs.sim.pods`) and
AUTOMATIC1111 service times per GPU (:mod:`~sdobs.sim.servicetime`) under traffic
(:mod:`~sdobs.sim.traffic`) in a discrete-event loop (:mod:`~sdobs.sim.engine`), and renders the
history as the metrics Knative and the GPU exporter expose (:mod:`~sdobs.sim.render`) for
backfill into Prometheus (:mod:`~sdobs.sim.backfill`, ``sdobs simulate``). See ``README.md`` here
for what is modelled and which figures are assumptions.

Re-exported here is what a script calls to run the twin: load a scenario or manifests, simulate
a service. Everything else is imported from its module.
"""

from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.manifest import ManifestError, load_files
from sdobs.sim.scenarios import Scenario, load_scenario

__all__ = [
    "ManifestError",
    "Scenario",
    "SimOptions",
    "load_files",
    "load_scenario",
    "simulate_service",
]
