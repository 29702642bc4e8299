"""Every name, label and bucket layout of the SD request exporter, in one place.

The query catalog (``sdobs.catalog.sd``) and the serving twin read these, so a query always
selects what the exporter writes. Labels are bounded by construction: endpoint, status class,
sampler (known names, else ``other``), size class and GPU model, plus the workload identity
(``namespace``, ``pod``, ``service``, ``configuration``, ``revision``) — never prompts, seeds or
anything a client types freely.
"""

from __future__ import annotations

PREFIX = "sdobs_sd_"

#: Request duration buckets, seconds: sub-second API calls up to ten-minute generations, with
#: bounds at most ~20 % apart between 2 s and 2 min so a quantile interpolated inside one bucket
#: stays within a few per cent of the truth where SD latencies live.
DURATION_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20,
    22.5, 25, 27.5, 30, 33, 36, 40, 45, 50, 55, 60, 70, 80, 90, 105, 120, 150, 180, 240, 300,
    420, 600,
)
#: Model (checkpoint) load and cold start buckets, seconds.
LOAD_BUCKETS: tuple[float, ...] = (
    1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900,
)

# -- metric names (prometheus-client names: counters without _total) ---------------------------
REQUEST_DURATION = PREFIX + "request_duration_seconds"
QUEUE_WAIT = PREFIX + "queue_wait_seconds"
GENERATION = PREFIX + "generation_seconds"
RESPONSE = PREFIX + "response_seconds"
STEPS = PREFIX + "steps"
IMAGES = PREFIX + "images"
MEGAPIXELS = PREFIX + "megapixels"
GENERATIONS = PREFIX + "generations"
IN_FLIGHT = PREFIX + "requests_in_flight"
WAITING = PREFIX + "requests_waiting"
MODEL_LOAD = PREFIX + "model_load_seconds"
CHECKPOINT_INFO = PREFIX + "checkpoint_info"
READY = PREFIX + "ready"
COLD_START = PREFIX + "cold_start_seconds"
ERRORS = PREFIX + "exporter_errors"

#: Label keys of each family (identity labels come first on every series, see IDENTITY_KEYS).
#: Durations, steps, images and megapixels are split by endpoint, status class and GPU model
#: only, and their txt2img series exist from the start: every extra label splits a pod's
#: requests over more series, and ``rate()`` never sees the request a new series starts with
#: (pods of a service that scales to zero live for a few requests each). Sampler and size class
#: go on their own counter of generations (the request mix).
REQUEST_LABELS = ("endpoint", "status")
GENERATION_LABELS = ("endpoint", "gpu_model")
MIX_LABELS = ("endpoint", "sampler", "size_class")
IDENTITY_KEYS = ("namespace", "pod", "service", "configuration", "revision")

#: The generation endpoints measured, by path (A1111, Forge and SD.Next share them).
ENDPOINTS: dict[str, str] = {
    "/sdapi/v1/txt2img": "txt2img",
    "/sdapi/v1/img2img": "img2img",
    "/sdapi/v1/extra-single-image": "extras",
    "/sdapi/v1/extra-batch-images": "extras",
}

#: Sampler names kept as label values; anything else is ``other``.
SAMPLERS = frozenset({
    "DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE",
    "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM fast", "DPM adaptive", "Restart",
    "DDIM", "PLMS", "UniPC", "LCM", "DPM++ 2M Karras", "DPM++ SDE Karras", "Euler a Karras",
})
#: (largest pixel count, class) from small to large; above the last: "over1024".
SIZE_CLASSES = ((512 * 512, "512"), (768 * 768, "768"), (1024 * 1024, "1024"))
#: The WebUI's txt2img defaults, for fields a request leaves out.
DEFAULTS = {"steps": 50, "width": 512, "height": 512, "batch_size": 1, "n_iter": 1,
            "sampler_name": "Euler a"}


def sampler_label(name: object) -> str:
    return name if isinstance(name, str) and name in SAMPLERS else "other"


def size_class(width: int, height: int) -> str:
    pixels = width * height
    for limit, name in SIZE_CLASSES:
        if pixels <= limit:
            return name
    return "over1024"


def status_class(code: int) -> str:
    return f"{code // 100}xx" if 100 <= code <= 599 else "other"
