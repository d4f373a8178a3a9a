"""Clips and certificates the watermark tests share (all made here, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from media.synthetic import natural_frames, storyboard_frames
from media.video import write_video
from tasks.watermark.provenance import make_dev_certificate

CONTENT_ID = "a1b2c3d4e5f6" + "0f1e2d3c4b5a69788796a5b4c3d2e1f0" + "00112233445566778899"  # 64 hex
FONTS_DIR = Path(__file__).resolve().parents[3] / ".fonts-cache"


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
