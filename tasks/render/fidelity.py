"""First-frame fidelity: how much of the product photo survives into an image-to-video render.

The top complaint about image-to-video is a first frame that drifts from the photo (colours,
logo, shape). For every render of a shot with a photo, made by a backend that starts from the
photo (``image_role`` first_frame), the render's first frame is compared with the photo after the
same crop the model got (:func:`media.images.fit_image`): PSNR (dB) and SSIM. The run's metrics
keep them per shot (``first_frame``), so a drop shows in the run record.
"""

from __future__ import annotations

import logging
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from media.images import Fidelity, fit_image, frame_fidelity
from media.video import read_frames
from storage.cache import CachedRender
from tasks.render.request import IMAGE_FIRST_FRAME, RenderRequest

log = logging.getLogger(__name__)


def first_frame(path: Path):
    """The first frame of a video file, ``uint8 [H, W, 3]``."""
    frames = read_frames(path)
    try:
        return next(frames)
    finally:
        frames.close()


def first_frame_fidelity(render: Path, image: str | Path, width: int, height: int) -> Fidelity:
    """The render's first frame against ``image`` fitted to ``width`` x ``height``."""
    return frame_fidelity(first_frame(render), fit_image(image, width, height))


def shot_fidelities(requests: dict[str, RenderRequest], keys: dict[str, str],
                    renders: dict[str, CachedRender], image_role: str) -> dict[str, dict]:
    """{shot id: {"psnr", "ssim"}} for each shot with a photo, when the backend starts from it."""
    if image_role != IMAGE_FIRST_FRAME:
        return {}
    out = {}
    for shot_id, request in requests.items():
        if request.image:
            fidelity = first_frame_fidelity(renders[keys[shot_id]].path, request.image,
                                            request.width, request.height)
            out[shot_id] = fidelity.to_dict()
            log.info("shot %s: first frame vs photo PSNR %.2f dB, SSIM %.4f", shot_id,
                     fidelity.psnr, fidelity.ssim)
    return out


@task(name="first-frame-fidelity", cache_policy=NO_CACHE)
def first_frame_fidelity_task(requests: dict[str, RenderRequest], keys: dict[str, str],
                              renders: dict[str, CachedRender], image_role: str
                              ) -> dict[str, dict]:
    return shot_fidelities(requests, keys, renders, image_role)
