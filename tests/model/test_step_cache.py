"""EasyCache on a tiny model: it skips forwards, stays near the uncached run, is deterministic,
and the skipped forwards are counted.

The tiny preset's random weights are damped (block weights x0.3, time embedding x0.1) so the
velocity changes smoothly from step to step, as a trained model's does; the undamped random
model changes its output ~100x faster than its input and the cache (rightly) never skips."""

from __future__ import annotations

import pytest
import torch

from common.errors import ConfigError
from model.config import FAST_SAMPLING, TINY, SamplingSettings
from model.pipeline import GenerateRequest, RuntimeSettings, WanT2VPipeline
from model.sampler import DenoiseStats, EasyCache, GuidanceScales, denoise, flow_schedule

STEPS = 40
STATED_ERROR = 0.03  # relative error of the cached latents against the uncached ones, at 0.06


@pytest.fixture(scope="module")
def smooth_tiny():
    pipe = WanT2VPipeline.random(TINY, RuntimeSettings(device="cpu"))
    with torch.no_grad():
        for expert in pipe.placement.experts.values():
            for name, p in expert.named_parameters():
                if name.startswith("blocks.") and name.endswith("weight") and "norm" not in name:
                    p.mul_(0.3)
                if "time_embedder" in name or "time_proj" in name:
                    p.mul_(0.1)
    return pipe


def sample(pipe, threshold: float | None):
    stats = DenoiseStats()
    with torch.inference_mode():
        cond, uncond = pipe.encode_prompts("a red fox in the snow", "")
        noise = pipe.initial_noise(0, 64, 64, 9)
        latents = denoise(noise, experts=pipe.placement, cond=cond, uncond=uncond,
                          schedule=flow_schedule(STEPS, 12.0),
                          guidance=GuidanceScales(guidance_high=4.0, guidance_low=3.0),
                          boundary_timestep=875.0,
                          cache=EasyCache(threshold, STEPS) if threshold else None, stats=stats)
    return latents, stats


def test_the_cache_skips_forwards_within_the_stated_error_and_is_deterministic(smooth_tiny):
    reference, plain = sample(smooth_tiny, None)
    assert (plain.forwards, plain.forwards_skipped) == (2 * STEPS, 0)
    cached, stats = sample(smooth_tiny, 0.06)
    assert stats.forwards + stats.forwards_skipped == 2 * STEPS
    assert stats.forwards_skipped >= 20  # measured: 46 of 80 (2.35x fewer forwards)
    error = ((cached - reference).norm() / reference.norm()).item()
    print(f"\nEasyCache 0.06: {stats.forwards_skipped}/{2 * STEPS} forwards skipped, "
          f"rel err {error:.4f}")
    assert error <= STATED_ERROR
    again, stats_again = sample(smooth_tiny, 0.06)
    assert torch.equal(cached, again) and stats_again == stats
    looser, looser_stats = sample(smooth_tiny, 0.2)  # more skipped, further off
    assert looser_stats.forwards_skipped > stats.forwards_skipped
    assert ((looser - reference).norm() / reference.norm()).item() > error


def test_warmup_last_step_and_each_experts_first_steps_are_always_computed():
    cache = EasyCache(1e9, 10, warmup_steps=3)  # a threshold nothing reaches
    x = torch.ones(1, 2)
    computed = []
    for step in range(10):
        expert = "high" if step < 6 else "low"
        if cache.reuse(step, expert, x * (1 + step)) is None:
            computed.append(step)
            cache.store(expert, x * (1 + step), x * (2 + step))
    assert computed == [0, 1, 2, 6, 7, 9]  # warm-up, a new expert twice (k needs two), last


def test_generate_reports_skipped_forwards(smooth_tiny):
    stats = DenoiseStats()
    sampling = SamplingSettings(steps=STEPS, step_cache="easycache")
    frames = list(smooth_tiny.generate(GenerateRequest(prompt="a red fox", width=64, height=64,
                                                       frames=9, sampling=sampling), stats=stats))
    assert len(frames) == 9 and stats.steps == STEPS
    assert stats.forwards_skipped > 0 and stats.forwards + stats.forwards_skipped == 2 * STEPS


def test_the_cache_is_off_by_default_and_never_with_distilled_sampling():
    assert SamplingSettings().step_cache == "off" and FAST_SAMPLING.step_cache == "off"
    with pytest.raises(ConfigError, match="cannot be combined with distilled sampling"):
        FAST_SAMPLING.override(step_cache="easycache")


def test_the_paste_back_runs_after_cached_steps_too():
    """``after_step`` (TI2V's first-latent paste-back) runs after every step, whether its
    velocity was computed or taken from the cache, so no step ever starts from a moved photo."""
    steps = 12
    photo_latent = torch.zeros(1, 2, 1, 2, 2)
    starts: list[torch.Tensor] = []

    def paste(latents: torch.Tensor) -> torch.Tensor:
        latents = latents.clone()
        latents[:, :, :1] = photo_latent
        return latents

    def velocity(latents, timesteps, context):
        starts.append(latents[:1].clone())
        return 0.5 * latents

    stats = DenoiseStats()
    noise = paste(torch.randn(1, 2, 3, 2, 2, generator=torch.Generator().manual_seed(0)))
    calls = []
    out = denoise(noise, experts=lambda name: velocity, cond=torch.zeros(1, 1, 4),
                  uncond=torch.zeros(1, 1, 4), schedule=flow_schedule(steps, 5.0),
                  guidance=GuidanceScales(guidance_high=4.0, guidance_low=3.0),
                  boundary_timestep=0.0, cache=EasyCache(1e9, steps), stats=stats,
                  after_step=lambda x: calls.append(1) or paste(x))
    assert stats.forwards_skipped == 2 * 4  # steps 7-10 from the cache
    assert len(calls) == steps  # pasted after all 12 steps, the 4 cached ones included
    assert len(starts) == steps - 4 and all(torch.equal(s[:, :, :1], photo_latent) for s in starts)
    assert torch.equal(out[:, :, :1], photo_latent)
