"""The ``animatic`` backend: each shot drawn as a storyboard clip on the CPU.

A reviewer sees what every shot is meant to be (its visual description, camera hint, product
image, brand colours) moving the way the camera hint says, at the campaign's size and frame
rate, so the whole pipeline runs and can be reviewed without a GPU. Deterministic: the same
request gives the same frames on any machine with the same fonts.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from common.errors import ConfigError
from media.colors import parse_hex_color
from media.fonts import font_candidates, pick_font
from tasks.render.request import IMAGE_DRAWN, ProgressFn, RenderRequest, image_digest

VERSION = "animatic-1"
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
        """The storyboard card the camera moves over: ``uint8 [H*overscan, W*overscan, 3]``."""
        w, h = int(request.width * OVERSCAN) // 2 * 2, int(request.height * OVERSCAN) // 2 * 2
        img = Image.fromarray(backdrop(request, (w, h)))
        draw = ImageDraw.Draw(img)
        margin_x, y = int(w * 0.12), int(h * 0.16)
        if request.image and Path(request.image).is_file():
            product = Image.open(request.image).convert("RGBA")
            side = int(h * 0.42)
            product.thumbnail((side, side))
            img.paste(product, (w - margin_x - product.width, int(h * 0.5 - product.height / 2)),
                      product)
        title = request.title or "Shot"
        title_font = self._font(max(12, h // 14), title)
        draw.text((margin_x, y), title, font=title_font, fill=(255, 255, 255))
        y += int(h // 14 * 1.6)
        body_font = self._font(max(10, h // 26), request.prompt)
        chars = max(16, int((w * (0.5 if request.image else 0.76)) / (h / 26 * 0.55)))
        for line in textwrap.wrap(request.prompt, chars)[:6]:
            draw.text((margin_x, y), line, font=body_font, fill=(240, 240, 240))
            y += int(h // 26 * 1.45)
        hint = f"camera: {request.camera}   seed: {request.seed}"
        draw.text((margin_x, int(h * 0.80)), hint, font=self._font(max(9, h // 34), hint),
                  fill=(210, 210, 210))
        return np.asarray(img.convert("RGB"))

    def render(self, request: RenderRequest, *, on_progress: ProgressFn | None = None,
               details: dict | None = None) -> Iterator[np.ndarray]:
        board = self.board(request)
        bh, bw = board.shape[:2]
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
            if on_progress is not None:
                on_progress(i + 1, request.frames)
            yield frame
