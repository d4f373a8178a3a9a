"""The product flow with an image-conditioned model (TI2V, tiny weights): the hero shot's first
frame is the product photo, the run records how close, and the photo's bytes key the render."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from storage.db import open_database
from storage.models import Run, Shot
from tests.model.conftest import box_filter, make_box_vae22, make_diffusers_dit


@pytest.fixture(scope="module")
def box_ti2v(tmp_path_factory):
    """A TI2V checkpoint in the diffusers layout: a tiny random DiT (12 channels) on the box VAE,
    whose round trip of a picture is a known 16x16 box filter (tests/model/conftest.py)."""
    from transformers import UMT5EncoderModel

    from model.config import TINY
    from model.text_encoder import build_byte_tokenizer

    root = tmp_path_factory.mktemp("box-ti2v")
    dit = make_diffusers_dit("diffusers-tiny", seed=1, in_channels=12, out_channels=12)
    dit.save_pretrained(root / "transformer")
    make_box_vae22().save_pretrained(root / "vae")
    torch.manual_seed(4)
    UMT5EncoderModel(TINY.text.to_transformers()).save_pretrained(root / "text_encoder")
    build_byte_tokenizer().save_pretrained(root / "tokenizer")
    return root


def product_photo(path, *, tweak: bool = False):
    """A 600x400 product shot: a soft-edged mug shape on a graded backdrop."""
    ys, xs = np.mgrid[0:400, 0:600].astype(np.float64)
    backdrop = np.stack([60 + xs / 6, 90 + ys / 5, 140 + 0 * xs], axis=-1)
    body = 1 / (1 + np.exp(-(90 - np.hypot((xs - 300) / 1.3, ys - 210)) / 6))
    mug = np.array([30.0, 80.0, 200.0])
    rgb = backdrop * (1 - body[..., None]) + mug * body[..., None]
    image = np.clip(rgb, 0, 255).astype(np.uint8)
    if tweak:
        image[0, 0] ^= 1  # one bit of one pixel
    Image.fromarray(image).save(path)
    return path


def fitted(path, width: int, height: int) -> np.ndarray:
    """The reference crop, written here: LANCZOS by the larger ratio, then the centre."""
    image = Image.open(path).convert("RGB")
    scale = max(width / image.width, height / image.height)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    x, y = (image.width - width) // 2, (image.height - height) // 2
    return np.asarray(image.crop((x, y, x + width, y + height)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0 ** 2 / mse)


def test_the_hero_shot_starts_from_the_product_photo(prefect_harness, factory_env, monkeypatch,
                                                      tmp_path, box_ti2v):
    from flows import runtime
    from flows.product import product_clip
    from flows.settings import get_settings
    from media.video import read_frames
    from tasks.product import DEFAULT_PRODUCT_TEMPLATE

    for name, value in (("MODEL_PRESET", "ti2v-5b"), ("WEIGHTS_DIR", str(box_ti2v)),
                        ("DEVICE", "cpu")):
        monkeypatch.setenv(f"FACTORY_{name}", value)
    get_settings.cache_clear()
    runtime._factory.cache_clear()
    # The real product template, its output made CPU-sized (256x256) and its sampling 2 steps.
    text = DEFAULT_PRODUCT_TEMPLATE.read_text(encoding="utf-8")
    small = text.replace("  width: 832\n  height: 480\n", "  width: 256\n  height: 256\n")
    small = small.replace("\ntemplates:\n", "\nmodel:\n  steps: 2\ntemplates:\n")
    assert small.count("256") == 2 and "steps: 2" in small
    template = tmp_path / "product.script.j2"
    template.write_text(small, encoding="utf-8")
    product_photo(tmp_path / "mug.png")
    record = {"sku": "MUG-9", "title": "Blue Mug", "price": 9.5, "locales": ["en"],
              "image": "mug.png"}

    manifest = product_clip(sku="MUG-9", product=record, template=str(template),
                            image_dir=str(tmp_path), backend="model", run_id="photo-run-1")

    db = open_database(f"sqlite:///{factory_env / 'factory.db'}")
    with db.session() as s:
        metrics = s.get(Run, "photo-run-1").metrics
        fidelity = metrics["first_frame"]
        keys = {shot.shot_id: shot.render_key for shot in s.query(Shot)
                .filter(Shot.run_id == "photo-run-1")}
    assert set(fidelity) == {"hero"}  # intro and outro have no photo
    # Beside it, the run's other render and master metrics: 3 renders of 2 steps at guidance 5
    # (two forwards a step), and the colour at the cuts.
    assert metrics["render_work"] == {"steps": 6, "forwards": 12, "forwards_skipped": 0}
    assert "colour" in metrics
    render = factory_env / "cache" / "renders" / f"{keys['hero']}.mkv"
    first = next(read_frames(render))
    photo = fitted(tmp_path / "mug.png", 256, 256)
    # The first frame is the photo's latent decoded: with this VAE, its box filter, exactly.
    assert np.abs(first.astype(int) - box_filter(photo).astype(int)).max() <= 1
    # Threshold: the box VAE cannot do better than this photo's own box-filtered copy (its
    # ceiling, 34.8 dB here); the render may lose 0.1 dB more to rounding. A frame that did not
    # start from the photo (photo ignored, no paste-back, another crop) decodes the DiT's random
    # latents and scores near 10 dB.
    ceiling = psnr(box_filter(photo), photo)
    assert ceiling > 28
    assert fidelity["hero"]["psnr"] >= ceiling - 0.1
    assert fidelity["hero"]["psnr"] == pytest.approx(psnr(first, photo), abs=0.01)
    assert 0.5 < fidelity["hero"]["ssim"] <= 1
    assert manifest["renders"] == 3 and len(manifest["clips"]) == 1

    # The photo's bytes key the render: one changed bit, and the hero renders again, alone.
    product_photo(tmp_path / "mug.png", tweak=True)
    again = product_clip(sku="MUG-9", product=record, template=str(template),
                         image_dir=str(tmp_path), backend="model", run_id="photo-run-2")
    with db.session() as s:
        new_keys = {shot.shot_id: shot.render_key for shot in s.query(Shot)
                    .filter(Shot.run_id == "photo-run-2")}
    assert new_keys["hero"] != keys["hero"]
    assert new_keys["intro"] == keys["intro"] and new_keys["outro"] == keys["outro"]
    assert again["render_hits"] == 2
    with db.session() as s:
        assert s.get(Run, "photo-run-2").metrics["render_work"] == \
            {"steps": 2, "forwards": 4, "forwards_skipped": 0}
