"""The animatic backend: the storyboard a reviewer signs off, drawn on the CPU."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tasks.render import RenderRequest
from tasks.render.animatic import AnimaticBackend


def request(**overrides) -> RenderRequest:
    base = dict(prompt="A glass teapot on a sunlit wooden table.", negative_prompt="", seed=7,
                width=160, height=96, frames=9, fps=16, title="The first cup",
                camera="slow push-in", brand_colors=("#0F766E", "#F59E0B"))
    return RenderRequest(**{**base, **overrides})


def test_frames_have_the_requested_shape_and_count_and_report_progress():
    done = []
    frames = list(AnimaticBackend().render(request(), on_progress=lambda d, t: done.append((d, t))))
    assert len(frames) == 9 and all(f.shape == (96, 160, 3) and f.dtype == np.uint8
                                    for f in frames)
    assert done[-1] == (9, 9) and len(done) == 9


def test_deterministic_and_the_seed_changes_the_board():
    a = list(AnimaticBackend().render(request()))
    b = list(AnimaticBackend().render(request()))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = list(AnimaticBackend().render(request(seed=8)))
    assert not np.array_equal(a[0], c[0])


def test_the_camera_moves_and_a_static_shot_still_changes():
    push = list(AnimaticBackend().render(request()))
    # A push-in zooms: the last frame differs from the first far more than a static shot does.
    static = list(AnimaticBackend().render(request(camera="static")))
    moved = np.abs(push[-1].astype(int) - push[0]).mean()
    still = np.abs(static[-1].astype(int) - static[0]).mean()
    assert moved > 2 * still > 0


def test_brand_colours_tint_the_board():
    board = AnimaticBackend().board(request(brand_colors=("#FF0000", "#FF0000")))
    top = board[: board.shape[0] // 10].reshape(-1, 3).mean(axis=0)
    assert top[0] > 150 and top[1] < 90 and top[2] < 90


def test_the_product_photo_is_drawn(tmp_path):
    photo = tmp_path / "tea.png"
    Image.new("RGB", (64, 64), (0, 0, 255)).save(photo)
    without = AnimaticBackend().board(request())
    with_photo = AnimaticBackend().board(request(image=str(photo)))
    blue = (with_photo[..., 2] > 200) & (with_photo[..., 0] < 40) & (with_photo[..., 1] < 40)
    assert blue.sum() > 500 and not np.array_equal(without, with_photo)
