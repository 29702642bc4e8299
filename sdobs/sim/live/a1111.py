"""The AUTOMATIC1111 WebUI API as the live twin speaks it: request fields, defaults, errors.

Shapes follow the WebUI v1.10.x (modules/api/api.py, modules/api/models.py, processing.py):
every txt2img field optional with the WebUI's defaults (``steps`` 50, ``sampler_index``
"Euler", ...), the response ``images`` / ``parameters`` / ``info`` (a JSON *string*), FastAPI
0.94's 422 body with pydantic v1 errors for validation (``fastapi==0.94.0`` is pinned in the
WebUI's requirements_versions.txt) and the WebUI's ``{"error", "detail", "body", "errors"}``
body for the rest (api.py ``api_middleware``); see ``sdobs/sim/README.md`` (Live). Prompts are
user data: they are echoed to the client as the WebUI does, and never logged.
"""

from __future__ import annotations

import base64
import json
import random
import time
from dataclasses import dataclass
from typing import Any

from sdobs.sim.live.png import picture
from sdobs.sim.servicetime import SAMPLERS, Txt2Img

MODEL_TITLE = "v1-5-pruned-emaonly.safetensors [6ce0161689]"
MODEL = {
    "title": MODEL_TITLE,
    "model_name": "v1-5-pruned-emaonly",
    "hash": "6ce0161689",
    "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
    "filename": "/stable-diffusion-webui/models/Stable-diffusion/v1-5-pruned-emaonly.safetensors",
    "config": None,
}
#: A second checkpoint, so that clients can switch (``POST /sdapi/v1/options``).
MODEL_XL = {
    "title": "sd_xl_base_1.0.safetensors [31e35c80fc]",
    "model_name": "sd_xl_base_1.0",
    "hash": "31e35c80fc",
    "sha256": "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b",
    "filename": "/stable-diffusion-webui/models/Stable-diffusion/sd_xl_base_1.0.safetensors",
    "config": None,
}
MODELS = (MODEL, MODEL_XL)


def find_checkpoint(name: Any) -> dict[str, Any] | None:
    """sd_models.checkpoint_aliases: a checkpoint by title, name, file name or hash."""
    if not isinstance(name, str):
        return None
    for model in MODELS:
        aliases = {model["title"], model["model_name"], model["hash"], model["sha256"],
                   model["filename"].rsplit("/", 1)[-1], f"{model['model_name']} [{model['hash']}]"}
        if name in aliases:
            return model
    return None


OPTIONS = {
    "sd_model_checkpoint": MODEL_TITLE,
    "sd_checkpoint_hash": MODEL["sha256"],
    "samples_format": "png",
    "samples_save": False,
    "grid_save": False,
    "CLIP_stop_at_last_layers": 1,
    "eta_noise_seed_delta": 0,
    "sd_vae": "Automatic",
}

