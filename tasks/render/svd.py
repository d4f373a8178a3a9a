"""The ``svd`` render backend: Stable Video Diffusion, for GPUs too small for Wan2.2.

Not a re-implementation: diffusers' ``StableVideoDiffusionPipeline`` runs it, from a local
diffusers folder (``stabilityai/stable-video-diffusion-img2vid-xt``). diffusers is an optional
extra, ``pip install 'content-factory[svd]'``; without it the backend refuses to start and says
so. Facts: docs/reference/wan22-image-models.md (Stable Video Diffusion).

- Image in, no text: the shot's photo, fitted to the frame by the one crop rule
  (:func:`media.images.fit_image`); a shot without one starts from its storyboard backdrop.
- Motion from the spec: ``model.motion_bucket_id`` (default 127) and ``model.noise_aug_strength``
  (default 0.02); ``model.steps`` (default 25). Guidance runs per frame from 1.0 to 3.0.
- Timing: SVD makes its own number of frames (25 for SVD-XT, 14 for SVD), conditioned on the rate
  they will play at over the shot's duration; they are then re-timed by motion-compensated
  interpolation to the shot's frame count at the campaign's frame rate, which the master later
  converts to the delivery frame rate like any render.
- Memory: with ``offload`` on a GPU, model CPU offload, UNet forward chunking and VAE decoding 2
  frames at a time keep it under 8 GB. ``offload`` "auto" (the factory's default) means on: SVD
  is the backend for small GPUs, and under 8 GB with offload is the only published figure
  (docs/reference/wan22-image-models.md); ``false`` keeps the whole pipeline on the GPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import ConfigError, RenderError, SpecError, WeightsNotFound
from media.images import fit_image
from tasks.render.animatic import backdrop, backdrop_key_fields
from tasks.render.request import IMAGE_FIRST_FRAME, ProgressFn, RenderRequest, image_digest

log = logging.getLogger(__name__)

VERSION = "svd-1"
EXTRA_HINT = "pip install 'content-factory[svd]'"
MIN_GPU_GB = 8.0  # with offload, forward chunking and decode chunks of 2 (wan22-image-models.md)


@dataclass(frozen=True)
class SVDSettings:
    """One clip's SVD settings: diffusers' defaults, the spec's values over them."""

    steps: int = 25
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 3.0


# What `content-factory generate --preset svd` makes when no size or length is asked for:
# SVD-XT's own 25 frames at 1024x576, played at 7 fps (its default fps conditioning).
DEFAULT_SIZE = (1024, 576)
DEFAULT_FRAMES = 25
DEFAULT_FPS = 7


def svd_offload(offload: bool | str) -> bool:
    """Model CPU offload for SVD: on for ``auto`` and true, off for false (the spellings the
    Wan2.2 pipeline's ``offload`` setting takes)."""
    from model.pipeline import RuntimeSettings

    return RuntimeSettings(offload=offload).offload_mode() != "never"


def require_diffusers() -> None:
    """ConfigError naming the extra when diffusers is not installed."""
    try:
        import diffusers  # noqa: F401
    except ImportError:
        raise ConfigError("the svd backend runs Stable Video Diffusion through diffusers, which "
                          f"is not installed: {EXTRA_HINT}") from None


def has_svd_weights(weights_dir: Path | None) -> bool:
    """True when ``weights_dir`` is a diffusers Stable Video Diffusion folder."""
    if weights_dir is None or not (Path(weights_dir) / "model_index.json").is_file():
        return False
    index = json.loads((Path(weights_dir) / "model_index.json").read_text())
    return index.get("_class_name") == "StableVideoDiffusionPipeline"


def conditioning_fps(native_frames: int, frames: int, fps: int) -> int:
    """The rate SVD's own frames play at once stretched over the shot (frames / fps seconds)."""
    return max(1, round(native_frames * fps / frames))


def retime(clip: list[np.ndarray], frames: int, fps: int) -> Iterator[np.ndarray]:
    """SVD's ``len(clip)`` frames spread over ``frames / fps`` seconds -> exactly ``frames``
    frames at ``fps``, in-betweens by motion-compensated interpolation."""
    from tasks.stabilize.interpolate import interpolate_fps

    if len(clip) == frames:
        yield from clip
        return
    fps_in = Fraction(len(clip) * fps, frames)
    count = 0
    last = clip[-1]
    for frame in interpolate_fps(clip, fps_in, fps):
        if count == frames:
            return
        last = frame
        count += 1
        yield frame
    for _ in range(frames - count):  # rounding of the rates: the last frame holds
        yield last


