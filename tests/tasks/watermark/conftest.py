"""Clips and certificates the watermark tests share (all made here, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tasks.video import write_video
from tasks.watermark.provenance import make_dev_certificate

CONTENT_ID = "a1b2c3d4e5f6" + "0f1e2d3c4b5a69788796a5b4c3d2e1f0" + "00112233445566778899"  # 64 hex
FONTS_DIR = Path(__file__).resolve().parents[3] / ".fonts-cache"


def storyboard_frames(n: int, width: int, height: int, grey=(96, 98, 104)):
    """Frames like the CPU animatic's: a title on a flat brand colour, a slow camera move."""
    pan_x, pan_y = width // 8, height // 16
    board = np.zeros((height + pan_y, width + pan_x, 3), np.uint8)
    board[:] = grey
    cv2.putText(board, "Spring launch", (width // 6, height // 2), cv2.FONT_HERSHEY_SIMPLEX,
                height / 300, (240, 240, 240), max(2, height // 200), cv2.LINE_AA)
    cv2.rectangle(board, (width // 6, int(height * 0.6)), (width // 2, int(height * 0.75)),
                  (200, 80, 60), -1)
    for i in range(n):
        t = i / max(n - 1, 1)
        x, y = round(t * pan_x), round(t * pan_y)
        yield board[y:y + height, x:x + width].copy()


def natural_frames(n: int, width: int, height: int, seed: int = 1):
    """Colourful, textured frames with a natural-image (1/f) spectrum, panning slowly."""
    rng = np.random.default_rng(seed)
    big_h, big_w = height + height // 8, width + width // 8
    fy, fx = np.fft.fftfreq(big_h)[:, None], np.fft.rfftfreq(big_w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    channels = []
    for _ in range(3):
        spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f
        spectrum[0, 0] = 0
        plane = np.fft.irfft2(spectrum, s=(big_h, big_w))
        channels.append(plane / plane.std())
    mixed = np.stack(channels, -1) @ np.array([[1, .6, .3], [.2, 1, .5], [.3, .2, 1]])
    board = np.clip(128 + 45 * mixed / mixed.std(), 0, 255).astype(np.uint8)
    for i in range(n):
        t = i / max(n - 1, 1)
        x, y = round(t * width // 8), round(t * height // 16)
        yield board[y:y + height, x:x + width].copy()


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Unmarked source clips: storyboard 640x360 (3 s at 12 fps), natural 640x360, 720p."""
    folder = tmp_path_factory.mktemp("wm-clips")
    made = {
        "storyboard": (storyboard_frames(36, 640, 360), 12),
        "natural": (natural_frames(24, 640, 360), 12),
        "storyboard_720p": (storyboard_frames(30, 1280, 720), 24),
    }
    paths = {}
    for name, (frames, fps) in made.items():
        paths[name] = folder / f"{name}.mp4"
        write_video(paths[name], frames, fps=fps, crf=18)
    return paths


@pytest.fixture(scope="session")
def logo_png(tmp_path_factory) -> Path:
    img = Image.new("RGBA", (200, 80), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((0, 0, 79, 79), fill=(230, 60, 40, 255))
    draw.rectangle((90, 20, 199, 60), fill=(20, 90, 200, 255))
    path = tmp_path_factory.mktemp("wm-logo") / "logo.png"
    img.save(path)
    return path


@pytest.fixture(scope="session")
def signing_chain(tmp_path_factory) -> tuple[Path, Path]:
    """A throwaway P-256 root CA + leaf (CA:FALSE, digitalSignature, emailProtection)."""
    return make_dev_certificate(tmp_path_factory.mktemp("wm-certs"))
