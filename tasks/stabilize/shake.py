"""Camera shake: smooth the camera path and warp each frame onto it, with the least crop.

Two passes over the frames. The first measures the motion between consecutive frames
(:mod:`tasks.stabilize.motion`) and integrates it into a camera path; the path is smoothed
shot by shot with vid.stab's Gaussian (``radius`` frames either side), and frame ``i`` is
corrected by ``smoothed[i] - raw[i]`` (docs/reference/platform-facts.md). One zoom for the whole clip is then
the least that keeps every corrected frame's borders out of view; a zoom that changed over time
would breathe. The second pass warps each frame with one ``cv2.warpAffine``.

Why two passes and not a lookahead window: the least crop depends on the largest correction
anywhere in the clip, so it is only known once the whole path is; so is whether the clip
shakes at all (a steady clip must come back untouched). Holding the path costs a few numbers
per frame, and the first pass reads scaled-down frames (cheap), so the frames held in memory
stay bounded by the prefetch depth whatever the clip's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from common.errors import ConfigError
from tasks.stabilize.analysis import ClipAnalysis, analyse_frames
from tasks.stabilize.metrics import jitter
from tasks.stabilize.motion import MotionOptions
from tasks.stabilize.smoothing import smooth_gaussian


@dataclass(frozen=True)
class ShakeOptions:
    """How shake is judged and removed."""

    radius: int = 15          # frames either side; vid.stab's default bench setting is 15 too
    min_jitter: float = 0.5   # px RMS: a clip shaking less than this is left untouched
    max_crop: float = 0.2     # never crop more than this share of the width (and height)
    smooth_zoom: bool = True  # also steady zoom jitter (a deliberate zoom is low-frequency)
    ends: str = "truncate"    # see smoothing.smooth_gaussian: "truncate" (vid.stab) or "line"
    motion: MotionOptions = field(default_factory=MotionOptions)


@dataclass(frozen=True)
class ShakePlan:
    """What the warp pass does to each frame of a clip of ``size = (w, h)``.

    ``corrections`` is ``[N, 4]``: (dx, dy, angle, log zoom) to apply about the frame centre;
    ``zoom`` >= 1 is the crop zoom shared by all frames. ``apply`` is False when the clip's
    measured ``jitter`` (px) is under the threshold: then no frame is touched.
    """

    size: tuple[int, int]
    corrections: np.ndarray
    zoom: float
    jitter: float
    apply: bool

    @property
    def frames(self) -> int:
        return len(self.corrections)

    def matrix(self, index: int) -> np.ndarray:
        """``[2, 3]`` affine taking frame ``index``'s pixels to the output frame's."""
        return _matrices(self.corrections[index:index + 1], self.zoom, self.size)[0]

    def matrices(self) -> np.ndarray:
        """``[N, 2, 3]`` all frames' affine transforms (input -> output)."""
        return _matrices(self.corrections, self.zoom, self.size)


def _centre(size: tuple[int, int]) -> np.ndarray:
    # OpenCV puts pixel centres on integers, so the frame spans [0, w - 1] x [0, h - 1].
    return np.array([(size[0] - 1) / 2.0, (size[1] - 1) / 2.0])


def _linear(corrections: np.ndarray) -> np.ndarray:
    """``[N, 4]`` corrections -> ``[N, 2, 2]`` their rotation-and-zoom parts."""
    scale = np.exp(corrections[:, 3])
    cos, sin = scale * np.cos(corrections[:, 2]), scale * np.sin(corrections[:, 2])
    return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)


def _matrices(corrections: np.ndarray, zoom: float, size: tuple[int, int]) -> np.ndarray:
    """x_out - c = zoom * (S (x_in - c) + t)  ->  ``[N, 2, 3]`` [zoom S | c + zoom t - zoom S c]."""
    c = _centre(size)
    linear = zoom * _linear(corrections)                       # [N, 2, 2]
    offset = c + zoom * corrections[:, :2] - linear @ c        # [N, 2]
    return np.concatenate([linear, offset[:, :, None]], axis=2)


