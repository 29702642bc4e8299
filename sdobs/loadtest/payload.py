"""txt2img request bodies built from a few options, encoded once so sending costs no JSON work."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdobs.loadtest.errors import LoadTestConfigError

TXT2IMG_PATH = "/sdapi/v1/txt2img"
DEFAULT_PROMPT = "a photo of an astronaut riding a horse on the moon"


@dataclass(frozen=True)
class Txt2ImgOptions:
    """The txt2img fields a load test varies; ``extra`` is merged last for anything else."""

    prompts: tuple[str, ...] = (DEFAULT_PROMPT,)
    negative_prompt: str = ""
    steps: int = 20
    width: int = 512
    height: int = 512
    batch_size: int = 1
    n_iter: int = 1
    sampler_name: str = "Euler a"
    seed: int = -1
    cfg_scale: float = 7.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise LoadTestConfigError for values A1111 would reject or that make no sense."""
        if not self.prompts:
            raise LoadTestConfigError(
                "the prompt list is empty; give a prompt or a prompt file with lines"
            )
        for name in ("steps", "width", "height", "batch_size", "n_iter"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise LoadTestConfigError(f"{name} must be a positive whole number, not {value!r}")
        if self.width > 8192 or self.height > 8192:
            raise LoadTestConfigError("width and height must be at most 8192 pixels")
        if self.steps > 1000:
            raise LoadTestConfigError("steps must be at most 1000")
        if not isinstance(self.extra, Mapping):
            raise LoadTestConfigError("extra payload fields must be a JSON object")

    def body(self, index: int = 0) -> dict[str, Any]:
        """The JSON body of request number ``index`` (prompts are used in turn)."""
        body: dict[str, Any] = {
            "prompt": self.prompts[index % len(self.prompts)],
            "negative_prompt": self.negative_prompt,
            "steps": self.steps,
            "width": self.width,
            "height": self.height,
            "batch_size": self.batch_size,
            "n_iter": self.n_iter,
            "cfg_scale": self.cfg_scale,
            "sampler_name": self.sampler_name,
            "seed": self.seed,
        }
        body.update(self.extra)
        return body

    def encoded(self) -> list[bytes]:
        """One encoded body per prompt; request ``i`` sends ``encoded()[i % len(prompts)]``."""
        return [
            json.dumps(self.body(i), separators=(",", ":")).encode()
            for i in range(len(self.prompts))
        ]


def load_prompts(path: str | Path) -> tuple[str, ...]:
    """Read prompts, one a line, skipping blank lines and lines starting with ``#``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadTestConfigError(f"cannot read the prompt file {path} ({exc.strerror})") from exc
    prompts = tuple(
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    if not prompts:
        raise LoadTestConfigError(f"the prompt file {path} has no prompts (one a line)")
    return prompts
