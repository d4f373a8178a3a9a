"""What a render is asked for, what a backend must do, and the key a render is cached under.

A :class:`RenderRequest` carries everything any backend might draw for one shot. Each backend
says which of those fields decide *its* pixels (:meth:`RenderBackend.key_fields`): the animatic
draws titles and brand colours, the model never sees them. The template-cache key
(:func:`render_key`) hashes exactly those fields, so a brand palette or a shot title never makes
the model render a shot it has rendered before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from model.config import LoraSettings

ProgressFn = Callable[[int, int], None]  # (step done, total steps)

# What a backend does with a shot's product photo (``RenderBackend.image_role``):
IMAGE_IGNORED = "ignored"          # a text-to-video model: the photo never reaches it
IMAGE_DRAWN = "drawn"              # the animatic draws it on the storyboard card
IMAGE_FIRST_FRAME = "first_frame"  # image-to-video: the clip starts from the photo


@dataclass(frozen=True)
class RenderRequest:
    """One shot's render, as the campaign asks for it."""

    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    frames: int  # 4n+1 at the model's fps
    fps: int
    # Overrides of the model preset's SamplingSettings (steps, shift, guidance_high,
    # guidance_low, sampler, step_cache, cache_threshold); a missing name means the preset's
    # default. "preset" names a sampling preset ("fast") to start from instead.
    sampling: dict[str, Any] = field(default_factory=dict)
    # LoRA files merged into the model's experts (absolute paths).
    loras: tuple[LoraSettings, ...] = ()
    # What the storyboard draws beyond the prompt; the text-to-video model ignores these.
    title: str = ""
    camera: str = "static"
    image: str | None = None  # product photo (a local file), if any: image-to-video starts there
    brand_colors: tuple[str, ...] = ()
    # Stable Video Diffusion's motion settings (motion_bucket_id, noise_aug_strength); a missing
    # name means the backend's default. Other backends ignore them.
    motion: dict[str, Any] = field(default_factory=dict)


class RenderBackend(Protocol):
    """What the campaign flow needs from a renderer."""

    name: str
    image_role: str  # IMAGE_IGNORED, IMAGE_DRAWN or IMAGE_FIRST_FRAME

    def fingerprint(self) -> str:
        """Identity of the renderer and its weights: renders from another fingerprint differ."""
        ...

    def key_fields(self, request: RenderRequest) -> dict[str, Any]:
        """Exactly the inputs that decide this backend's pixels for ``request`` (JSON values)."""
        ...

    def render(self, request: RenderRequest, *, on_progress: ProgressFn | None = None,
               details: dict[str, Any] | None = None) -> Iterator[np.ndarray]:
        """Yield ``request.frames`` frames, each ``uint8 [height, width, 3]``.

        ``details``, when given, receives what the render did (JSON values; the model backend:
        steps, DiT forwards and the forwards its step cache skipped) once the last frame is out.
        """
        ...


def image_digest(path: str | None) -> str | None:
    """SHA-256 of an image file: its bytes decide the pixels, not its path."""
    if not path:
        return None
    image = Path(path)
    return hashlib.sha256(image.read_bytes()).hexdigest() if image.is_file() else path


def render_key(backend: RenderBackend, request: RenderRequest) -> str:
    """SHA-256 over the backend, its fingerprint and its key fields: the template-cache key."""
    payload = {"backend": backend.name, "fingerprint": backend.fingerprint(),
               **backend.key_fields(request)}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=list).encode()
    return hashlib.sha256(blob).hexdigest()
