"""Sidecar files: names, round trips, and captions that stay text in every format."""

import pysubs2
import pytest

from tasks.subtitles import (
    Cue,
    ShotCaptions,
    SubtitleStyle,
    build_cues,
    clean_caption,
    read_ass,
    read_srt,
    read_vtt,
    write_sidecars,
)
from tasks.subtitles.sanitize import ass_escape

INJECTED = r"{\fs200\pos(0,0)}Big {\b1}bold \N break \h space \n <i>it</i> & --> {x} a\b"


@pytest.fixture
def style():
    return SubtitleStyle.from_brand(primary="#FF5A00", text="#FFFFFF", frame_height=720)


@pytest.mark.parametrize("locale,captions", [
    ("en", ["Hello there.", "A second caption that is long enough to need two lines on screen."]),
    ("zh-CN", ["全新极光跑鞋现已上市。", "更轻、更快，采用回收海洋塑料制成。"]),
    ("ja", ["新しいオーロラが登場しました。"]),
    ("ar", ["مرحبا بكم في عالمنا الجديد Aurora!"]),
    ("he", ["שלום עולם"]),
])
def test_srt_vtt_ass_round_trip(tmp_path, style, locale, captions):
    cues = build_cues([ShotCaptions("s1", 0.0, 6.0, captions), ShotCaptions("s2", 6.0, 9.5, ["2"])],
                      locale=locale)
    paths = write_sidecars(cues, locale=locale, out_stem=tmp_path / "clip", style=style,
                           frame_size=(1280, 720))
    assert paths == {ext: tmp_path / f"clip.{locale}.{ext}" for ext in ("ass", "srt", "vtt")}
    for reader, tolerance in ((read_srt, 1e-6), (read_vtt, 1e-6), (read_ass, 0.006)):
        back = reader(paths[reader.__name__[-3:]])
        assert [c.lines for c in back] == [c.lines for c in cues]
        for a, b in zip(back, cues):
            assert a.start == pytest.approx(b.start, abs=tolerance)
            assert a.end == pytest.approx(b.end, abs=tolerance)


def test_injected_markup_is_literal_in_every_file(tmp_path, style):
    cues = [Cue(0.0, 2.0, (clean_caption(INJECTED),), "s1")]
    paths = write_sidecars(cues, locale="en", out_stem=tmp_path / "clip", style=style,
                           frame_size=(1280, 720))
    for reader in (read_srt, read_vtt, read_ass):
        assert reader(paths[reader.__name__[-3:]])[0].lines == (INJECTED,)
    # pysubs2 sees no override tags and no line breaks in the event (only escaped braces)
    event = pysubs2.load(str(paths["ass"])).events[0]
    assert "\n" not in event.plaintext and "\\N" not in event.text.replace("\\\u2060N", "")
    assert event.text == ass_escape(INJECTED)
    for tag in ("{\\fs200", "{\\b1}", "{x}"):
        assert tag not in event.text
    vtt = paths["vtt"].read_text()
    assert "&lt;i&gt;it&lt;/i&gt; &amp; --&gt;" in vtt and "<i>" not in vtt
    srt = paths["srt"].read_text()
    assert "<i>" not in srt and "{\\" not in srt and "\\N" not in srt


def test_ass_uses_frame_pixels_and_brand_colours(tmp_path, style):
    paths = write_sidecars([Cue(0, 1, ("hi",))], locale="zh-CN", out_stem=tmp_path / "c",
                           style=style, frame_size=(1280, 720))
    subs = pysubs2.load(str(paths["ass"]))
    assert subs.info["PlayResX"] == "1280" and subs.info["PlayResY"] == "720"
    s = subs.styles["Caption"]
    assert s.fontname == "WenQuanYi Micro Hei" and s.fontsize == round(720 * 0.055)
    assert (s.primarycolor.r, s.primarycolor.g, s.primarycolor.b) == (255, 255, 255)
    assert (s.outlinecolor.r, s.outlinecolor.g, s.outlinecolor.b) == (255, 90, 0)
    assert s.marginv == 36 and s.marginl == 128 and s.alignment == pysubs2.Alignment.BOTTOM_CENTER


def test_low_contrast_brand_colour_falls_back_to_black_outline():
    style = SubtitleStyle.from_brand(primary="#FFEE00", text="#FFFFFF", frame_height=1080)
    assert style.outline_color == (0, 0, 0) and style.font_px == round(1080 * 0.055)
    portrait = SubtitleStyle.from_brand(primary="#000", text="#FFF", frame_height=1280,
                                        frame_width=720)
    assert portrait.font_px == round(720 * 9 / 16 * 0.055)


def test_rtl_lines_carry_a_direction_mark_not_reversed_text(tmp_path, style):
    text = "Aurora مرحبا"
    paths = write_sidecars([Cue(0, 1, (text,))], locale="ar", out_stem=tmp_path / "c",
                           style=style, frame_size=(320, 180))
    assert "\u200f" + text in paths["srt"].read_text()
    assert pysubs2.load(str(paths["ass"])).styles["Caption"].encoding == -1


def test_clean_caption_removes_controls_and_bidi_overrides():
    raw = "a\u202eb\u2066c\u2069d\x00e\x1bf\r\ng\u2028h\ufeff  i\u200dj\u200fk"
    assert clean_caption(raw) == "abcdef g h i\u200dj\u200fk"
