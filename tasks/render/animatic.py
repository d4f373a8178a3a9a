"""The ``animatic`` backend: each shot drawn as a storyboard clip on the CPU.

A reviewer sees what every shot is meant to be (its visual description, camera hint, product
image, brand colours) moving the way the camera hint says, at the campaign's size and frame
rate, so the whole pipeline runs and can be reviewed without a GPU. Deterministic: the same
request gives the same frames on any machine with the same fonts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from common.errors import ConfigError
from media.colors import parse_hex_color
from media.fonts import font_candidates, pick_font
from media.formats import nearest_format
from tasks.render.request import IMAGE_DRAWN, ProgressFn, RenderRequest, image_digest

VERSION = "animatic-2"
OVERSCAN = 1.18  # the board is drawn larger than the frame so the camera can move over it


def _camera_path(camera: str, t: float) -> tuple[float, float, float]:
    """(zoom, dx, dy) at time t in [0, 1] for a camera hint; dx, dy in board fractions."""
    hint = camera.lower()
    zoom, dx, dy = 1.0, 0.0, 0.0
    if "push" in hint or "zoom in" in hint or "dolly in" in hint:
        zoom = 1.0 + 0.12 * t
    elif "pull" in hint or "zoom out" in hint or "dolly out" in hint:
        zoom = 1.12 - 0.12 * t
    if "pan left" in hint or "truck left" in hint:
        dx = 0.06 * (0.5 - t)
    elif "pan" in hint or "truck" in hint or "track" in hint:
        dx = 0.06 * (t - 0.5)
    if "tilt up" in hint or "crane up" in hint:
        dy = 0.05 * (0.5 - t)
    elif "tilt" in hint or "crane" in hint:
        dy = 0.05 * (t - 0.5)
    if "orbit" in hint or "rotat" in hint:
        dx = 0.05 * np.sin(2 * np.pi * t)
        zoom = 1.04
    return zoom, dx, dy


def _description(request: RenderRequest) -> str:
    """The shot's visual description: the prompt without the camera note the script appends
    (tasks/script.py: "<visual>. Camera: <hint>.")."""
    note = f" Camera: {request.camera}."
    prompt = request.prompt.strip()
    return prompt[:-len(note)] if request.camera and prompt.endswith(note) else prompt


def _wrap(text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    """Words (characters, for text without spaces) into lines no wider than ``width`` px."""
    units = text.split() if " " in text.strip() else list(text)
    sep = " " if " " in text.strip() else ""
    lines: list[str] = []
    for unit in units:
        trial = f"{lines[-1]}{sep}{unit}" if lines else unit
        if lines and font.getlength(trial) <= width:
            lines[-1] = trial
        else:
            lines.append(unit)
    return lines


def backdrop(request: RenderRequest, size: tuple[int, int] | None = None) -> np.ndarray:
    """The storyboard card's background alone (brand-colour gradient and seeded soft shapes, no
    text, no photo): ``uint8 [h, w, 3]``, ``size`` (w, h) or the request's own.

    Image-to-video backends start a shot that has no photo from it (an intro, an outro), so
    such a shot is drawn from what the backdrop depends on: the brand colours and the seed.
    """
    w, h = size or (request.width, request.height)
    colors = [parse_hex_color(c) for c in request.brand_colors] or [(31, 41, 55), (245, 158, 11)]
    top, bottom = np.array(colors[0], float), np.array(colors[-1], float) * 0.35 \
        + np.array(colors[0], float) * 0.65
    ramp = np.linspace(0, 1, h)[:, None, None]
    canvas = (top * (1 - ramp) + bottom * ramp).repeat(w, axis=1).astype(np.uint8)
    rng = np.random.default_rng(request.seed)
    # Seeded soft shapes give the board texture, so motion (and tracking) is visible.
    for _ in range(7):
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        r = int(rng.uniform(0.05, 0.18) * h)
        shade = tuple(int(v) for v in np.clip(top + rng.uniform(-60, 60, 3), 0, 255))
        cv2.circle(canvas, (cx, cy), r, shade, -1, lineType=cv2.LINE_AA)
    return cv2.GaussianBlur(canvas, (0, 0), sigmaX=max(1.0, h / 200))


def backdrop_key_fields(request: RenderRequest) -> dict:
    """What :func:`backdrop` draws from: a photo-less shot's image-to-video key holds these."""
    return {"backdrop": VERSION, "brand_colors": list(request.brand_colors)}


