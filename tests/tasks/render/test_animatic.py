"""The animatic backend: the storyboard a reviewer signs off, drawn on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
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


def test_no_internal_text_in_the_pixels_the_notes_go_to_the_details():
    # Two camera notes that move the camera the same way: the same pixels, so no note is drawn.
    details: dict = {}
    a = list(AnimaticBackend().render(request(camera="static"), details=details))
    b = list(AnimaticBackend().render(request(camera="static, locked off")))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert details["storyboard"] == {"title": "The first cup", "camera": "static", "seed": 7}
    # The camera note the script appends to the prompt is not drawn either.
    noted = list(AnimaticBackend().render(request(
        camera="slow push-in", prompt="A glass teapot on a sunlit wooden table. Camera: slow "
                                      "push-in.")))
    plain = list(AnimaticBackend().render(request(camera="slow push-in")))
    assert all(np.array_equal(x, y) for x, y in zip(noted, plain))


def test_a_template_shot_is_titled_in_words_not_as_an_internal_name():
    from tasks.plan import request_for
    from tasks.script import Shot
    from tasks.spec import CampaignSpec

    spec = CampaignSpec.model_validate({"id": "t", "brand": {"name": "B"}, "locales": ["en"],
                                        "script": "x"})
    shot = Shot(id="intro", position=0, title="", visual="v", camera="static", prompt="v.",
                negative_prompt="", duration=1, frames=17, seed=1, template="brand-intro")
    assert request_for(shot, spec).title == "Brand intro"


@pytest.mark.parametrize("size", [(448, 256), (256, 448)])
@pytest.mark.parametrize("camera", ["slow push-in", "slow orbit", "pan left", "pull out"])
def test_the_storyboard_text_stays_in_the_safe_zone_during_every_camera_move(size, camera):
    from media.formats import nearest_format

    w, h = size
    words = request(width=w, height=h, camera=camera, frames=12,
                    prompt="Hands picking fresh tea leaves at sunrise, dew on the leaves, "
                           "shallow depth of field, soft golden light")
    blank = request(width=w, height=h, camera=camera, frames=12, prompt="", title="")
    x0, y0, x1, y1 = nearest_format(size).safe.box(size)
    for shown, clean in zip(AnimaticBackend().render(words), AnimaticBackend().render(blank)):
        ys, xs = np.nonzero(np.abs(shown.astype(int) - clean).max(axis=2) > 0)
        assert xs.size > 200  # the text is there ...
        assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1  # ... inside
