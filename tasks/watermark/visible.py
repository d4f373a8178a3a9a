"""Visible marks: the brand's logo in a corner, and a localized "AI-generated" label.

Both are drawn once per clip as RGBA overlays sized relative to the frame height, then blended
into each frame's corner region (only that region is touched, so it costs little per frame).
The label text comes from ``labels.yaml``; it is laid out by Pillow with libraqm (HarfBuzz +
FriBiDi), so Arabic and Hebrew come out joined and right-to-left, and is drawn with the first
font that has every one of its characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from PIL import Image, ImageDraw, features

from common.errors import ConfigError, LayoutError
from media.fonts import pick_font
from media.locales import language

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
CORNERS: tuple[str, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")
MIN_LABEL_SECONDS = 2.0  # China's labelling measures: a label at the start of the video

LABELS_FILE = Path(__file__).with_name("labels.yaml")


@dataclass(frozen=True)
class LogoPlacement:
    """Where and how the brand's logo sits; sizes are fractions of the frame height."""

    corner: Corner = "top-right"
    margin: float = 0.03      # gap to both frame edges
    height: float = 0.08      # logo height
    opacity: float = 0.85     # multiplies the PNG's own alpha

    def __post_init__(self) -> None:
        _check_placement("logo", self.corner, self.margin, self.height)
        if not 0.0 < self.opacity <= 1.0:
            raise ConfigError(f"logo opacity {self.opacity}: must be in (0, 1]")


@dataclass(frozen=True)
class LabelPlacement:
    """Where the AI label sits and for how long; sizes are fractions of the frame height."""

    corner: Corner = "top-left"
    margin: float = 0.03
    text_height: float = 0.045    # font size
    seconds: float = 3.0          # shown from the first frame on, at least MIN_LABEL_SECONDS
    box_opacity: float = 0.55     # dark box behind the text, so it reads on any background

    def __post_init__(self) -> None:
        _check_placement("label", self.corner, self.margin, self.text_height)
        if self.seconds < MIN_LABEL_SECONDS:
            raise ConfigError(f"label seconds {self.seconds}: the AI label must show for at "
                              f"least {MIN_LABEL_SECONDS:g} s from the start of the clip")
        if not 0.0 <= self.box_opacity <= 1.0:
            raise ConfigError(f"label box_opacity {self.box_opacity}: must be in [0, 1]")


def _check_placement(what: str, corner: str, margin: float, size: float) -> None:
    if corner not in CORNERS:
        raise ConfigError(f"{what} corner {corner!r}: choose one of {', '.join(CORNERS)}")
    if not 0.0 <= margin < 0.5:
        raise ConfigError(f"{what} margin {margin}: a fraction of the frame height in [0, 0.5)")
    if not 0.0 < size <= 0.5:
        raise ConfigError(f"{what} size {size}: a fraction of the frame height in (0, 0.5]")


# ---------------------------------------------------------------------------------------------
# Label text


@lru_cache(maxsize=4)
def load_labels(path: Path = LABELS_FILE) -> dict[str, str]:
    """The locale -> label table (keys lower-cased)."""
    try:
        table = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the AI label table ({exc})") from exc
    if not isinstance(table, dict) or not all(isinstance(v, str) and v for v in table.values()):
        raise ConfigError(f"{path}: must map locale tags to non-empty label strings")
    return {str(k).lower(): v for k, v in table.items()}


def label_for_locale(locale: str, labels: dict[str, str] | None = None) -> tuple[str, str]:
    """``(matched locale, label text)`` for a BCP 47 tag; falls back from ``pt-BR`` to ``pt``."""
    table = labels if labels is not None else load_labels()
    tag = locale.strip().replace("_", "-").lower()
    for candidate in (tag, language(locale)):
        if candidate in table:
            return candidate, table[candidate]
    raise ConfigError(f"label locale {locale!r} is not in {LABELS_FILE.name}; add it there or "
                      f"use one of: {', '.join(sorted(table))}")


