"""Derived formats: a 1:1 or 4:5 clip cropped from a rendered 9:16 or 16:9 master, the crop
window following the subject.

    subject_centres(frames)   per frame, where the subject is: motion-weighted saliency (the
                              frame difference weighted by the spectral-residual saliency
                              map; saliency alone on a still frame), its weighted centroid
    smooth_path(centres)      the crop centre over time: a critically damped follow (a
                              second-order low-pass, run forwards and then backwards so it
                              does not lag), clamped so the window stays in the frame; its
                              acceleration is bounded (no jitter)
    reframe(src, dst, size)   both passes over a master file into a lossless master of ``size``

Only the crop axis moves (x for a crop of a wider frame, y for a taller one); the window is
the largest of the format's ratio (media.formats.crop_size), so nothing is scaled.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from media.video import FrameWriter, probe, read_frames

ANALYSIS_WIDTH = 160      # frames are analysed this wide: saliency needs shape, not detail
FOLLOW_SECONDS = 0.8      # the crop catches up with a subject that moved in about this long
MAX_ACCEL = 0.004         # of the crop axis per frame^2: the bound the smoothing keeps to


def _saliency(gray: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang 2007), in [0, 1]: what stands out of a frame."""
    small = cv2.resize(gray, (64, 64)).astype(np.float32)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    sal = cv2.resize(sal, (gray.shape[1], gray.shape[0]))
    return sal / (sal.max() + 1e-9)


def subject_centres(frames: Iterable[np.ndarray]) -> np.ndarray:
    """``[n, 2]`` subject centre per frame as fractions (x, y) of the frame."""
    centres: list[tuple[float, float]] = []
    prev = None
    last = (0.5, 0.5)
    for frame in frames:
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w))),
                           interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
        sal = _saliency(gray)
        weight = sal
        if prev is not None:
            motion = cv2.GaussianBlur(np.abs(gray - prev), (0, 0), 2)
            if motion.max() > 4:  # moving pixels lead; saliency says which of them matter
                weight = motion / motion.max() * (0.25 + sal)
        prev = gray
        weight = np.where(weight > 0.3 * weight.max(), weight, 0)
        total = weight.sum()
        if total > 0:
            ys, xs = np.mgrid[0:weight.shape[0], 0:weight.shape[1]]
            last = (float((xs * weight).sum() / total / weight.shape[1]),
                    float((ys * weight).sum() / total / weight.shape[0]))
        centres.append(last)
    return np.array(centres, dtype=np.float64).reshape(-1, 2)


def _follow(target: np.ndarray, fps: float) -> np.ndarray:
    """A critically damped spring following ``target``: no overshoot, acceleration limited."""
    omega = 2 * np.pi / max(FOLLOW_SECONDS * fps, 1.0)
    pos, vel = float(target[0]), 0.0
    out = np.empty_like(target)
    for i, goal in enumerate(target):
        accel = omega * omega * (goal - pos) - 2 * omega * vel
        accel = float(np.clip(accel, -MAX_ACCEL, MAX_ACCEL))
        vel += accel
        pos += vel
        out[i] = pos
    return out


def smooth_path(centres: np.ndarray, *, fps: float, window: float) -> np.ndarray:
    """The crop centre along the crop axis per frame (fractions of the source), from the
    subject centres on that axis: followed forwards and backwards (no lag), clamped so a window
    ``window`` wide (a fraction of the axis) stays inside the frame."""
    lo, hi = window / 2, 1 - window / 2
    target = np.clip(np.asarray(centres, dtype=np.float64), lo, hi)
    if len(target) == 0:
        return target
    forward = _follow(target, fps)
    both = _follow(forward[::-1], fps)[::-1]
    return np.clip(both, lo, hi)


def crop_windows(path: np.ndarray, source: tuple[int, int], size: tuple[int, int]
                 ) -> list[tuple[int, int]]:
    """Top-left corner of each frame's crop of ``size`` in a ``source`` frame."""
    (sw, sh), (cw, ch) = source, size
    horizontal = cw < sw
    out = []
    for c in path:
        if horizontal:
            out.append((int(round(np.clip(c * sw - cw / 2, 0, sw - cw))), (sh - ch) // 2))
        else:
            out.append(((sw - cw) // 2, int(round(np.clip(c * sh - ch / 2, 0, sh - ch)))))
    return out


def reframe(src: Path, dst: Path, size: tuple[int, int]) -> dict:
    """Write ``dst`` (lossless, like a master): ``src`` cropped to ``size`` around its subject.
    Returns what the crop did (its path's range and largest frame-to-frame acceleration)."""
    info = probe(src)
    sw, sh = info.size
    cw, ch = size
    horizontal = cw < sw
    centres = subject_centres(read_frames(src))
    axis = centres[:, 0] if horizontal else centres[:, 1]
    path = smooth_path(axis, fps=float(info.fps), window=cw / sw if horizontal else ch / sh)
    corners = crop_windows(path, (sw, sh), (cw, ch))
    with FrameWriter(dst, fps=info.fps, size=(cw, ch), lossless=True) as writer:
        for frame, (x, y) in zip(read_frames(src), corners):
            writer.write(np.ascontiguousarray(frame[y:y + ch, x:x + cw]))
    accel = np.abs(np.diff(path, 2)).max() if len(path) > 2 else 0.0
    return {"size": [cw, ch], "axis": "x" if horizontal else "y",
            "centre_range": [round(float(path.min()), 4), round(float(path.max()), 4)],
            "max_accel": round(float(accel), 6)}
