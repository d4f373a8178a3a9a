from __future__ import annotations

import numpy as np
import pytest

from common.errors import ConfigError
from tasks.stabilize import (
    MotionOptions,
    ShakeOptions,
    analyse_frames,
    clip_metrics,
    plan_shake,
    stabilize_frames,
)
from tasks.stabilize.metrics import jitter

from .conftest import SIZE, film, shaky_camera, textured_canvas


def test_shaky_clip_becomes_steadier(shaky):
    out = list(stabilize_frames(shaky))
    assert len(out) == len(shaky) and out[0].shape == shaky[0].shape
    before, after = clip_metrics(analyse_frames(shaky)), clip_metrics(analyse_frames(out))
    assert after.stability > before.stability + 0.02
    assert after.jitter < 0.35 * before.jitter
    assert after.itf > before.itf + 2.0  # consecutive frames now look alike


def test_measured_path_matches_the_known_camera(canvas):
    camera = shaky_camera(30, shake=2.0, seed=3)
    analysis = analyse_frames(film(canvas, SIZE, camera))
    # The content moves opposite to the camera.
    truth = -(camera - camera[0])
    np.testing.assert_allclose(analysis.path[:, :3], truth, atol=0.3, rtol=0)


def test_downscaled_analysis_measures_full_size_pixels(canvas):
    camera = shaky_camera(20, shake=2.0, seed=4, rotation=0.0)
    frames = film(canvas, SIZE, camera)
    analysis = analyse_frames(frames, MotionOptions(analysis_width=128))
    assert analysis.width == SIZE[0]
    np.testing.assert_allclose(analysis.path[:, :2], -(camera - camera[0])[:, :2], atol=0.6,
                               rtol=0)


def test_steady_clip_comes_back_unchanged(steady):
    plan = plan_shake(analyse_frames(steady))
    assert not plan.apply and plan.jitter < 0.2
    out = list(stabilize_frames(steady))
    assert len(out) == len(steady)
    assert all(np.array_equal(a, b) for a, b in zip(out, steady))


def test_zoom_is_the_least_that_hides_the_borders(shaky):
    plan = plan_shake(analyse_frames(shaky))
    assert plan.apply and 1.0 < plan.zoom < 1.25
    w, h = SIZE
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float)

    def worst_overshoot(zoom: float) -> float:
        """Largest distance (px) an output corner reaches outside its input frame."""
        shrunk = plan.__class__(size=plan.size, corrections=plan.corrections, zoom=zoom,
                                jitter=plan.jitter, apply=True)
        worst = -np.inf
        for m in shrunk.matrices():
            inverse = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
            src = corners @ inverse.T
            worst = max(worst, (-src[:, 0]).max(), (src[:, 0] - (w - 1)).max(),
                        (-src[:, 1]).max(), (src[:, 1] - (h - 1)).max())
        return worst

    assert worst_overshoot(plan.zoom) <= 1e-6         # no border in view
    assert worst_overshoot(plan.zoom * 0.99) > 0.1     # and no zoom to spare


def test_max_crop_limits_the_zoom(canvas):
    frames = film(canvas, SIZE, shaky_camera(30, shake=10.0, seed=5))
    plan = plan_shake(analyse_frames(frames), ShakeOptions(max_crop=0.05))
    assert plan.apply and plan.zoom <= 1 / 0.95 + 1e-6


def test_cut_resets_the_camera_path(canvas):
    other = textured_canvas(260, 400, seed=99)
    first = film(canvas, SIZE, shaky_camera(20, shake=2.0, seed=6))
    second = film(other, SIZE, shaky_camera(20, shake=2.0, seed=8) + [40, 10, 0])
    analysis = analyse_frames(first + second)
    assert [i for i, cut in enumerate(analysis.cuts) if cut] == [20]
    assert analysis.shots == [(0, 20), (20, 40)]
    # Jitter is measured shot by shot: the jump at the cut is not shake.
    assert jitter(analysis) < 3.0


def test_one_shot_iterator_is_refused(shaky):
    with pytest.raises(ConfigError, match="re-iterable|twice"):
        next(stabilize_frames(iter(shaky)))


def test_frames_that_are_not_rgb_are_refused_by_index(shaky):
    grey = [f[..., 0] for f in shaky[:3]]
    with pytest.raises(ConfigError, match=r"frame 0: expected a uint8 \[H, W, 3\]"):
        list(stabilize_frames(grey))
