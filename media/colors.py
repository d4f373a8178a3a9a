"""Colours as specs write them (``#RRGGBB``) and the contrast rules text on video follows."""

from __future__ import annotations

import re

from common.errors import ConfigError

HEX_COLOR = re.compile(r"^#?([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")
MIN_TEXT_CONTRAST = 3.0  # WCAG 2 minimum contrast for large text


def parse_hex_color(value: str) -> tuple[int, int, int]:
    """``"#FF5A00"``, ``"FF5A00"`` or ``"#F50"`` -> ``(255, 90, 0)``; ConfigError otherwise."""
    text = value.strip()
    if not HEX_COLOR.match(text):
        raise ConfigError(f"colour {value!r} is not a hex colour such as '#FF5A00'")
    text = text.lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance."""
    def lin(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio, 1 (same) to 21 (black on white)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