# (default, type) of each txt2img request field (processing.py and the API-only keys).
_INT, _FLOAT, _STR, _BOOL, _LIST, _DICT, _ANY = int, float, str, bool, list, dict, object
FIELDS: dict[str, tuple[Any, type]] = {
    "prompt": ("", _ANY), "negative_prompt": ("", _STR), "styles": (None, _LIST),
    "seed": (-1, _INT), "subseed": (-1, _INT), "subseed_strength": (0, _FLOAT),
    "seed_resize_from_h": (-1, _INT), "seed_resize_from_w": (-1, _INT),
    "sampler_name": (None, _STR), "scheduler": (None, _STR), "batch_size": (1, _INT),
    "n_iter": (1, _INT), "steps": (50, _INT), "cfg_scale": (7.0, _FLOAT), "width": (512, _INT),
    "height": (512, _INT), "restore_faces": (None, _BOOL), "tiling": (None, _BOOL),
    "do_not_save_samples": (False, _BOOL), "do_not_save_grid": (False, _BOOL),
    "eta": (None, _FLOAT), "denoising_strength": (0, _FLOAT), "s_min_uncond": (None, _FLOAT),
    "s_churn": (None, _FLOAT), "s_tmax": (None, _FLOAT), "s_tmin": (None, _FLOAT),
    "s_noise": (None, _FLOAT), "override_settings": (None, _DICT),
    "override_settings_restore_afterwards": (True, _BOOL), "refiner_checkpoint": (None, _STR),
    "refiner_switch_at": (None, _FLOAT), "disable_extra_networks": (False, _BOOL),
    "enable_hr": (False, _BOOL), "firstphase_width": (0, _INT), "firstphase_height": (0, _INT),
    "hr_scale": (2.0, _FLOAT), "hr_upscaler": (None, _STR), "hr_second_pass_steps": (0, _INT),
    "hr_resize_x": (0, _INT), "hr_resize_y": (0, _INT), "hr_checkpoint_name": (None, _STR),
    "hr_sampler_name": (None, _STR), "hr_prompt": ("", _STR), "hr_negative_prompt": ("", _STR),
    "sampler_index": ("Euler", _STR), "script_name": (None, _STR), "script_args": ([], _LIST),
    "send_images": (True, _BOOL), "save_images": (False, _BOOL), "alwayson_scripts": ({}, _DICT),
    "force_task_id": (None, _STR), "infotext": (None, _STR),
}
#: pydantic v1 (FastAPI 0.94, pinned by the WebUI's requirements_versions.txt, needs pydantic
#: < 2): message and type of each field kind's validation error.
_TYPE_ERRORS = {
    _INT: ("value is not a valid integer", "type_error.integer"),
    _FLOAT: ("value is not a valid float", "type_error.float"),
    _STR: ("str type expected", "type_error.str"),
    _BOOL: ("value could not be parsed to a boolean", "type_error.bool"),
    _LIST: ("value is not a valid list", "type_error.list"),
    _DICT: ("value is not a valid dict", "type_error.dict"),
}
_BOOL_TRUE = {1, "1", "on", "t", "true", "y", "yes"}
_BOOL_FALSE = {0, "0", "off", "f", "false", "n", "no"}
_BAD = object()


@dataclass(frozen=True)
class ApiError(Exception):
    """An HTTP error answer in the WebUI's (or FastAPI's) JSON shape."""

    status: int
    body: dict[str, Any]

    @classmethod
    def webui(cls, status: int, error: str, detail: str = "", errors: str = "") -> ApiError:
        return cls(status, {"error": error, "detail": detail, "body": "", "errors": errors})

    @classmethod
    def http(cls, status: int, detail: str) -> ApiError:
        """An ``HTTPException(status, detail)`` raised in api.py, as its handler answers it."""
        return cls.webui(status, "HTTPException", detail, f"{status}: {detail}")

    def payload(self) -> bytes:
        return json.dumps(self.body).encode()


def _validation(errors: list[dict[str, Any]]) -> ApiError:
    """FastAPI's request_validation_exception_handler: 422 ``{"detail": errors}``."""
    return ApiError(422, {"detail": errors})


def _coerce(value: Any, kind: type) -> Any:
    """pydantic v1's validators for an ``Optional[kind]`` field; ``_BAD`` when invalid."""
    if value is None or kind is _ANY:
        return value
    try:
        if kind is _INT:  # int_validator: int(v), so 2.7 -> 2, True -> 1, "1_0" -> 10
            return value if isinstance(value, int) and not isinstance(value, bool) else \
                int(value)
        if kind is _FLOAT:  # float_validator: float(v)
            return value if isinstance(value, float) else float(value)
        if kind is _STR:  # str_validator: str, or a number's str()
            if isinstance(value, str):
                return value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            return _BAD
        if kind is _BOOL:  # bool_validator: True/False or a member of BOOL_TRUE/BOOL_FALSE
            if value is True or value is False:
                return value
            key = value.lower() if isinstance(value, str) else value
            if key in _BOOL_TRUE:  # (1.0 == 1: a float one is true too; a list is unhashable)
                return True
            if key in _BOOL_FALSE:
                return False
            return _BAD
        if kind is _LIST:  # list_validator: list, tuple, set (JSON gives lists only)
            return value if isinstance(value, list) else _BAD
        if kind is _DICT:  # dict_validator: dict(v), so a list of pairs is a dict
            return value if isinstance(value, dict) else dict(value)
    except (TypeError, ValueError, OverflowError):
        return _BAD
    return value


