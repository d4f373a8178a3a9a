"""The whole pipeline: tiny random weights, the diffusers layout through our loader, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common.errors import ConfigError, SpecError, WeightsNotFound
from model.config import TINY, SamplingSettings, get_preset
from model.pipeline import GenerateRequest, RuntimeSettings, WanT2VPipeline


@pytest.fixture(scope="module")
def tiny_pipeline():
    return WanT2VPipeline.random(TINY, RuntimeSettings(device="cpu"))


def test_tiny_generates_4n_plus_1_uint8_frames_deterministically(tiny_pipeline):
    progress = []
    request = GenerateRequest(prompt="a lighthouse at night", seed=3, width=64, height=48,
                              frames=9, sampling=SamplingSettings(steps=6))
    frames = list(tiny_pipeline.generate(request, on_progress=lambda d, t: progress.append((d, t))))
    assert len(frames) == 9 and all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert progress == [(i, 6) for i in range(1, 7)]
    again = list(tiny_pipeline.generate(request))
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))
    other = list(tiny_pipeline.generate(GenerateRequest(**{**request.__dict__, "seed": 4})))
    assert not all(np.array_equal(a, b) for a, b in zip(frames, other))


def test_same_tiny_weights_in_every_process_build():
    a = WanT2VPipeline.random(TINY, RuntimeSettings(device="cpu"))
    b = WanT2VPipeline.random(TINY, RuntimeSettings(device="cpu"))
    pa, pb = a.placement.experts["high"], b.placement.experts["high"]
    assert all(torch.equal(x, y) for x, y in zip(pa.parameters(), pb.parameters()))


@pytest.mark.parametrize("width,height,frames,match", [(64, 64, 8, "4n\\+1"), (60, 64, 9, "16")])
def test_bad_sizes_raise_spec_error(tiny_pipeline, width, height, frames, match):
    with pytest.raises(SpecError, match=match):
        next(tiny_pipeline.generate(GenerateRequest(prompt="x", width=width, height=height,
                                                    frames=frames)))


def test_diffusers_layout_folder_loads_and_renders(tiny_diffusers_folder):
    pipe = WanT2VPipeline.load(TINY, tiny_diffusers_folder, RuntimeSettings(device="cpu"))
    assert set(pipe.placement.experts) == {"high", "low"}
    frames = list(pipe.generate(GenerateRequest(prompt="海边的日落", seed=0, width=32, height=32,
                                                frames=5, sampling=SamplingSettings(steps=4))))
    assert len(frames) == 5 and frames[0].shape == (32, 32, 3)


def test_missing_weights_folder_is_named(tmp_path):
    with pytest.raises(WeightsNotFound, match=str(tmp_path / "nope")):
        WanT2VPipeline.load(TINY, tmp_path / "nope", RuntimeSettings(device="cpu"))
    (tmp_path / "transformer").mkdir()
    with pytest.raises(WeightsNotFound, match="transformer/config.json"):
        WanT2VPipeline.load(TINY, tmp_path, RuntimeSettings(device="cpu"))


def test_presets():
    a14b = get_preset("t2v-a14b")
    assert (a14b.sampling.guidance_high, a14b.sampling.guidance_low) == (4.0, 3.0)
    assert (a14b.sampling.shift, a14b.sampling.steps, a14b.boundary) == (12.0, 40, 0.875)
    assert (a14b.frames, a14b.fps, a14b.width, a14b.height) == (81, 16, 1280, 720)
    assert a14b.default_negative_prompt.startswith("色调艳丽")
    assert get_preset("ti2v-5b").vae.is_residual  # the Wan2.2 VAE is there now
    with pytest.raises(ConfigError, match="unknown model preset 'sd15'.*ti2v-5b"):
        get_preset("sd15")
