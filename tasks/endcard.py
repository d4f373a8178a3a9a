"""The end card: logo, product title, price and a call to action, held after the last shot.

Drawn once per clip (locale and format) with Pillow on the brand's colours, every element inside
the format's safe zone (media.formats); text that is too wide shrinks, then wraps to two lines.
The price is written the locale's way by Babel (CLDR data: ``¥18.50`` in zh-CN, ``US$18.50`` in
ja, the Arabic digits and symbol order in ar), never by a hand-written table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from babel.numbers import format_currency
from PIL import Image, ImageDraw, features

from common.errors import ConfigError, LayoutError
from media.colors import parse_hex_color
from media.fonts import pick_font
from media.locales import language

# Said when a spec's ``cta`` has no text for a locale (a product clip always ends with one).
DEFAULT_CTA = {"en": "Shop now", "zh": "立即购买", "ja": "今すぐ購入", "ar": "تسوق الآن",
               "fr": "Acheter", "de": "Jetzt kaufen", "es": "Compra ahora", "pt": "Compre já",
               "ko": "지금 구매하기", "it": "Acquista ora"}
MIN_TEXT_SCALE = 0.5   # end-card text may shrink to half its size before it wraps or fails


@dataclass(frozen=True)
class EndCardText:
    """What one locale's end card says, and how long it is held."""

    seconds: float
    title: str = ""
    price: str = ""
    cta: str = ""


def format_price(amount: float, currency: str, locale: str) -> str:
    """The price as ``locale`` writes it (CLDR via Babel): ``¥18.50`` (zh-CN), ``US$18.50``."""
    try:
        return format_currency(amount, currency, locale=locale.replace("-", "_"))
    except (ValueError, LookupError):  # a locale CLDR lacks: its language's format
        return format_currency(amount, currency, locale=language(locale))


def cta_for(cta: dict[str, str], locale: str) -> str:
    for key in (locale, language(locale)):
        if key in cta:
            return cta[key]
    return DEFAULT_CTA.get(language(locale), DEFAULT_CTA["en"])


def end_card_text(spec, locale: str, cta: dict[str, str] | None = None) -> EndCardText | None:
    """The end card of a campaign spec for ``locale`` (None: the spec has no ``end_card``);
    ``cta`` instead of the spec's own (a variant's)."""
    card = spec.end_card
    if card is None:
        return None
    title = card.title if isinstance(card.title, str) or card.title is None else \
        (card.title.get(locale) or card.title.get(language(locale)) or "")
    price = format_price(card.price.amount, card.price.currency, locale) if card.price else ""
    return EndCardText(card.seconds, title or "", price,
                       cta_for(spec.cta if cta is None else cta, locale))


