"""The ``model`` render backend: the Wan2.2 pipeline (any preset) behind RenderBackend.

Text-to-video presets never see a shot's photo (the plan refuses such shots unless the spec says
to ignore photos). Image-conditioned presets start the clip from it: TI2V-5B renders a shot
without a photo from its text alone; I2V-A14B, which always needs a picture, starts such a shot
from its storyboard backdrop (brand colours, no text).

The pipeline is the process's shared one (:func:`model.pipeline.shared_pipeline`), so a worker
that renders many shots loads its weights once; a request with other LoRAs replaces it. One render
runs at a time per process (``model.pipeline.RENDER_LOCK``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import RenderError
from model.config import LoraSettings
from storage.objects import sha256_file
from tasks.render.animatic import backdrop, backdrop_key_fields
from tasks.render.request import (
    IMAGE_FIRST_FRAME,
    IMAGE_IGNORED,
    ProgressFn,
    RenderRequest,
    image_digest,
)


def has_model_weights(weights_dir: Path | None) -> bool:
    """True when ``weights_dir`` holds Wan2.2 weights in a known layout."""
    if weights_dir is None or not Path(weights_dir).is_dir():
        return False
    from common.errors import WeightsNotFound
    from model.loader import detect_layout

    try:
        detect_layout(Path(weights_dir))
    except WeightsNotFound:
        return False
    return True

_LORA_DIGESTS: dict[tuple[str, int, int], str] = {}


def lora_digest(path: str | Path) -> str:
    """SHA-256 of a LoRA file's bytes (its content decides the pixels, not its path); hashed
    once per process per (path, size, mtime)."""
    path = Path(path)
    if not path.is_file():
        raise RenderError(f"LoRA file {path} does not exist (model.loras)")
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _LORA_DIGESTS:
        _LORA_DIGESTS[key] = sha256_file(path)
    return _LORA_DIGESTS[key]


def lora_key_fields(loras: tuple[LoraSettings, ...]) -> list[dict[str, Any]]:
    """Each LoRA by content digest, strength and experts, in the order they are merged."""
    return [{"sha256": lora_digest(lora.path), "strength": lora.strength,
             "experts": list(lora.experts)} for lora in loras]


def model_available(weights_dir: Path | None) -> bool:
    """True when ``weights_dir`` holds weights in a known layout and a CUDA device is present."""
    if not has_model_weights(weights_dir):
        return False
    import torch

    return torch.cuda.is_available()


class ModelBackend:
    """Renders shots with a Wan2.2 model preset (``RenderBackend``)."""

    name = "model"

    def __init__(self, *, preset: str, weights_dir: Path | None, device: str = "auto",
                 dtype: str = "auto", offload: bool | str = "auto", compile: bool = False,
                 lora_mode: str = "merge") -> None:
        from model.config import get_preset

        self.preset = get_preset(preset)  # fails fast on an unknown or unavailable preset
        self.weights_dir = Path(weights_dir) if weights_dir is not None else None
        self.device, self.dtype, self.offload, self.compile = device, dtype, offload, compile
        self.lora_mode = lora_mode
        if self.weights_dir is None and self.preset.random_init_seed is None:
            raise RenderError(f"preset {preset!r} needs a weights folder: pass weights_dir "
                              "(--weights DIR) pointing at the downloaded model")
        if self.weights_dir is not None and not self.weights_dir.is_dir():
            raise RenderError(f"weights folder {self.weights_dir} does not exist")

    def fingerprint(self) -> str:
        """SHA-256 of the preset's config and the weight files' names and sizes (no hashing of
        the weights themselves, so this is cheap)."""
        from model.loader import weights_fingerprint_files

        payload = {"preset": asdict(self.preset), "dtype": self.dtype,
                   "weights": weights_fingerprint_files(self.weights_dir)
                   if self.weights_dir is not None else f"random:{self.preset.random_init_seed}"}
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=list).encode()
        return hashlib.sha256(blob).hexdigest()

    @property
    def image_role(self) -> str:
        return IMAGE_FIRST_FRAME if self.preset.image_conditioning else IMAGE_IGNORED

    def sampling(self, request: RenderRequest):
        """The request's sampling settings: the preset's defaults (or the named sampling preset,
        ``fast``), then the request's overrides."""
        from model.config import sampling_settings

        values = dict(request.sampling)
        return sampling_settings(self.preset.sampling, values.pop("preset", None), **values)

    def key_fields(self, request: RenderRequest) -> dict[str, Any]:
        """What decides the model's pixels: the prompts, seed, size, length, sampling, the LoRAs
        (by content, strength and experts), and for an image-conditioned preset the photo's
        bytes (or, for I2V without a photo, what its backdrop is drawn from).

        Titles, camera notes (already in the prompt) and brand colours are not read by the
        model, so they stay out of the key; so does the photo of a text-to-video preset.
        """
        fields = {"prompt": request.prompt, "negative_prompt": request.negative_prompt,
                  "seed": request.seed, "width": request.width, "height": request.height,
                  "frames": request.frames, "fps": request.fps,
                  "sampling": asdict(self.sampling(request)),
                  "loras": lora_key_fields(request.loras)}
        if self.preset.image_conditioning:
            fields["image"] = image_digest(request.image)
            if request.image is None and self.preset.needs_image:
                fields.update(backdrop_key_fields(request))
        return fields

    def start_image(self, request: RenderRequest):
        """The picture the clip starts from: the photo, I2V's backdrop without one, or None."""
        if not self.preset.image_conditioning:
            return None
        if request.image is None:
            return backdrop(request) if self.preset.needs_image else None
        return request.image

    def render(self, request: RenderRequest, *, on_progress: ProgressFn | None = None,
               details: dict[str, Any] | None = None) -> Iterator[np.ndarray]:
        """Yield ``request.frames`` uint8 [height, width, 3] frames; ``details`` then receives
        the steps, DiT forwards and the forwards the step cache skipped."""
        from model.pipeline import (
            RENDER_LOCK,
            GenerateRequest,
            RuntimeSettings,
            check_request,
            shared_pipeline,
        )
        from model.sampler import DenoiseStats

        preset = self.preset
        check_request(request.width, request.height, request.frames,
                      multiple=preset.vae.spatial_factor * preset.dit.patch_size[1])
        settings = RuntimeSettings(device=self.device, dtype=self.dtype, offload=self.offload,
                                   compile=self.compile, lora_mode=self.lora_mode)
        generate = GenerateRequest(
            prompt=request.prompt, negative_prompt=request.negative_prompt, seed=request.seed,
            width=request.width, height=request.height, frames=request.frames,
            sampling=self.sampling(request), image=self.start_image(request))
        stats = DenoiseStats()
        with RENDER_LOCK:  # the pipeline is not replaced between choosing and using it
            pipeline = shared_pipeline(self.preset.name, self.weights_dir, settings,
                                       loras=request.loras)
            yield from pipeline.generate(generate, on_progress=on_progress, stats=stats)
        if details is not None:
            details.update(stats.as_dict())
