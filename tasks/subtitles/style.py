"""How burned-in subtitles look: sizes relative to the frame, colours from the brand.

Sizes are fractions of the frame so a 1080p and a 360p clip look alike. The text sits inside the
graphics-safe area of EBU R 95 (5 % of the height from the bottom, 10 % of the width from each
side, measured for 16:9) so that player controls and crops on social apps do not cover it.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import ConfigError
from tasks.subtitles.locales import rules_for

FONT_HEIGHT_RATIO = 0.055   # ~40 px text at 720p: 1/18 of the height, the usual broadcast size
OUTLINE_RATIO = 0.075       # outline width as a fraction of the font size (3 px at 40 px)
SHADOW_RATIO = 0.05         # soft drop shadow for legibility on bright backgrounds
SAFE_MARGIN_V = 0.05        # EBU R 95 graphics-safe, bottom
SAFE_MARGIN_H = 0.10        # EBU R 95 graphics-safe, each side
MIN_OUTLINE_CONTRAST = 3.0  # WCAG 2 minimum contrast for large text

# Fonts installed by scripts/install-fonts.sh into the project's font folder.
LATIN_FONT = "DejaVu Sans"           # Latin, Cyrillic, Greek, Arabic, Hebrew
CJK_FONT = "WenQuanYi Micro Hei"     # Chinese, Japanese, Korean (and its own Latin)


def parse_hex_color(value: str) -> tuple[int, int, int]:
    """``"#FF5A00"`` or ``"FF5A00"`` -> ``(255, 90, 0)``."""
    text = value.strip().lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ConfigError(f"brand colour {value!r} is not a hex colour such as '#FF5A00'")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance."""
    def lin(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def font_for_locale(locale: str) -> str:
    """The primary font family for a locale's captions (others fall back through fontconfig)."""
    return CJK_FONT if rules_for(locale).script in ("cjk", "hangul") else LATIN_FONT


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

    @classmethod
    def from_brand(cls, *, primary: str, secondary: str, frame_height: int,
                   frame_width: int | None = None, font: str | None = None) -> SubtitleStyle:
        """Brand style: text in the secondary colour, outlined in the primary one.

        The primary colour outlines the text only when it stands out from the text colour
        (contrast >= 3:1, WCAG large text); otherwise the outline is black. For a portrait
        frame (``frame_width`` < height) sizes follow the width, as if the frame were 16:9
        rotated, so a 42-character line still fits.
        """
        if frame_height <= 0:
            raise ConfigError(f"frame_height must be positive, got {frame_height}")
        text = parse_hex_color(secondary)
        accent = parse_hex_color(primary)
        outline = accent if contrast_ratio(text, accent) >= MIN_OUTLINE_CONTRAST else (0, 0, 0)
        basis = frame_height if not frame_width or frame_width >= frame_height \
            else frame_width * 9 / 16
        font_px = max(8, round(basis * FONT_HEIGHT_RATIO))
        return cls(frame_height=frame_height, font_px=font_px,
                   outline_px=max(1.0, round(font_px * OUTLINE_RATIO, 1)),
                   shadow_px=max(1.0, round(font_px * SHADOW_RATIO, 1)),
                   text_color=text, outline_color=outline,
                   margin_v_px=round(frame_height * SAFE_MARGIN_V), font=font)

    def font_for(self, locale: str) -> str:
        return self.font or font_for_locale(locale)
