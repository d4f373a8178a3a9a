"""TI2V-5B and I2V-A14B against diffusers, with tiny random weights written here and loaded through
our loader: the per-token-timestep DiT (both layouts), whole generations with a photo and without
one, and the photo's crop and output size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from common.errors import ConfigError, SpecError
from model.conditioning import MaskChannels, best_output_size, i2v_output_size, output_size
from model.config import SamplingSettings, get_preset
from model.loader import DIFFUSERS, ORIGINAL, load_dit
from model.pipeline import GenerateRequest, RuntimeSettings, WanT2VPipeline
from model.sampler import flow_schedule
from tests.model.conftest import make_diffusers_dit, make_diffusers_vae, make_diffusers_vae22, rel_err
from tests.model.test_dit import to_original_key

STEPS, SHIFT, SEED = 4, 5.0, 11
PROMPT, NEGATIVE = "a teapot on a pedestal, slow turntable", "blurry, low quality"


def official_unipc(shift: float):
    """diffusers' UniPC, set to the official schedule (the pipelines call set_timesteps(n))."""
    from diffusers import UniPCMultistepScheduler

    class OfficialSchedule(UniPCMultistepScheduler):
        def set_timesteps(self, num_inference_steps=None, device=None, **kwargs):
            start = float(flow_schedule(num_inference_steps, 1.0).sigmas[0])  # 0.999
            super().set_timesteps(sigmas=np.linspace(start, 0, num_inference_steps + 1)[:-1],
                                  device=device)

    return OfficialSchedule(prediction_type="flow_prediction", use_flow_sigmas=True,
                            flow_shift=shift, solver_order=2, solver_type="bh2",
                            lower_order_final=True, final_sigmas_type="zero")


def write_text_parts(root):
    from transformers import UMT5EncoderModel

    from model.config import TINY
    from model.text_encoder import build_byte_tokenizer

    torch.manual_seed(4)
    text_encoder = UMT5EncoderModel(TINY.text.to_transformers()).eval()
    tokenizer = build_byte_tokenizer()
    text_encoder.save_pretrained(root / "text_encoder")
    tokenizer.save_pretrained(root / "tokenizer")
    return text_encoder, tokenizer


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth photo-like picture: gradients and a soft disc (not noise)."""
    ys, xs = np.mgrid[0:height, 0:width] / max(width, height)
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(0.3, 0.7, 2)
    disc = np.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / 0.04))
    rgb = np.stack([0.2 + 0.6 * xs, 0.3 + 0.5 * ys, 0.4 + 0.5 * disc], axis=-1)
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))


def frames_of(video: np.ndarray) -> np.ndarray:
    """diffusers' float frames in [0, 1] -> uint8, the way ours are made ((x + 1) * 127.5)."""
    return np.round(video * 255.0).astype(np.uint8)


