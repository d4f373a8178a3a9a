"""The render stage: a shot's render from the template cache, made only on a miss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from common.errors import RenderError
from media.video import FrameWriter
from storage.cache import CachedRender, TemplateCache
from tasks.render.request import ProgressFn, RenderBackend, RenderRequest


def render_to_file(backend: RenderBackend, request: RenderRequest, path: Path, *,
                   on_progress: ProgressFn | None = None) -> int:
    """Render one shot into a lossless file (bit-exact frames for the later stages).

    Returns the frame count; raises RenderError when the backend yields the wrong frames.
    """
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


def render_shot(cache: TemplateCache, backend: RenderBackend, request: RenderRequest, key: str,
                *, template: str | None = None, pin: bool = False,
                on_progress: ProgressFn | None = None) -> CachedRender:
    """The shot's render from the template cache, rendering it only on a miss.

    Several workers asking for the same key render it once. Returns the cache's
    :class:`CachedRender` (local path, hit or not).
    """
    return cache.get_or_render(
        key, produce=lambda tmp: render_to_file(backend, request, tmp, on_progress=on_progress),
        request=backend.key_fields(request), backend=backend.name,
        fingerprint=backend.fingerprint(), template=template, pin=pin)


# Tagged so a task-run concurrency limit on `gpu-render` keeps one render per GPU. No Prefect
# result cache: the template cache is the shared, cross-worker memory of renders.
@task(name="render-shot", tags=["gpu-render"], cache_policy=NO_CACHE)
def render_shot_task(cache: TemplateCache, backend: RenderBackend, request: RenderRequest,
                     key: str, template: str | None = None, pin: bool = False) -> CachedRender:
    return render_shot(cache, backend, request, key, template=template, pin=pin)
