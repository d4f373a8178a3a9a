"""Delivery formats: one table of aspect ratios, their sizes and the platforms' safe zones.

A *format* is an aspect ratio a campaign is delivered in (``16:9``, ``9:16``, ``1:1``, ``4:5``).
A *safe zone* is the part of the frame that no platform UI covers: text, logos and captions are
laid out inside it (tasks/watermark/visible.py, tasks/subtitles/style.py, tasks/endcard.py).

Where the numbers come from (fractions of the frame; the most restrictive platform wins):

* ``9:16`` (Reels, TikTok, YouTube Shorts): Meta Business Help Center, "Reels ads safe zone":
  keep the top 14 %, the bottom 35 % and 6 % of each side free of text and logos (profile,
  caption, CTA and audio UI). TikTok Creative Center safe-zone templates add the right-hand
  action rail (like/comment/share: about 120-180 px of 1080, we keep 14 %); YouTube Shorts'
  title, subscribe and action buttons fall inside the same margins.
* ``16:9`` (YouTube, web players, TV): SMPTE ST 2046-1 / EBU R 95 title-safe (5 % each side)
  with the bottom raised to 10 % for YouTube's progress bar and player controls on hover.
* ``4:5`` and ``1:1`` (Instagram/Facebook feed): Meta's feed guidance keeps about 64 px of
  1080 (6 %) clear on every side for the profile header and the like bar.

Native sizes are the model's (Wan2.2 A14B: 1280x720, 720x1280, 832x480, 480x832; TI2V-5B:
1280x704, 704x1280); ``1:1`` and ``4:5`` are never generated, they are cropped from a native
format's master (tasks/reframe.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import ConfigError

NATIVE_SIZES: dict[str, tuple[tuple[int, int], ...]] = {
    # landscape, portrait pairs the models generate (tasks/spec.py SIZES)
    "16:9": ((1280, 720), (832, 480), (1280, 704)),
    "9:16": ((720, 1280), (480, 832), (704, 1280)),
}


@dataclass(frozen=True)
class SafeZone:
    """Margins covered by platform UI, as fractions of the frame's width (left, right) and
    height (top, bottom)."""

    top: float
    bottom: float
    left: float
    right: float
    source: str

    def box(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the safe area in a frame of ``size`` (w, h) pixels."""
        w, h = size
        return (round(w * self.left), round(h * self.top),
                w - round(w * self.right), h - round(h * self.bottom))


@dataclass(frozen=True)
class Format:
    name: str            # "16:9"
    ratio: tuple[int, int]
    native: bool         # the model renders it (else: a crop of a native format)
    vertical_ui: bool    # a phone feed with UI over the bottom (captions sit above it)
    safe: SafeZone

    @property
    def slug(self) -> str:
        """The name in paths and object keys: ``9x16``."""
        return f"{self.ratio[0]}x{self.ratio[1]}"

    @property
    def aspect(self) -> float:
        return self.ratio[0] / self.ratio[1]


REELS = SafeZone(top=0.14, bottom=0.35, left=0.06, right=0.14,
                 source="Meta Reels ads safe zone (14 % top, 35 % bottom, 6 % sides) + TikTok "
                        "Creative Center right action rail")
TITLE_SAFE = SafeZone(top=0.05, bottom=0.10, left=0.05, right=0.05,
                      source="SMPTE ST 2046-1 / EBU R 95 title-safe; bottom 10 % for YouTube's "
                             "player controls")
FEED = SafeZone(top=0.06, bottom=0.06, left=0.06, right=0.06,
                source="Meta feed (Instagram/Facebook) 1:1 and 4:5: ~64 px of 1080 each side")

FORMATS: dict[str, Format] = {
    "16:9": Format("16:9", (16, 9), native=True, vertical_ui=False, safe=TITLE_SAFE),
    "9:16": Format("9:16", (9, 16), native=True, vertical_ui=True, safe=REELS),
    "1:1": Format("1:1", (1, 1), native=False, vertical_ui=False, safe=FEED),
    "4:5": Format("4:5", (4, 5), native=False, vertical_ui=False, safe=FEED),
}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ConfigError(f"format {name!r}: choose one of {', '.join(FORMATS)}") from None


def nearest_format(size: tuple[int, int]) -> Format:
    """The table's format closest in aspect to a frame of ``size``: a spec without
    ``output.formats`` is laid out by the safe zone of the format it is nearest to."""
    w, h = size
    return min(FORMATS.values(), key=lambda f: abs(f.aspect - w / h))


def native_size(name: str, base: tuple[int, int]) -> tuple[int, int]:
    """The render size of native format ``name`` for a spec whose own size is ``base``: the
    same model size turned to the format's orientation (832x480 -> 480x832 for 9:16)."""
    long_side, short_side = max(base), min(base)
    return (long_side, short_side) if name == "16:9" else (short_side, long_side)


def crop_size(name: str, source: tuple[int, int]) -> tuple[int, int]:
    """The largest even-sided crop of a ``source`` (w, h) frame with format ``name``'s ratio."""
    rw, rh = get_format(name).ratio
    w, h = source
    if w * rh > h * rw:   # the source is wider than the format: full height
        cw, ch = h * rw / rh, h
    else:
        cw, ch = w, w * rh / rw
    return int(cw) // 2 * 2, int(ch) // 2 * 2


def delivery_size(name: str, base: tuple[int, int], crop_from: str) -> tuple[int, int]:
    """The delivered clip's size for format ``name``: native, or cropped from ``crop_from``."""
    fmt = get_format(name)
    if fmt.native:
        return native_size(name, base)
    return crop_size(name, native_size(crop_from, base))
