"""Rendering a shot: the request, the backends, and choosing one.

    RenderRequest, RenderBackend, render_key      request.py: what is asked, the key it is cached
    under
    AnimaticBackend                               animatic.py: a storyboard drawn on the CPU
    ModelBackend                                  model.py: a Wan2.2 model (t2v-a14b, ti2v-5b,
                                                  i2v-a14b)
    SVDBackend                                    svd.py: Stable Video Diffusion (optional extra)
    render_shot, render_to_file                   stage.py: through the template cache, into a file
    first_frame_fidelity                          fidelity.py: a render's first frame against
                                                  its photo

``select_backend("auto")`` picks by free GPU memory: the Wan2.2 model when its weights are there
and the GPU has the memory its preset needs, else Stable Video Diffusion when its weights are
there and the GPU has 8 GB, else the animatic; it logs which and why. Importing this package does
not import Prefect or torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

from common.errors import ConfigError
from tasks.render.request import (
    IMAGE_DRAWN,
    IMAGE_FIRST_FRAME,
    IMAGE_IGNORED,
    ProgressFn,
    RenderBackend,
    RenderRequest,
    image_digest,
    render_key,
)

__all__ = ["BACKENDS", "IMAGE_DRAWN", "IMAGE_FIRST_FRAME", "IMAGE_IGNORED", "ProgressFn",
           "RenderBackend", "RenderRequest", "free_gpu_gb", "image_digest", "render_key",
           "select_backend"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "animatic", "model", "svd")


def free_gpu_gb() -> float | None:
    """Free memory of the current CUDA device in GB, or None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info()
    return free / 1e9


def select_backend(name: str, *, preset: str = "t2v-a14b", weights_dir: Path | None = None,
                   svd_weights_dir: Path | None = None, device: str = "auto",
                   dtype: str = "auto", offload: bool | str = "auto", compile: bool = False,
                   lora_mode: str = "merge") -> RenderBackend:
    """The backend called ``name``; ``auto`` chooses by the weights present and free GPU memory."""
    from tasks.render.animatic import AnimaticBackend

    if name not in BACKENDS:
        raise ConfigError(f"backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if name == "auto":
        name = choose_backend(preset, weights_dir, svd_weights_dir)
    if name == "animatic":
        return AnimaticBackend()
    if name == "svd":
        from tasks.render.svd import SVDBackend

        return SVDBackend(weights_dir=svd_weights_dir, device=device, dtype=dtype,
                          offload=offload)
    from tasks.render.model import ModelBackend

    return ModelBackend(preset=preset, weights_dir=weights_dir, device=device, dtype=dtype,
                        offload=offload, compile=compile, lora_mode=lora_mode)


def choose_backend(preset: str, weights_dir: Path | None, svd_weights_dir: Path | None) -> str:
    """``auto``: the Wan2.2 model when its weights are present and the GPU has the memory its
    preset needs (``ModelPreset.min_gpu_gb``), else SVD when its weights are present and the GPU
    has ``svd.MIN_GPU_GB``, else the animatic. Logs the choice and the reason."""
    from model.config import get_preset
    from tasks.render.model import has_model_weights
    from tasks.render.svd import MIN_GPU_GB, has_svd_weights

    config = get_preset(preset)
    wan = has_model_weights(weights_dir)
    svd = has_svd_weights(svd_weights_dir)
    free = free_gpu_gb() if wan or svd else None
    if wan and free is not None and free >= config.min_gpu_gb:
        log.info("backend auto: the %s model from %s (%.1f GB free on the GPU, it needs %g GB)",
                 preset, weights_dir, free, config.min_gpu_gb)
        return "model"
    why_not_wan = (f"no model weights at {weights_dir or '(weights_dir unset)'}" if not wan
                   else f"no CUDA device for the model at {weights_dir}" if free is None
                   else f"{free:.1f} GB free on the GPU, {preset} needs {config.min_gpu_gb:g} GB")
    if svd and free is not None and free >= MIN_GPU_GB:
        log.warning("backend auto: Stable Video Diffusion from %s (%s; it needs %g GB)",
                    svd_weights_dir, why_not_wan, MIN_GPU_GB)
        return "svd"
    why_not_svd = ("no SVD weights" if not svd
                   else f"no CUDA device for SVD at {svd_weights_dir}" if free is None
                   else f"{free:.1f} GB free is under SVD's {MIN_GPU_GB:g} GB")
    log.warning("backend auto: %s and %s; rendering storyboard animatics on the CPU instead",
                why_not_wan, why_not_svd)
    return "animatic"
