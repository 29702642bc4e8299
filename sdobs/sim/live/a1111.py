"""The AUTOMATIC1111 WebUI API as the live twin speaks it: request fields, defaults, errors.

Shapes follow ``shared/reference/a1111-api.md`` §1: every txt2img field optional with the
WebUI's defaults (``steps`` 50, ``sampler_index`` "Euler", ...), the response ``images`` /
``parameters`` / ``info`` (a JSON *string*), FastAPI's 422 body for validation errors and the
WebUI's ``{"error", "detail", "body", "errors"}`` body for the rest. Prompts are user data: they
are echoed to the client as the WebUI does, and never logged.
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

PARSE_ERROR = "There was an error parsing the body"

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
}  # fmt: skip
_TYPE_ERRORS = {
    _INT: ("int_parsing", "Input should be a valid integer"),
    _FLOAT: ("float_parsing", "Input should be a valid number"),
    _STR: ("string_type", "Input should be a valid string"),
    _BOOL: ("bool_parsing", "Input should be a valid boolean"),
    _LIST: ("list_type", "Input should be a valid list"),
    _DICT: ("dict_type", "Input should be a valid dictionary"),
}


@dataclass(frozen=True)
class ApiError(Exception):
    """An HTTP error answer in the WebUI's (or FastAPI's) JSON shape."""

    status: int
    body: dict[str, Any]

    @classmethod
    def webui(cls, status: int, error: str, detail: str = "", errors: str = "") -> ApiError:
        return cls(status, {"error": error, "detail": detail, "body": "", "errors": errors})

    def payload(self) -> bytes:
        return json.dumps(self.body).encode()


def _coerce(name: str, value: Any, kind: type) -> Any:
    """Pydantic's lax mode, as FastAPI applies it to the WebUI's request model."""
    if value is None or kind is _ANY:
        return value
    ok: Any = None
    if kind is _BOOL:
        ok = value if isinstance(value, bool) else None
    elif kind is _INT and not isinstance(value, bool):
        if isinstance(value, int):
            ok = value
        elif (isinstance(value, float) and value.is_integer()) or (
                isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            ok = int(value)
    elif kind is _FLOAT and not isinstance(value, bool):
        if isinstance(value, (int, float)):
            ok = float(value)
        elif isinstance(value, str):
            try:
                ok = float(value)
            except ValueError:
                ok = None
    elif isinstance(value, kind):
        ok = value
    if ok is None:
        code, msg = _TYPE_ERRORS[kind]
        raise ApiError(422, {"detail": [{"type": code, "loc": ["body", name], "msg": msg,
                                         "input": value}]})  # fmt: skip
    return ok


def parse_txt2img(raw: bytes) -> dict[str, Any]:
    """The request's fields with the WebUI's defaults filled in; ApiError 422 when malformed."""
    try:
        body = json.loads(raw or b"null")
    except RecursionError:
        # Nested deeper than the parser's stack: not a JSONDecodeError, so FastAPI's request
        # handler turns it into HTTPException(400, "There was an error parsing the body")
        # (fastapi/routing.py get_request_handler), which the WebUI's handler wraps.
        raise ApiError.webui(400, "HTTPException", PARSE_ERROR, f"400: {PARSE_ERROR}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, {"detail": [{"type": "json_invalid", "loc": ["body", 0],
                                         "msg": "JSON decode error", "input": {},
                                         "ctx": {"error": str(exc).split(":")[0]}}]}) from exc
    if not isinstance(body, dict):
        raise ApiError(422, {"detail": [{"type": "model_attributes_type", "loc": ["body"],
                                         "msg": "Input should be a valid dictionary or object to"
                                                " extract fields from", "input": body}]})
    fields = {}
    for name, (default, kind) in FIELDS.items():
        value = body.get(name, default)
        fields[name] = _coerce(name, value, kind)
    prompt = fields["prompt"]
    if not isinstance(prompt, (str, list)):
        raise ApiError(422, {"detail": [{"type": "string_type", "loc": ["body", "prompt"],
                                         "msg": "Input should be a valid string",
                                         "input": prompt}]})  # fmt: skip
    sampler = fields["sampler_name"] or fields["sampler_index"]
    if sampler not in SAMPLERS:
        raise ApiError.webui(400, "HTTPException", "Sampler not found", "400: Sampler not found")
    fields["sampler_name"] = sampler
    return fields


def cost_profile(fields: dict[str, Any]) -> Txt2Img:
    """The fields that decide the request's cost, for the service-time model."""
    return Txt2Img(steps=fields["steps"], width=fields["width"], height=fields["height"],
                   batch_size=fields["batch_size"], n_iter=fields["n_iter"],
                   sampler_name=fields["sampler_name"])  # fmt: skip


def _prompt_text(fields: dict[str, Any]) -> str:
    prompt = fields["prompt"]
    return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))


def txt2img_response(fields: dict[str, Any], *, job_timestamp: float | None = None,
                     rng: random.Random | None = None) -> dict[str, Any]:  # fmt: skip
    """A successful response: deterministic pictures from prompt and seed, and the info JSON."""
    seed = fields["seed"]
    if seed is None or seed == -1:
        seed = (rng or random).randrange(2**32)
    count = fields["batch_size"] * fields["n_iter"]
    prompt = _prompt_text(fields)
    seeds = [seed + i for i in range(count)]
    images = [base64.b64encode(picture(prompt, s)).decode() for s in seeds] \
        if fields["send_images"] else []
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
    }  # fmt: skip
    return {"images": images, "parameters": fields, "info": json.dumps(info)}


def _infotext(fields: dict[str, Any], prompt: str, seed: int) -> str:
    return (f"{prompt}\nNegative prompt: {fields['negative_prompt']}\nSteps: {fields['steps']}, "
            f"Sampler: {fields['sampler_name']}, CFG scale: {fields['cfg_scale']}, Seed: {seed}, "
            f"Size: {fields['width']}x{fields['height']}, Model hash: {MODEL['hash']}, "
            f"Model: {MODEL['model_name']}")  # fmt: skip


def out_of_memory(fields: dict[str, Any], memory_gib: float) -> ApiError:
    """The WebUI's 500 for a request the GPU cannot hold."""
    need = fields["width"] * fields["height"] * fields["batch_size"] * 4 * 4 / 2**30
    return ApiError.webui(
        500, "OutOfMemoryError", "",
        f"CUDA out of memory. Tried to allocate {max(need, 0.01):.2f} GiB (GPU 0; "
        f"{memory_gib:.2f} GiB total capacity)",
    )


def progress(sampling_step: int = 0, sampling_steps: int = 0, eta: float = 0.0,
             job_count: int = 0) -> dict[str, Any]:  # fmt: skip
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
    }  # fmt: skip