PARSE_ERROR = "There was an error parsing the body"


def _is_json(content_type: str | None) -> bool:
    """FastAPI 0.94 get_request_handler: the body is parsed as JSON when there is no
    Content-Type, or when it is application/json or application/*+json; otherwise the raw bytes
    go to validation (a form-encoded body is not a dict: 422)."""
    if not content_type:
        return True
    main = content_type.split(";")[0].strip().lower()
    kind, _, sub = main.partition("/")
    return kind == "application" and (sub == "json" or sub.endswith("+json"))


#: The txt2img scripts of a WebUI v1.10 install without extensions, by ``script.name`` (the
#: title lower-cased, as ``GET /sdapi/v1/scripts`` lists them and ``script_name_to_index``
#: matches them): selectable ones (``script_name``) and always-on ones (``alwayson_scripts``).
SELECTABLE_SCRIPTS = ("prompt matrix", "prompts from file or textbox", "x/y/z plot")
ALWAYSON_SCRIPTS = ("extra options", "hypertile", "refiner", "seed", "sampler", "comments")
#: Extensions a scenario may declare installed (manifest annotation ``twin.sdobs.dev/extensions``)
#: and the (selectable, always-on) scripts each adds; clients such as webuiapi detect ControlNet
#: by "controlnet m2m" in the scripts list.
EXTENSIONS = {"controlnet": (("controlnet m2m",), ("controlnet",)),
              "adetailer": ((), ("adetailer",))}


def _names(extensions: frozenset[str]) -> tuple[list[str], list[str]]:
    known = [EXTENSIONS[e] for e in sorted(extensions) if e in EXTENSIONS]
    return ([*SELECTABLE_SCRIPTS, *(n for sel, _ in known for n in sel)],
            [*ALWAYSON_SCRIPTS, *(n for _, on in known for n in on)])