class AnimaticBackend:
    """Storyboard renderer. ``fonts`` are tried in order for the board text."""

    name = "animatic"
    image_role = IMAGE_DRAWN
    # Draws any size: a 1:1 or 4:5 storyboard is laid out for its own frame and safe zone (a
    # crop of the 9:16 board would cut its words); model backends crop (tasks/reframe.py).
    any_size = True

    def __init__(self, *, fonts_dir: Path | None = None) -> None:
        self.fonts = font_candidates(fonts_dir)

    def fingerprint(self) -> str:
        fonts = ",".join(f.name for f in self.fonts)
        return hashlib.sha256(f"{VERSION}|{fonts}".encode()).hexdigest()[:16]

    def key_fields(self, request: RenderRequest) -> dict:
        """What the storyboard draws: prompt, title, camera move, product image (by its bytes),
        brand colours, seed, size and length. Sampling settings do not change a drawing."""
        return {"prompt": request.prompt, "title": request.title, "camera": request.camera,
                "image": image_digest(request.image), "brand_colors": list(request.brand_colors),
                "seed": request.seed, "width": request.width, "height": request.height,
                "frames": request.frames, "fps": request.fps}

    def _font(self, size: int, text: str) -> ImageFont.ImageFont:
        try:
            return pick_font(text, size, candidates=self.fonts)
        except ConfigError:  # a storyboard still draws what it can
            return ImageFont.load_default(size=size)

    def board(self, request: RenderRequest) -> np.ndarray:
        """The card the camera moves over: ``uint8 [H*overscan, W*overscan, 3]``: the brand
        backdrop and, where the shot has one, the product photo. No text: text moving with the
        camera would leave the safe zone on a push-in or an orbit (:meth:`caption_panel`)."""
        w, h = int(request.width * OVERSCAN) // 2 * 2, int(request.height * OVERSCAN) // 2 * 2
        img = Image.fromarray(backdrop(request, (w, h)))
        if request.image and Path(request.image).is_file():
            product = Image.open(request.image).convert("RGBA")
            side = int(min(w, h) * 0.5)
            product.thumbnail((side, side))
            # Right of centre on a landscape board (the text is on the left), lower middle
            # on a portrait one (the text is above it).
            if w >= h:
                at = (int(w * 0.5 + (w * 0.38 - product.width) / 2),
                      int(h * 0.5 - product.height / 2))
            else:
                at = (int(w / 2 - product.width / 2), int(h * 0.56 - product.height / 2))
            img.paste(product, at, product)
        return np.asarray(img.convert("RGB"))

    def text_area(self, request: RenderRequest) -> tuple[int, int, int, int]:
        """Where the storyboard's words go, in output pixels: inside the delivery format's safe
        zone (media.formats), below the row of the AI label and logo, above the captions."""
        x0, y0, x1, y1 = nearest_format((request.width, request.height)).safe.box(
            (request.width, request.height))
        bh = y1 - y0
        top, bottom = y0 + int(bh * 0.2), y1 - int(bh * 0.3)
        if request.image and request.width >= request.height:
            x1 = x0 + int((x1 - x0) * 0.5)  # the photo has the right half
        elif request.image:
            bottom = y0 + int(bh * 0.45)    # the photo has the lower half
        return x0, top, x1, bottom

    def caption_panel(self, request: RenderRequest) -> tuple[np.ndarray, tuple[int, int]]:
        """The shot's title and description, for the client: straight-alpha RGBA
        ``[h, w, 4]`` and its top-left corner, fixed in the frame (every camera move keeps it
        inside the safe zone). Seeds, template names and camera notes are not drawn: they go
        to the render's details (review artifacts)."""
        x0, y0, x1, y1 = self.text_area(request)
        area_w, area_h = x1 - x0, y1 - y0
        description = _description(request)
        unit = min(request.width, request.height)
        title = request.title or ""
        for scale in (1.0, 0.85, 0.7, 0.6, 0.5):
            title_px = max(10, int(unit / 14 * scale))
            body_px = max(9, int(unit / 26 * scale))
            title_font = self._font(title_px, title or "A")
            body_font = self._font(body_px, description or "A")
            lines = _wrap(description, body_font, area_w)[:5]
            titles = _wrap(title, title_font, area_w)[:2] if title else []
            height = len(titles) * int(title_px * 1.25) + int(title_px * 0.4 if titles else 0) \
                + len(lines) * int(body_px * 1.4)
            if height <= area_h:
                break
        img = Image.new("RGBA", (area_w, area_h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        y = 0
        for line in titles:
            draw.text((0, y), line, font=title_font, fill=(255, 255, 255, 255),
                      stroke_width=max(1, title_px // 16), stroke_fill=(0, 0, 0, 160))
            y += int(title_px * 1.25)
        y += int(title_px * 0.4) if titles else 0
        for line in lines:
            if y + body_px > area_h:
                break
            draw.text((0, y), line, font=body_font, fill=(240, 240, 240, 255),
                      stroke_width=1, stroke_fill=(0, 0, 0, 140))
            y += int(body_px * 1.4)
        return np.asarray(img), (x0, y0)

    def render(self, request: RenderRequest, *, on_progress: ProgressFn | None = None,
               details: dict | None = None) -> Iterator[np.ndarray]:
        board = self.board(request)
        bh, bw = board.shape[:2]
        panel, (px0, py0) = self.caption_panel(request)
        alpha = panel[:, :, 3:4].astype(np.float32) / 255.0
        ph, pw = panel.shape[:2]
        if details is not None:  # what the board no longer shows, for the review page
            details["storyboard"] = {"title": request.title, "camera": request.camera,
                                     "seed": request.seed}
        out_w, out_h = request.width, request.height
        rng = np.random.default_rng(request.seed + 1)
        dot_start, dot_v = rng.uniform(0.2, 0.8, 2), rng.uniform(-0.25, 0.25, 2)
        for i in range(request.frames):
            t = i / max(1, request.frames - 1)
            zoom, dx, dy = _camera_path(request.camera, t)
            # Affine map from output pixels to board pixels: scale about the board centre.
            scale = (out_w / bw) * OVERSCAN * zoom
            cx, cy = bw / 2 + dx * bw, bh / 2 + dy * bh
            m = np.array([[scale, 0, out_w / 2 - scale * cx],
                          [0, scale, out_h / 2 - scale * cy]], dtype=np.float64)
            frame = cv2.warpAffine(board, m, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
            # A small moving light so consecutive frames differ even on a static camera.
            px, py = (dot_start + dot_v * t) * (out_w, out_h)
            cv2.circle(frame, (int(px), int(py)), max(3, out_h // 40), (255, 255, 255), -1,
                       lineType=cv2.LINE_AA)
            roi = frame[py0:py0 + ph, px0:px0 + pw]
            roi[...] = (roi * (1 - alpha) + panel[:, :, :3] * alpha + 0.5).astype(np.uint8)
            if on_progress is not None:
                on_progress(i + 1, request.frames)
            yield frame
