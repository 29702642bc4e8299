"""SD request exporter: what Knative cannot see about Stable Diffusion requests.

Per generation request: duration in SD-sized buckets (0.05 s … 10 min), the split into waiting
for the generation lock, generating and encoding/returning, steps, images and megapixels by
GPU model (it/s), the model load time, the cold start (container start → ready) and a readiness
endpoint for the Knative ``readinessProbe``. It needs ``prometheus-client`` and ``starlette``
(the ``sdobs[sd]`` extra) and runs inside the SD server process:

    from sdobs_exporters.sd import SdMetrics, install, generation_started, generation_finished

    metrics = install(app)            # a FastAPI/Starlette app: /metrics, /sdobs/ready
    ...
    with queue_lock:                  # in the server's generation handler
        generation_started()
        images = generate(...)
        generation_finished(steps=p.steps, width=p.width, height=p.height, images=len(images))
    metrics.model_loaded("v1-5-pruned-emaonly", "6ce0161689", seconds=load_seconds)

AUTOMATIC1111 (and Forge): the extension folder ``exporters/a1111-sdobs-metrics`` does all of
this through the WebUI's callbacks. The serving twin feeds :meth:`SdMetrics.observe` with
simulated requests and renders :meth:`SdMetrics.collect`, so its series are the exporter's own.
"""

from .asgi import (
    CURRENT,
    RequestRecord,
    SdMetricsMiddleware,
    generation_finished,
    generation_started,
    install,
)
from .metrics import Identity, SdMetrics, process_start_time

__all__ = [
    "CURRENT",
    "Identity",
    "RequestRecord",
    "SdMetrics",
    "SdMetricsMiddleware",
    "generation_finished",
    "generation_started",
    "install",
    "process_start_time",
]
