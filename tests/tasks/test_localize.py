"""Localizing one clip from the master: portrait captions are sized by the frame's width and
height, and sit inside the 9:16 safe zone (above the platform's bottom UI)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from media.video import FrameWriter, probe, read_frames
from tasks.assemble import ShotTiming
from tasks.layout import caption_layout, frame_layout
from tasks.localize import Branding, localize_clip
from tasks.script import Shot

W, H, FPS, SECONDS = 480, 832, 16, 4


@pytest.fixture(scope="module")
def portrait_master(tmp_path_factory):
    path = tmp_path_factory.mktemp("master") / "master.mkv"
    with FrameWriter(path, fps=FPS, size=(W, H), lossless=True) as writer:
        for _ in range(FPS * SECONDS):
            writer.write(np.full((H, W, 3), 40, np.uint8))
    return path


CAPTIONS = {"en": "Jasmine Pearl is back, twenty percent off this week.",
            "zh-CN": "茉莉龙珠新茶上市，本周限时八折优惠"}


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_portrait_captions_fit_the_width_in_at_most_two_lines(portrait_master, tmp_path, locale):
    shot = Shot(id="s1", position=0, title="", visual="x", camera="static", prompt="x.",
                negative_prompt="", duration=SECONDS, frames=FPS * SECONDS + 1, seed=1,
                captions={locale: [CAPTIONS[locale]]})
    branding = Branding(name="B", primary="#0F766E", secondary="#F5D0A9", text="#FFFFFF")
    clip = localize_clip(portrait_master, [shot], [ShotTiming("s1", 0.0, SECONDS, FPS * SECONDS)],
                         locale=locale, run_id="portrait", branding=branding, work_dir=tmp_path,
                         created_at=datetime(2026, 3, 1, tzinfo=UTC))
    assert probe(clip.video).size == (W, H)
    frame = list(read_frames(clip.video))[int(FPS * 3.5)]  # after the AI label
    ink = np.abs(frame.astype(int) - 40).max(axis=2) > 60
    rows, cols = np.nonzero(ink)
    assert rows.size, "no caption pixels"
    # A master without formats is laid out by the nearest format's safe zone (9:16 here):
    # inside it, its bottom edge above the Reels/TikTok caption and button area ...
    layout = frame_layout(None, (W, H))
    x0, y0, x1, y1 = layout.safe_box
    assert y1 == H - round(0.35 * H)
    assert cols.min() >= x0 - 1 and cols.max() <= x1 + 1
    assert rows.min() > H / 3 and rows.max() <= y1 + 2
    # ... and no more than two lines, at a font sized by the short side (not 832 * 0.055 ~
    # 46 px, which wraps to more lines and overflows).
    fit = caption_layout(locale, [CAPTIONS[locale]], layout)
    assert fit.font_px <= round(0.055 * W)
    assert rows.max() - rows.min() < 2 * 1.6 * fit.font_px
