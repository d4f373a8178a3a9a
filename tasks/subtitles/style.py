"""How burned-in subtitles look: sizes relative to the frame, colours from the brand.

Sizes are fractions of the frame so a 1080p and a 360p clip look alike. The text sits inside the
graphics-safe area of EBU R 95 (5 % of the height from the bottom, 10 % of the width from each
side, measured for 16:9) so that player controls and crops on social apps do not cover it.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import ConfigError
from media.colors import MIN_TEXT_CONTRAST, contrast_ratio, parse_hex_color
from media.fonts import font_for_locale

FONT_HEIGHT_RATIO = 0.055   # ~40 px text at 720p: 1/18 of the height, the usual broadcast size
OUTLINE_RATIO = 0.075       # outline width as a fraction of the font size (3 px at 40 px)
SHADOW_RATIO = 0.05         # soft drop shadow for legibility on bright backgrounds
SAFE_MARGIN_V = 0.05        # EBU R 95 graphics-safe, bottom
SAFE_MARGIN_H = 0.10        # EBU R 95 graphics-safe, each side


@dataclass(frozen=True)
class SubtitleStyle:
    """Look of burned-in captions, in pixels of a frame ``frame_height`` tall.

    ``font`` None picks the family per locale (:func:`font_for_locale`).
    """

    frame_height: int
    font_px: int
    outline_px: float
    shadow_px: float
    text_color: tuple[int, int, int] = (255, 255, 255)
    outline_color: tuple[int, int, int] = (0, 0, 0)
    shadow_color: tuple[int, int, int] = (0, 0, 0)
    shadow_alpha: int = 128       # 0 opaque .. 255 transparent, as in ASS
    margin_v_px: int = 36
    margin_h_ratio: float = SAFE_MARGIN_H
    bold: bool = True
    font: str | None = None
    margin_l_px: int | None = None   # set: the safe zone's left edge (else margin_h_ratio)
    margin_r_px: int | None = None

    @classmethod
    def from_brand(cls, *, primary: str, text: str, frame_height: int,
                   frame_width: int | None = None, font: str | None = None) -> SubtitleStyle:
        """Brand style: text in the brand's ``text`` colour, outlined in its ``primary`` one.

        The primary colour outlines the text only when it stands out from the text colour
        (contrast >= 3:1, WCAG large text); otherwise the outline is black. For a portrait
        frame (``frame_width`` < height) sizes follow the width, as if the frame were 16:9
        rotated, so a 42-character line still fits.
        """
        if frame_height <= 0:
            raise ConfigError(f"frame_height must be positive, got {frame_height}")
        text_rgb = parse_hex_color(text)
        accent = parse_hex_color(primary)
        outline = accent if contrast_ratio(text_rgb, accent) >= MIN_TEXT_CONTRAST else (0, 0, 0)
        basis = frame_height if not frame_width or frame_width >= frame_height \
            else frame_width * 9 / 16
        font_px = max(8, round(basis * FONT_HEIGHT_RATIO))
        return cls(frame_height=frame_height, font_px=font_px,
                   outline_px=max(1.0, round(font_px * OUTLINE_RATIO, 1)),
                   shadow_px=max(1.0, round(font_px * SHADOW_RATIO, 1)),
                   text_color=text_rgb, outline_color=outline,
                   margin_v_px=round(frame_height * SAFE_MARGIN_V), font=font)

    @classmethod
    def in_safe_zone(cls, *, primary: str, text: str, frame_size: tuple[int, int],
                     safe_box: tuple[int, int, int, int], font_px: int,
                     font: str | None = None) -> SubtitleStyle:
        """Brand style (as :meth:`from_brand`) at ``font_px``, its lines kept inside
        ``safe_box`` (x0, y0, x1, y1): the bottom line sits on the safe zone's bottom edge,
        which in a vertical format is above the platform's caption and button area."""
        base = cls.from_brand(primary=primary, text=text, frame_height=frame_size[1],
                              frame_width=frame_size[0], font=font)
        width, height = frame_size
        x0, _, x1, y1 = safe_box
        return cls(frame_height=height, font_px=font_px,
                   outline_px=max(1.0, round(font_px * OUTLINE_RATIO, 1)),
                   shadow_px=max(1.0, round(font_px * SHADOW_RATIO, 1)),
                   text_color=base.text_color, outline_color=base.outline_color,
                   margin_v_px=height - y1, margin_l_px=x0, margin_r_px=width - x1, font=font)

    def font_for(self, locale: str) -> str:
        return self.font or font_for_locale(locale)
