"""The fast path for the shake warp: frames kept in the video's own yuv420p from decoder to encoder.

When a clip only needs its shake removed (no flicker gains per RGB channel, no interpolation),
converting every frame to RGB and back buys nothing. Kept in yuv420p, a 720p frame is 1.4 MB
instead of 2.8 MB through each pipe, ffmpeg skips two colour conversions, and the warp handles
1.5 bytes per pixel instead of 3 (the two chroma planes at half size). Decoding and encoding
go through ``media.video`` with ``pix_fmt="yuv420p"``; this module holds only the warp.

A frame here is a flat ``uint8 [W * H * 3 / 2]`` array in I420 layout: Y (H x W), then U and V
(H/2 x W/2 each).
"""

from __future__ import annotations

import cv2
import numpy as np


def planes(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views ``(Y [H, W], U [H/2, W/2], V [H/2, W/2])`` into a flat I420 frame."""
    w, h = size
    luma, chroma = w * h, (w // 2) * (h // 2)
    return (frame[:luma].reshape(h, w),
            frame[luma:luma + chroma].reshape(h // 2, w // 2),
            frame[luma + chroma:luma + 2 * chroma].reshape(h // 2, w // 2))


def chroma_matrix(matrix: np.ndarray) -> np.ndarray:
    """The ``[2, 3]`` luma-plane affine as it acts on the half-size chroma planes.

    Chroma pixel ``i`` sits at luma coordinate ``2 i + 0.5`` (centred siting; H.264's default
    left siting differs by a quarter chroma pixel horizontally, which no one can see).
    """
    to_chroma = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1]])
    return (to_chroma @ np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(to_chroma))[:2]


def warp_i420(frame: np.ndarray, matrix: np.ndarray, size: tuple[int, int],
              out: np.ndarray | None = None) -> np.ndarray:
    """Warp a flat I420 frame by the ``[2, 3]`` input -> output affine of its luma plane."""
    w, h = size
    out = np.empty_like(frame) if out is None else out
    chroma = chroma_matrix(matrix)
    for src, dst, m, plane_size in zip(planes(frame, size), planes(out, size),
                                       (matrix, chroma, chroma),
                                       ((w, h), (w // 2, h // 2), (w // 2, h // 2))):
        cv2.warpAffine(src, m, plane_size, dst=dst, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return out
