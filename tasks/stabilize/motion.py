"""Camera motion between consecutive frames, measured on small grey copies of them.

The measurement is the one every other part of the stage builds on: corners on the previous
frame (Shi-Tomasi), tracked into the current frame with pyramidal Lucas-Kanade, and a robust
similarity transform (RANSAC) fitted to the tracks. It runs on a copy of the frame scaled down
to ``analysis_width`` pixels (1/4 of 720p by default) because the full-size estimate is what
made OpenCV slower than vid.stab (docs/reference/platform-facts.md: ~54 fps at 720p); the transform is fitted
in full-size pixel coordinates, so the small copy costs sub-pixel accuracy only.

Motion is expressed about the frame centre: ``dx, dy`` move the centre, ``da`` rotates about it
(radians) and ``ds`` is the log of the zoom. About the centre, rotation and translation do not
leak into each other, so each component can be integrated and smoothed on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class MotionOptions:
    """How inter-frame motion is measured."""

    analysis_width: int = 320      # frames are scaled down to this width before tracking
    max_corners: int = 120
    corner_quality: float = 0.01   # relative to the strongest corner (Shi-Tomasi)
    corner_distance: int = 6       # px at analysis size: spread the corners over the frame
    lk_window: int = 11            # px at analysis size
    lk_levels: int = 3             # pyramid levels: follows shifts up to ~lk_window * 2**levels
    ransac_threshold: float = 1.0  # px at analysis size
    min_tracks: int = 12           # fewer inliers than this: the motion is unknown (flat frame)
    cut_correlation: float = 0.5   # motion-compensated correlation below this: a cut


@dataclass(frozen=True)
class Motion:
    """Camera motion from the previous frame to this one, in full-size pixels about the centre.

    ``ok`` is False when it could not be measured (too few trackable corners); the values are
    then zero. ``cut`` is True when this frame starts a new shot: the motion then means nothing
    and every smoothing resets here.
    """

    dx: float = 0.0
    dy: float = 0.0
    da: float = 0.0  # radians
    ds: float = 0.0  # log zoom
    ok: bool = True
    cut: bool = False

    def as_vector(self) -> np.ndarray:
        """``[4]`` float64: (dx, dy, da, ds)."""
        return np.array([self.dx, self.dy, self.da, self.ds])


def analysis_size(width: int, height: int, analysis_width: int) -> tuple[int, int]:
    """Size ``(w, h)`` of the analysis copy: at most ``analysis_width`` wide, same aspect."""
    if width <= analysis_width:
        return width, height
    return analysis_width, max(2, round(height * analysis_width / width / 2) * 2)


def to_analysis(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB (any size) -> ``uint8 [h, w]`` grey at the analysis ``size``."""
    if frame.ndim == 3:
        if (frame.shape[1], frame.shape[0]) != size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if (frame.shape[1], frame.shape[0]) != size:
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return frame


