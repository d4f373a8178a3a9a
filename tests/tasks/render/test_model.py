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
