"""The ``model`` render backend: the Wan2.2-style MoE text-to-video pipeline behind RenderBackend.

The pipeline is loaded once per process and kept in a module-level cache keyed by its settings
(preset, weights folder, device, dtype, offload, compile), so a worker that renders many shots
loads its weights once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from common.errors import RenderError
from tasks.render import ProgressFn, RenderRequest

log = logging.getLogger(__name__)

_PIPELINES: dict[tuple, object] = {}
_LOCK = threading.Lock()


def model_available(weights_dir: Path | None) -> bool:
    """True when ``weights_dir`` holds weights in a known layout and a CUDA device is present."""
    if weights_dir is None:
        return False
    weights_dir = Path(weights_dir)
    has_layout = (weights_dir / "transformer").is_dir() or (weights_dir / "high_noise_model").is_dir()
    if not has_layout:
        return False
    import torch

    return torch.cuda.is_available()


def _load_pipeline(preset: str, weights_dir: Path | None, device: str, dtype: str, offload: bool,
                   compile: bool):
    """The process-wide pipeline for these settings (loaded on first use)."""
    from model.config import get_preset
    from model.pipeline import RuntimeSettings, WanT2VPipeline

    key = (preset, str(weights_dir) if weights_dir else None, device, dtype, offload, compile)
    with _LOCK:
        if key not in _PIPELINES:
            config = get_preset(preset)
            settings = RuntimeSettings(device=device, dtype=dtype, offload=offload, compile=compile)
            if weights_dir is not None:
                pipeline = WanT2VPipeline.load(config, Path(weights_dir), settings)
            elif config.random_init_seed is not None:
                pipeline = WanT2VPipeline.random(config, settings, seed=config.random_init_seed)
            else:
                raise RenderError(f"preset {preset!r} needs a weights folder: pass weights_dir "
                                  "(--weights DIR) pointing at the downloaded model")
            _PIPELINES[key] = pipeline
        return _PIPELINES[key]


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

    def render(self, request: RenderRequest, *, on_progress: ProgressFn | None = None
               ) -> Iterator[np.ndarray]:
        """Yield ``request.frames`` uint8 [height, width, 3] frames."""
        from model.pipeline import GenerateRequest, check_request

        check_request(request.width, request.height, request.frames)
        pipeline = _load_pipeline(self.preset.name, self.weights_dir, self.device, self.dtype,
                                  self.offload, self.compile)
        generate = GenerateRequest(
            prompt=request.prompt, negative_prompt=request.negative_prompt, seed=request.seed,
            width=request.width, height=request.height, frames=request.frames,
            steps=request.steps, guidance_high=request.guidance_high,
            guidance_low=request.guidance_low, shift=request.shift, sampler=request.sampler)
        yield from pipeline.generate(generate, on_progress=on_progress)
