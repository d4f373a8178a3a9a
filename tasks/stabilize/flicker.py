"""Brightness flicker: pull each frame's brightness onto its smoothed course, per channel.

The analysis pass measures, per RGB channel, how much brighter each frame is than the previous
one on the same content (``ClipAnalysis.tone_steps``: the previous frame aligned by the camera
motion), and integrates that into a brightness course. Its target is a running median (a
median keeps any monotone stretch, a fade, exactly as it is, and drops brightness that jumps up
and down) followed by a short Gaussian, shot by shot so that a cut resets it. Each frame is
then scaled per channel by ``exp(target - course)`` through a 256-entry lookup table (one
``cv2.LUT`` per frame).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from tasks.stabilize.analysis import ClipAnalysis, check_frame, tone_step
from tasks.stabilize.metrics import tone_residual
from tasks.stabilize.motion import MotionOptions, MotionTracker, align, analysis_size, segments
from tasks.stabilize.smoothing import smooth_gaussian, smooth_median


@dataclass(frozen=True)
class FlickerOptions:
    """How flicker is judged and removed."""

    median_radius: int = 3     # frames either side; brightness changes shorter than this go
    smooth_radius: int = 2     # frames either side of the Gaussian after the median
    min_flicker: float = 0.75  # grey levels RMS (worst channel): less is left untouched
    max_gain: float = 1.5      # a channel is never scaled by more than this or less than 1/it


@dataclass(frozen=True)
class FlickerPlan:
    """Per-frame, per-channel ``gains`` (``[N, 3]``, applied as ``(x + 1) * gain - 1``);
    ``apply`` is False when the clip's measured ``flicker`` (grey levels RMS, worst channel)
    is under the threshold."""

    gains: np.ndarray
    flicker: float
    apply: bool

    def table(self, index: int) -> np.ndarray | None:
        """The ``uint8 [1, 256, 3]`` lookup table for frame ``index``, or None if identity."""
        return level_table(self.gains[index])


def level_table(gains: np.ndarray) -> np.ndarray | None:
    """``uint8 [1, 256, 3]`` table mapping x -> (x + 1) * gain - 1 per channel, or None when it
    changes no value (so an untouched frame stays bit-identical)."""
    levels = np.arange(256, dtype=np.float64)[:, None]                          # [256, 1]
    table = np.clip(np.rint((levels + 1.0) * gains[None, :] - 1.0), 0, 255)     # [256, 3]
    if np.array_equal(table, np.repeat(levels, 3, axis=1)):
        return None
    return table.astype(np.uint8)[None]


def apply_table(frame: np.ndarray, table: np.ndarray | None) -> np.ndarray:
    """Map a ``uint8 [H, W, 3]`` frame through a :func:`level_table` (None: unchanged)."""
    return frame if table is None else cv2.LUT(frame, table)


def tone_gains(tone_path: np.ndarray, shots: list[tuple[int, int]],
               options: FlickerOptions = FlickerOptions()) -> np.ndarray:
    """``[N, 3]`` gains that move a brightness course ``[N, 3]`` (log of mean + 1) onto its
    smoothed course."""
    target = smooth_gaussian(smooth_median(tone_path, shots, options.median_radius), shots,
                             options.smooth_radius)
    return np.clip(np.exp(target - tone_path), 1.0 / options.max_gain, options.max_gain)


def plan_deflicker(analysis: ClipAnalysis,
                   options: FlickerOptions = FlickerOptions()) -> FlickerPlan:
    """Decide the per-frame gains for an analysed clip."""
    residual = tone_residual(analysis, options.median_radius)            # [N, 3] grey levels
    measured = float(np.sqrt((residual ** 2).mean(axis=0)).max()) if len(residual) else 0.0
    n = analysis.frames
    if measured < options.min_flicker:
        return FlickerPlan(gains=np.ones((n, 3)), flicker=measured, apply=False)
    gains = tone_gains(analysis.tone_path, analysis.shots, options)
    return FlickerPlan(gains=gains, flicker=measured, apply=True)


def deflicker(frames: Iterable[np.ndarray], *, options: FlickerOptions = FlickerOptions(),
              motion: MotionOptions = MotionOptions()) -> Iterator[np.ndarray]:
    """Remove brightness flicker from ``uint8 [H, W, 3]`` RGB frames, streaming.

    Every frame is corrected (there is no whole-clip "is there flicker" decision here; the
    stage makes that one from its analysis pass). Holds ``median_radius + smooth_radius``
    frames of lookahead and the brightness steps of three times as many; camera motion and
    cuts are measured on the way, so shake is not taken for flicker and a cut resets.
    """
    lookahead = options.median_radius + options.smooth_radius
    # Frame i's target depends on frames i - lookahead .. i + lookahead; keeping 2 * lookahead
    # behind lets the median windows at the far side of that range be complete too.
    history: deque[tuple[np.ndarray, bool]] = deque(maxlen=3 * lookahead + 1)
    pending: deque[np.ndarray] = deque()
    tracker: MotionTracker | None = None
    size = (0, 0)
    prev: np.ndarray | None = None
    for index, frame in enumerate(frames):
        check_frame(frame, index)
        if tracker is None:
            full = (frame.shape[1], frame.shape[0])
            size = analysis_size(*full, motion.analysis_width)
            tracker = MotionTracker(full, size, motion)
        small = frame if (frame.shape[1], frame.shape[0]) == size else cv2.resize(
            frame, size, interpolation=cv2.INTER_AREA)
        step = tracker.step(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        tone = (tone_step(align(prev, tracker.aligned), small)
                if prev is not None and not step.cut else np.zeros(3))
        prev = small
        history.append((tone, step.cut))
        pending.append(frame)
        if len(pending) > lookahead:
            yield _correct_oldest(pending, history, options)
    while pending:
        yield _correct_oldest(pending, history, options)


def _correct_oldest(pending: deque[np.ndarray], history: deque[tuple[np.ndarray, bool]],
                    options: FlickerOptions) -> np.ndarray:
    """Correct the oldest pending frame from the brightness steps held around it."""
    # The course may start anywhere: medians, Gaussians and line ends all shift with it.
    tone_path = np.cumsum(np.array([h[0] for h in history]), axis=0)    # [M, 3]
    local = len(history) - len(pending)                                  # oldest pending frame
    gains = tone_gains(tone_path, segments([h[1] for h in history]), options)
    return apply_table(pending.popleft(), level_table(gains[local]))
