"""The `model` render backend, its cache key, and `content-factory generate --preset tiny`."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import ConfigError, RenderError, SpecError
from model import pipeline as model_pipeline
from tasks.render import RenderRequest, render_key
from tasks.render.model import ModelBackend, model_available


def request(**overrides) -> RenderRequest:
    base = dict(prompt="a glass of iced tea", negative_prompt="", seed=5, width=32, height=32,
                frames=5, fps=16, sampling={"steps": 4})
    return RenderRequest(**{**base, **overrides})


def test_backend_renders_requested_frames_and_loads_once():
    backend = ModelBackend(preset="tiny", weights_dir=None, device="cpu")
    progress = []
    frames = list(backend.render(request(), on_progress=lambda d, t: progress.append(d)))
    assert len(frames) == 5 and frames[0].shape == (32, 32, 3) and frames[0].dtype == np.uint8
    assert progress == [1, 2, 3, 4]
    loaded = dict(model_pipeline._SHARED)
    again = list(ModelBackend(preset="tiny", weights_dir=None, device="cpu").render(request()))
    assert dict(model_pipeline._SHARED) == loaded  # the same pipeline served the second backend
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))


def test_fingerprint_is_stable_and_tracks_weights(tiny_diffusers_folder, tmp_path):
    random_a = ModelBackend(preset="tiny", weights_dir=None).fingerprint()
    assert random_a == ModelBackend(preset="tiny", weights_dir=None).fingerprint()
    on_disk = ModelBackend(preset="tiny", weights_dir=tiny_diffusers_folder).fingerprint()
    assert on_disk != random_a and len(on_disk) == 64


def test_errors_are_render_errors(tmp_path):
    with pytest.raises(RenderError, match="needs a weights folder"):
        ModelBackend(preset="t2v-a14b", weights_dir=None)
    with pytest.raises(RenderError, match=str(tmp_path / "missing")):
        ModelBackend(preset="t2v-a14b", weights_dir=tmp_path / "missing")
    with pytest.raises(ConfigError, match="unknown model preset"):
        ModelBackend(preset="sd15", weights_dir=None)
    backend = ModelBackend(preset="tiny", weights_dir=None, device="cpu")
    # A size or length the model cannot take is the asker's mistake: a spec error.
    with pytest.raises(SpecError, match="4n\\+1"):
        list(backend.render(request(frames=6)))
    with pytest.raises(SpecError, match="divisible by 16"):
        list(backend.render(request(width=40)))


def test_key_holds_what_decides_the_pixels_and_nothing_else():
    backend = ModelBackend(preset="tiny", weights_dir=None, device="cpu")
    key = render_key(backend, request())
    # What the model never reads does not change the key ...
    for ignored in ({"title": "Spring Sale"}, {"brand_colors": ("#FF0000", "#00FF00")},
                    {"camera": "orbit"}):
        assert render_key(backend, request(**ignored)) == key, ignored
    # ... what it reads does, and a default written out is the same default.
    for decisive in ({"prompt": "a cup of coffee"}, {"negative_prompt": "blurry"}, {"seed": 6},
                     {"width": 48}, {"frames": 9}, {"sampling": {"steps": 5}},
                     {"sampling": {"steps": 4, "shift": 3.0}}):
        assert render_key(backend, request(**decisive)) != key, decisive
    preset_steps = backend.preset.sampling.steps
    assert render_key(backend, request(sampling={})) == \
        render_key(backend, request(sampling={"steps": preset_steps}))


def test_model_available_needs_weights_layout(tmp_path, tiny_diffusers_folder):
    import torch

    assert model_available(None) is False
    assert model_available(tmp_path) is False
    assert model_available(tiny_diffusers_folder) is torch.cuda.is_available()


def test_generate_command_writes_playable_mp4(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app
    from media.video import probe

    out = tmp_path / "clip.mp4"
    result = CliRunner().invoke(app, ["generate", "--prompt", "ثعلب في الثلج", "--preset", "tiny",
                                      "--size", "48x32", "--frames", "9", "--steps", "4",
                                      "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert (info.width, info.height, info.frames, info.codec) == (48, 32, 9, "h264")
    assert str(out) in result.output and "9 frames" in result.output


def write_lora(path, scale: float = 1.0):
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight":
               torch.randn(2, 24, generator=g) * scale,
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight":
               torch.randn(24, 2, generator=g)}, str(path))
    return str(path)


def test_key_holds_the_loras_by_content_and_strength_and_the_sampling_preset(tmp_path):
    from model.config import LoraSettings

    backend = ModelBackend(preset="tiny", weights_dir=None, device="cpu")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    here = write_lora(tmp_path / "a" / "distill.safetensors")
    copy = write_lora(tmp_path / "b" / "renamed.safetensors")  # same bytes elsewhere
    other = write_lora(tmp_path / "b" / "other.safetensors", scale=2.0)
    plain = render_key(backend, request())
    with_lora = render_key(backend, request(loras=(LoraSettings(here),)))
    assert with_lora != plain
    assert render_key(backend, request(loras=(LoraSettings(copy),))) == with_lora
    assert render_key(backend, request(loras=(LoraSettings(other),))) != with_lora
    assert render_key(backend, request(loras=(LoraSettings(here, strength=0.5),))) != with_lora
    assert render_key(backend, request(loras=(LoraSettings(here, experts=("low",)),))) \
        != with_lora
    fast = render_key(backend, request(sampling={"preset": "fast"}))
    assert fast != plain
    # the preset's values written out are the same render
    assert render_key(backend, request(sampling={
        "steps": 4, "shift": 5.0, "guidance_high": 1.0, "guidance_low": 1.0,
        "sampler": "euler", "schedule": "distilled"})) == fast
    with pytest.raises(RenderError, match="gone.safetensors does not exist"):
        render_key(backend, request(loras=(LoraSettings(str(tmp_path / "gone.safetensors")),)))


def test_the_render_reports_its_forwards_to_the_cache_entry(tmp_path):
    from storage.cache import TemplateCache
    from storage.db import open_database
    from storage.file_store import FileStore
    from tasks.render.stage import render_shot, render_totals

    cache = TemplateCache(open_database(f"sqlite:///{tmp_path / 'db.sqlite'}"),
                          FileStore(tmp_path / "store"), max_bytes=10 ** 9, worker_id="w",
                          local_dir=tmp_path / "renders")
    backend = ModelBackend(preset="tiny", weights_dir=None, device="cpu")
    shot = request(sampling={"steps": 4, "step_cache": "easycache"})
    made = render_shot(cache, backend, shot, render_key(backend, shot))
    assert not made.hit and made.details == {"steps": 4, "forwards": 8, "forwards_skipped": 0}
    hit = render_shot(cache, backend, shot, render_key(backend, shot))
    assert hit.hit and hit.details == {}
    fast = request(sampling={"preset": "fast"})
    distilled = render_shot(cache, backend, fast, render_key(backend, fast))
    assert distilled.details == {"steps": 4, "forwards": 4, "forwards_skipped": 0}
    assert render_totals([made, hit, distilled]) == {"steps": 8, "forwards": 12,
                                                     "forwards_skipped": 0}


def test_generate_command_takes_the_fast_preset_and_loras(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    lora = write_lora(tmp_path / "high_noise_model.safetensors")
    out = tmp_path / "fast.mp4"
    result = CliRunner().invoke(app, ["generate", "--prompt", "a red fox", "--preset", "tiny",
                                      "--size", "32x32", "--frames", "5", "--sampling", "fast",
                                      "--lora-high", lora, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 DiT forwards, 0 skipped" in result.output and out.is_file()
    bad = CliRunner().invoke(app, ["generate", "--prompt", "x", "--preset", "tiny", "--sampling",
                                   "fast", "--step-cache", "easycache", "--out", str(out)])
    assert bad.exit_code != 0
    assert "cannot be combined with distilled sampling" in str(bad.exception or bad.output)


@pytest.fixture
def photo(tmp_path):
    from PIL import Image

    ys, xs = np.mgrid[0:90, 0:120]
    rgb = np.stack([xs * 2, ys * 2, 255 - xs], axis=-1).clip(0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


def test_image_presets_key_the_photo_by_its_bytes(photo, tmp_path):
    ti2v = ModelBackend(preset="tiny-ti2v", weights_dir=None, device="cpu")
    assert ti2v.image_role == "first_frame"
    key = render_key(ti2v, request(image=str(photo)))
    assert key != render_key(ti2v, request())  # with and without a photo
    copy = tmp_path / "elsewhere.png"
    copy.write_bytes(photo.read_bytes())
    assert render_key(ti2v, request(image=str(copy))) == key
    copy.write_bytes(photo.read_bytes()[:-1] + b"\x00")
    assert render_key(ti2v, request(image=str(copy))) != key
    # A text-to-video preset never sees the photo: it is not in its key.
    t2v = ModelBackend(preset="tiny", weights_dir=None, device="cpu")
    assert t2v.image_role == "ignored"
    assert render_key(t2v, request(image=str(photo))) == render_key(t2v, request())
    # I2V without a photo starts from the backdrop: its brand colours count.
    i2v = ModelBackend(preset="tiny-i2v", weights_dir=None, device="cpu")
    assert render_key(i2v, request(brand_colors=("#FF0000",))) != \
        render_key(i2v, request(brand_colors=("#00FF00",)))
    assert render_key(i2v, request(image=str(photo), brand_colors=("#FF0000",))) == \
        render_key(i2v, request(image=str(photo), brand_colors=("#00FF00",)))


def test_generate_command_with_a_photo_reports_first_frame_fidelity(tmp_path, photo):
    from typer.testing import CliRunner

    from flows.cli import app
    from media.video import probe

    out = tmp_path / "clip.mp4"
    result = CliRunner().invoke(app, ["generate", "--prompt", "a mug turning", "--image",
                                      str(photo), "--preset", "tiny-ti2v", "--frames", "5",
                                      "--steps", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    info = probe(out)
    # No --size: the photo's aspect within the preset's 64x64 area, in 32-pixel steps (4:3
    # rounds to 64x64 there).
    assert (info.width, info.height, info.frames) == (64, 64, 5)
    assert "first frame vs photo: PSNR" in result.output and "SSIM" in result.output
    refused = CliRunner().invoke(app, ["generate", "--prompt", "x", "--image", str(photo),
                                       "--preset", "tiny", "--out", str(out)])
    assert refused.exit_code != 0 and "text-to-video and cannot use --image" in str(
        refused.exception)


def test_i2v_without_a_photo_starts_from_the_backdrop():
    backend = ModelBackend(preset="tiny-i2v", weights_dir=None, device="cpu")
    assert backend.start_image(request()).shape == (32, 32, 3)  # the brand-colour backdrop
    frames = list(backend.render(request(sampling={"steps": 2})))
    assert len(frames) == 5 and frames[0].shape == (32, 32, 3)
