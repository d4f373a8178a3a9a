"""The render stage: a shot's render from the template cache, made only on a miss."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from common.errors import RenderError
from media.video import FrameWriter
from storage.cache import CachedRender, TemplateCache
from tasks.render.request import ProgressFn, RenderBackend, RenderRequest
from tasks.report import RenderProgress, render_sheet_artifact


def render_to_file(backend: RenderBackend, request: RenderRequest, path: Path, *,
                   on_progress: ProgressFn | None = None,
                   details: dict[str, Any] | None = None) -> int:
    """Render one shot into a lossless file (bit-exact frames for the later stages).

    Returns the frame count; raises RenderError when the backend yields the wrong frames.
    ``details`` receives what the backend reports about the render (forwards, skipped ones).
    """
    with FrameWriter(path, fps=request.fps, size=(request.width, request.height),
                     lossless=True) as writer:
        for frame in backend.render(request, on_progress=on_progress, details=details):
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
    :class:`CachedRender` (local path, hit or not) with the backend's details of a render made
    now (empty for a hit).
    """
    details: dict[str, Any] = {}
    cached = cache.get_or_render(
        key, produce=lambda tmp: render_to_file(backend, request, tmp, on_progress=on_progress,
                                                details=details),
        request=backend.key_fields(request), backend=backend.name,
        fingerprint=backend.fingerprint(), template=template, pin=pin)
    return cached if cached.hit else replace(cached, details=details)


def render_totals(renders: Iterable[CachedRender]) -> dict[str, int]:
    """The numbers the renders made in this run report, summed (a cache hit adds nothing):
    e.g. ``forwards`` and ``forwards_skipped`` of the model, for the run's metrics."""
    totals: dict[str, int] = {}
    for render in renders:
        for name, value in render.details.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[name] = totals.get(name, 0) + value
    return totals


# Tagged so a task-run concurrency limit on `gpu-render` keeps one render per GPU. No Prefect
# result cache: the template cache is the shared, cross-worker memory of renders.
@task(name="render-shot", tags=["gpu-render"], cache_policy=NO_CACHE)
def render_shot_task(cache: TemplateCache, backend: RenderBackend, request: RenderRequest,
                     key: str, template: str | None = None, pin: bool = False,
                     shot: str = "") -> CachedRender:
    """The render, with a progress artifact moved at every step and its contact sheet."""
    progress = RenderProgress(shot or key[:12], key).start()
    cached = render_shot(cache, backend, request, key, template=template, pin=pin,
                         on_progress=progress)
    progress.finish("from the template cache" if cached.hit else "rendered")
    render_sheet_artifact(cached.path, shot or key[:12], key, hit=cached.hit)
    return cached