def scripts_list(extensions: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """``GET /sdapi/v1/scripts``: ``{"txt2img": [...], "img2img": [...]}``."""
    selectable, alwayson = _names(extensions)
    return {"txt2img": selectable + alwayson, "img2img": selectable + alwayson}


def _script_index(name: str, names: list[str] | tuple[str, ...]) -> int:
    """api.py script_name_to_index: case-insensitive, 422 "Script '...' not found"."""
    lowered = name.lower() if isinstance(name, str) else name
    if lowered not in names:
        raise ApiError.http(422, f"Script '{name}' not found")
    return names.index(lowered)


def _check_scripts(fields: dict[str, Any], extensions: frozenset[str], *,
                   alwayson: bool) -> None:
    """api.py text2imgapi: ``get_selectable_script`` before the sampler is checked, the
    always-on scripts in ``init_script_args`` after it."""
    selectable, always = _names(extensions)
    if not alwayson:
        if fields["script_name"]:
            _script_index(fields["script_name"], selectable)
        return
    names = selectable + always
    for name in fields["alwayson_scripts"] or {}:
        idx = _script_index(name, names)
        if idx < len(selectable):
            raise ApiError.http(422, "Cannot have a selectable script in the always on "
                                     "scripts params")


def extra_images(fields: dict[str, Any], extensions: frozenset[str]) -> int:
    """Images an installed extension appends: ControlNet returns the detected map of each
    enabled unit that has a preprocessor (sd-webui-controlnet's API default)."""
    if "controlnet" not in extensions:
        return 0
    scripts = {str(k).lower(): v for k, v in (fields["alwayson_scripts"] or {}).items()}
    entry = scripts.get("controlnet")
    unit_args = (entry.get("args") if isinstance(entry, dict) else None) or []
    return sum(1 for u in unit_args if isinstance(u, dict) and u.get("enabled", True)
               and str(u.get("module", "none")).lower() not in ("none", ""))


def parse_txt2img(raw: bytes, content_type: str | None = None,
                  extensions: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The request's fields with the WebUI's defaults filled in; ApiError (422 or 400) when the
    WebUI would refuse the body, with every bad field listed as FastAPI 0.94 lists them."""
    body: Any = None
    if raw:
        if not _is_json(content_type):
            body = raw
        else:
            try:
                body = json.loads(raw)
            except json.JSONDecodeError as exc:
                # RequestValidationError([ErrorWrapper(e, ("body", e.pos))], body=e.doc):
                # pydantic v1 names it value_error.jsondecode and copies the exception's
                # attributes into ctx.
                raise _validation([{"loc": ["body", exc.pos], "msg": str(exc),
                                    "type": "value_error.jsondecode",
                                    "ctx": {"msg": exc.msg, "doc": exc.doc, "pos": exc.pos,
                                            "lineno": exc.lineno, "colno": exc.colno}}]) from None
            except (RecursionError, UnicodeDecodeError, ValueError):
                # Not a JSONDecodeError (nested too deep, not UTF-8): FastAPI's handler turns it
                # into HTTPException(400, "There was an error parsing the body").
                raise ApiError.http(400, PARSE_ERROR) from None
    if body is None:  # no body, or JSON null: the required model parameter is missing
        raise _validation([{"loc": ["body"], "msg": "field required",
                            "type": "value_error.missing"}])
    if not isinstance(body, dict):
        try:  # BaseModel.validate: dict(value), so a list of pairs is a body too
            body = dict(body) if isinstance(body, list) else None
        except (TypeError, ValueError):
            body = None
        if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
            raise _validation([{"loc": ["body"], "msg": "value is not a valid dict",
                                "type": "type_error.dict"}])
    fields: dict[str, Any] = {}
    errors = []
    for name, (default, kind) in FIELDS.items():
        value = _coerce(body.get(name, default), kind)
        if value is _BAD:
            msg, code = _TYPE_ERRORS[kind]
            errors.append({"loc": ["body", name], "msg": msg, "type": code})
        fields[name] = value
    prompt = fields["prompt"]
    if not errors and not isinstance(prompt, (str, list)):
        errors.append({"loc": ["body", "prompt"], "msg": "str type expected",
                       "type": "type_error.str"})
    if errors:
        raise _validation(errors)
    _check_scripts(fields, extensions, alwayson=False)
    sampler = fields["sampler_name"] or fields["sampler_index"]
    if sampler not in SAMPLERS:
        raise ApiError.http(400, "Sampler not found")
    fields["sampler_name"] = sampler
    _check_scripts(fields, extensions, alwayson=True)
    return fields


def cost_profile(fields: dict[str, Any]) -> Txt2Img:
    """The fields that decide the request's cost, for the service-time model."""
    return Txt2Img(steps=fields["steps"], width=fields["width"], height=fields["height"],
                   batch_size=fields["batch_size"], n_iter=fields["n_iter"],
                   sampler_name=fields["sampler_name"])


def _prompt_text(fields: dict[str, Any]) -> str:
    prompt = fields["prompt"]
    return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))


