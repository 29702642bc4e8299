"""How long an AUTOMATIC1111 txt2img request takes on each GPU, and which requests fail.

One place for the performance facts of the twin (docs/service-times.md). The anchor is A1111's own
sampler speed on a T4, 5.5 it/s at 512×512, batch 1 with xformers (A1111#1078; 5–6.5 it/s in
TheLastBen/fast-stable-diffusion#755). Other GPUs are scaled from it by ratios measured side by
side in one published benchmark, so that every figure stays in A1111 terms:

- P100: 3.5 / 6.9 of a T4 (diffusers fp16, gperdrizet P100 benchmark vs diffusers torch 2.0 T4;
  "half the speed of T4", TheLastBen#7) → 2.8 it/s.
- A10: 20.4 / 7.2 image-steps/s of a T4 at batch 4 (diffusers torch2.0.mdx, SDPA) → 15.6 it/s.
- A100 80 GB: 21.66 / 6.9 of a T4 (diffusers torch 2.0, not compiled) → 17.3 it/s.
- H100 80 GB: the A100 figure × 1.11 s / 0.572 s (onnxruntime SD benchmarks, A100-PCIE vs H100)
  → 33.5 it/s.
- **Assumption, P4**: no public measurement exists. A P4 (GP104) has no fast FP16 and runs SD in
  fp32; with 5.5 vs 9.3 FP32 TFLOPS and 192 vs 732 GB/s against a P100, we take 0.4 × P100 =
  1.1 it/s.
- **Assumption, L4**: not in the reference; 1.6 × T4 (FP16 tensor throughput 121 vs 65 TFLOPS at
  similar memory bandwidth) → 8.8 it/s.

Cost grows with pixels slightly faster than linearly (attention), batches are a little more
efficient per image (T4: 7.2 image-steps/s at batch 4 vs 6.9 at batch 1), ``n_iter`` batches run
one after another. Fixed costs per request (prompt encoding, HTTP) and per image (VAE decode on
the GPU, PNG encoding and base64 on the CPU) are added; sampling varies by ≈3 % and the fixed
parts by ≈15 % (log-normal). Memory use decides CUDA out-of-memory failures (HTTP 500).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdobs.errors import InputError

GIB = 1024**3
_BASE_PIXELS = 512 * 512


@dataclass(frozen=True)
class GpuPerf:
    """SD 1.5 performance of one GPU model in A1111 (it/s at 512×512, batch 1) and its memory."""

    key: str  # the GPU exporter's model key
    name: str
    its_512: float
    memory_gib: float  # usable by the process
    fp16: bool = True
    source: str = ""


GPUS: dict[str, GpuPerf] = {
    g.key: g
    for g in (
        GpuPerf("t4", "Tesla T4", 5.5, 14.6, source="A1111#1078 (xformers)"),
        GpuPerf("p100", "Tesla P100-PCIE-16GB", 5.5 * 3.5 / 6.9, 15.6,
                source="P100 3.5 it/s vs T4 6.9 it/s (diffusers)"),
        GpuPerf("p4", "Tesla P4", 0.4 * 5.5 * 3.5 / 6.9, 7.3, fp16=False,
                source="assumption: 0.4 x P100 (fp32, TFLOPS and bandwidth ratio)"),
        GpuPerf("a10", "NVIDIA A10", 5.5 * 20.4 / 7.2, 22.0,
                source="A10 vs T4 at batch 4 (diffusers torch2.0.mdx)"),
        GpuPerf("l4", "NVIDIA L4", 5.5 * 1.6, 22.0,
                source="assumption: 1.6 x T4 (FP16 tensor throughput)"),
        GpuPerf("a100-80gb", "NVIDIA A100-SXM4-80GB", 5.5 * 21.66 / 6.9, 79.0,
                source="A100 21.66 vs T4 6.9 it/s (diffusers torch 2.0)"),
        GpuPerf("h100-80gb", "NVIDIA H100 80GB HBM3", 5.5 * 21.66 / 6.9 * 1.11 / 0.572, 79.0,
                source="A100 x 1.11/0.572 s (onnxruntime SD benchmark)"),
    )
}

#: A1111's built-in sampler names (modules/sd_samplers_kdiffusion.py, v1.6+, plus DDIM/PLMS).
SAMPLERS = frozenset({
    "DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE",
    "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM fast", "DPM adaptive", "Restart",
    "DDIM", "PLMS", "UniPC", "LCM", "DPM++ 2M Karras", "DPM++ SDE Karras", "Euler a Karras",
})
#: Samplers that evaluate the model twice per step (second-order), so a step costs double.
_SECOND_ORDER = frozenset({"Heun", "DPM2", "DPM2 a", "DPM++ SDE", "DPM++ 2S a", "DPM++ SDE Karras",
                           "DPM++ 2M SDE Heun", "Restart"})

# Fixed costs, seconds, on a T4 at 512×512 (VAE decode scales with GPU speed and pixels).
_REQUEST_OVERHEAD = 0.06  # prompt encoding, request parsing, JSON response
_VAE_DECODE_T4 = 0.30  # per image
_PNG_BASE64 = 0.12  # per image, CPU
_VALIDATION_ERROR_TIME = 0.004  # 400/422 are answered before the queue lock
_OOM_EARLY_TIME = 0.35  # a UNet allocation fails on the first step
_SAMPLING_SIGMA = 0.03
_FIXED_SIGMA = 0.15


@dataclass(frozen=True)
class Txt2Img:
    """The fields of a txt2img body that decide its cost (docs/a1111-api.md §1 defaults)."""

    steps: int = 50
    width: int = 512
    height: int = 512
    batch_size: int = 1
    n_iter: int = 1
    sampler_name: str = "Euler a"

    @property
    def images(self) -> int:
        return self.batch_size * self.n_iter


@dataclass(frozen=True)
class Outcome:
    """What the WebUI does with one request: status code and time it holds the process."""

    status: int
    seconds: float
    uses_gpu: bool  # 400/422 are answered without the queue lock


def _pixel_factor(width: int, height: int) -> float:
    p = width * height / _BASE_PIXELS
    return p * (1.0 + 0.12 * (p - 1.0)) if p > 1 else p


def _batch_factor(batch: int) -> float:
    return 0.05 + 0.95 * batch


def peak_memory_gib(gpu: GpuPerf, req: Txt2Img) -> tuple[float, float]:
    """(UNet peak, VAE-decode peak) GiB of process memory for one request on ``gpu``."""
    p = req.width * req.height / _BASE_PIXELS
    weights = 2.0 if gpu.fp16 else 4.0
    base = weights + 0.6
    unet = base + 1.1 * req.batch_size * p**1.25
    vae = base + 0.9 * p**1.5
    return unet, vae


def idle_memory_gib(gpu: GpuPerf) -> float:
    """Process memory with the checkpoint loaded and no request running."""
    return (2.0 if gpu.fp16 else 4.0) + 0.6


def mean_seconds(gpu: GpuPerf, req: Txt2Img) -> float:
    """Mean wall time of a successful request on ``gpu`` (without spread)."""
    step = _pixel_factor(req.width, req.height) * _batch_factor(req.batch_size) / gpu.its_512
    if req.sampler_name in _SECOND_ORDER:
        step *= 2.0
    sampling = req.steps * step * req.n_iter
    speed = gpu.its_512 / GPUS["t4"].its_512
    per_image = _VAE_DECODE_T4 * _pixel_factor(req.width, req.height) / speed + (
        _PNG_BASE64 * req.width * req.height / _BASE_PIXELS)
    return _REQUEST_OVERHEAD + sampling + per_image * req.images


class ServiceTimeModel:
    """Samples outcomes for a stream of requests on one GPU model (vectorised per batch)."""

    def __init__(self, gpu: str | GpuPerf, *, spread: bool = True) -> None:
        if isinstance(gpu, str):
            if gpu not in GPUS:
                raise InputError(f"unknown GPU model {gpu!r}; known: {', '.join(sorted(GPUS))}")
            gpu = GPUS[gpu]
        self.gpu = gpu
        self.spread = spread

    def outcome(self, req: Txt2Img, u_sampling: float = 0.0, u_fixed: float = 0.0) -> Outcome:
        """One request; ``u_*`` are standard-normal draws (0 gives the mean)."""
        gpu = self.gpu
        if req.sampler_name not in SAMPLERS:
            return Outcome(400, _VALIDATION_ERROR_TIME, False)
        if min(req.steps, req.width, req.height, req.batch_size, req.n_iter) < 1:
            return Outcome(422, _VALIDATION_ERROR_TIME, False)
        unet, vae = peak_memory_gib(gpu, req)
        sig_s = _SAMPLING_SIGMA if self.spread else 0.0
        sig_f = _FIXED_SIGMA if self.spread else 0.0
        if unet > gpu.memory_gib:
            return Outcome(500, _OOM_EARLY_TIME * math.exp(sig_f * u_fixed), True)
        total = mean_seconds(gpu, req)
        fixed = _REQUEST_OVERHEAD
        sampling = total - fixed
        seconds = sampling * math.exp(sig_s * u_sampling - sig_s**2 / 2) + fixed * math.exp(
            sig_f * u_fixed - sig_f**2 / 2)
        if vae > gpu.memory_gib:  # sampled fine, decoding the image ran out of memory
            return Outcome(500, seconds * 0.85, True)
        return Outcome(200, seconds, True)

    def sample(self, reqs: list[Txt2Img], index: np.ndarray, rng: np.random.Generator,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outcomes for ``reqs[index[i]]``: (status, seconds, uses_gpu) arrays."""
        n = len(index)
        u = rng.standard_normal((2, n)) if self.spread else np.zeros((2, n))
        base = [self.outcome(r) for r in reqs]
        status = np.array([o.status for o in base], dtype=np.int16)[index]
        uses = np.array([o.uses_gpu for o in base], dtype=bool)[index]
        if not self.spread:
            secs = np.array([o.seconds for o in base])[index]
            return status, secs, uses
        # Recompute the spread vectorised from the two parts of each profile.
        fixed = np.array([_fixed_part(self, r) for r in reqs])[index]
        samp = np.array([o.seconds for o in base])[index] - fixed
        sig_s, sig_f = _SAMPLING_SIGMA, _FIXED_SIGMA
        secs = samp * np.exp(sig_s * u[0] - sig_s**2 / 2) + fixed * np.exp(
            sig_f * u[1] - sig_f**2 / 2)
        return status, secs, uses


def _fixed_part(model: ServiceTimeModel, req: Txt2Img) -> float:
    """The part of the mean outcome time that gets the fixed-cost spread."""
    o = model.outcome(req)
    if o.status != 200 or not o.uses_gpu:
        return o.seconds
    return _REQUEST_OVERHEAD