# ---------------------------------------------------------------------------------------------
# Overlays


@dataclass(frozen=True)
class Overlay:
    """A premultiplied RGBA overlay placed at ``(x, y)``: ``rgb`` float32 ``[h, w, 3]`` already
    multiplied by ``alpha`` float32 ``[h, w, 1]``."""

    x: int
    y: int
    rgb: np.ndarray
    alpha: np.ndarray

    @classmethod
    def from_rgba(cls, rgba: np.ndarray, x: int, y: int) -> Overlay:
        alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
        return cls(x, y, rgba[:, :, :3].astype(np.float32) * alpha, alpha)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Blend into ``frame`` (``uint8 [H, W, 3]``, modified in place and returned)."""
        h, w = self.alpha.shape[:2]
        roi = frame[self.y:self.y + h, self.x:self.x + w]
        blended = roi.astype(np.float32) * (1.0 - self.alpha) + self.rgb
        roi[...] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return frame

    def covers(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the overlay in frame pixels."""
        h, w = self.alpha.shape[:2]
        return self.x, self.y, self.x + w, self.y + h


Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) in frame pixels
MIN_LABEL_SCALE = 0.6  # a long label shrinks to 60 % of its size, then wraps, before it fails


def _place(corner: str, margin_px: int, size: tuple[int, int], frame_size: tuple[int, int],
           box: Box | None = None) -> tuple[int, int]:
    """Top-left corner of an overlay of ``size`` in ``corner`` of ``box`` (the safe zone), or of
    the frame inset by ``margin_px``."""
    (w, h), (fw, fh) = size, frame_size
    x0, y0, x1, y1 = box if box is not None else (margin_px, margin_px, fw - margin_px,
                                                  fh - margin_px)
    x = x0 if corner.endswith("left") else x1 - w
    y = y0 if corner.startswith("top") else y1 - h
    if x < x0 or y < y0 or x + w > x1 or y + h > y1:
        raise LayoutError(f"overlay of {w}x{h} px does not fit in the {corner} corner of the "
                          f"{x1 - x0}x{y1 - y0} px safe area of a {fw}x{fh} frame")
    return x, y


def _basis(frame_size: tuple[int, int]) -> int:
    """Overlay sizes follow the frame's short side: a 9:16 frame gets the label and logo of the
    16:9 frame of the same model size, not ones 1.7 times taller."""
    return min(frame_size)


def logo_overlay(logo: Path, frame_size: tuple[int, int],
                 placement: LogoPlacement = LogoPlacement(), *, box: Box | None = None
                 ) -> Overlay:
    """The brand logo (PNG with alpha) scaled to ``placement.height`` of the frame's short side,
    in its corner of ``box`` (a safe zone) or of the frame inset by the margin; a logo wider
    than the box is scaled down to fit it."""
    try:
        with Image.open(logo) as img:
            img.load()
            rgba = img.convert("RGBA")
    except OSError as exc:
        raise ConfigError(f"logo {logo}: cannot read it as an image ({exc}); give a PNG") from exc
    height = max(2, round(placement.height * _basis(frame_size)))
    width = max(2, round(rgba.width * height / rgba.height))
    if box is not None and width > (box[2] - box[0]) // 2:
        width = max(2, (box[2] - box[0]) // 2)  # half the safe width at most: the label's room
        height = max(2, round(rgba.height * width / rgba.width))
    # Resize with premultiplied alpha, or transparent pixels bleed their colour into the edges.
    scaled = rgba.convert("RGBa").resize((width, height), Image.Resampling.LANCZOS).convert("RGBA")
    arr = np.asarray(scaled).copy()
    arr[:, :, 3] = np.round(arr[:, :, 3] * placement.opacity).astype(np.uint8)
    x, y = _place(placement.corner, round(placement.margin * _basis(frame_size)),
                  (width, height), frame_size, box)
    return Overlay.from_rgba(arr, x, y)


def render_label(text: str | list[str], size_px: int, *, locale: str = "en",
                 fonts_dir: Path | None = None, box_opacity: float = 0.55) -> np.ndarray:
    """The label as ``uint8 [h, w, 4]`` RGBA: white text (one line, or the lines given, each
    centred) on a rounded dark box."""
    lines = [text] if isinstance(text, str) else list(text)
    font = pick_font(" ".join(lines), size_px, fonts_dir)
    kwargs = {"language": language(locale)} if features.check("raqm") else {}
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    boxes = [probe.textbbox((0, 0), line, font=font, **kwargs) for line in lines]
    pad_x, pad_y = round(size_px * 0.45), round(size_px * 0.3)
    ascent, descent = font.getmetrics()
    line_h = ascent + descent
    text_w = max(right - left for left, _, right, _ in boxes)
    box_w, box_h = text_w + 2 * pad_x, line_h * len(lines) + 2 * pad_y
    img = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, box_w - 1, box_h - 1), radius=round(size_px * 0.3),
                           fill=(0, 0, 0, round(255 * box_opacity)))
    for i, (line, (left, _, right, _)) in enumerate(zip(lines, boxes)):
        x = pad_x + (text_w - (right - left)) // 2 - left
        draw.text((x, pad_y + i * line_h), line, font=font, fill=(255, 255, 255, 255), **kwargs)
    return np.asarray(img).copy()


