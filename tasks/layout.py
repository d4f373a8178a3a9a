"""Layout per delivery format: the safe zone each clip's text and logo sit in, caption sizes
that keep every line inside it, and the check ``validate`` runs before anything renders.

One function decides each size (the caption font and line width, the label's fit), and both the
localize stage and ``validate`` call it: a spec ``validate`` accepts lays out the same way in a
run, so a run never fails on an overlay that does not fit.

Captions are sized by the frame's short side (``CAPTION_FONT_RATIO``) and, per locale, by the
safe zone's width: a line holds at most the locale's limit (``media.locales``: 42 Latin
characters, 16 CJK ones) and at most what fits the safe width at that size, measured with the
font the captions are drawn in; a line still too wide shrinks the font (to
``MIN_CAPTION_SCALE``). Each cue has at most two lines; in a vertical format it sits above the
platform's bottom UI zone (``media.formats``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigError, LayoutError, SpecError, spec_problems
from media.fonts import pick_font
from media.formats import Format, crop_size, get_format, native_size, nearest_format
from media.locales import LocaleRules, language, rules_for
from tasks.subtitles.cues import ShotCaptions, build_cues
from tasks.subtitles.linebreak import text_width, wrap_caption
from tasks.subtitles.sanitize import clean_caption

CAPTION_FONT_RATIO = 0.055   # of the short side: ~26 px on 832x480 and on 480x832
MIN_CAPTION_SCALE = 0.75     # a caption line may shrink to 75 % of that, no further
OUTLINE_ALLOWANCE = 0.2      # font sizes of outline and shadow either side of a line


@dataclass(frozen=True)
class FrameLayout:
    """One delivery: its format (None: a spec without ``output.formats``), size and safe box."""

    format: str | None
    size: tuple[int, int]
    fmt: Format

    @property
    def safe_box(self) -> tuple[int, int, int, int]:
        return self.fmt.safe.box(self.size)

    @property
    def slug(self) -> str | None:
        return self.fmt.slug if self.format else None


def frame_layout(format_name: str | None, size: tuple[int, int]) -> FrameLayout:
    """The layout of a ``size`` frame delivered as ``format_name`` (None: laid out by the
    safe zone of the format nearest its aspect)."""
    fmt = get_format(format_name) if format_name else nearest_format(size)
    return FrameLayout(format_name, tuple(size), fmt)


def delivery_layouts(spec) -> list[FrameLayout]:
    """Every delivery of a campaign spec (``tasks.spec.OutputSpec``'s formats) with its size."""
    out = spec.output
    base = (out.width, out.height)
    layouts = []
    for name in out.delivery_formats():
        if name is None:
            layouts.append(frame_layout(None, base))
        elif get_format(name).native:
            layouts.append(frame_layout(name, native_size(name, base)))
        else:
            layouts.append(frame_layout(name, crop_size(name, native_size(out.crop_source(),
                                                                          base))))
    return layouts


@dataclass(frozen=True)
class CaptionLayout:
    font_px: int
    rules: LocaleRules   # the locale's rules with max_width narrowed to the safe width


def _caption_font(text: str, size_px: int, fonts_dir: Path | None):
    return pick_font(text or "A", size_px, fonts_dir)


def caption_layout(locale: str, texts: list[str], layout: FrameLayout, *,
                   fonts_dir: Path | None = None) -> CaptionLayout:
    """The caption font size and line rules for ``locale`` in ``layout``: every line of
    ``texts``, wrapped by the returned rules, fits the safe width. LayoutError otherwise."""
    rules = rules_for(locale)
    texts = [t for t in (clean_caption(t) for t in texts) if t]
    x0, _, x1, _ = layout.safe_box
    font_px = max(10, round(CAPTION_FONT_RATIO * min(layout.size)))
    usable = (x1 - x0) - 2 * OUTLINE_ALLOWANCE * font_px
    if not texts:
        return CaptionLayout(font_px, rules)
    sample = " ".join(texts)
    kwargs = {"language": language(locale)}
    probe = _caption_font(sample, 100, fonts_dir)
    units = sum(text_width(t, rules) for t in texts)
    em = sum(probe.getlength(t, **kwargs) for t in texts) / 100 / max(1.0, units)
    chars = math.floor(usable / (font_px * max(em, 0.3)))
    narrowed = dataclasses.replace(rules, max_width=max(6, min(rules.max_width, chars)))
    lines = [line for t in texts for cue in wrap_caption(t, narrowed) for line in cue]
    floor = max(8, math.floor(font_px * MIN_CAPTION_SCALE))
    for px in range(font_px, floor - 1, -1):
        font = _caption_font(sample, px, fonts_dir)
        widest = max(font.getlength(line, **kwargs) for line in lines)
        if widest + 2 * OUTLINE_ALLOWANCE * px <= x1 - x0:
            return CaptionLayout(px, narrowed)
    raise LayoutError(f"a {locale} caption line is {widest:.0f} px wide at {floor} px; the "
                      f"{layout.format or 'frame'} safe width is {x1 - x0} px")


def check_layout(campaign, *, fonts_dir: Path | None = None, logo: Path | None = None) -> None:
    """SpecError listing every locale's AI label, captions and end card that cannot be laid
    out in some delivery format's safe zone (the field, locale and format of each)."""
    from tasks.endcard import end_card_problems
    from tasks.watermark.visible import (
        LabelPlacement,
        LogoPlacement,
        label_overlay,
        logo_overlay,
    )

    spec = campaign.spec
    problems: list[tuple[str, str]] = []
    for layout in delivery_layouts(spec):
        where = layout.format or f"{layout.size[0]}x{layout.size[1]}"
        reserve = 0
        if logo is not None:
            ov = logo_overlay(logo, layout.size, LogoPlacement(), box=layout.safe_box)
            reserve = (ov.covers()[2] - ov.covers()[0]) * 5 // 4
        for locale in spec.locales:
            try:
                label_overlay(locale, layout.size, LabelPlacement(), fonts_dir=fonts_dir,
                              box=layout.safe_box, reserve=reserve)
            except (LayoutError, ConfigError) as exc:
                problems.append(("label", f"[{locale}, {where}] {exc}"))
            captioned = [s for s in campaign.shots if s.captions.get(locale)]
            texts = [t for s in captioned for t in s.captions[locale]]
            if spec.end_card is None:  # the call to action is then the last caption
                ctas = [spec.cta] + ([*spec.variants.cta.values()]
                                     if getattr(spec, "variants", None) is not None else [])
                texts += [c[locale] for c in ctas if c.get(locale)]
            try:
                cl = caption_layout(locale, texts, layout, fonts_dir=fonts_dir)
            except (LayoutError, ConfigError) as exc:
                problems.append((f"shots.{captioned[0].id}.caption[{locale}]" if captioned
                                 else f"cta.{locale}",
                                 f"[{locale}, {where}] {exc}"))
                continue
            for shot in captioned:
                try:
                    build_cues([ShotCaptions(shot.id, 0.0, shot.duration,
                                             shot.captions[locale])], locale, rules=cl.rules)
                except SpecError as exc:
                    problems.append((exc.field or f"shots.{shot.id}.caption[{locale}]",
                                     f"[{locale}, {where}] {exc.detail}"))
            problems += [(f, f"[{locale}, {where}] {m}")
                         for f, m in end_card_problems(campaign, locale, layout,
                                                       fonts_dir=fonts_dir)]
    if problems:
        # One error per overlay that cannot fit, each naming its field, locale and format
        # (`validate` prints them one a line).
        raise spec_problems([SpecError(f"{message} (does not fit the format's safe zone)",
                                       file=campaign.source, field=field)
                             for field, message in problems])
