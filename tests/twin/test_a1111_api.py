"""The live twin's A1111 API as real clients meet the WebUI v1.10.x.

Sources (public): the WebUI's modules/api/api.py and requirements_versions.txt (FastAPI 0.94,
so pydantic v1 validation errors), FastAPI 0.94 fastapi/routing.py get_request_handler,
starlette GZipMiddleware(minimum_size=1000) installed by the WebUI's setup_middleware, the
WebUI's own API tests (test/test_txt2img.py) and the webuiapi client (mix1009/sdwebuiapi).
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import struct
import time
import zlib
from pathlib import Path

import pytest

from sdobs.sim.live import a1111
from sdobs.sim.live.twin import LiveTwin, TwinThread
from sdobs.sim.manifest import load_files

MANIFEST = """apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {name}
  annotations:
    twin.sdobs.dev/extensions: "{extensions}"
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "2"
        autoscaling.knative.dev/max-scale: "2"
        twin.sdobs.dev/cold-start: "1s"
        k8s.aliyun.com/eci-use-specs: ecs.gn7i-c8g1.2xlarge
    spec:
      containerConcurrency: 1
      timeoutSeconds: 120
      containers: [{{name: stable-diffusion, image: sd}}]
"""


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("a1111") / "svc.yaml"
    path.write_text(MANIFEST.format(name="plain", extensions="") + "---\n"
                    + MANIFEST.format(name="withcn", extensions="controlnet"))
    services, _ = load_files([Path(path)])
    runner = TwinThread(LiveTwin(services))
    live = runner.start()
    time.sleep(0.2)
    yield runner, live
    runner.stop()


def call(live: LiveTwin, method: str, path: str, body: object = None, *, service: str = "plain",
         headers: dict | None = None, raw: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", live.gateway.port, timeout=60)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    conn.request(method, f"/services/default/{service}{path}", body=data, headers=hdrs)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload


def png_size(b64: str) -> tuple[int, int]:
    """Decode a PNG fully (signature, chunk CRCs, IDAT inflated to height × (1 + width) rows of
    8-bit palette pixels, every index in the palette) and return its size."""
    data = base64.b64decode(b64)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        chunks.setdefault(kind, b"")
        chunks[kind] += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 3) and b"IEND" in chunks
    pixels = zlib.decompress(chunks[b"IDAT"])
    assert len(pixels) == height * (width + 1)
    colours = len(chunks[b"PLTE"]) // 3
    assert max(pixels[i] for i in range(1, len(pixels), max(1, len(pixels) // 997))) < colours
    return width, height


# -- the WebUI's own API tests (test/test_txt2img.py), every case --------------------------------
SIMPLE = {"batch_size": 1, "cfg_scale": 7, "denoising_strength": 0, "enable_hr": False, "eta": 0,
          "firstphase_height": 0, "firstphase_width": 0, "height": 64, "n_iter": 1,
          "negative_prompt": "", "prompt": "example prompt", "restore_faces": False,
          "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0, "sampler_index": "Euler a",
          "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3,
          "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64}
WEBUI_TESTS = [
    ({}, 1, (64, 64)),
    ({"negative_prompt": "example negative prompt"}, 1, (64, 64)),
    ({"prompt": "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], [alt|alt1]"}, 1,
     (64, 64)),
    ({"height": 128}, 1, (64, 128)),
    ({"enable_hr": True}, 1, (128, 128)),  # hr_scale defaults to 2
    ({"tiling": True}, 1, (64, 64)),
    ({"restore_faces": True}, 1, (64, 64)),
    ({"sampler_index": "PLMS"}, 1, (64, 64)),
    ({"sampler_index": "DDIM"}, 1, (64, 64)),
    ({"sampler_index": "UniPC"}, 1, (64, 64)),
    ({"n_iter": 2}, 2, (64, 64)),
    ({"batch_size": 2}, 2, (64, 64)),
]

# -- the webuiapi client's txt2img payload (webuiapi.py WebUIApi.txt2img, defaults) ----------------
WEBUIAPI = {"enable_hr": False, "hr_scale": 2, "hr_upscaler": "Latent", "hr_second_pass_steps": 0,
            "hr_resize_x": 0, "hr_resize_y": 0, "denoising_strength": 0.7, "firstphase_width": 0,
            "firstphase_height": 0, "prompt": "a cat", "styles": [], "seed": -1, "subseed": -1,
            "subseed_strength": 0.0, "seed_resize_from_h": 0, "seed_resize_from_w": 0,
            "batch_size": 1, "n_iter": 1, "steps": 20, "cfg_scale": 7.0, "width": 512,
            "height": 512, "restore_faces": False, "tiling": False, "do_not_save_samples": False,
            "do_not_save_grid": False, "negative_prompt": "", "eta": 1.0, "s_churn": 0,
            "s_tmax": 0, "s_tmin": 0, "s_noise": 1, "override_settings": {},
            "override_settings_restore_afterwards": True, "sampler_name": "Euler a",
            "sampler_index": "Euler a", "script_name": None, "script_args": [],
            "send_images": True, "save_images": False, "alwayson_scripts": {}}
# -- the reference portal's body (Alibaba's SD-on-Knative guide, a1111-api §1.1 minimal body) -----
PORTAL = {"prompt": "a lighthouse", "negative_prompt": "", "steps": 20, "width": 512,
          "height": 512, "batch_size": 1, "n_iter": 1, "cfg_scale": 7, "sampler_name": "Euler a",
          "seed": -1}


@pytest.mark.parametrize(("change", "images", "size"), WEBUI_TESTS)
def test_the_webuis_own_api_tests_get_images_of_the_requested_size(twin, change, images,
                                                                   size) -> None:
    _, live = twin
    status, headers, data = call(live, "POST", "/sdapi/v1/txt2img", {**SIMPLE, **change})
    assert status == 200, data[:300]
    body = json.loads(data)
    assert set(body) == {"images", "parameters", "info"}
    assert len(body["images"]) == images
    assert {png_size(i) for i in body["images"]} == {size}
    info = json.loads(body["info"])
    assert len(info["all_seeds"]) == images and info["width"] == SIMPLE["width"]
    assert "x-process-time" in headers


def test_popular_clients_bodies_are_answered_in_the_webui_shape(twin) -> None:
    _, live = twin
    for body in (WEBUIAPI, PORTAL, {**WEBUIAPI, "enable_hr": True, "hr_resize_x": 768,
                                    "hr_resize_y": 0, "width": 512, "height": 384}):
        status, _, data = call(live, "POST", "/sdapi/v1/txt2img", body)
        assert status == 200, data[:300]
        out = json.loads(data)
        assert out["parameters"]["prompt"] == body["prompt"]
        assert isinstance(out["info"], str) and json.loads(out["info"])["seed"] >= 0
        want = (768, 576) if body.get("hr_resize_x") else (512, 512)
        assert png_size(out["images"][0]) == want


def test_size_rounds_down_to_the_latent_grid() -> None:
    fields = a1111.parse_txt2img(json.dumps({"width": 500, "height": 333}).encode())
    assert a1111.output_size(fields) == (496, 328)
    hires = a1111.parse_txt2img(json.dumps({"enable_hr": True, "hr_scale": 1.5, "width": 512,
                                            "height": 512}).encode())
    assert a1111.output_size(hires) == (768, 768)
    only_y = a1111.parse_txt2img(json.dumps({"enable_hr": True, "hr_resize_y": 1024,
                                             "width": 512, "height": 768}).encode())
    assert a1111.output_size(only_y) == (680, 1024)  # 1024 * 512 // 768 = 682 -> 680


# -- FastAPI 0.94 + pydantic v1 validation ------------------------------------------------------
def test_every_bad_field_is_listed_with_pydantic_v1_locations_messages_and_types(twin) -> None:
    _, live = twin
    bad = {"steps": "many", "width": 1.5, "cfg_scale": "high", "restore_faces": "maybe",
           "styles": "anime", "override_settings": [1], "sampler_name": ["Euler"],
           "seed": "7", "enable_hr": "yes", "batch_size": True}
    status, headers, data = call(live, "POST", "/sdapi/v1/txt2img", bad)
    assert status == 422
    # In the model's field order; "7", "yes", True and 1.5 are coerced as pydantic v1 does.
    assert json.loads(data) == {"detail": [
        {"loc": ["body", "styles"], "msg": "value is not a valid list", "type": "type_error.list"},
        {"loc": ["body", "sampler_name"], "msg": "str type expected", "type": "type_error.str"},
        {"loc": ["body", "steps"], "msg": "value is not a valid integer",
         "type": "type_error.integer"},
        {"loc": ["body", "cfg_scale"], "msg": "value is not a valid float",
         "type": "type_error.float"},
        {"loc": ["body", "restore_faces"], "msg": "value could not be parsed to a boolean",
         "type": "type_error.bool"},
        {"loc": ["body", "override_settings"], "msg": "value is not a valid dict",
         "type": "type_error.dict"},
    ]}
    assert "x-process-time" in headers  # a validation error passes through log_and_time


@pytest.mark.parametrize(("raw", "content_type", "detail"), [
    (b"", "application/json", [{"loc": ["body"], "msg": "field required",
                                "type": "value_error.missing"}]),
    (b"null", "application/json", [{"loc": ["body"], "msg": "field required",
                                    "type": "value_error.missing"}]),
    (b"prompt=a+cat&steps=20", "application/x-www-form-urlencoded",
     [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]),
    (b'{"prompt": "a cat"}', "text/plain",
     [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]),
    (b"[1, 2]", "application/json",
     [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]),
    (b"{not json", "application/json",
     [{"loc": ["body", 1], "msg": "Expecting property name enclosed in double quotes: line 1 "
       "column 2 (char 1)", "type": "value_error.jsondecode",
       "ctx": {"msg": "Expecting property name enclosed in double quotes", "doc": "{not json",
               "pos": 1, "lineno": 1, "colno": 2}}]),
])
def test_bodies_fastapi_refuses_before_the_handler(twin, raw, content_type, detail) -> None:
    _, live = twin
    status, _, data = call(live, "POST", "/sdapi/v1/txt2img", raw=raw,
                           headers={"Content-Type": content_type})
    assert (status, json.loads(data)) == (422, {"detail": detail})


def test_a_list_of_pairs_is_a_body_as_dict_makes_it() -> None:
    fields = a1111.parse_txt2img(b'[["steps", 3], ["prompt", "p"]]')
    assert (fields["steps"], fields["prompt"]) == (3, "p")


@pytest.mark.parametrize(("field", "value", "coerced"), [
    ("steps", "12", 12), ("steps", 2.7, 2), ("steps", True, 1), ("steps", "1_0", 10),
    ("cfg_scale", "7.5", 7.5), ("cfg_scale", True, 1.0), ("negative_prompt", 5, "5"),
    ("restore_faces", 1.0, True), ("restore_faces", "Off", False), ("tiling", "YES", True),
    ("override_settings", [["CLIP_stop_at_last_layers", 2]], {"CLIP_stop_at_last_layers": 2}),
])
def test_pydantic_v1_lax_coercions(field: str, value: object, coerced: object) -> None:
    got = a1111.parse_txt2img(json.dumps({field: value}).encode())[field]
    assert got == coerced and type(got) is type(coerced)


@pytest.mark.parametrize(("field", "value", "kind"), [
    ("steps", "2.5", "type_error.integer"), ("tiling", 2.5, "type_error.bool"),
    ("tiling", [1], "type_error.bool"), ("override_settings", "x", "type_error.dict"),
    ("override_settings", [1], "type_error.dict"), ("negative_prompt", {}, "type_error.str"),
])
def test_values_pydantic_v1_refuses(field: str, value: object, kind: str) -> None:
    with pytest.raises(a1111.ApiError) as err:
        a1111.parse_txt2img(json.dumps({field: value}).encode())
    assert err.value.status == 422
    assert [(e["loc"], e["type"]) for e in err.value.body["detail"]] == [(["body", field], kind)]


# -- scripts and extensions (api.py get_selectable_script, init_script_args) ---------------------
def test_unknown_scripts_are_422_and_installed_extensions_add_their_images(twin) -> None:
    _, live = twin
    status, _, data = call(live, "POST", "/sdapi/v1/txt2img", {**SIMPLE, "script_name": "nope"})
    assert (status, json.loads(data)) == (422, {
        "error": "HTTPException", "detail": "Script 'nope' not found", "body": "",
        "errors": "422: Script 'nope' not found"})
    assert call(live, "POST", "/sdapi/v1/txt2img",
                {**SIMPLE, "script_name": "X/Y/Z plot"})[0] == 200  # matched lower-cased
    units = {"ControlNet": {"args": [{"enabled": True, "module": "canny", "model": "c"},
                                     {"enabled": True, "module": "none", "model": "d"},
                                     {"enabled": False, "module": "depth", "model": "e"}]}}
    status, _, data = call(live, "POST", "/sdapi/v1/txt2img",
                           {**SIMPLE, "alwayson_scripts": units})
    assert (status, json.loads(data)["detail"]) == (422, "Script 'ControlNet' not found")
    status, _, data = call(live, "POST", "/sdapi/v1/txt2img",
                           {**SIMPLE, "alwayson_scripts": {"prompt matrix": {"args": []}}})
    assert (status, json.loads(data)["detail"]) == (
        422, "Cannot have a selectable script in the always on scripts params")
    status, _, data = call(live, "POST", "/sdapi/v1/txt2img",
                           {**SIMPLE, "alwayson_scripts": units}, service="withcn")
    assert status == 200
    assert len(json.loads(data)["images"]) == 2  # the image and canny's detected map
    plain = json.loads(call(live, "GET", "/sdapi/v1/scripts")[2])
    with_cn = json.loads(call(live, "GET", "/sdapi/v1/scripts", service="withcn")[2])
    assert "x/y/z plot" in plain["txt2img"] and "controlnet m2m" not in plain["txt2img"]
    assert {"controlnet m2m", "controlnet"} <= set(with_cn["txt2img"])


# -- middleware: X-Process-Time and gzip ---------------------------------------------------------
def test_x_process_time_is_not_on_500s(twin) -> None:
    _, live = twin
    status, headers, data = call(live, "POST", "/sdapi/v1/txt2img",
                                 {"width": 4096, "height": 4096, "steps": 1})
    assert status == 500 and json.loads(data)["error"] == "OutOfMemoryError"
    assert "x-process-time" not in headers
    status, headers, _ = call(live, "POST", "/sdapi/v1/txt2img", {**SIMPLE, "sampler_index": "x"})
    assert status == 400 and "x-process-time" in headers  # a handled HTTPException


def test_large_answers_are_gzipped_for_clients_that_accept_it(twin) -> None:
    _, live = twin
    status, headers, data = call(live, "POST", "/sdapi/v1/txt2img", SIMPLE,
                                 headers={"Accept-Encoding": "gzip, deflate"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding" and int(headers["content-length"]) == len(data)
    assert json.loads(gzip.decompress(data))["images"]
    status, headers, data = call(live, "POST", "/sdapi/v1/txt2img", SIMPLE)
    assert "content-encoding" not in headers and json.loads(data)["images"]
    status, headers, data = call(live, "GET", "/internal/ping", headers={"Accept-Encoding": "gzip"})
    assert (status, data, headers.get("content-encoding")) == (200, b"{}", None)  # under 1,000 B


# -- POST /sdapi/v1/options (api.py set_config) --------------------------------------------------
def test_options_switch_the_checkpoint_and_take_the_load_time(twin) -> None:
    _, live = twin
    svc = live.services[("default", "plain")]
    load = svc.revs[0].spec.cold_start.model_load
    status, headers, data = call(live, "POST", "/sdapi/v1/options",
                                 {"sd_model_checkpoint": "nope.safetensors"})
    assert (status, json.loads(data)) == (500, {"error": "RuntimeError", "detail": "", "body": "",
                                                "errors": "model 'nope.safetensors' not found"})
    assert "x-process-time" not in headers
    status, headers, data = call(live, "POST", "/sdapi/v1/options",
                                 {"sd_model_checkpoint": "sd_xl_base_1.0", "samples_format": "png"})
    assert (status, data) == (200, b"null")
    assert float(headers["x-process-time"]) == pytest.approx(load, abs=0.01)
    options = json.loads(call(live, "GET", "/sdapi/v1/options")[2])
    assert options["sd_model_checkpoint"] == a1111.MODEL_XL["title"]
    status, headers, _ = call(live, "POST", "/sdapi/v1/options",
                              {"sd_model_checkpoint": a1111.MODEL_XL["title"]})
    assert status == 200 and float(headers["x-process-time"]) < 0.5  # already loaded
    models = json.loads(call(live, "GET", "/sdapi/v1/sd-models")[2])
    assert [m["title"] for m in models] == [a1111.MODEL["title"], a1111.MODEL_XL["title"]]
    call(live, "POST", "/sdapi/v1/options", {"sd_model_checkpoint": a1111.MODEL["title"]})
