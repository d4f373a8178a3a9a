"""Visible marks: the AI label on the first seconds, the logo in its corner, localized text."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import ConfigError
from media.video import read_frames
from tasks.watermark import (
    LabelPlacement,
    LogoPlacement,
    apply_marks,
    label_for_locale,
    load_labels,
    payload_from_content_id,
    render_label,
)

from .conftest import CONTENT_ID, FONTS_DIR

PAYLOAD = payload_from_content_id(CONTENT_ID)


def region(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return frame[y0:y1, x0:x1].astype(np.int16)


def test_label_pixels_present_for_the_first_2_seconds_then_gone(clips, tmp_path):
    # The storyboard clip is 36 frames at 12 fps (3 s): 24 labelled frames, then 12 clean ones.
    out = tmp_path / "labelled.mp4"
    report = apply_marks(clips["storyboard"], out, payload=PAYLOAD, label_locale="en",
                         label_placement=LabelPlacement(corner="bottom-left", seconds=2.0),
                         fonts_dir=FONTS_DIR)
    assert report.frames == 36 and report.label_frames == 24
    assert report.label_text == "AI-generated"
    box = report.label_box
    assert box[0] == round(0.03 * 360) and box[1] > 360 // 2  # bottom-left corner
    for i, (src, dst) in enumerate(zip(read_frames(clips["storyboard"]), read_frames(out))):
        changed = np.abs(region(dst, box) - region(src, box)).max(axis=2)
        white = region(dst, box).min(axis=2) > 200
        if i < 24:
            assert (changed > 40).mean() > 0.3, i   # the dark box, every frame of the first 2 s
            assert white.mean() > 0.03, i           # white glyphs inside it
        else:
            assert (changed > 40).mean() < 0.01, i  # only the invisible mark is left


def test_label_shorter_than_2_seconds_is_refused():
    with pytest.raises(ConfigError, match="at least 2"):
        LabelPlacement(seconds=1.5)


def test_a_short_clip_is_labelled_throughout(clips, tmp_path):
    # The 720p clip is 30 frames at 24 fps (1.25 s): the label covers all of it.
    report = apply_marks(clips["storyboard_720p"], tmp_path / "short.mp4", payload=PAYLOAD,
                         label_locale="ja", fonts_dir=FONTS_DIR)
    assert report.frames == 30 and report.label_frames == 30 and report.label_text == "AI生成"


def test_logo_in_its_corner_on_every_frame(clips, logo_png, tmp_path):
    out = tmp_path / "logo.mp4"
    report = apply_marks(clips["storyboard"], out, payload=PAYLOAD, logo=logo_png,
                         logo_placement=LogoPlacement(corner="top-right", height=0.1,
                                                      opacity=1.0),
                         label_locale=None)
    x0, y0, x1, y1 = report.logo_box
    assert y1 - y0 == 36 and x1 == 640 - round(0.03 * 360)   # 10% of 360 px, 3% margin
    for frame in read_frames(out):
        logo = region(frame, report.logo_box)
        red_disc = logo[:, : (y1 - y0)]
        assert np.median(red_disc[..., 0] - red_disc[..., 2]) > 80   # the red disc is there


def test_every_label_in_the_table_renders_with_ink_or_names_the_missing_font():
    for locale, text in load_labels().items():
        try:
            rgba = render_label(text, 32, locale=locale, fonts_dir=FONTS_DIR)
        except ConfigError as exc:
            assert "no font can draw" in str(exc) and locale.split("-")[0] in {"th", "hi"}
            continue
        ink = (rgba[..., 3] == 255) & (rgba[..., :3].min(axis=2) > 200)
        assert ink.sum() > 30, locale


def test_arabic_label_is_shaped_right_to_left():
    text = label_for_locale("ar")[1]
    rgba = render_label(text, 48, locale="ar", fonts_dir=FONTS_DIR)
    # Joined Arabic has a continuous baseline: the longest run of ink along some row spans
    # far more than one letter; unjoined isolated forms would leave gaps every letter.
    ink = rgba[..., :3].min(axis=2) > 200
    longest = max(_longest_run(row) for row in ink)
    assert longest > 48 * 1.5


def _longest_run(row: np.ndarray) -> int:
    best = run = 0
    for value in row:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


def test_locale_fallback_and_unknown_locale():
    assert label_for_locale("pt-BR") == ("pt", "Gerado por IA")
    assert label_for_locale("zh_TW")[1] == "AI生成"
    with pytest.raises(ConfigError, match="not in labels.yaml"):
        label_for_locale("xx-YY")