def output_size(fields: dict[str, Any]) -> tuple[int, int]:
    """The pictures' width and height: the latent is width // 8 × height // 8, so the image
    is the request's size rounded down to a multiple of 8; the hires fix upscales to
    ``hr_resize_x/y`` (one given: the other in proportion) or by ``hr_scale``
    (processing.py StableDiffusionProcessingTxt2Img.calculate_target_resolution)."""
    width, height = max(fields["width"] // 8 * 8, 8), max(fields["height"] // 8 * 8, 8)
    if not fields["enable_hr"]:
        return width, height
    rx, ry = int(fields["hr_resize_x"] or 0), int(fields["hr_resize_y"] or 0)
    if rx == 0 and ry == 0:
        scale = float(fields["hr_scale"] or 1.0)
        w, h = int(width * scale), int(height * scale)
    elif ry == 0:
        w, h = rx, rx * height // width
    elif rx == 0:
        w, h = ry * width // height, ry
    else:
        w, h = rx, ry
    return max(w // 8 * 8, 8), max(h // 8 * 8, 8)


def txt2img_response(fields: dict[str, Any], *, job_timestamp: float | None = None,
                     rng: random.Random | None = None,
                     extensions: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A successful response: deterministic pictures of the requested size from prompt and
    seed (plus what installed extensions append), and the info JSON."""
    seed = fields["seed"]
    if seed is None or seed == -1:
        seed = (rng or random).randrange(2**32)
    count = fields["batch_size"] * fields["n_iter"]
    prompt = _prompt_text(fields)
    seeds = [seed + i for i in range(count)]
    width, height = output_size(fields)
    extra = extra_images(fields, extensions)
    images = [base64.b64encode(picture(prompt, s, width, height)).decode() for s in seeds] + [
        base64.b64encode(picture(f"detected map {k}", seed, width, height)).decode()
        for k in range(extra)] if fields["send_images"] else []
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(job_timestamp or time.time()))
    info = {
        "prompt": prompt, "all_prompts": [prompt] * count,
        "negative_prompt": fields["negative_prompt"],
        "all_negative_prompts": [fields["negative_prompt"]] * count,
        "seed": seed, "all_seeds": seeds, "subseed": fields["subseed"],
        "all_subseeds": [fields["subseed"]] * count,
        "subseed_strength": fields["subseed_strength"], "width": fields["width"],
        "height": fields["height"], "sampler_name": fields["sampler_name"],
        "cfg_scale": fields["cfg_scale"], "steps": fields["steps"],
        "batch_size": fields["batch_size"], "restore_faces": bool(fields["restore_faces"]),
        "face_restoration_model": None, "sd_model_name": MODEL["model_name"],
        "sd_model_hash": MODEL["hash"], "sd_vae_name": None, "sd_vae_hash": None,
        "seed_resize_from_w": fields["seed_resize_from_w"],
        "seed_resize_from_h": fields["seed_resize_from_h"],
        "denoising_strength": fields["denoising_strength"], "extra_generation_params": {},
        "index_of_first_image": 0, "infotexts": [_infotext(fields, prompt, s) for s in seeds],
        "styles": fields["styles"] or [], "job_timestamp": stamp, "clip_skip": 1,
        "is_using_inpainting_conditioning": False,
    }
    return {"images": images, "parameters": fields, "info": json.dumps(info)}


def _infotext(fields: dict[str, Any], prompt: str, seed: int) -> str:
    return (f"{prompt}\nNegative prompt: {fields['negative_prompt']}\nSteps: {fields['steps']}, "
            f"Sampler: {fields['sampler_name']}, CFG scale: {fields['cfg_scale']}, Seed: {seed}, "
            f"Size: {fields['width']}x{fields['height']}, Model hash: {MODEL['hash']}, "
            f"Model: {MODEL['model_name']}")


def out_of_memory(fields: dict[str, Any], memory_gib: float) -> ApiError:
    """The WebUI's 500 for a request the GPU cannot hold."""
    need = fields["width"] * fields["height"] * fields["batch_size"] * 4 * 4 / 2**30
    return ApiError.webui(
        500, "OutOfMemoryError", "",
        f"CUDA out of memory. Tried to allocate {max(need, 0.01):.2f} GiB (GPU 0; "
        f"{memory_gib:.2f} GiB total capacity)",
    )


def progress(sampling_step: int = 0, sampling_steps: int = 0, eta: float = 0.0,
             job_count: int = 0) -> dict[str, Any]:
    """``GET /sdapi/v1/progress`` (idle: progress 0, eta 0)."""
    busy = sampling_steps > 0
    return {
        "progress": round(sampling_step / sampling_steps, 4) if busy else 0.0,
        "eta_relative": round(eta, 3) if busy else 0.0,
        "state": {"skipped": False, "interrupted": False, "stopping_generation": False,
                  "job": "txt2img" if busy else "", "job_count": job_count,
                  "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.gmtime()),
                  "job_no": 0, "sampling_step": sampling_step,
                  "sampling_steps": sampling_steps},
        "current_image": None, "textinfo": None, "current_task": None,
    }

