"""Burn-in through libass and soft mov_text tracks, on small real clips."""

import re
import subprocess
from dataclasses import replace

import numpy as np
import pytest

from common.errors import MissingGlyphsError
from media.fonts import default_fonts_dir
from media.video import ffmpeg_exe, probe, read_frames, write_video
from tasks.subtitles import (
    Cue,
    SubtitleStyle,
    burn_subtitles,
    mux_soft_subtitles,
    read_srt,
    write_sidecars,
)

W, H = 320, 180
INJECTED = r"{\pos(10,10)}{\fs120}Big \N two {\b1}"


@pytest.fixture(scope="module")
def fonts_dir():
    d = default_fonts_dir()
    assert (d / "fonts.conf").is_file() and any(d.glob("wqy*")), \
        f"{d} lacks the subtitle fonts: run `make fonts` (scripts/install-fonts.sh)"
    return d


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    # a soft diagonal gradient: encoder noise stays low, every drawn pixel shows up
    y, x = np.mgrid[0:H, 0:W]
    frame = np.stack([60 + x * 0.2, 90 + y * 0.2, np.full_like(x, 120.0)], -1).astype(np.uint8)
    path = tmp_path_factory.mktemp("clip") / "src.mp4"
    write_video(path, [frame] * 12, fps=24)
    return path


def _style():
    return SubtitleStyle.from_brand(primary="#FF5A00", text="#FFFFFF", frame_height=H)


def _burn(tmp_path, clip, fonts_dir, text, locale="en"):
    paths = write_sidecars([Cue(0.0, 1.0, (text,))], locale=locale, out_stem=tmp_path / "clip",
                           style=_style(), frame_size=(W, H))
    out = burn_subtitles(clip, paths["ass"], tmp_path / f"out.{locale}.mp4", fonts_dir=fonts_dir)
    before = next(iter(read_frames(clip))).astype(int)
    after = next(iter(read_frames(out))).astype(int)
    return out, np.abs(after - before).max(-1)


def test_burn_in_changes_pixels_only_in_the_subtitle_band(tmp_path, clip, fonts_dir):
    out, diff = _burn(tmp_path, clip, fonts_dir, INJECTED)
    info = probe(out)
    assert (info.width, info.height, info.frames, info.codec) == (W, H, 12, "h264")
    style = _style()
    rows, cols = np.nonzero(diff > 40)
    assert rows.size > 50, "the caption was not drawn"
    # one line of text at the bottom margin: the override tags and \N were not interpreted
    band_top = H - style.margin_v_px - 1.6 * style.font_px - 2 * style.outline_px
    assert rows.min() >= band_top, (rows.min(), band_top)
    assert rows.max() <= H - style.margin_v_px + 2 * (style.outline_px + style.shadow_px) + 2
    assert np.all(diff[: int(band_top) - 4] <= 12), "pixels above the band changed"


def test_cjk_and_arabic_burn_without_missing_glyphs(tmp_path, clip, fonts_dir):
    for locale, text in (("zh-CN", "全新极光"), ("ja", "ランニング"), ("ko", "러닝화"),
                         ("ar", "مرحبا Aurora")):
        _, diff = _burn(tmp_path, clip, fonts_dir, text, locale)
        assert (diff > 40).sum() > 30, locale


def test_a_font_folder_without_cjk_is_a_clear_error(tmp_path, clip, fonts_dir):
    latin_only = tmp_path / "fonts"
    latin_only.mkdir()
    (latin_only / "DejaVuSans.ttf").symlink_to((fonts_dir / "DejaVuSans.ttf").resolve())
    paths = write_sidecars([Cue(0.0, 1.0, ("中文",))], locale="zh-CN", out_stem=tmp_path / "c",
                           style=_style(), frame_size=(W, H))
    with pytest.raises(MissingGlyphsError, match="U\\+4E2D"):
        burn_subtitles(clip, paths["ass"], tmp_path / "out.mp4", fonts_dir=latin_only)
    assert not (tmp_path / "out.mp4").exists()


def test_soft_tracks_are_language_tagged_and_literal(tmp_path, clip):
    tracks = {}
    for locale, text in (("zh-CN", "全新极光 " + INJECTED), ("ar", "مرحبا <b>x</b>")):
        paths = write_sidecars([Cue(0.0, 0.5, (text,))], locale=locale,
                               out_stem=tmp_path / "clip", style=_style(), frame_size=(W, H))
        tracks[locale] = paths["srt"]
    out = mux_soft_subtitles(clip, tmp_path / "soft.mp4", tracks)
    info = probe(out)
    assert info.has_subtitles and info.frames == 12 and info.codec == "h264"
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True,
                         text=True).stderr
    assert re.findall(r"\((\w+)\): Subtitle: mov_text", err) == ["chi", "ara"]
    assert "handler_name    : zh-CN" in err and "UDTA parsing failed" not in err
    for i, srt in enumerate(tracks.values()):
        back = tmp_path / f"back{i}.srt"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(out), "-map", f"0:s:{i}",
                        str(back)], check=True)
        assert read_srt(back)[0].lines == read_srt(srt)[0].lines


def _ink_columns(tmp_path, clip, fonts_dir, text, locale):
    """Columns where the burned caption (no outline, no shadow) put ink, as a bool vector."""
    style = replace(_style(), outline_px=0.0, shadow_px=0.0, font_px=24)
    paths = write_sidecars([Cue(0.0, 1.0, (text,))], locale=locale, out_stem=tmp_path / "ink",
                           style=style, frame_size=(W, H))
    out = burn_subtitles(clip, paths["ass"], tmp_path / "ink.mp4", fonts_dir=fonts_dir)
    before = next(iter(read_frames(clip))).astype(int)
    after = next(iter(read_frames(out))).astype(int)
    return (np.abs(after - before).max(-1) > 60).any(0)


def _span(cols):
    xs = np.nonzero(cols)[0]
    return xs.min(), xs.max()


def test_arabic_is_joined_and_laid_out_right_to_left(tmp_path, clip, fonts_dir):
    # Joined: medial forms of BEH are far narrower than the isolated form repeated.
    lo, hi = _span(_ink_columns(tmp_path, clip, fonts_dir, "ب", "ar"))
    one = hi - lo + 1
    cols = _ink_columns(tmp_path, clip, fonts_dir, "بببب", "ar")
    lo, hi = _span(cols)
    assert hi - lo + 1 < 0.75 * 4 * one
    assert cols[lo:hi + 1].all(), "a joined word has no gap between its letters"
    # Right to left: the first word in logical order ("WWWWWW") ends up on the right.
    cols = _ink_columns(tmp_path, clip, fonts_dir, "WWWWWW ب", "ar")
    lo, hi = _span(cols)
    gaps = np.nonzero(~cols[lo:hi + 1])[0] + lo
    assert gaps.size and gaps.mean() < (lo + hi) / 2, "the Latin word should be right of the gap"
    cols = _ink_columns(tmp_path, clip, fonts_dir, "WWWWWW ب", "en")  # same text, LTR locale
    lo, hi = _span(cols)
    gaps = np.nonzero(~cols[lo:hi + 1])[0] + lo
    assert gaps.mean() > (lo + hi) / 2
