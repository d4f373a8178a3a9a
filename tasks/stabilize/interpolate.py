"""Frame rate conversion by motion-compensated interpolation (16 fps model output -> 24, 30...).

Output frame ``k`` shows the instant ``k / fps_out``; the clip keeps every such instant that falls
inside the input's span ``[0, N / fps_in)``, so a clip of ``N`` frames becomes exactly
``ceil(N * fps_out / fps_in)`` frames (48 at 16 fps -> 72 at 24 fps, 90 at 30 fps) and its duration
changes by less than one output frame. An instant that coincides with an input frame is that
frame, untouched. Between input frames ``a`` and ``b`` at fraction ``t``, both are warped to ``t``
along dense optical flow (DIS, computed both ways on grey copies scaled to ``flow_width``), with
the flow at ``t`` approximated from the two end flows as in Super SloMo (Jiang et al. 2018,
eq. 4), and blended ``(1 - t) * a' + t * b'``. After the last input frame the last frame holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from common.errors import ConfigError
from tasks.stabilize.analysis import check_frame


@dataclass(frozen=True)
class InterpolateOptions:
    """How in-between frames are made."""

    flow_width: int = 480  # optical flow on grey copies at most this wide (then scaled up)
    preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST


def output_frame_count(frames_in: int, fps_in: float | Fraction, fps_out: float | Fraction) -> int:
    """Frames out for ``frames_in`` frames in: every output instant inside the input's span."""
    ratio = Fraction(fps_out).limit_denominator(1001) / Fraction(fps_in).limit_denominator(1001)
    return math.ceil(frames_in * ratio)


class _PairFlow:
    """Flows between two frames, computed once and reused for every instant between them."""

    def __init__(self, a: np.ndarray, b: np.ndarray, dis: cv2.DISOpticalFlow,
                 flow_width: int) -> None:
        h, w = a.shape[:2]
        small = (min(w, flow_width), max(2, round(h * min(w, flow_width) / w)))
        ga = cv2.cvtColor(cv2.resize(a, small, interpolation=cv2.INTER_AREA)
                          if small != (w, h) else a, cv2.COLOR_RGB2GRAY)
        gb = cv2.cvtColor(cv2.resize(b, small, interpolation=cv2.INTER_AREA)
                          if small != (w, h) else b, cv2.COLOR_RGB2GRAY)
        self.a, self.b = a, b
        self.size = (w, h)
        self._scale = np.array([w / small[0], h / small[1]], dtype=np.float32)
        self.ab = dis.calc(ga, gb, None)  # [h', w', 2]: where each pixel of a goes in b
        self.ba = dis.calc(gb, ga, None)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        self._grid = (xs, ys)

    def _full(self, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flow at the small size -> ``(map_x, map_y)`` sampling maps at full size."""
        if flow.shape[1] != self.size[0] or flow.shape[0] != self.size[1]:
            flow = cv2.resize(flow, self.size, interpolation=cv2.INTER_LINEAR) * self._scale
        return self._grid[0] + flow[..., 0], self._grid[1] + flow[..., 1]

    def at(self, t: float) -> np.ndarray:
        """The ``uint8 [H, W, 3]`` frame at fraction ``t`` in (0, 1) from ``a`` to ``b``."""
        # Flow from the instant t back to a and on to b, assuming straight-line motion.
        to_a = -(1 - t) * t * self.ab + t * t * self.ba
        to_b = (1 - t) * (1 - t) * self.ab - t * (1 - t) * self.ba
        ax, ay = self._full(to_a)
        bx, by = self._full(to_b)
        warped_a = cv2.remap(self.a, ax, ay, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped_b = cv2.remap(self.b, bx, by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return cv2.addWeighted(warped_a, 1 - t, warped_b, t, 0.0)


def interpolate_fps(frames: Iterable[np.ndarray], fps_in: float | Fraction,
                    fps_out: float | Fraction, *, cuts: Sequence[bool] | None = None,
                    options: InterpolateOptions = InterpolateOptions()) -> Iterator[np.ndarray]:
    """Re-time ``uint8 [H, W, 3]`` RGB frames from ``fps_in`` to ``fps_out``, streaming.

    Holds two input frames (and their flows) at a time. Yields
    ``output_frame_count(N, fps_in, fps_out)`` frames for ``N`` in. ``cuts[i]`` True says input
    frame ``i`` starts a new shot (``ClipAnalysis.cuts``): nothing is blended across it, an
    instant there shows the nearer of the two frames.
    """
    fps_in = Fraction(fps_in).limit_denominator(1001)
    fps_out = Fraction(fps_out).limit_denominator(1001)
    if fps_in <= 0 or fps_out <= 0:
        raise ConfigError(f"frame rates must be positive (got {fps_in} -> {fps_out} fps)")
    step = fps_in / fps_out  # input frames per output frame
    dis = cv2.DISOpticalFlow_create(options.preset)
    k = 0                     # next output frame
    prev: np.ndarray | None = None
    index = -1                # index of `prev`
    for frame in frames:
        index += 1
        check_frame(frame, index)
        if prev is None:
            prev = frame
            continue
        pair: _PairFlow | None = None
        # Output instants in [index - 1, index): between prev and this frame.
        while k * step < index:
            t = k * step - (index - 1)
            if t == 0:
                yield prev
            elif cuts is not None and index < len(cuts) and cuts[index]:
                yield prev if t < Fraction(1, 2) else frame
            else:
                pair = pair or _PairFlow(prev, frame, dis, options.flow_width)
                yield pair.at(float(t))
            k += 1
        prev = frame
    if prev is None:
        return
    total = output_frame_count(index + 1, fps_in, fps_out)
    while k < total:  # instants within the last input frame's time: it holds
        yield prev
        k += 1
