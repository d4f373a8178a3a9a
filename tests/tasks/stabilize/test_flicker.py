from __future__ import annotations

import numpy as np

from tasks.stabilize import analyse_frames, clip_metrics, deflicker, plan_deflicker
from tasks.stabilize.metrics import LUMA

from .conftest import SIZE, film, shaky_camera, textured_canvas


def _scaled(frames: list[np.ndarray], gains: np.ndarray) -> list[np.ndarray]:
    return [np.clip(f.astype(np.float64) * g, 0, 255).astype(np.uint8)
            for f, g in zip(frames, gains)]


def _luma(frames: list[np.ndarray]) -> np.ndarray:
    return np.array([f.reshape(-1, 3).mean(axis=0) @ LUMA for f in frames])


def test_flicker_drops(steady):
    rng = np.random.default_rng(2)
    flickering = _scaled(steady, 1.0 + rng.uniform(-0.08, 0.08, len(steady)))
    out = list(deflicker(flickering))
    assert len(out) == len(flickering)
    before = clip_metrics(analyse_frames(flickering)).flicker
    after = clip_metrics(analyse_frames(out)).flicker
    assert before > 3.0
    assert after < 0.3 * before
    # The variance of brightness from frame to frame drops with it.
    assert np.var(np.diff(_luma(out))) < 0.15 * np.var(np.diff(_luma(flickering)))


def test_a_real_fade_survives(steady):
    fade = np.concatenate([np.ones(8), np.linspace(1.0, 0.25, 24), np.full(8, 0.25)])
    faded = _scaled(steady, fade)
    assert not plan_deflicker(analyse_frames(faded)).apply  # a fade is not flicker
    out = list(deflicker(faded))
    np.testing.assert_allclose(_luma(out), _luma(faded), atol=1.5)


def test_flicker_on_a_fade_is_removed_and_the_fade_kept(steady):
    rng = np.random.default_rng(3)
    fade = np.concatenate([np.ones(8), np.linspace(1.0, 0.4, 24), np.full(8, 0.4)])
    clean = _luma(_scaled(steady, fade))
    flickering = _scaled(steady, fade * (1.0 + rng.uniform(-0.08, 0.08, len(fade))))
    out = list(deflicker(flickering))
    # Brightness no longer jumps from frame to frame...
    jumps_before, jumps_after = np.var(np.diff(_luma(flickering))), np.var(np.diff(_luma(out)))
    assert jumps_after < 0.2 * jumps_before
    assert clip_metrics(analyse_frames(out)).flicker < 0.2 * clip_metrics(
        analyse_frames(flickering)).flicker
    # ...while the fade is still there, closer to the clean fade than the flickering one was
    # (what is left is the slow wander of a 7-frame median of random flicker).
    assert np.abs(_luma(out) - clean).mean() < 0.75 * np.abs(_luma(flickering) - clean).mean()
    assert _luma(out)[:4].mean() - _luma(out)[-4:].mean() > 0.9 * (clean[0] - clean[-1])


def test_a_cut_resets_the_smoothing(canvas):
    bright = film(canvas, SIZE, shaky_camera(16, shake=0.0, seed=1, rotation=0.0))
    dark_canvas = (textured_canvas(260, 400, seed=11) * 0.4).astype(np.uint8)
    dark = film(dark_canvas, SIZE, shaky_camera(16, shake=0.0, seed=1, rotation=0.0))
    clip = bright + dark
    out = list(deflicker(clip))
    # Frames on either side of the cut keep their own brightness: nothing bleeds across it.
    np.testing.assert_allclose(_luma(out), _luma(clip), atol=0.6)


def test_shake_is_not_taken_for_flicker(shaky):
    plan = plan_deflicker(analyse_frames(shaky))
    assert not plan.apply and plan.flicker < 0.3