class MotionTracker:
    """Feed analysis frames one at a time; get the :class:`Motion` from the previous one.

    ``full_size`` is the ``(width, height)`` of the real frames: tracks are converted to that
    coordinate system (about its centre) before the similarity is fitted.
    """

    def __init__(self, full_size: tuple[int, int], analysis: tuple[int, int],
                 options: MotionOptions = MotionOptions()) -> None:
        self.options = options
        self.full_w, self.full_h = full_size
        self.small_w, self.small_h = analysis
        self._sx = self.full_w / self.small_w
        self._sy = self.full_h / self.small_h
        self._prev: np.ndarray | None = None
        self._prev_pts: np.ndarray | None = None
        self.aligned: np.ndarray | None = None

    def _to_full(self, pts: np.ndarray) -> np.ndarray:
        """``[N, 2]`` analysis pixel centres -> full-size coordinates about the frame centre."""
        out = np.empty_like(pts, dtype=np.float64)
        out[:, 0] = (pts[:, 0] + 0.5) * self._sx - self.full_w / 2
        out[:, 1] = (pts[:, 1] + 0.5) * self._sy - self.full_h / 2
        return out

    def step(self, grey: np.ndarray) -> Motion:
        """Motion from the previous frame given to this one (identity for the first).

        Afterwards :attr:`aligned` holds ``[2, 3]`` that maps the previous analysis frame onto
        this one (analysis pixels; None when unknown or at a cut), for callers that compare the
        two frames' content (brightness) with the camera motion taken out.
        """
        o = self.options
        prev, prev_pts = self._prev, self._prev_pts
        # Corners for the *next* step are found now, on this frame, while it is in cache.
        self._prev = grey
        self._prev_pts = cv2.goodFeaturesToTrack(grey, o.max_corners, o.corner_quality,
                                                 o.corner_distance, blockSize=3)
        self.aligned = None
        if prev is None:
            return Motion()
        matrix, tracks, inliers = self._fit(prev, prev_pts, grey)
        small = self._to_small(matrix) if matrix is not None else None
        # Most tracks agreeing on one motion is the same shot; only otherwise look closer.
        if matrix is None or inliers < 0.5 * tracks:
            if _is_cut(prev, grey, small, o.cut_correlation):
                return Motion(ok=matrix is not None, cut=True)
        if matrix is None:
            return Motion(ok=False)
        self.aligned = small
        a, b = matrix[0, 0], matrix[1, 0]
        return Motion(dx=float(matrix[0, 2]), dy=float(matrix[1, 2]),
                      da=math.atan2(b, a), ds=math.log(max(math.hypot(a, b), 1e-6)))

    def _to_small(self, matrix: np.ndarray) -> np.ndarray:
        """Similarity in full-size px about the centre -> the same motion in analysis pixels:
        p_small = F^-1 M F p_small, F taking analysis pixels to full-size centred coordinates."""
        f = np.array([[self._sx, 0, self._sx * 0.5 - self.full_w / 2],
                      [0, self._sy, self._sy * 0.5 - self.full_h / 2], [0, 0, 1]])
        return (np.linalg.inv(f) @ np.vstack([matrix, [0, 0, 1]]) @ f)[:2]

    def _fit(self, prev: np.ndarray, prev_pts: np.ndarray | None,
             grey: np.ndarray) -> tuple[np.ndarray | None, int, int]:
        """(``[2, 3]`` similarity about the centre in full-size px taking prev to this, or None;
        tracks followed; tracks agreeing with it)."""
        o = self.options
        if prev_pts is None or len(prev_pts) < o.min_tracks:
            return None, 0, 0
        pts, status, _ = cv2.calcOpticalFlowPyrLK(
            prev, grey, prev_pts, None, winSize=(o.lk_window, o.lk_window), maxLevel=o.lk_levels,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
        good = status[:, 0] == 1
        tracks = int(good.sum())
        if tracks < o.min_tracks:
            return None, tracks, 0
        src = self._to_full(prev_pts[good, 0])
        dst = self._to_full(pts[good, 0])
        threshold = o.ransac_threshold * max(self._sx, self._sy)
        matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                                      ransacReprojThreshold=threshold)
        agreeing = int(inliers.sum()) if inliers is not None else 0
        if matrix is None or agreeing < o.min_tracks:
            return None, tracks, agreeing
        return matrix, tracks, agreeing


def align(prev: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """Warp the previous analysis frame onto the current one (``matrix`` from
    :attr:`MotionTracker.aligned`); unchanged when the motion is unknown."""
    if matrix is None:
        return prev
    h, w = prev.shape[:2]
    return cv2.warpAffine(prev, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def inner(frame: np.ndarray) -> np.ndarray:
    """The frame without a 1/8 margin: what stays in view under shake once aligned."""
    h, w = frame.shape[:2]
    return frame[h // 8:h - h // 8, w // 8:w - w // 8]


def _is_cut(prev: np.ndarray, grey: np.ndarray, small: np.ndarray | None,
            threshold: float) -> bool:
    """A new shot starts at ``grey``: its correlation with the motion-aligned ``prev`` is low.

    Correlation (not a difference) so that brightness flicker and fades are not taken for
    cuts; aligned by the measured motion so that shake is not either. Flat frames (black,
    one colour) correlate with nothing, so between them a jump in brightness decides.
    """
    a = inner(align(prev, small)).astype(np.float32)
    b = inner(grey).astype(np.float32)
    sa, sb = float(a.std()), float(b.std())
    if sa < 4.0 or sb < 4.0:
        return abs(float(a.mean()) - float(b.mean())) > 48.0
    corr = float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))
    return corr < threshold


def track_motion(frames: Iterable[np.ndarray], options: MotionOptions = MotionOptions(),
                 *, full_size: tuple[int, int] | None = None) -> Iterator[Motion]:
    """Yield one :class:`Motion` per frame (the first is the identity).

    ``frames`` are ``uint8 [H, W, 3]`` RGB. When they are already analysis copies of bigger
    frames, pass the real ``full_size=(width, height)`` so motion comes out in real pixels.
    """
    tracker: MotionTracker | None = None
    size: tuple[int, int] | None = None
    for frame in frames:
        if tracker is None:
            h, w = frame.shape[:2]
            full = full_size or (w, h)
            size = analysis_size(w, h, options.analysis_width)
            tracker = MotionTracker(full, size, options)
        yield tracker.step(to_analysis(frame, size))


def camera_path(motions: Iterable[Motion]) -> np.ndarray:
    """Integrate inter-frame motions into a camera path: ``[N, 4]`` (x, y, angle, log zoom).

    Frame 0 sits at the origin. Across a cut the path simply continues (the motion there is
    zero); smoothing treats the pieces between cuts separately.
    """
    steps = np.array([m.as_vector() for m in motions], dtype=np.float64).reshape(-1, 4)
    return np.cumsum(steps, axis=0)


def segments(cuts: Sequence[bool]) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges of the shots, given a per-frame "starts a new shot" flag."""
    starts = [i for i, cut in enumerate(cuts) if cut or i == 0]
    return list(zip(starts, starts[1:] + [len(cuts)]))
