"""Pictures of a run for people: contact sheets of a clip and small line plots, as small PNG or
JPEG bytes that a page can embed.

    sample_times(duration, count)          fixed times: the middle of ``count`` equal parts
    frames_at(path, times, width)          the clip's frames at those times, scaled to ``width``
    contact_sheet(frames, labels, ...)     frames in a grid, each with its label under it
    line_plot(series, ...)                 before/after numbers per item as a small plot
    encode_image(array, fmt)               PNG or JPEG bytes
    data_uri(data, fmt)                    ``data:image/...;base64,...`` for a page with no internet

Everything here takes and returns numpy arrays or bytes: no Prefect, no files but the clip read.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from common.errors import MediaError
from media.video import probe, read_scaled_frames

BACKGROUND = (24, 24, 27)
INK = (235, 235, 235)
# Colours of the plotted series, in order: blue, orange, green, red (readable on the dark ground).
SERIES_COLOURS = ((88, 166, 255), (255, 159, 67), (80, 200, 120), (240, 80, 80))


def sample_times(duration: float, count: int) -> list[float]:
    """``count`` fixed times across ``duration`` seconds: the middle of each of ``count`` equal
    parts (never the first or last frame, which are often a fade or a cut)."""
    if count < 1:
        raise MediaError(f"a contact sheet needs at least one frame, {count} were asked for")
    return [duration * (i + 0.5) / count for i in range(count)]


def frames_at(path: str | os.PathLike, times: Sequence[float], width: int = 320
              ) -> list[np.ndarray]:
    """The frames of the clip at ``path`` shown at ``times`` (seconds), scaled to ``width``
    pixels wide (height by the clip's aspect, even). One decode pass, at the small size."""
    info = probe(path)
    height = max(2, round(info.height * width / info.width / 2) * 2)
    fps = float(info.fps)
    indices = [min(info.frames - 1, max(0, int(t * fps))) for t in times]
    wanted = set(indices)
    found: dict[int, np.ndarray] = {}
    for index, frame in enumerate(read_scaled_frames(path, (width, height))):
        if index in wanted:
            found[index] = frame.copy()
            if len(found) == len(wanted):
                break
    if not found:
        raise MediaError(f"{path}: no frame could be read for a contact sheet")
    last = found[max(found)]  # a container that over-reports its frame count: its last frame
    return [found.get(index, last) for index in indices]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:  # no DejaVu on this machine: PIL's own bitmap font still labels the frames
        return ImageFont.load_default()


def contact_sheet(frames: Sequence[np.ndarray], labels: Sequence[str] | None = None, *,
                  columns: int = 3, title: str = "", gap: int = 6) -> np.ndarray:
    """``frames`` (uint8 [h, w, 3], all one size) in a grid of ``columns``, each with its label
    under it and ``title`` above the grid; an RGB uint8 array."""
    if not frames:
        raise MediaError("a contact sheet needs at least one frame")
    h, w = frames[0].shape[:2]
    if any(f.shape != frames[0].shape for f in frames):
        raise MediaError("contact sheet frames differ in size; scale them to one size first")
    labels = list(labels or [""] * len(frames))
    columns = max(1, min(columns, len(frames)))
    rows = -(-len(frames) // columns)
    font, title_font = _font(12), _font(14)
    label_h = 18 if any(labels) else 0
    title_h = 22 if title else 0
    sheet = Image.new("RGB", (columns * (w + gap) + gap,
                              title_h + rows * (h + label_h + gap) + gap), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((gap, 4), title, fill=INK, font=title_font)
    for i, (frame, label) in enumerate(zip(frames, labels)):
        x = gap + (i % columns) * (w + gap)
        y = title_h + gap + (i // columns) * (h + label_h + gap)
        sheet.paste(Image.fromarray(np.ascontiguousarray(frame[..., :3])), (x, y))
        if label:
            draw.text((x + 2, y + h + 3), label, fill=INK, font=font)
    return np.asarray(sheet)


def line_plot(series: dict[str, Sequence[float]], categories: Sequence[str], *,
              title: str = "", unit: str = "", size: tuple[int, int] = (480, 240)) -> np.ndarray:
    """A small plot of each named series (e.g. "before", "after") over ``categories`` (e.g.
    shots): points joined by lines, the values printed, a zero-based y axis. RGB uint8."""
    if not categories or not series:
        raise MediaError("a plot needs at least one category and one series")
    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(11)
    left, right, top, bottom = 44, 12, 24 if title else 10, 40
    top_value = max([v for values in series.values() for v in values if np.isfinite(v)] + [0.0])
    top_value = top_value * 1.15 or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    if title:
        draw.text((left, 4), title, fill=INK, font=_font(13))
    draw.line([(left, top), (left, top + plot_h), (left + plot_w, top + plot_h)], fill=INK)
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        draw.text((4, y - 6), f"{top_value * frac:.2g}", fill=INK, font=font)
    step = plot_w / len(categories)

    def xy(i: int, value: float) -> tuple[float, float]:
        return left + step * (i + 0.5), top + plot_h * (1 - value / top_value)

    for i, name in enumerate(categories):
        draw.text((left + step * i + 2, top + plot_h + 4), str(name)[:14], fill=INK, font=font)
    for k, (name, values) in enumerate(series.items()):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        points = [xy(i, float(v)) for i, v in enumerate(values) if np.isfinite(v)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for (x, y), v in zip(points, [v for v in values if np.isfinite(v)]):
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
            draw.text((x + 5, y - 12), f"{v:.2f}", fill=colour, font=font)
        legend_x = left + 8 + k * 110
        draw.rectangle([legend_x, height - 14, legend_x + 10, height - 4], fill=colour)
        draw.text((legend_x + 14, height - 16), f"{name}{f' ({unit})' if unit else ''}",
                  fill=INK, font=font)
    return np.asarray(image)


def encode_image(image: np.ndarray, fmt: str = "jpeg", quality: int = 80) -> bytes:
    """``image`` (RGB uint8) as PNG or JPEG bytes."""
    fmt = fmt.lower()
    if fmt not in ("png", "jpeg"):
        raise MediaError(f"image format {fmt!r}: use png or jpeg")
    buffer = io.BytesIO()
    picture = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    if fmt == "jpeg":
        picture.save(buffer, format="JPEG", quality=quality, optimize=True)
    else:
        picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def data_uri(data: bytes, fmt: str = "jpeg") -> str:
    """``data:image/<fmt>;base64,...``: an image a page shows with no server and no internet."""
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(data).decode('ascii')}"
