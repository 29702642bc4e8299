"""GPU exporter: NVML metrics attributed to Knative revisions, for a model pod's sidecar or a node.

Run it with ``python -m sdobs_exporters.gpu`` or ``sdobs-gpu-exporter`` (see ``--help``); it needs
only ``prometheus-client`` and ``nvidia-ml-py`` (node mode adds ``grpcio`` and ``protobuf``).

Rendering GPU series from a simulation (the serving twin)::

    from sdobs_exporters.gpu import GpuCollector, Identity, SimulatedBackend, SimulatedGpu

    gpu = SimulatedGpu.create("a10", index=0, seed=pod_name)   # catalogue: GPU_MODELS
    gpu.load_model(9 * 2**30, pid=1)        # memory held by the loaded model, bytes
    collector = GpuCollector(
        SimulatedBackend([gpu]),
        naming="default",                   # or "dcgm"
        identity=Identity(namespace="default", service="knative-sd-demo",
                          configuration="knative-sd-demo", revision="knative-sd-demo-00001",
                          pod=pod_name, container="stable-diffusion"),
        clock=lambda: virtual_now,          # stamps the last-success timestamp
    )
    # every virtual step:
    gpu.utilization = busy_fraction         # 0..1 over the last sample period
    gpu.advance(step_seconds)               # energy accumulates, temperature follows
    text = collector.render()               # Prometheus text 0.0.4, bytes
    families = collector.families(timestamp=virtual_now)   # or the families, samples stamped

``power_watts`` and ``temperature_celsius`` on a :class:`SimulatedGpu` override the values derived
from utilisation; ``processes`` lists :class:`SimulatedProcess` entries (``load_model`` sets one).
Each ``render()``/``families()`` call reads the GPUs once; label dicts are cached per GPU, so
rendering many pods repeatedly stays cheap. A collector can also be registered in any
``prometheus_client.CollectorRegistry``; its ``describe()`` is empty so registration reads nothing.
"""

from .attribution import Identity, PodResourcesAttribution, StaticAttribution
from .collector import GpuCollector
from .naming import DCGM, DEFAULT, NAMINGS
from .nvml import NvmlBackend
from .readings import Backend, BackendError, GpuReading, Snapshot, SystemInfo
from .simulated import GPU_MODELS, GpuModel, SimulatedBackend, SimulatedGpu, SimulatedProcess

__all__ = [
    "DCGM",
    "DEFAULT",
    "GPU_MODELS",
    "NAMINGS",
    "Backend",
    "BackendError",
    "GpuCollector",
    "GpuModel",
    "GpuReading",
    "Identity",
    "NvmlBackend",
    "PodResourcesAttribution",
    "SimulatedBackend",
    "SimulatedGpu",
    "SimulatedProcess",
    "Snapshot",
    "StaticAttribution",
    "SystemInfo",
]