def _two_lines(text: str) -> list[str] | None:
    """The label split at the space nearest its middle (None: one word)."""
    words = text.split()
    if len(words) < 2:
        return None
    best = min(range(1, len(words)),
               key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))))
    return [" ".join(words[:best]), " ".join(words[best:])]


def fit_label(text: str, size_px: int, max_size: tuple[int, int], *, locale: str = "en",
              fonts_dir: Path | None = None, box_opacity: float = 0.55) -> np.ndarray:
    """The label at ``size_px``, or smaller (down to ``MIN_LABEL_SCALE``), or on two lines,
    whichever first fits ``max_size`` (w, h). LayoutError when none does."""
    max_w, max_h = max_size
    floor = max(8, round(size_px * MIN_LABEL_SCALE))
    sizes = list(range(size_px, floor - 1, -max(1, size_px // 16)))
    layouts: list[str | list[str]] = [text]
    split = _two_lines(text)
    if split:
        layouts.append(split)
    for layout in layouts:
        for px in sizes:
            rgba = render_label(layout, px, locale=locale, fonts_dir=fonts_dir,
                                box_opacity=box_opacity)
            if rgba.shape[1] <= max_w and rgba.shape[0] <= max_h:
                return rgba
    raise LayoutError(f"the {locale} AI label {text!r} does not fit {max_w}x{max_h} px even at "
                      f"{floor} px on two lines")


def label_overlay(locale: str, frame_size: tuple[int, int],
                  placement: LabelPlacement = LabelPlacement(), *,
                  fonts_dir: Path | None = None, box: Box | None = None,
                  reserve: int = 0) -> tuple[Overlay, str]:
    """The AI label for ``locale`` in its corner of ``box`` (a safe zone) or of the frame inset
    by the margin, and the text it shows. ``reserve``: pixels of the box's width kept free for
    the logo on the same edge. A label too wide is scaled down or wrapped (:func:`fit_label`)."""
    fw, fh = frame_size
    margin = round(placement.margin * _basis(frame_size))
    area = box if box is not None else (margin, margin, fw - margin, fh - margin)
    matched, text = label_for_locale(locale)
    rgba = fit_label(text, max(8, round(placement.text_height * _basis(frame_size))),
                     (area[2] - area[0] - reserve, (area[3] - area[1]) // 4), locale=matched,
                     fonts_dir=fonts_dir, box_opacity=placement.box_opacity)
    x, y = _place(placement.corner, margin, (rgba.shape[1], rgba.shape[0]), frame_size, box)
    return Overlay.from_rgba(rgba, x, y), text
