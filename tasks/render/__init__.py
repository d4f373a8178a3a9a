"""Rendering a shot: the request, the backends, and choosing one.

    RenderRequest, RenderBackend, render_key      request.py: what is asked, the key it is cached
    under
    AnimaticBackend                               animatic.py: a storyboard drawn on the CPU
    ModelBackend                                  model.py: the Wan2.2 MoE text-to-video model
    render_shot, render_to_file                   stage.py: through the template cache, into a file

``select_backend("auto")`` picks the model when weights and CUDA exist, else the animatic, and
logs which. Importing this package does not import Prefect or torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

from common.errors import ConfigError
from tasks.render.request import ProgressFn, RenderBackend, RenderRequest, image_digest, render_key

__all__ = ["BACKENDS", "ProgressFn", "RenderBackend", "RenderRequest", "image_digest",
           "render_key", "select_backend"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "animatic", "model")


def select_backend(name: str, *, preset: str = "t2v-a14b", weights_dir: Path | None = None,
                   device: str = "auto", dtype: str = "auto", offload: bool | str = "auto",
                   compile: bool = False, lora_mode: str = "merge") -> RenderBackend:
    """The backend called ``name``; ``auto`` is the model when weights and CUDA exist."""
    from tasks.render.animatic import AnimaticBackend

    if name == "animatic":
        return AnimaticBackend()
    if name not in BACKENDS:
        raise ConfigError(f"backend {name!r}: choose one of {', '.join(BACKENDS)}")
    from tasks.render.model import ModelBackend, model_available

    if name == "auto" and not model_available(weights_dir):
        log.warning("backend auto: no model weights at %s or no CUDA device; rendering "
                    "storyboard animatics on the CPU instead", weights_dir or "(weights_dir unset)")
        return AnimaticBackend()
    if name == "auto":
        log.info("backend auto: rendering with the %s model from %s", preset, weights_dir)
    return ModelBackend(preset=preset, weights_dir=weights_dir, device=device, dtype=dtype,
                        offload=offload, compile=compile, lora_mode=lora_mode)
