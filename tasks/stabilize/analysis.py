"""One cheap pass over a clip: camera motion, brightness statistics and cuts, frame by frame.

Everything the stage decides (how much shake, how much flicker, where the shots are) and every
"before" metric comes from this pass. It reads the clip scaled down to the analysis width by
ffmpeg itself (``scale=...:flags=area``), which is ~1.7 ms per 720p frame cheaper than decoding
full RGB frames through ``media.video.read_frames`` and resizing them in Python. Memory: two
small frames plus a handful of numbers per frame.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from common.errors import ConfigError, MediaError
from media.video import VideoInfo, prefetch, probe, read_scaled_frames
from tasks.stabilize.motion import (
    Motion,
    MotionOptions,
    MotionTracker,
    align,
    analysis_size,
    camera_path,
    inner,
    segments,
)

PSNR_CAP_DB = 100.0  # identical frames have infinite PSNR; JSON has no infinity


@dataclass
class ClipAnalysis:
    """Per-frame measurements of a clip (``N`` frames), sizes in full-size pixels.

    ``means`` is ``[N, 3]``: each frame's mean RGB in grey levels; ``psnr`` is ``[N - 1]``
    dB between consecutive (analysis-size) frames. ``tone_steps`` is ``[N, 3]``: per channel,
    how much brighter (log of mean + 1) each frame is than the previous one *on the same
    content* (the previous frame aligned by the camera motion, margins left out), so moving
    content does not read as a change of brightness; zero at the first frame and at cuts.
    """

    width: int
    height: int
    motions: list[Motion] = field(default_factory=list)
    means: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    psnr: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tone_steps: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    @property
    def frames(self) -> int:
        return len(self.motions)

    @property
    def cuts(self) -> list[bool]:
        return [m.cut for m in self.motions]

    @property
    def shots(self) -> list[tuple[int, int]]:
        return segments(self.cuts)

    @property
    def path(self) -> np.ndarray:
        """``[N, 4]`` camera path (x, y, angle, log zoom); see :func:`camera_path`."""
        return camera_path(self.motions)

    @property
    def tone_path(self) -> np.ndarray:
        """``[N, 3]`` brightness course per channel (log of mean + 1, frame 0 at zero)."""
        return np.cumsum(self.tone_steps, axis=0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two ``uint8`` frames of the same shape, capped at ``PSNR_CAP_DB``."""
    mse = cv2.norm(a, b, cv2.NORM_L2SQR) / a.size
    if mse <= 0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(255.0 ** 2 / mse))


class ClipAnalyser:
    """Feed frames one at a time (full size or already scaled down); read :attr:`result`.

    ``full_size`` is the ``(width, height)`` of the real frames; frames given at another size
    are taken to be scaled copies of them.
    """

    def __init__(self, full_size: tuple[int, int], options: MotionOptions = MotionOptions()):
        self.full_size = full_size
        self.size = analysis_size(*full_size, options.analysis_width)
        self._tracker = MotionTracker(full_size, self.size, options)
        self._prev: np.ndarray | None = None
        self._motions: list[Motion] = []
        self._means: list[tuple[float, float, float]] = []
        self._psnr: list[float] = []
        self._tone: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> Motion:
        """Measure one ``uint8 [H, W, 3]`` RGB frame; returns its motion from the previous."""
        check_frame(frame, len(self._motions))
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._means.append(cv2.mean(frame)[:3])
        motion = self._tracker.step(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        tone = np.zeros(3)
        if self._prev is not None:
            self._psnr.append(psnr(self._prev, frame))
            if not motion.cut:
                tone = tone_step(align(self._prev, self._tracker.aligned), frame)
        self._prev = frame
        self._motions.append(motion)
        self._tone.append(tone)
        return motion

    @property
    def result(self) -> ClipAnalysis:
        return ClipAnalysis(width=self.full_size[0], height=self.full_size[1],
                            motions=list(self._motions),
                            means=np.array(self._means, dtype=np.float64).reshape(-1, 3),
                            psnr=np.array(self._psnr, dtype=np.float64),
                            tone_steps=np.array(self._tone, dtype=np.float64).reshape(-1, 3))


def check_frame(frame: np.ndarray, index: int) -> None:
    """Refuse anything but a ``uint8 [H, W, 3]`` RGB frame, naming the frame."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
            or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise ConfigError(f"frame {index}: expected a uint8 [H, W, 3] RGB array, got {shape} "
                          f"{dtype}")


def tone_step(aligned_prev: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """``[3]`` log(mean + 1) of ``frame`` minus that of the motion-aligned previous frame,
    per channel, over the inner part of the frame."""
    before = np.array(cv2.mean(inner(aligned_prev))[:3])
    after = np.array(cv2.mean(inner(frame))[:3])
    return np.log1p(after) - np.log1p(before)


def analyse_frames(frames: Iterable[np.ndarray], options: MotionOptions = MotionOptions(), *,
                   full_size: tuple[int, int] | None = None) -> ClipAnalysis:
    """Analyse ``uint8 [H, W, 3]`` RGB frames (pass ``full_size`` if they are scaled copies)."""
    analyser: ClipAnalyser | None = None
    for frame in frames:
        if analyser is None:
            analyser = ClipAnalyser(full_size or (frame.shape[1], frame.shape[0]), options)
        analyser.add(frame)
    if analyser is None:
        raise MediaError("no frames to analyse: the clip is empty")
    return analyser.result


def read_analysis_frames(path: str | os.PathLike, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Decode ``path`` scaled by ffmpeg to ``size = (w, h)``: ``uint8 [h, w, 3]`` RGB frames."""
    return read_scaled_frames(path, size)


def analyse_clip(path: str | os.PathLike, options: MotionOptions = MotionOptions(), *,
                 info: VideoInfo | None = None,
                 observe: Callable[[np.ndarray], None] | None = None) -> ClipAnalysis:
    """Analyse a video file in one streaming pass over its scaled-down frames (``info``: its
    :func:`media.video.probe`, if already known). ``observe`` is shown every scaled-down
    frame too (the grade measures a shot's colour this way, at no extra decode)."""
    info = info or probe(path)
    size = analysis_size(info.width, info.height, options.analysis_width)
    frames = prefetch(read_analysis_frames(path, size))
    if observe is not None:
        frames = _observed(frames, observe)
    return analyse_frames(frames, options, full_size=info.size)


def _observed(frames: Iterable[np.ndarray], observe: Callable[[np.ndarray], None]
              ) -> Iterator[np.ndarray]:
    for frame in frames:
        observe(frame)
        yield frame
