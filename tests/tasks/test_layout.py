"""Layout per format: labels that fit every language, captions sized by width and height,
`validate` reporting what cannot fit, and the end card inside the safe zone."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from common.errors import LayoutError, SpecError
from flows.cli import run_cli
from media.formats import FORMATS, crop_size, delivery_size, nearest_format
from tasks.endcard import EndCardText, draw_end_card, format_price
from tasks.layout import caption_layout, frame_layout
from tasks.watermark.visible import LabelPlacement, fit_label, label_overlay

FONTS = None  # media.fonts: the system's DejaVu and WenQuanYi files
EXAMPLE_LOGO = Path(__file__).resolve().parents[2] / "examples" / "spring-launch" / "logo.png"


def test_formats_table_sizes():
    assert delivery_size("16:9", (832, 480), "9:16") == (832, 480)
    assert delivery_size("9:16", (832, 480), "9:16") == (480, 832)
    assert delivery_size("1:1", (832, 480), "9:16") == (480, 480)
    assert delivery_size("4:5", (832, 480), "9:16") == (480, 600)
    assert delivery_size("4:5", (1280, 704), "16:9") == crop_size("4:5", (1280, 704)) \
        == (562, 704)
    assert nearest_format((480, 832)).name == "9:16"
    # Every safe zone leaves most of the frame; 9:16 keeps its bottom third for the UI.
    for fmt in FORMATS.values():
        x0, y0, x1, y1 = fmt.safe.box((1080, 1920))
        assert 0 < x0 < x1 < 1080 and 0 < y0 < y1 < 1920 and fmt.safe.source
    assert FORMATS["9:16"].safe.box((1080, 1920))[3] == 1920 - 672


@pytest.mark.parametrize("locale", ["ar", "en", "zh-CN", "ja", "de", "ru"])
def test_the_label_fits_the_vertical_safe_zone_in_every_language(locale):
    # The failure: the Arabic label was 470x66 px on a 480x832 frame, and the run died.
    layout = frame_layout("9:16", (480, 832))
    x0, y0, x1, y1 = layout.safe_box
    overlay, _ = label_overlay(locale, layout.size, LabelPlacement(), fonts_dir=FONTS,
                               box=layout.safe_box, reserve=60)
    ox0, oy0, ox1, oy1 = overlay.covers()
    assert x0 <= ox0 and ox1 <= x1 - 60 and y0 <= oy0 and oy1 <= y1


def test_a_long_label_shrinks_then_wraps_then_fails_with_a_layout_error():
    text = "Contenu généré par intelligence artificielle"
    one_line = fit_label(text, 30, (2000, 200))
    shrunk = fit_label(text, 30, (one_line.shape[1] - 40, 200))
    assert shrunk.shape[0] < one_line.shape[0]          # smaller, still one line
    wrapped = fit_label(text, 30, (one_line.shape[1] // 2 + 20, 200))
    assert wrapped.shape[0] > one_line.shape[0] and wrapped.shape[1] <= one_line.shape[1] // 2 + 20
    with pytest.raises(LayoutError, match="does not fit"):
        fit_label(text, 30, (60, 200))


@pytest.mark.parametrize("fmt,size", [("16:9", (832, 480)), ("9:16", (480, 832)),
                                      ("1:1", (480, 480)), ("4:5", (480, 600))])
@pytest.mark.parametrize("locale,text", [
    ("en", "Jasmine Pearl is back, twenty percent off this week only, while stocks last."),
    ("ar", "لؤلؤ الياسمين عاد، خصم عشرين بالمئة هذا الأسبوع فقط حتى نفاد الكمية."),
    ("zh-CN", "茉莉龙珠新茶上市，本周限时八折优惠，售完即止。"),
    ("ja", "ジャスミンパールが帰ってきました。今週だけ二割引き。")])
def test_caption_lines_fit_the_safe_width_in_at_most_two_lines(fmt, size, locale, text):
    from tasks.layout import _caption_font
    from tasks.subtitles import wrap_caption

    layout = frame_layout(fmt, size)
    fit = caption_layout(locale, [text], layout, fonts_dir=FONTS)
    x0, _, x1, _ = layout.safe_box
    font = _caption_font(text, fit.font_px, FONTS)
    for cue in wrap_caption(text, fit.rules):
        assert len(cue) <= 2
        for line in cue:
            assert font.getlength(line, language=locale.split("-")[0]) <= x1 - x0
    # Sized by the height as well: never more than 5.5 % of the short side.
    assert fit.font_px <= round(0.055 * min(size))


VERTICAL_SPEC = """\
id: vertical
brand: {name: V}
output: {width: 480, height: 832, formats: [9:16]}
locales: [en, ar]
audio: none
script: |
  ## offer
  duration: 1.5s
  visual: A tea tin
  [en] Tea, 20% off.
  [ar] {long}