def _fit_lines(text: str, size_px: int, max_w: int, locale: str, fonts_dir: Path | None
               ) -> tuple[list[str], int]:
    """``text`` as one line, or two, at the largest size down to ``MIN_TEXT_SCALE`` that fits
    ``max_w``; LayoutError when none does."""
    kwargs = {"language": language(locale)} if features.check("raqm") else {}
    words = text.split()
    layouts = [[text]]
    if len(words) > 1:
        cut = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i]))
                                                          - len(" ".join(words[i:]))))
        layouts.append([" ".join(words[:cut]), " ".join(words[cut:])])
    floor = max(8, round(size_px * MIN_TEXT_SCALE))
    for lines in layouts:
        for px in range(size_px, floor - 1, -max(1, size_px // 12)):
            font = pick_font(text, px, fonts_dir)
            if max(font.getlength(line, **kwargs) for line in lines) <= max_w:
                return lines, px
    raise LayoutError(f"{text!r} is wider than {max_w} px even at {floor} px on two lines")


def draw_end_card(size: tuple[int, int], box: tuple[int, int, int, int], text: EndCardText, *,
                  locale: str, colors: tuple[str, str, str], logo: Path | None = None,
                  fonts_dir: Path | None = None) -> np.ndarray:
    """The card as ``uint8 [h, w, 3]``: brand gradient, then logo, title, price and a CTA
    button stacked in the middle of ``box`` (the safe zone). LayoutError if it cannot fit."""
    w, h = size
    x0, y0, x1, y1 = box
    primary, secondary, ink = (parse_hex_color(c) for c in colors)
    ramp = np.linspace(0, 1, h)[:, None, None]
    top, bottom = np.array(primary, float), np.array(primary, float) * 0.55
    canvas = (top * (1 - ramp) + bottom * ramp).repeat(w, axis=1).astype(np.uint8)
    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    kwargs = {"language": language(locale)} if features.check("raqm") else {}
    unit = min(w, h)
    box_w = x1 - x0
    blocks: list[tuple[str, object]] = []  # ("logo", Image) | ("text", (lines, px, colour))
    if logo is not None:
        with Image.open(logo) as im:
            mark = im.convert("RGBA")
        lh = round(unit * 0.16)
        mark = mark.resize((max(1, round(mark.width * lh / mark.height)), lh),
                           Image.Resampling.LANCZOS)
        if mark.width > box_w:
            mark = mark.resize((box_w, max(1, round(mark.height * box_w / mark.width))),
                               Image.Resampling.LANCZOS)
        blocks.append(("logo", mark))
    if text.title:
        lines, px = _fit_lines(text.title, round(unit * 0.075), box_w, locale, fonts_dir)
        blocks.append(("text", (lines, px, ink)))
    if text.price:
        lines, px = _fit_lines(text.price, round(unit * 0.09), box_w, locale, fonts_dir)
        blocks.append(("text", (lines, px, secondary)))
    button = None
    if text.cta:
        pad = round(unit * 0.025)
        lines, px = _fit_lines(text.cta, round(unit * 0.06), box_w - 4 * pad, locale, fonts_dir)
        button = (lines, px, pad)
    gap = round(unit * 0.03)

    def height(kind, item) -> int:
        if kind == "logo":
            return item.height
        lines, px, _ = item
        return round(px * 1.25) * len(lines)

    total = sum(height(k, i) for k, i in blocks) + gap * len(blocks)
    if button is not None:
        total += round(button[1] * 1.25) * len(button[0]) + 2 * button[2]
    if total > y1 - y0:
        raise LayoutError(f"the end card needs {total} px of height; the safe zone has "
                          f"{y1 - y0} px")
    y = y0 + (y1 - y0 - total) // 2
    cx = (x0 + x1) // 2
    for kind, item in blocks:
        if kind == "logo":
            img.paste(item, (cx - item.width // 2, y), item)
        else:
            lines, px, colour = item
            font = pick_font(" ".join(lines), px, fonts_dir)
            for i, line in enumerate(lines):
                draw.text((cx, y + i * round(px * 1.25)), line, font=font, fill=colour,
                          anchor="ma", **kwargs)
        y += height(kind, item) + gap
    if button is not None:
        lines, px, pad = button
        font = pick_font(" ".join(lines), px, fonts_dir)
        text_w = max(font.getlength(line, **kwargs) for line in lines)
        bw = round(text_w) + 4 * pad
        bh = round(px * 1.25) * len(lines) + 2 * pad
        draw.rounded_rectangle((cx - bw // 2, y, cx + bw // 2, y + bh), radius=bh // 2,
                               fill=secondary)
        dark = primary if sum(primary) < sum(secondary) else (0, 0, 0)
        for i, line in enumerate(lines):
            draw.text((cx, y + pad + i * round(px * 1.25)), line, font=font, fill=dark,
                      anchor="ma", **kwargs)
    return np.asarray(img.convert("RGB")).copy()


def end_card_problems(campaign, locale: str, layout, *, fonts_dir: Path | None = None
                      ) -> list[tuple[str, str]]:
    """``(field, message)`` for an end card that cannot be laid out (validate's check), with
    the spec's call to action and every variant's."""
    spec = campaign.spec
    ctas = [("cta", spec.cta)]
    if getattr(spec, "variants", None) is not None:
        ctas += [(f"variants.cta.{label}", texts) for label, texts in spec.variants.cta.items()]
    brand = spec.brand
    problems = []
    for field, cta in ctas:
        text = end_card_text(spec, locale, cta)
        if text is None:
            return []
        try:
            draw_end_card(layout.size, layout.safe_box, text, locale=locale,
                          colors=(brand.colors.primary, brand.colors.secondary, brand.colors.text),
                          logo=brand.logo, fonts_dir=fonts_dir)
        except (LayoutError, ConfigError) as exc:
            problems.append((f"end_card ({field})", str(exc)))
    return problems
