"""Check an A1111 txt2img response and pull out what a record needs: images, seed, job time."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from sdobs.loadtest import errors
from sdobs.loadtest.errors import RequestError

_ERROR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,79}$")


@dataclass(slots=True)
class Txt2ImgResult:
    """What a successful txt2img response carried."""

    images: list[bytes] = field(default_factory=list)
    image_count: int = 0
    seed: int | None = None
    job_timestamp: str | None = None


def parse_txt2img(body: bytes, *, decode: bool = True) -> Txt2ImgResult:
    """Validate a 2xx body; raise RequestError(bad_json | bad_response | bad_base64) otherwise."""
    if not body:
        raise RequestError(errors.BAD_JSON, "empty body")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(errors.BAD_JSON, "the body is not JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise RequestError(errors.BAD_RESPONSE, "no images list in the response")
    result = Txt2ImgResult(image_count=len(doc["images"]))
    for item in doc["images"]:
        if not isinstance(item, str):
            raise RequestError(errors.BAD_RESPONSE, "an image is not a base64 string")
        if decode:
            result.images.append(decode_image(item))
    info = doc.get("info")
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError:
            info = None
    if isinstance(info, dict):
        seed = info.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            result.seed = seed
        stamp = info.get("job_timestamp")
        if isinstance(stamp, str) and len(stamp) <= 32:
            result.job_timestamp = stamp
    return result


def decode_image(item: str) -> bytes:
    """Decode one base64 image (a ``data:`` URL prefix is accepted)."""
    if item.startswith("data:"):
        item = item.partition(",")[2]
    try:
        data = base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(errors.BAD_BASE64, "an image is not valid base64") from exc
    if not data:
        raise RequestError(errors.BAD_BASE64, "an image is empty")
    return data


def error_name(body: bytes) -> str:
    """The exception name from an A1111 error body (``{"error": "OutOfMemoryError", ...}``).

    Only the name is kept: the body's other fields may echo the request, prompt included.
    """
    if not body or body[:1] != b"{" or len(body) > 1 << 20:
        return ""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    name = doc.get("error") if isinstance(doc, dict) else None
    return name if isinstance(name, str) and _ERROR_NAME.match(name) else ""


def image_extension(data: bytes) -> str:
    """File extension for an image by its magic bytes."""
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    if data.startswith(b"GIF8"):
        return "gif"
    return "bin"
