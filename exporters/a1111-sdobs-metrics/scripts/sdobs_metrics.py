"""sdobs SD request metrics for the AUTOMATIC1111 WebUI (and Forge): an extension script.

Loaded by the WebUI's ``scripts.load_scripts()`` at start-up, before the model-load thread
starts, so its import time starts the model-load clock. Through the WebUI's callbacks it

- adds the sdobs ASGI middleware to the FastAPI app when the app has started
  (``script_callbacks.on_app_started``): ``/metrics`` and ``/sdobs/ready``;
- marks the generation lock with an always-on script's ``before_process`` / ``postprocess``
  (both run inside ``queue_lock``), with the job's steps, size, images and sampler;
- records the model load time and checkpoint on ``on_model_loaded``, which makes the pod ready.

Readiness reads ``sd_models.model_data.sd_model`` and never ``shared.sd_model`` (reading that
property loads a model). Prompts, seeds and images are never read.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

_LOAD_CLOCK = time.time()  # the model-load thread starts right after the scripts are loaded
_HERE = Path(__file__).resolve().parents[1]
# The exporter package: installed (pip install 'sdobs[sd]'), vendored into lib/, or beside this
# folder in the sdobs repository (exporters/sdobs_exporters).
for _candidate in (_HERE / "lib", _HERE.parent):
    if (_candidate / "sdobs_exporters" / "sd").is_dir() and str(_candidate) not in sys.path:
        sys.path.append(str(_candidate))

from modules import script_callbacks, scripts  # noqa: E402  (the WebUI's own modules)
from sdobs_exporters.sd import (  # noqa: E402
    SdMetrics,
    generation_finished,
    generation_started,
    install,
)

METRICS = SdMetrics()
_state = {"installed_on": None, "load_clock": _LOAD_CLOCK}


def _model_loaded(sd_model) -> None:
    """A checkpoint is loaded (at start-up or a later switch): record it; the pod is ready."""
    info = getattr(sd_model, "sd_checkpoint_info", None)
    name = str(getattr(info, "model_name", "") or getattr(info, "title", "") or "")
    sha = str(getattr(info, "sha256", "") or getattr(info, "shorthash", "") or "")
    start = _state.pop("load_clock", None)  # only the start-up load has a known start
    METRICS.model_loaded(name, sha, seconds=None if start is None else time.time() - start)


def _app_started(demo, app) -> None:
    """Install the middleware (once per app: the callback runs again after a UI reload)."""
    if _state["installed_on"] is app:
        return
    install(app, METRICS)
    _state["installed_on"] = app
    try:  # the model may have loaded before the app started (model thread vs. UI start-up)
        from modules import sd_models

        if getattr(sd_models.model_data, "sd_model", None) is not None and not METRICS.ready:
            _model_loaded(sd_models.model_data.sd_model)
    except Exception:
        METRICS.error("readiness")
    if os.environ.get("SDOBS_SD_READY_ON_APP_START") == "1":  # Forge: loads on first request
        METRICS.set_ready(True)


script_callbacks.on_app_started(_app_started)
script_callbacks.on_model_loaded(_model_loaded)


class SdobsMetricsScript(scripts.Script):
    """Always on, no UI: marks the generation lock around every UI and API job."""

    def title(self) -> str:
        return "sdobs metrics"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def before_process(self, p, *args) -> None:
        try:
            generation_started()
        except Exception:
            METRICS.error("before_process")

    def postprocess(self, p, processed, *args) -> None:
        try:
            generation_finished(
                steps=getattr(p, "steps", None), width=getattr(p, "width", None),
                height=getattr(p, "height", None),
                images=int(getattr(p, "batch_size", 1)) * int(getattr(p, "n_iter", 1)),
                sampler=getattr(p, "sampler_name", None))
        except Exception:
            METRICS.error("postprocess")