def assert_same_frames(expected: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == expected.shape
    # Frames are uint8: a value on a rounding edge may land one level off, nothing more.
    assert np.abs(expected.astype(int) - got.astype(int)).max() <= 1
    assert rel_err(torch.from_numpy(expected.astype(np.float64)),
                   torch.from_numpy(got.astype(np.float64))) <= 1e-4
    assert expected.std() > 5  # the frames carry a picture, so a mismatch would show


# ---------------------------------------------------------------------------------------------
# TI2V-5B


@pytest.fixture(scope="module")
def ti2v(tmp_path_factory):
    """A tiny TI2V checkpoint (diffusers layout) and diffusers' own pipelines over the same parts."""
    from diffusers import WanImageToVideoPipeline, WanPipeline

    root = tmp_path_factory.mktemp("ti2v")
    transformer = make_diffusers_dit("diffusers-tiny", seed=1, in_channels=12, out_channels=12)
    vae = make_diffusers_vae22(seed=2)
    transformer.save_pretrained(root / "transformer")
    vae.save_pretrained(root / "vae")
    text_encoder, tokenizer = write_text_parts(root)
    parts = dict(transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                 scheduler=official_unipc(SHIFT))
    ours = WanT2VPipeline.load(get_preset("ti2v-5b"), root, RuntimeSettings(device="cpu"))
    return dict(ours=ours, image_ref=WanImageToVideoPipeline(expand_timesteps=True, **parts),
                text_ref=WanPipeline(expand_timesteps=True, **parts), root=root)


def ours_frames(pipe: WanT2VPipeline, **request) -> np.ndarray:
    sampling = SamplingSettings(steps=STEPS, shift=SHIFT, guidance_high=5.0, guidance_low=5.0)
    return np.stack(list(pipe.generate(GenerateRequest(prompt=PROMPT, negative_prompt=NEGATIVE,
                                                       seed=SEED, sampling=sampling, **request))))


def test_ti2v_image_to_video_matches_diffusers(ti2v):
    image = photo(64, 32)
    with torch.no_grad():
        expected = ti2v["image_ref"](
            image=image, prompt=PROMPT, negative_prompt=NEGATIVE, height=32, width=64, num_frames=5,
            num_inference_steps=STEPS, guidance_scale=5.0, output_type="np",
            generator=torch.Generator().manual_seed(SEED)).frames[0]
    got = ours_frames(ti2v["ours"], image=image, width=64, height=32, frames=5)
    assert_same_frames(frames_of(expected), got)


def test_ti2v_text_only_matches_diffusers(ti2v):
    with torch.no_grad():
        expected = ti2v["text_ref"](
            prompt=PROMPT, negative_prompt=NEGATIVE, height=32, width=64, num_frames=5,
            num_inference_steps=STEPS, guidance_scale=5.0, output_type="np",
            generator=torch.Generator().manual_seed(SEED)).frames[0]
    got = ours_frames(ti2v["ours"], width=64, height=32, frames=5)
    assert_same_frames(frames_of(expected), got)


def test_the_photo_is_frame_zero_after_every_step(ti2v):
    """The paste-back: the first latent frame stays the photo's latent however the steps go, so
    the first frame does not depend on the seed or the prompt; the other frames do."""
    image = photo(64, 32, seed=3)
    a = ours_frames(ti2v["ours"], image=image, width=64, height=32, frames=5)
    b = np.stack(list(ti2v["ours"].generate(GenerateRequest(
        prompt="something else entirely", seed=SEED + 1, image=image, width=64, height=32,
        frames=5, sampling=SamplingSettings(steps=2, shift=SHIFT)))))
    assert np.array_equal(a[0], b[0])
    assert not np.array_equal(a[1:], b[1:])


def test_per_token_timestep_dit_matches_diffusers_from_both_layouts(tmp_path):
    from safetensors.torch import save_file

    ref = make_diffusers_dit("three-heads", seed=5, in_channels=12, out_channels=12)
    ref.save_pretrained(tmp_path / "transformer")
    original = tmp_path / "original"
    original.mkdir()
    save_file({to_original_key(k): v.contiguous() for k, v in ref.state_dict().items()},
              str(original / "diffusion_pytorch_model.safetensors"))
    (original / "config.json").write_text(json.dumps(dict(
        _class_name="WanModel", model_type="ti2v", dim=24, num_heads=3, num_layers=3, ffn_dim=40,
        in_dim=12, out_dim=12, text_dim=32, freq_dim=256, eps=1e-6, text_len=512)))
    g = torch.Generator().manual_seed(6)
    x, ctx = torch.randn(2, 12, 3, 6, 10, generator=g), torch.randn(2, 12, 32, generator=g)
    tokens = 3 * 3 * 5
    # TI2V: the first frame's 15 tokens at t = 0, the rest at the step's t (two samples).
    t = torch.tensor([[0] * 15 + [937] * (tokens - 15), [0] * 15 + [412] * (tokens - 15)])
    with torch.no_grad():
        expected = ref(x, t, ctx, return_dict=False)[0]
        for ours in (load_dit(tmp_path / "transformer", DIFFUSERS, dtype=torch.float32),
                     load_dit(original, ORIGINAL, dtype=torch.float32)):
            assert rel_err(expected, ours(x, t, ctx)) <= 1e-4
        # And a per-token t that is the same everywhere is the per-sample t.
        flat = torch.tensor([937, 412])
        assert torch.allclose(ours(x, flat[:, None].expand(2, tokens), ctx), ours(x, flat, ctx),
                              atol=1e-6)


# ---------------------------------------------------------------------------------------------
# I2V-A14B


@pytest.fixture(scope="module")
def i2v(tmp_path_factory):
    from diffusers import WanImageToVideoPipeline

    root = tmp_path_factory.mktemp("i2v")
    high = make_diffusers_dit("diffusers-tiny", seed=7, in_channels=36, out_channels=16)
    low = make_diffusers_dit("diffusers-tiny", seed=8, in_channels=36, out_channels=16)
    vae = make_diffusers_vae(seed=9)
    high.save_pretrained(root / "transformer")
    low.save_pretrained(root / "transformer_2")
    vae.save_pretrained(root / "vae")
    text_encoder, tokenizer = write_text_parts(root)
    ref = WanImageToVideoPipeline(transformer=high, transformer_2=low, vae=vae,
                                  text_encoder=text_encoder, tokenizer=tokenizer,
                                  scheduler=official_unipc(SHIFT), boundary_ratio=0.9)
    ours = WanT2VPipeline.load(get_preset("i2v-a14b"), root, RuntimeSettings(device="cpu"))
    return dict(ours=ours, ref=ref, root=root)


def test_i2v_a14b_matches_diffusers(i2v):
    image = photo(48, 32, seed=1)
    # Shift 5 and 4 steps put 2 steps on each expert (t 999, 937 >= 900; 833, 624 below);
    # distinct guidance per expert shows each expert gets its own.
    assert [t >= 900 for t in flow_schedule(STEPS, SHIFT).timesteps.tolist()] == [True, True, False, False]
    with torch.no_grad():
        expected = i2v["ref"](
            image=image, prompt=PROMPT, negative_prompt=NEGATIVE, height=32, width=48, num_frames=5,
            num_inference_steps=STEPS, guidance_scale=3.5, guidance_scale_2=2.0, output_type="np",
            generator=torch.Generator().manual_seed(SEED)).frames[0]
    sampling = SamplingSettings(steps=STEPS, shift=SHIFT, guidance_high=3.5, guidance_low=2.0)
    got = np.stack(list(i2v["ours"].generate(GenerateRequest(
        prompt=PROMPT, negative_prompt=NEGATIVE, seed=SEED, sampling=sampling, image=image,
        width=48, height=32, frames=5))))
    assert_same_frames(frames_of(expected), got)


def test_i2v_a14b_needs_a_photo_and_the_right_checkpoint(i2v, tiny_diffusers_folder):
    with pytest.raises(SpecError, match="animates a photo"):
        next(i2v["ours"].generate(GenerateRequest(prompt=PROMPT, width=48, height=32, frames=5)))
    # A text-to-video checkpoint (16 input channels) under the I2V preset is named, not run.
    with pytest.raises(ConfigError, match="16 input channels.*needs 36"):
        WanT2VPipeline.load(get_preset("i2v-a14b"), tiny_diffusers_folder,
                            RuntimeSettings(device="cpu"))


def test_i2v_mask_is_the_first_frame_repeated_per_latent_slot():
    latent = torch.zeros(1, 16, 3, 2, 2)
    y = MaskChannels.build(latent, frames=9, temporal_factor=4).y
    assert y.shape == (1, 20, 3, 2, 2)
    assert y[0, :4, 0].eq(1).all() and y[0, :4, 1:].eq(0).all()


# ---------------------------------------------------------------------------------------------
# sizes and presets


def test_output_size_follows_the_photo_within_the_preset_area():
    ti2v, i2v = get_preset("ti2v-5b"), get_preset("i2v-a14b")
    assert output_size(ti2v, 1280, 704) == (1280, 704)
    assert output_size(ti2v, 704, 1280) == (704, 1280)
    w, h = output_size(ti2v, 1000, 1000)  # a square photo: a square-ish clip, 32-px multiples
    assert w % 32 == 0 and h % 32 == 0 and w * h <= 1280 * 704 and abs(w / h - 1) < 0.1
    assert best_output_size(1000, 1000, 32, 1280 * 704) == (w, h)
    assert output_size(i2v, 1920, 1080) == (1280, 720)
    assert output_size(i2v, 1080, 1920) == i2v_output_size(1080, 1920, 8, 2, 1280 * 720) \
        == (720, 1280)
    w, h = output_size(i2v, 800, 600)
    assert w % 16 == 0 and h % 16 == 0 and w * h <= 1280 * 720 and abs(w / h - 4 / 3) < 0.02


def test_image_presets_hold_the_official_settings():
    ti2v = get_preset("ti2v-5b")
    assert (ti2v.dit.dim, ti2v.dit.num_layers, ti2v.dit.ffn_dim, ti2v.dit.num_heads) == \
        (3072, 30, 14336, 24)
    assert (ti2v.dit.in_channels, ti2v.vae.z_dim, ti2v.two_experts) == (48, 48, False)
    assert (ti2v.frames, ti2v.fps, ti2v.width, ti2v.height) == (121, 24, 1280, 704)
    assert (ti2v.sampling.steps, ti2v.sampling.shift, ti2v.sampling.guidance_high) == (50, 5.0, 5.0)
    i2v = get_preset("i2v-a14b")
    assert (i2v.dit.in_channels, i2v.dit.out_channels, i2v.vae.z_dim) == (36, 16, 16)
    assert (i2v.boundary, i2v.sampling.shift, i2v.sampling.steps) == (0.9, 5.0, 40)
    assert (i2v.sampling.guidance_high, i2v.sampling.guidance_low) == (3.5, 3.5)
    assert i2v.needs_image and not ti2v.needs_image and get_preset("t2v-a14b").image_conditioning \
        is None
    # EasyCache's published thresholds (docs/reference/wan22-speed.md): 0.05 for TI2V and I2V,
    # 0.06 for T2V; the cache itself stays off by default.
    for name in ("ti2v-5b", "i2v-a14b", "tiny-ti2v", "tiny-i2v"):
        sampling = get_preset(name).sampling
        assert (sampling.cache_threshold, sampling.step_cache) == (0.05, "off"), name
    assert get_preset("t2v-a14b").sampling.cache_threshold == 0.06
    # Token budgets (issue 20's size check): TI2V's own 1280x704 x 121 frames fits exactly; the
    # sizes a photo's aspect gives within each preset's area fit too; twice the area does not.
    assert ti2v.tokens(1280, 704, 121) == ti2v.max_tokens == 27_280
    for preset in (ti2v, i2v):
        for photo_size in ((4000, 3000), (1080, 1920), (1000, 1000)):
            preset.check_size(*output_size(preset, *photo_size), preset.frames)
    with pytest.raises(ConfigError, match="over its budget of 27,280"):
        ti2v.check_size(1792, 1024, 121)


@pytest.mark.parametrize("preset", ["tiny-ti2v", "tiny-i2v"])
def test_tiny_image_presets_render_a_photo_without_weights(preset):
    pipe = WanT2VPipeline.random(get_preset(preset), RuntimeSettings(device="cpu"))
    frames = list(pipe.generate(GenerateRequest(prompt=PROMPT, image=photo(200, 100), frames=5,
                                                sampling=SamplingSettings(steps=2))))
    # No size asked for: the photo's 2:1 aspect within the preset's 64x64 area.
    assert len(frames) == 5 and frames[0].shape[1] > frames[0].shape[0]


# ---------------------------------------------------------------------------------------------
# with the sampling options of issue 15: the step cache and guidance 1


@pytest.mark.parametrize("preset", ["tiny-ti2v", "tiny-i2v"])
def test_the_step_cache_and_guidance_1_with_a_photo(preset):
    """The paste-back runs after every step, computed or taken from the step cache, so a cached
    run's first frame is the photo's exactly as an uncached run's; the skipped forwards are
    counted. At guidance 1 (the fast preset) each step is one forward, the photo still in."""
    from model.config import FAST_SAMPLING
    from model.sampler import DenoiseStats

    pipe = WanT2VPipeline.random(get_preset(preset), RuntimeSettings(device="cpu"))
    image = photo(64, 64, seed=5)

    def run(sampling):
        stats = DenoiseStats()
        frames = np.stack(list(pipe.generate(GenerateRequest(
            prompt=PROMPT, image=image, width=64, height=64, frames=5, sampling=sampling),
            stats=stats)))
        return frames, stats

    steps = 12
    plain, plain_stats = run(SamplingSettings(steps=steps, shift=SHIFT))
    # A threshold nothing reaches: every step the cache may skip is skipped. Always computed:
    # the 7 warm-up steps and the last; on I2V the low-noise expert's first two as well.
    cached, stats = run(SamplingSettings(steps=steps, shift=SHIFT, step_cache="easycache",
                                         cache_threshold=1e9))
    assert plain_stats.forwards == 2 * steps and plain_stats.forwards_skipped == 0
    assert stats.forwards_skipped > 0 and stats.forwards + stats.forwards_skipped == 2 * steps
    assert not np.array_equal(cached[1:], plain[1:])  # the cache changed the clip...
    if preset == "tiny-ti2v":  # ...but not the first frame, which is the photo's latent
        assert stats.forwards_skipped == 2 * 4  # steps 7-10
        assert np.array_equal(cached[0], plain[0])
    fast, fast_stats = run(FAST_SAMPLING)
    assert (fast_stats.steps, fast_stats.forwards) == (4, 4)  # no unconditional pass
    if preset == "tiny-ti2v":
        assert np.array_equal(fast[0], plain[0])
