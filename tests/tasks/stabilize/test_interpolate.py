from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from common.errors import ConfigError
from tasks.stabilize import interpolate_fps, output_frame_count

from .conftest import SIZE, film


def _pattern(canvas, n: int, step: float) -> list[np.ndarray]:
    camera = np.stack([np.arange(n) * step, np.arange(n) * step * 0.5, np.zeros(n)], axis=1)
    return film(canvas, SIZE, camera)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    # Leave out a margin: content entering the frame cannot be interpolated by anyone.
    m = 12
    return float(((a[m:-m, m:-m].astype(np.float64) - b[m:-m, m:-m]) ** 2).mean())


def test_in_between_frame_is_closer_to_the_truth_than_either_neighbour(canvas):
    frames = _pattern(canvas, 4, 6.0)        # 6 px per frame at 16 fps
    out = list(interpolate_fps(frames, 16, 24))
    # Output frame 1 shows the instant 1/24 s = 2/3 of the way from input frame 0 to 1.
    truth = film(canvas, SIZE, np.array([[4.0, 2.0, 0.0]]))[0]
    interpolated = _mse(out[1], truth)
    assert interpolated < 0.25 * min(_mse(frames[0], truth), _mse(frames[1], truth))


def test_not_a_duplicate(canvas):
    frames = _pattern(canvas, 6, 3.0)
    out = list(interpolate_fps(frames, 16, 30))
    assert not any(np.array_equal(out[k], f) for k in (1, 2, 3, 4) for f in frames)


@pytest.mark.parametrize("n, fps_in, fps_out, expected", [
    (32, 16, 24, 48), (32, 16, 30, 60), (33, 16, 24, 50), (48, 16, 16, 48), (10, 30, 24, 8),
    (16, 16, Fraction(30000, 1001), 30),
])
def test_exact_frame_counts(canvas, n, fps_in, fps_out, expected):
    frames = _pattern(canvas, n, 1.0)
    out = list(interpolate_fps(frames, fps_in, fps_out))
    assert len(out) == expected == output_frame_count(n, fps_in, fps_out)
    # Duration is kept to within one output frame.
    assert abs(len(out) / float(fps_out) - n / float(fps_in)) < 1 / float(fps_out)


def test_instants_on_input_frames_are_those_frames(canvas):
    frames = _pattern(canvas, 8, 2.0)
    out = list(interpolate_fps(frames, 16, 24))
    for k in range(0, len(out), 3):  # every third output instant is an input instant
        assert np.array_equal(out[k], frames[2 * k // 3])


def test_streams_with_two_frames_held(canvas):
    frames = _pattern(canvas, 2, 1.0)
    held = []

    def source():
        for i in range(60):
            held.append(i)
            yield frames[i % 2].copy()

    produced = 0
    for produced, _ in enumerate(interpolate_fps(source(), 16, 24), start=1):
        # Frame k needs input frames up to ceil(2k/3): never more than one ahead of that.
        assert len(held) <= (2 * produced) // 3 + 2
    assert produced == 90


def test_bad_rate_is_refused(canvas):
    with pytest.raises(ConfigError, match="positive"):
        list(interpolate_fps(_pattern(canvas, 3, 1.0), 16, 0))


def test_nothing_is_blended_across_a_cut(canvas):
    from .conftest import textured_canvas

    first = _pattern(canvas, 3, 2.0)
    second = _pattern(textured_canvas(260, 400, seed=42), 3, 2.0)
    clip = first + second
    cuts = [False, False, False, True, False, False]
    out = list(interpolate_fps(clip, 16, 24, cuts=cuts))
    # Output 4 is at input 8/3 (between frames 2 and 3, across the cut, nearer frame 3);
    # without the cut flag it would be a blend of two unrelated pictures.
    assert np.array_equal(out[4], clip[3])
    blended = list(interpolate_fps(clip, 16, 24))[4]
    assert not any(np.array_equal(blended, f) for f in clip)