def _largest_view(corrections: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[N]``: for each frame, the largest 1/zoom (<= 1) at which its corrected frame still
    covers the whole output; 0 where no zoom can (the correction moves it out of view).

    With k = 1/zoom, output corner q maps back to x_in - c = S^-1 (k q - t); every coordinate
    must stay within the half extent h. That is |a k + b| <= h per corner and axis, linear in
    k, so each gives k <= (h - sign(a) b) / |a| and the frame's answer is the smallest.
    """
    half = _centre(size)                                                # [2] half extents
    inverse = np.linalg.inv(_linear(corrections))                       # [N, 2, 2]
    corners = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]]) * half     # [4, 2]
    a = np.einsum("nij,cj->nci", inverse, corners)                      # [N, 4, 2]
    b = -np.einsum("nij,nj->ni", inverse, corrections[:, :2])[:, None]  # [N, 1, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(np.abs(a) > 1e-12, (half - np.sign(a) * b) / np.abs(a), np.inf)
    k = np.minimum(1.0, bound.reshape(len(corrections), -1).min(axis=1))
    outside = (np.abs(b[:, 0]) > half).any(axis=1)
    return np.where(outside, 0.0, np.maximum(k, 0.0))


def plan_shake(analysis: ClipAnalysis, options: ShakeOptions = ShakeOptions()) -> ShakePlan:
    """Decide the per-frame corrections and the crop zoom for an analysed clip."""
    size = (analysis.width, analysis.height)
    measured = jitter(analysis, options.radius)
    n = analysis.frames
    if measured < options.min_jitter or n < 3:
        return ShakePlan(size=size, corrections=np.zeros((n, 4)), zoom=1.0, jitter=measured,
                         apply=False)
    path = analysis.path
    corrections = smooth_gaussian(path, analysis.shots, options.radius, ends=options.ends) - path
    if not options.smooth_zoom:
        corrections[:, 3] = 0.0
    corrections = _limit(corrections, size, 1.0 - options.max_crop)
    zoom = 1.0 / max(float(_largest_view(corrections, size).min()), 1e-6)
    return ShakePlan(size=size, corrections=corrections, zoom=zoom, jitter=measured, apply=True)


def _limit(corrections: np.ndarray, size: tuple[int, int], min_view: float) -> np.ndarray:
    """Shrink the corrections of frames that would need more than ``max_crop``.

    Such frames keep part of their shake (the largest share of the correction that fits,
    found by bisection) rather than forcing a large crop on the whole clip.
    """
    view = _largest_view(corrections, size)
    over = np.flatnonzero(view < min_view)
    if not len(over):
        return corrections
    corrections = corrections.copy()
    for i in over:
        lo, hi = 0.0, 1.0  # share of the correction kept
        for _ in range(20):
            mid = 0.5 * (lo + hi)
            if _largest_view(corrections[i:i + 1] * mid, size)[0] >= min_view:
                lo = mid
            else:
                hi = mid
        corrections[i] *= lo
    return corrections


def warp_frame(frame: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp one ``uint8 [H, W, 3]`` frame by the ``[2, 3]`` input -> output affine."""
    h, w = frame.shape[:2]
    # Replicate, not black: the crop keeps borders out of view, up to rounding at the edge.
    return cv2.warpAffine(frame, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def stabilize_frames(frames: Iterable[np.ndarray], *,
                     options: ShakeOptions = ShakeOptions()) -> Iterator[np.ndarray]:
    """Remove camera shake from ``uint8 [H, W, 3]`` RGB frames; yields frames of the same size.

    ``frames`` is read twice (measure, then warp), so it must be re-iterable: a list, an
    array ``[N, H, W, 3]`` or an object whose ``__iter__`` opens the clip again (for a file,
    :class:`tasks.stabilize.ClipFrames`). A clip whose jitter is under ``options.min_jitter``
    comes back as the very same frames.
    """
    if iter(frames) is frames:
        raise ConfigError(
            "stabilize_frames reads the frames twice (camera path first, then the warp with the "
            "least crop): pass a list or ClipFrames(path), not a one-shot iterator")
    analysis = analyse_frames(frames, options.motion)
    plan = plan_shake(analysis, options)
    if not plan.apply:
        yield from frames
        return
    matrices = plan.matrices()
    for index, frame in enumerate(frames):
        if index >= len(matrices):
            raise ConfigError(f"stabilize_frames: the frames changed between passes "
                              f"(more than the {len(matrices)} measured)")
        yield warp_frame(frame, matrices[index])
