"""The A1111 extension folder, loaded the way the WebUI loads it, with the WebUI's module layout
stood in (``modules.script_callbacks``, ``modules.scripts``, ``modules.sd_models``): callbacks
registered at import, the middleware installed by ``on_app_started`` after the app served a
request, lock marks from the always-on script's ``before_process``/``postprocess``, readiness
from ``on_model_loaded``."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import time
import types
from pathlib import Path

import httpx
import pytest
from sd_fake_a1111 import create_app, serve
from sd_scrape import value

EXTENSION = Path(__file__).resolve().parents[2] / "exporters" / "a1111-sdobs-metrics"

STAND_IN = {
    "script_callbacks": """
        callbacks = {"app_started": [], "model_loaded": []}
        def on_app_started(callback, *, name=None):
            callbacks["app_started"].append(callback)
        def on_model_loaded(callback, *, name=None):
            callbacks["model_loaded"].append(callback)
        def app_started_callback(demo, app):
            for c in callbacks["app_started"]:
                c(demo, app)
        def model_loaded_callback(sd_model):
            for c in callbacks["model_loaded"]:
                c(sd_model)
    """,
    "scripts": """
        class _AlwaysVisible:
            pass
        AlwaysVisible = _AlwaysVisible()
        class Script:
            def title(self):
                raise NotImplementedError
            def show(self, is_img2img):
                return True
            def before_process(self, p, *args):
                pass
            def postprocess(self, p, processed, *args):
                pass
    """,
    "sd_models": """
        class SdModelData:
            sd_model = None
        model_data = SdModelData()
    """,
}


@pytest.fixture
def webui(monkeypatch: pytest.MonkeyPatch):
    """The stand-in ``modules`` package, and the extension's script loaded like load_scripts()."""
    monkeypatch.setenv("SDOBS_SD_GPU_MODEL", "NVIDIA L4")
    modules = types.ModuleType("modules")
    modules.__path__ = []
    monkeypatch.setitem(sys.modules, "modules", modules)
    for name, code in STAND_IN.items():
        mod = types.ModuleType(f"modules.{name}")
        exec(textwrap.dedent(code), mod.__dict__)
        monkeypatch.setitem(sys.modules, f"modules.{name}", mod)
        setattr(modules, name, mod)
    path = EXTENSION / "scripts" / "sdobs_metrics.py"
    spec = importlib.util.spec_from_file_location("sdobs_metrics_ext", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return modules, script


def test_extension_measures_through_the_webui_callbacks(webui) -> None:
    modules, ext = webui
    always_on = [c for c in vars(ext).values() if isinstance(c, type)
                 and issubclass(c, modules.scripts.Script) and c is not modules.scripts.Script]
    assert len(always_on) == 1
    script = always_on[0]()
    assert script.show(False) is modules.scripts.AlwaysVisible

    class P:  # the processing object the WebUI hands to scripts (fields the script reads)
        def __init__(self, req) -> None:
            self.steps, self.width, self.height = req.steps, req.width, req.height
            self.batch_size, self.n_iter, self.sampler_name = req.batch_size, req.n_iter, \
                req.sampler_name
            self.prompt = req.prompt

    current = {}

    def before(req) -> None:
        current["p"] = P(req)
        script.before_process(current["p"])

    def after(req) -> None:
        script.postprocess(current["p"], processed=None)

    app = create_app(seconds_per_step=0.01, hooks=(before, after))
    with serve(app) as s:
        # A request may arrive between the UI's launch and app_started (fact of A1111's order).
        assert httpx.post(f"{s.url}/sdapi/v1/txt2img", json={"steps": 1},
                          timeout=10).status_code == 200
        modules.script_callbacks.app_started_callback(None, app)
        modules.script_callbacks.app_started_callback(None, app)  # UI reload: installed once
        assert httpx.get(f"{s.url}/sdobs/ready", timeout=5).status_code == 503
        time.sleep(0.05)
        sd_model = type("SdModel", (), {"sd_checkpoint_info": type("Info", (), {
            "model_name": "v1-5-pruned-emaonly", "sha256": "6ce0161689b3853a"})()})()
        modules.sd_models.model_data.sd_model = sd_model
        modules.script_callbacks.model_loaded_callback(sd_model)
        ready = httpx.get(f"{s.url}/sdobs/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["checkpoint"] == "v1-5-pruned-emaonly"
        for steps in (10, 30):
            assert httpx.post(f"{s.url}/sdapi/v1/txt2img", timeout=10, json={
                "prompt": "secret", "steps": steps, "batch_size": 2, "width": 768,
                "height": 768, "sampler_name": "Euler"}).status_code == 200
        text = httpx.get(f"{s.url}/metrics", timeout=5).text
    assert value(text, "sdobs_sd_request_duration_seconds_count") == 2
    gen = {"gpu_model": "NVIDIA L4"}
    assert value(text, "sdobs_sd_steps_total", **gen) == 40
    assert value(text, "sdobs_sd_images_total", **gen) == 4
    assert value(text, "sdobs_sd_generation_seconds_sum", **gen) == pytest.approx(0.4, abs=0.1)
    assert value(text, "sdobs_sd_generations_total", sampler="Euler", size_class="768") == 2
    assert value(text, "sdobs_sd_model_load_seconds_count") == 1
    assert value(text, "sdobs_sd_ready") == 1
    assert value(text, "sdobs_sd_checkpoint_info", checkpoint="v1-5-pruned-emaonly") == 1
    assert value(text, "sdobs_sd_exporter_errors_total") == 0
    assert "secret" not in text
    # One middleware despite two app_started calls: each request counted once.
    assert len([m for m in app.user_middleware if "SdMetrics" in repr(m.cls)]) == 1
