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


def test_inference_mode_does_not_leak_into_the_caller(tiny_pipeline):
    seen = []
    request = GenerateRequest(prompt="x", width=32, height=32, frames=9,
                              sampling=SamplingSettings(steps=2))
    for _frame in tiny_pipeline.generate(request):
        seen.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
        weights = torch.ones(2, requires_grad=True)
        (weights * 2).sum().backward()  # autograd works between frames
        assert weights.grad is not None
    assert len(seen) == 9 and all(mode == (False, True) for mode in seen)


def test_concurrent_renders_in_one_process_are_serialised(tiny_pipeline):
    import threading
    import time

    log: list[tuple[str, int]] = []
    first_started = threading.Event()

    def render(name: str) -> None:
        def progress(done: int, total: int) -> None:
            log.append((name, done))
            if name == "a" and done == 1:
                first_started.set()
                time.sleep(0.3)  # without the lock, b's steps would land here
        request = GenerateRequest(prompt=name, width=32, height=32, frames=5,
                                  sampling=SamplingSettings(steps=4))
        list(tiny_pipeline.generate(request, on_progress=progress))

    a = threading.Thread(target=render, args=("a",))
    a.start()
    assert first_started.wait(60)
    b = threading.Thread(target=render, args=("b",))
    b.start()
    a.join(120), b.join(120)
    assert log == [("a", i) for i in range(1, 5)] + [("b", i) for i in range(1, 5)]


def test_the_fast_preset_takes_one_forward_per_step(tiny_pipeline):
    from model.config import FAST_SAMPLING
    from model.sampler import DenoiseStats

    stats = DenoiseStats()
    frames = list(tiny_pipeline.generate(
        GenerateRequest(prompt="x", width=32, height=32, frames=5, sampling=FAST_SAMPLING),
        stats=stats))
    assert len(frames) == 5 and stats.as_dict() == {"steps": 4, "forwards": 4,
                                                    "forwards_skipped": 0}


def test_a_new_lora_set_replaces_the_shared_pipeline(tmp_path):
    from safetensors.torch import save_file

    from model import pipeline as pipeline_module
    from model.config import LoraSettings
    from model.pipeline import shared_pipeline

    g = torch.Generator().manual_seed(0)
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.randn(2, 24, generator=g),
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.randn(24, 2, generator=g)},
              str(tmp_path / "l.safetensors"))
    settings = RuntimeSettings(device="cpu")
    plain = shared_pipeline("tiny", None, settings)
    assert shared_pipeline("tiny", None, settings) is plain
    lora = LoraSettings(str(tmp_path / "l.safetensors"), strength=0.5, experts=("low",))
    merged = shared_pipeline("tiny", None, settings, loras=[lora])
    assert merged is not plain and len(pipeline_module._SHARED) == 1
    name = "blocks.0.attn1.to_q.weight"
    low_plain = dict(plain.placement.experts["low"].named_parameters())[name]
    low_merged = dict(merged.placement.experts["low"].named_parameters())[name]
    high_plain = dict(plain.placement.experts["high"].named_parameters())[name]
    high_merged = dict(merged.placement.experts["high"].named_parameters())[name]
    assert not torch.equal(low_plain, low_merged) and torch.equal(high_plain, high_merged)
    pipeline_module._SHARED.clear()


def test_out_of_memory_while_loading_gets_the_same_advice(tiny_diffusers_folder, monkeypatch):
    from common.errors import RenderError
    from model import pipeline as pipeline_module

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("fake: CUDA out of memory")

    monkeypatch.setattr(pipeline_module, "load_dit", no_memory)
    with pytest.raises(RenderError) as err:
        WanT2VPipeline.load(TINY, tiny_diffusers_folder, RuntimeSettings(device="cpu"))
    advice = str(pipeline_module.oom_error("x", torch.OutOfMemoryError())).split(". ", 1)[1]
    assert "loading tiny" in str(err.value) and str(err.value).endswith(advice)