class SVDBackend:
    """Renders shots with Stable Video Diffusion (``RenderBackend``)."""

    name = "svd"
    image_role = IMAGE_FIRST_FRAME

    def __init__(self, *, weights_dir: Path | None, device: str = "auto", dtype: str = "auto",
                 offload: bool | str = "auto") -> None:
        require_diffusers()
        if weights_dir is None:
            raise ConfigError("the svd backend needs its weights: set svd_weights_dir "
                              "(FACTORY_SVD_WEIGHTS_DIR, or --weights) to a diffusers "
                              "stable-video-diffusion folder")
        self.weights_dir = Path(weights_dir)
        if not has_svd_weights(self.weights_dir):
            raise WeightsNotFound(f"{self.weights_dir} is not a diffusers Stable Video Diffusion "
                                  "folder (model_index.json of a StableVideoDiffusionPipeline)")
        self.device, self.dtype, self.offload = device, dtype, svd_offload(offload)

    def fingerprint(self) -> str:
        """SHA-256 of this backend's version and the weight files' names and sizes."""
        files = sorted((str(p.relative_to(self.weights_dir)), p.stat().st_size)
                       for p in self.weights_dir.rglob("*") if p.is_file())
        blob = json.dumps({"version": VERSION, "dtype": self.dtype, "weights": files}).encode()
        return hashlib.sha256(blob).hexdigest()

    def settings(self, request: RenderRequest) -> SVDSettings:
        """The request's motion settings and step count over SVD's defaults."""
        values = {k: v for k, v in request.motion.items() if v is not None}
        if request.sampling.get("steps") is not None:
            values["steps"] = request.sampling["steps"]
        unknown = set(values) - set(asdict(SVDSettings()))
        if unknown:
            raise ConfigError(f"svd settings {sorted(unknown)} unknown; known: "
                              f"{sorted(asdict(SVDSettings()))}")
        return replace(SVDSettings(), **values)

    def key_fields(self, request: RenderRequest) -> dict[str, Any]:
        """What decides SVD's pixels: the photo's bytes (or the backdrop it starts from), the
        seed, size, length and the SVD settings. SVD reads no text, so the prompt is not in it."""
        fields: dict[str, Any] = {"image": image_digest(request.image), "seed": request.seed,
                                  "width": request.width, "height": request.height,
                                  "frames": request.frames, "fps": request.fps,
                                  "svd": asdict(self.settings(request))}
        if request.image is None:
            fields.update(backdrop_key_fields(request))
        return fields

    def render(self, request: RenderRequest, *, on_progress: ProgressFn | None = None,
               details: dict[str, Any] | None = None) -> Iterator[np.ndarray]:
        """Yield ``request.frames`` uint8 [height, width, 3] frames; ``details`` then receives
        the denoising steps and the frames SVD made before re-timing (``svd_frames``)."""
        import torch
        from PIL import Image

        if request.width % 8 or request.height % 8:
            raise SpecError(f"{request.width}x{request.height}: SVD needs sides divisible by 8",
                            field="size")
        settings = self.settings(request)
        pipe = shared_svd_pipeline(self.weights_dir, self.device, self.dtype, self.offload)
        start = request.image if request.image is not None else backdrop(request)
        image = Image.fromarray(fit_image(start, request.width, request.height))
        native = int(pipe.unet.config.num_frames)

        def progress(pipeline, step: int, timestep, tensors: dict) -> dict:
            if on_progress is not None:
                on_progress(step + 1, settings.steps)
            return {}

        try:
            out = pipe(image, height=request.height, width=request.width, num_frames=native,
                       num_inference_steps=settings.steps,
                       fps=conditioning_fps(native, request.frames, request.fps),
                       motion_bucket_id=settings.motion_bucket_id,
                       noise_aug_strength=settings.noise_aug_strength,
                       min_guidance_scale=settings.min_guidance_scale,
                       max_guidance_scale=settings.max_guidance_scale,
                       decode_chunk_size=2 if self.offload else native,
                       generator=torch.Generator().manual_seed(request.seed),
                       output_type="np", callback_on_step_end=progress)
        except torch.OutOfMemoryError as exc:
            raise RenderError(f"CUDA out of memory in Stable Video Diffusion at "
                              f"{request.width}x{request.height}: keep offload on, lower the size, "
                              f"or free the GPU (SVD needs about {MIN_GPU_GB:g} GB)") from exc
        clip = [np.clip(np.round(f * 255.0), 0, 255).astype(np.uint8) for f in out.frames[0]]
        yield from retime(clip, request.frames, request.fps)
        if details is not None:
            details.update({"steps": settings.steps, "svd_frames": len(clip)})


# The process-wide pipeline, as for the Wan2.2 model: one entry, replaced when settings change.
_SHARED: dict[tuple, Any] = {}
_SHARED_LOCK = threading.Lock()


def shared_svd_pipeline(weights_dir: Path, device: str, dtype: str, offload: bool):
    """The process's StableVideoDiffusionPipeline for these settings, loaded on first use."""
    key = (str(weights_dir), device, dtype, offload)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED.clear()
            _SHARED[key] = load_svd_pipeline(weights_dir, device, dtype, offload)
        return _SHARED[key]


def load_svd_pipeline(weights_dir: Path, device: str, dtype: str, offload: bool):
    """diffusers' pipeline from a local folder (never the hub), placed and cast for ``device``."""
    import torch
    from diffusers import StableVideoDiffusionPipeline

    target = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                          else "cpu" if device == "auto" else device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    table = {"auto": torch.float16 if target.type == "cuda" else torch.float32,
             "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    if dtype not in table:
        raise ConfigError(f"dtype {dtype!r} unknown for svd; choose auto, fp16, bf16 or fp32")
    torch_dtype = table[dtype]
    variant = "fp16" if torch_dtype == torch.float16 \
        and any(".fp16." in p.name for p in Path(weights_dir).rglob("*")) else None
    pipe = StableVideoDiffusionPipeline.from_pretrained(
        str(weights_dir), torch_dtype=torch_dtype, variant=variant, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    if target.type == "cuda" and offload:
        pipe.enable_model_cpu_offload(device=target)
        pipe.unet.enable_forward_chunking()
    else:
        pipe.to(target)
    log.info("loaded Stable Video Diffusion from %s on %s (%s, offload %s)", weights_dir,
             target, torch_dtype, offload)
    return pipe
