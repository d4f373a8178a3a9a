"""The `svd` backend: diffusers' Stable Video Diffusion with tiny random components written here;
its key; its re-timing; and the clear error when the [svd] extra is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from common.errors import ConfigError
from tasks.render import RenderRequest, render_key, select_backend
from tasks.render.stage import render_to_file
from tasks.render.svd import SVDBackend, conditioning_fps, retime

NATIVE_FRAMES = 4


@pytest.fixture(scope="module")
def svd_folder(tmp_path_factory):
    """A tiny StableVideoDiffusionPipeline folder (the component sizes of diffusers' own fast
    tests), as `from_pretrained` reads a downloaded one."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=8,
        out_channels=4, down_block_types=("CrossAttnDownBlockSpatioTemporal",
                                          "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32, num_attention_heads=8, projection_class_embeddings_input_dim=96,
        addition_time_embed_dim=32, num_frames=NATIVE_FRAMES)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        interpolation_type="linear", num_train_timesteps=1000, prediction_type="v_prediction",
        sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True)
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                                       down_block_types=["DownEncoderBlock2D"] * 2,
                                       latent_channels=4)
    torch.manual_seed(0)
    # The pipeline resizes a PIL photo to CLIP's 224x224: 7x7 patches of 32 keep it tiny.
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=5, num_attention_heads=4,
        image_size=224, intermediate_size=37, patch_size=32))
    pipe = StableVideoDiffusionPipeline(
        vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler,
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224))
    root = tmp_path_factory.mktemp("svd")
    pipe.save_pretrained(root)
    return root


@pytest.fixture
def photo(tmp_path):
    ys, xs = np.mgrid[0:60, 0:90]
    rgb = np.stack([xs * 2.5, ys * 4, 128 + 0 * xs], axis=-1).clip(0, 255).astype(np.uint8)
    path = tmp_path / "product.png"
    Image.fromarray(rgb).save(path)
    return path


def request(**overrides) -> RenderRequest:
    base = dict(prompt="a teapot", negative_prompt="", seed=3, width=32, height=32, frames=9,
                fps=16, sampling={"steps": 1}, brand_colors=("#112233", "#445566"))
    return RenderRequest(**{**base, **overrides})


def test_svd_renders_a_clip_from_a_photo(svd_folder, photo, tmp_path):
    from media.video import read_frames

    backend = SVDBackend(weights_dir=svd_folder, device="cpu")
    progress, details = [], {}
    path = tmp_path / "hero.mkv"
    assert render_to_file(backend, request(image=str(photo)), path,
                          on_progress=lambda d, t: progress.append((d, t)), details=details) == 9
    # What the render did reaches the run's metrics like the model's forwards do.
    assert details == {"steps": 1, "svd_frames": NATIVE_FRAMES}
    # SVD made its 4 frames; they were re-timed to the shot's 9 at 16 fps.
    frames = list(read_frames(path))
    assert len(frames) == 9 and all(f.shape == (32, 32, 3) and f.dtype == np.uint8 for f in frames)
    assert progress == [(1, 1)]
    # The spec's motion settings reach the model.
    other = list(backend.render(request(image=str(photo), motion={"motion_bucket_id": 20})))
    assert not all(np.array_equal(a, b) for a, b in zip(frames, other))
    # A shot without a photo starts from its storyboard backdrop.
    assert len(list(backend.render(request(image=None)))) == 9


def test_svd_key_holds_the_photo_bytes_and_the_motion_not_the_text(svd_folder, photo, tmp_path):
    backend = SVDBackend(weights_dir=svd_folder, device="cpu")
    key = render_key(backend, request(image=str(photo)))
    for ignored in ({"prompt": "a coffee cup"}, {"title": "Sale"}, {"negative_prompt": "blurry"},
                    {"brand_colors": ("#FF0000",)}):
        assert render_key(backend, request(image=str(photo), **ignored)) == key, ignored
    for decisive in ({"seed": 4}, {"motion": {"motion_bucket_id": 90}}, {"frames": 13},
                     {"motion": {"noise_aug_strength": 0.1}}, {"sampling": {"steps": 3}}):
        assert render_key(backend, request(image=str(photo), **decisive)) != key, decisive
    copy = tmp_path / "copy.png"
    copy.write_bytes(photo.read_bytes())
    assert render_key(backend, request(image=str(copy))) == key  # bytes, not the path
    copy.write_bytes(photo.read_bytes() + b"\0")
    assert render_key(backend, request(image=str(copy))) != key
    # Without a photo, the backdrop's brand colours decide the picture.
    bare = render_key(backend, request())
    assert render_key(backend, request(brand_colors=("#FF0000",))) != bare


def test_svd_retimes_its_frames_over_the_shot():
    clip = [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(6)]
    out = list(retime(clip, 9, 16))
    assert len(out) == 9 and np.array_equal(out[0], clip[0])
    assert list(retime(clip, 6, 16)) == clip  # the same count: untouched
    assert conditioning_fps(25, 41, 16) == 10  # 25 frames over 2.56 s
    assert conditioning_fps(25, 25, 7) == 7


def test_a_missing_svd_extra_names_it(svd_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` now fails
    with pytest.raises(ConfigError, match=r"pip install 'content-factory\[svd\]'"):
        SVDBackend(weights_dir=svd_folder)
    with pytest.raises(ConfigError, match=r"content-factory\[svd\]"):
        select_backend("svd", svd_weights_dir=svd_folder)


def test_svd_needs_its_weights(tmp_path):
    from common.errors import WeightsNotFound

    with pytest.raises(ConfigError, match="svd_weights_dir"):
        SVDBackend(weights_dir=None)
    with pytest.raises(WeightsNotFound, match="not a diffusers Stable Video Diffusion folder"):
        SVDBackend(weights_dir=tmp_path)


def test_svd_offload_follows_the_factory_setting(svd_folder):
    # The factory's default is "auto": SVD keeps its model CPU offload (the under-8 GB figure).
    assert SVDBackend(weights_dir=svd_folder).offload is True
    assert SVDBackend(weights_dir=svd_folder, offload="auto").offload is True
    assert SVDBackend(weights_dir=svd_folder, offload="false").offload is False
    assert SVDBackend(weights_dir=svd_folder, offload=False).offload is False
    with pytest.raises(ConfigError, match="offload 'sometimes' unknown"):
        SVDBackend(weights_dir=svd_folder, offload="sometimes")


def test_generate_with_svd_reports_its_work_and_refuses_wan_options(svd_folder, photo,
                                                                      tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    made = CliRunner().invoke(app, ["generate", "--image", str(photo), "--preset", "svd",
                                    "--weights", str(svd_folder), "--size", "32x32", "--frames",
                                    "9", "--steps", "1", "--device", "cpu",
                                    "--out", str(tmp_path / "svd.mp4")])
    assert made.exit_code == 0, made.output
    assert f"9 frames, 32x32 at 7 fps; 1 steps, {NATIVE_FRAMES} frames from SVD" in made.output
    assert "first frame vs photo: PSNR" in made.output
    result = CliRunner().invoke(app, ["generate", "--image", str(photo), "--preset", "svd",
                                      "--weights", str(svd_folder), "--sampling", "fast",
                                      "--out", str(tmp_path / "x.mp4")])
    assert result.exit_code != 0
    assert "are for the Wan2.2 presets" in str(result.exception)
