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


# sRGB transfer (IEC 61966-2-1), the encoding 8-bit video frames are read in. Lab, ΔE and the
# grade's white balance and exposure all work on linear light through these two functions.
def srgb_to_linear(v):
    """sRGB-encoded values in [0, 1] (numpy array or float) -> linear light in [0, 1]."""
    import numpy as np

    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v):
    """Linear light in [0, 1] -> sRGB-encoded values in [0, 1] (clipped to the range first)."""
    import numpy as np

    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
