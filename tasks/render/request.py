"""Rendering backends: one interface, a CPU storyboard backend and the MoE model backend.

A backend turns a :class:`RenderRequest` (everything that decides a shot's pixels) into frames.
``animatic`` draws each shot as a storyboard clip on the CPU so the whole pipeline can be
reviewed without a GPU; ``model`` runs the Wan2.2-style text-to-video model (``tasks.render_model``).
``auto`` picks the model when weights and CUDA are there, else ``animatic``, and logs which.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]  # (step done, total steps)


@dataclass(frozen=True)
class RenderRequest:
    """Everything that decides the pixels of one shot render (and so its cache key)."""

    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    frames: int  # 4n+1 at the model's fps
    fps: int
    steps: int = 40
    guidance_high: float = 4.0  # high-noise expert (early steps)
    guidance_low: float = 3.0   # low-noise expert (late steps)
    shift: float = 12.0
    sampler: str = "unipc"
    # Storyboard-only inputs: ignored by the model, drawn by the animatic.
    title: str = ""
    camera: str = "static"
    image: str | None = None  # product image path, if any
    brand_colors: tuple[str, ...] = field(default_factory=tuple)

    def key_fields(self) -> dict:
        return asdict(self)


class RenderBackend(Protocol):
    """What the campaign flow needs from a renderer."""

    name: str

    def fingerprint(self) -> str:
        """Identity of the model and its weights: renders from another fingerprint differ."""
        ...

    def render(self, request: RenderRequest, *, on_progress: ProgressFn | None = None
               ) -> Iterator[np.ndarray]:
        """Yield ``request.frames`` frames, each ``uint8 [height, width, 3]``."""
        ...


def render_key(request: RenderRequest, backend_fingerprint: str, backend_name: str) -> str:
    """SHA-256 over everything that decides a render's pixels (the template-cache key)."""
    payload = {"backend": backend_name, "fingerprint": backend_fingerprint,
               **request.key_fields()}
    if request.image:
        image = Path(request.image)
        # The product image's bytes decide the pixels, not its path.
        payload["image"] = hashlib.sha256(image.read_bytes()).hexdigest() if image.is_file() \
            else request.image
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=list).encode()
    return hashlib.sha256(blob).hexdigest()


def select_backend(name: str, *, preset: str = "t2v-a14b", weights_dir: Path | None = None,
                   device: str = "auto", dtype: str = "auto", offload: bool = True,
                   compile: bool = False) -> RenderBackend:
    """The backend called ``name``; ``auto`` is the model when weights and CUDA exist."""
    from tasks.animatic import AnimaticBackend

    if name == "animatic":
        return AnimaticBackend()
    if name not in ("auto", "model"):
        from common.errors import ConfigError

        raise ConfigError(f"backend {name!r}: choose auto, animatic or model")
    from tasks.render_model import ModelBackend, model_available

    if name == "auto" and not model_available(weights_dir):
        log.warning("backend auto: no model weights at %s or no CUDA device; rendering "
                    "storyboard animatics on the CPU instead", weights_dir or "(weights_dir unset)")
        return AnimaticBackend()
    if name == "auto":
        log.info("backend auto: rendering with the %s model from %s", preset, weights_dir)
    return ModelBackend(preset=preset, weights_dir=weights_dir, device=device, dtype=dtype,
                        offload=offload, compile=compile)


def render_to_file(backend: RenderBackend, request: RenderRequest, path: Path, *,
                   on_progress: ProgressFn | None = None) -> int:
    """Render one shot into a lossless file (bit-exact frames for the later stages).

    Returns the frame count; raises RenderError when the backend yields the wrong frames.
    """
    from common.errors import RenderError
    from tasks.video import FrameWriter

    with FrameWriter(path, fps=request.fps, size=(request.width, request.height),
                     lossless=True) as writer:
        for frame in backend.render(request, on_progress=on_progress):
            if frame.shape != (request.height, request.width, 3) or frame.dtype != np.uint8:
                raise RenderError(f"backend {backend.name} yielded a {frame.shape} {frame.dtype} "
                                  f"frame for a {request.width}x{request.height} render")
            writer.write(frame)
    if writer.frames_written != request.frames:
        raise RenderError(f"backend {backend.name} yielded {writer.frames_written} frames, "
                          f"{request.frames} were asked for")
    return writer.frames_written


def render_shot(cache, backend: RenderBackend, request: RenderRequest, key: str, *,
                template: str | None = None, pin: bool = False,
                on_progress: ProgressFn | None = None):
    """The shot's render from the template cache, rendering it only on a miss.

    ``cache`` is a :class:`storage.cache.TemplateCache`; several workers asking for the same
    key render it once. Returns the cache's ``CachedRender`` (local path, hit or not).
    """
    return cache.get_or_render(
        key, produce=lambda tmp: render_to_file(backend, request, tmp, on_progress=on_progress),
        request=request.key_fields(), backend=backend.name, fingerprint=backend.fingerprint(),
        template=template, pin=pin)


# Tagged so a task-run concurrency limit on `gpu-render` keeps one render per GPU. No Prefect
# result cache: the template cache is the shared, cross-worker memory of renders.
@task(name="render-shot", tags=["gpu-render"], cache_policy=NO_CACHE)
def render_shot_task(cache, backend: RenderBackend, request: RenderRequest, key: str,
                     template: str | None = None, pin: bool = False):
    return render_shot(cache, backend, request, key, template=template, pin=pin)