"""


def test_validate_reports_an_arabic_caption_that_cannot_fit_the_vertical_format(tmp_path,
                                                                                  capsys):
    # In 16:9 this caption is one cue of two lines; in 9:16 its lines are about half as long,
    # so it needs two cues, and a 1.5 s shot cannot show two cues for 0.83 s each.
    long = "لؤلؤ الياسمين عاد إلينا من جديد، خصم عشرين بالمئة على كل العلب هذا الأسبوع"
    spec = tmp_path / "vertical.yaml"
    spec.write_text(textwrap.dedent(VERTICAL_SPEC).replace("{long}", long), encoding="utf-8")
    code = run_cli(["validate", str(spec)])
    err = capsys.readouterr().err
    assert code != 0
    assert "shots.offer.caption[ar]" in err and "[ar, 9:16]" in err
    assert "[en" not in err  # the English caption fits
    # The same spec delivered as 16:9 is valid.
    spec.write_text(spec.read_text(encoding="utf-8").replace("formats: [9:16]",
                                                             "formats: [16:9]"),
                    encoding="utf-8")
    assert run_cli(["validate", str(spec)]) == 0


def test_validate_rejects_an_unknown_format(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text(textwrap.dedent(VERTICAL_SPEC).replace("[9:16]", "[9:16, 2:1]")
                    .replace("{long}", "كوب"), encoding="utf-8")
    assert run_cli(["validate", str(spec)]) != 0
    assert "output.formats" in capsys.readouterr().err


def test_prices_are_written_the_locale_way_by_babel():
    assert format_price(18.5, "USD", "en") == "$18.50"
    assert format_price(18.5, "CNY", "zh-CN") == "¥18.50"
    assert format_price(1850, "JPY", "ja") == "￥1,850"
    assert "18.50" in format_price(18.5, "USD", "ar") or "١٨" in format_price(18.5, "USD", "ar")


@pytest.mark.parametrize("fmt,size", [("16:9", (832, 480)), ("9:16", (480, 832)),
                                      ("4:5", (480, 600))])
@pytest.mark.parametrize("locale,title,cta", [
    ("ar", "شاي لؤلؤ الياسمين الفاخر", "تذوقه اليوم"),
    ("en", "Jasmine Pearl Tea, first flush of spring", "Taste it today"),
    ("ja", "ジャスミンパール", "今すぐ味わう")])
def test_the_end_card_is_inside_the_safe_zone(fmt, size, locale, title, cta):
    layout = frame_layout(fmt, size)
    colors = ("#0F766E", "#F5D0A9", "#FFFFFF")
    text = EndCardText(2.5, title, format_price(18.5, "USD", locale), cta)
    card = draw_end_card(size, layout.safe_box, text, locale=locale, colors=colors,
                         logo=EXAMPLE_LOGO)
    empty = draw_end_card(size, layout.safe_box, EndCardText(2.5), locale=locale, colors=colors)
    changed = np.abs(card.astype(np.int16) - empty).max(axis=2) > 8
    ys, xs = np.nonzero(changed)
    x0, y0, x1, y1 = layout.safe_box
    assert xs.size > 500
    assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1


def test_an_end_card_that_cannot_fit_is_a_layout_error():
    layout = frame_layout("9:16", (480, 832))
    with pytest.raises(LayoutError):
        draw_end_card((480, 832), layout.safe_box,
                      EndCardText(2.5, "W" * 60, "$1", "Go"), locale="en",
                      colors=("#000000", "#FFFFFF", "#FFFFFF"))


def test_spec_formats_survive_unquoted_yaml(tmp_path):
    from tasks.spec import load_campaign_spec

    spec = tmp_path / "s.yaml"
    spec.write_text(textwrap.dedent(VERTICAL_SPEC).replace("[9:16]", "[16:9, 9:16, 1:1, 4:5]")
                    .replace("{long}", "كوب"), encoding="utf-8")
    loaded, _, _ = load_campaign_spec(spec)
    assert loaded.output.formats == ["16:9", "9:16", "1:1", "4:5"]
    assert loaded.output.rendered_formats() == ["16:9", "9:16"]
    assert loaded.output.crop_source() == "9:16"
    with pytest.raises(SpecError, match="crop_from"):
        spec.write_text(spec.read_text(encoding="utf-8").replace(
            "formats:", "crop_from: '1:1', formats:"), encoding="utf-8")
        load_campaign_spec(spec)
