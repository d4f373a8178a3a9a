"""The ``model`` render backend: the Wan2.2 MoE text-to-video pipeline behind RenderBackend.

The pipeline is the process's shared one (:func:`model.pipeline.shared_pipeline`), so a worker
that renders many shots loads its weights once.
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
from tasks.render.request import ProgressFn, RenderRequest


def model_available(weights_dir: Path | None) -> bool:
    """True when ``weights_dir`` holds weights in a known layout and a CUDA device is present."""
    if weights_dir is None:
        return False
    weights_dir = Path(weights_dir)
    has_layout = (weights_dir / "transformer").is_dir() \
        or (weights_dir / "high_noise_model").is_dir()
    if not has_layout:
        return False
    import torch

    return torch.cuda.is_available()


class ModelBackend:
    """Renders shots with the MoE text-to-video model (``RenderBackend``)."""

    name = "model"

    def __init__(self, *, preset: str, weights_dir: Path | None, device: str = "auto",
                 dtype: str = "auto", offload: bool = True, compile: bool = False) -> None:
        from model.config import get_preset

        self.preset = get_preset(preset)  # fails fast on an unknown or unavailable preset
        self.weights_dir = Path(weights_dir) if weights_dir is not None else None
        self.device, self.dtype, self.offload, self.compile = device, dtype, offload, compile
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

    def sampling(self, request: RenderRequest):
        """The request's sampling settings, the preset's defaults filled in."""
        return self.preset.sampling.override(**request.sampling)

    def key_fields(self, request: RenderRequest) -> dict[str, Any]:
        """What decides the model's pixels: the prompts, seed, size, length and sampling.

        Titles, camera notes (already in the prompt), brand colours and image paths are not
        read by a text-to-video model, so they stay out of the key.
        """
        return {"prompt": request.prompt, "negative_prompt": request.negative_prompt,
                "seed": request.seed, "width": request.width, "height": request.height,
                "frames": request.frames, "fps": request.fps,
                "sampling": asdict(self.sampling(request))}

    def render(self, request: RenderRequest, *, on_progress: ProgressFn | None = None
               ) -> Iterator[np.ndarray]:
        """Yield ``request.frames`` uint8 [height, width, 3] frames."""
        from model.pipeline import GenerateRequest, RuntimeSettings, check_request, shared_pipeline

        check_request(request.width, request.height, request.frames)
        settings = RuntimeSettings(device=self.device, dtype=self.dtype, offload=self.offload,
                                   compile=self.compile)
        pipeline = shared_pipeline(self.preset.name, self.weights_dir, settings)
        generate = GenerateRequest(
            prompt=request.prompt, negative_prompt=request.negative_prompt, seed=request.seed,
            width=request.width, height=request.height, frames=request.frames,
            sampling=self.sampling(request))
        yield from pipeline.generate(generate, on_progress=on_progress)
