"""Derived formats: a 1:1 crop of a 16:9 master follows a moving subject, smoothly."""

from __future__ import annotations

import numpy as np

from media.formats import crop_size
from media.video import FrameWriter, probe, read_frames
from tasks.reframe import MAX_ACCEL, reframe, smooth_path

W, H, FPS, N = 320, 180, 24, 48
R = 14


def _subject_x(i: int) -> float:
    """A ball that crosses most of the frame, accelerating, then turns back."""
    t = i / (N - 1)
    return 30 + 250 * np.sin(np.pi * 0.75 * t) ** 2


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    # A textured, still background: saliency alone would pick some of it; motion wins.
    base = (rng.integers(60, 100, (H // 10, W // 10, 3), dtype=np.uint8)
            .repeat(10, axis=0).repeat(10, axis=1))
    frames = []
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(N):
        frame = base.copy()
        ball = (xx - _subject_x(i)) ** 2 + (yy - H / 2) ** 2 <= R * R
        frame[ball] = (250, 200, 40)
        frames.append(frame)
    return frames


def test_the_square_crop_keeps_a_moving_subject_in_frame_and_moves_smoothly(tmp_path):
    src, dst = tmp_path / "master.mkv", tmp_path / "square.mkv"
    with FrameWriter(src, fps=FPS, size=(W, H), lossless=True) as writer:
        for frame in _frames():
            writer.write(frame)
    size = crop_size("1:1", (W, H))
    assert size == (180, 180)

    report = reframe(src, dst, size)

    assert probe(dst).size == size and report["axis"] == "x"
    cropped = list(read_frames(dst))
    assert len(cropped) == N
    for i, frame in enumerate(cropped):
        ball = (frame[..., 0] > 200) & (frame[..., 2] < 90)
        # The whole ball is inside the crop: its full area, none of it cut at an edge.
        assert ball.sum() > 0.9 * np.pi * R * R, i
        cols = np.nonzero(ball.any(axis=0))[0]
        assert cols.min() > 0 and cols.max() < size[0] - 1, i
    # Smooth: the crop centre's frame-to-frame acceleration is bounded (no jitter) ...
    assert report["max_accel"] <= MAX_ACCEL + 1e-9
    # ... and it moved: a fixed centre crop would have lost the ball.
    lo, hi = report["centre_range"]
    assert hi - lo > 0.3


def test_the_path_of_a_jittery_subject_is_smooth():
    rng = np.random.default_rng(0)
    centres = 0.5 + 0.25 * np.sin(np.linspace(0, 3, 96)) + rng.normal(0, 0.05, 96)
    path = smooth_path(centres, fps=24, window=0.5)
    assert np.abs(np.diff(path, 2)).max() <= MAX_ACCEL + 1e-9
    assert path.min() >= 0.25 and path.max() <= 0.75   # the window stays inside the frame
    # It follows the subject, not its noise: within the noise of the slow motion.
    assert np.abs(path - np.clip(0.5 + 0.25 * np.sin(np.linspace(0, 3, 96)), .25, .75)).mean() \
        < 0.06

