"""Sampler: official schedule, expert split, UniPC parity with diffusers, guidance, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common.errors import ConfigError
from model.sampler import (
    HIGH_NOISE,
    LOW_NOISE,
    GuidanceScales,
    UniPCSolver,
    apply_guidance,
    choose_expert,
    denoise,
    flow_schedule,
)


def test_sigmas_and_timesteps_follow_the_official_formula():
    schedule = flow_schedule(40, 12.0)
    sigma = np.linspace(np.float32(0.999).item(), 0, 41)[:-1]
    shifted = 12.0 * sigma / (1 + 11.0 * sigma)
    assert np.allclose(schedule.sigmas[:-1].numpy(), shifted, atol=1e-7)
    assert schedule.sigmas[-1].item() == 0.0 and len(schedule.sigmas) == 41
    assert schedule.timesteps.dtype == torch.int64
    assert schedule.timesteps.tolist() == (shifted * 1000).astype(np.int64).tolist()
    assert schedule.timesteps[0].item() == 999


def test_forty_steps_shift_12_split_26_high_14_low():
    schedule = flow_schedule(40, 12.0)
    experts = [choose_expert(t, 875.0) for t in schedule.timesteps.tolist()]
    assert experts.count(HIGH_NOISE) == 26 and experts.count(LOW_NOISE) == 14
    assert experts == sorted(experts, key=lambda e: e != HIGH_NOISE)  # high first, then low


@pytest.mark.parametrize("steps", [6, 40])
def test_unipc_matches_diffusers_scheduler(steps):
    from diffusers import UniPCMultistepScheduler

    ref = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                  flow_shift=12.0, solver_order=2, solver_type="bh2",
                                  lower_order_final=True, final_sigmas_type="zero")
    ref.set_timesteps(sigmas=np.linspace(0.999, 0, steps + 1)[:-1])
    ours_schedule = flow_schedule(steps, 12.0)
    assert ref.timesteps.tolist() == ours_schedule.timesteps.tolist()
    ours = UniPCSolver(ours_schedule.sigmas)
    x = y = torch.randn(1, 4, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    for i, t in enumerate(ref.timesteps):
        x = ref.step(torch.sin(3 * x) + 0.5 * x + i, t, x, return_dict=False)[0]
        y = ours.step(torch.sin(3 * y) + 0.5 * y + i, y)
    assert ((x - y).norm() / x.norm()).item() <= 1e-5


def test_guidance_formula():
    cond, uncond = torch.tensor([3.0]), torch.tensor([1.0])
    assert apply_guidance(cond, uncond, 4.0).item() == 9.0


class RecordingExperts:
    """Velocity functions that remember which expert ran with which batch."""

    def __init__(self):
        self.calls = []

    def __call__(self, name):
        def velocity(latents, timesteps, context):
            self.calls.append((name, latents.shape[0]))
            per_sample = context.mean(dim=(1, 2)).view(-1, 1, 1, 1, 1)
            return latents * 0.1 + per_sample + (1.0 if name == HIGH_NOISE else -1.0)
        return velocity


@pytest.mark.parametrize("solver", ["unipc", "euler"])
def test_denoise_uses_each_expert_and_batches_cfg(solver):
    experts = RecordingExperts()
    noise = torch.randn(1, 4, 2, 2, 2, generator=torch.Generator().manual_seed(0))
    cond, uncond = torch.ones(1, 3, 5), torch.zeros(1, 3, 5)
    progress = []
    out = denoise(noise, experts=experts, cond=cond, uncond=uncond,
                  schedule=flow_schedule(40, 12.0),
                  guidance=GuidanceScales(guidance_high=4.0, guidance_low=3.0),
                  boundary_timestep=875.0, solver=solver,
                  on_step=lambda done, total, name: progress.append((done, total, name)))
    assert [c[0] for c in experts.calls].count(HIGH_NOISE) == 26
    assert all(batch == 2 for _, batch in experts.calls)
    assert progress[0] == (1, 40, HIGH_NOISE) and progress[-1] == (40, 40, LOW_NOISE)
    two_pass = RecordingExperts()
    again = denoise(noise, experts=two_pass, cond=cond, uncond=uncond,
                    schedule=flow_schedule(40, 12.0),
                    guidance=GuidanceScales(guidance_high=4.0, guidance_low=3.0),
                    boundary_timestep=875.0, solver=solver, batch_cfg=False)
    assert len(two_pass.calls) == 80 and all(batch == 1 for _, batch in two_pass.calls)
    assert torch.allclose(out, again, atol=1e-5)


def test_guidance_scales_are_per_expert():
    scales = GuidanceScales(guidance_high=4.0, guidance_low=3.0)
    assert scales.for_expert(HIGH_NOISE) == 4.0 and scales.for_expert(LOW_NOISE) == 3.0


def test_bad_settings_raise():
    with pytest.raises(ConfigError):
        flow_schedule(0, 12.0)
    with pytest.raises(ConfigError, match="unknown sampler"):
        denoise(torch.zeros(1, 1, 1, 1, 1), experts=RecordingExperts(), cond=torch.zeros(1, 1, 1),
                uncond=torch.zeros(1, 1, 1), schedule=flow_schedule(2, 1.0),
                guidance=GuidanceScales(guidance_high=1, guidance_low=1),
                boundary_timestep=875, solver="ddim")


def reference_official_timesteps(steps: int, shift: float) -> list[int]:
    """Wan2.2 fm_solvers_unipc: sigma_max read from its float32 table, linspace, shift, int64."""
    sigma_max = np.float32(1.0 - np.linspace(1, 1 / 1000, 1000)[::-1][0]).item()
    sigmas = np.linspace(sigma_max, 0.0, steps + 1)[:-1]
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    return torch.from_numpy(sigmas * 1000).to(torch.int64).tolist()


@pytest.mark.parametrize("shift", [1.0, 5.0, 12.0])
def test_timesteps_match_the_reference_for_every_step_count(shift):
    for steps in range(1, 92):
        assert flow_schedule(steps, shift).timesteps.tolist() \
            == reference_official_timesteps(steps, shift), steps
    # the double 0.999 (not the reference's float32 value) is off by one for 26 of them
    off = sum(
        (np.linspace(0.999, 0, n + 1)[:-1] * 1000).astype(np.int64).tolist()
        != reference_official_timesteps(n, 1.0) for n in range(1, 92))
    assert off == 26


def test_the_fast_preset_is_the_published_4_step_recipe():
    from model.config import FAST_SAMPLING, TINY, sampling_settings
    from model.sampler import schedule_for

    fast = sampling_settings(TINY.sampling, "fast")
    assert fast == FAST_SAMPLING
    assert (fast.steps, fast.shift, fast.sampler) == (4, 5.0, "euler")
    assert (fast.guidance_high, fast.guidance_low, fast.forwards_per_step) == (1.0, 1.0, 1)
    schedule = schedule_for(fast.schedule, fast.steps, fast.shift)
    assert schedule.sigmas.tolist() == pytest.approx([1.0, 0.9375, 0.8333333, 0.625, 0.0],
                                                     abs=1e-6)
    assert schedule.timesteps.tolist() == pytest.approx([1000.0, 937.5, 833.33331, 625.0])
    experts = [choose_expert(t, 875.0) for t in schedule.timesteps.tolist()]
    assert experts == [HIGH_NOISE, HIGH_NOISE, LOW_NOISE, LOW_NOISE]
    assert sampling_settings(TINY.sampling, "fast", steps=8).steps == 8  # fields still override
    with pytest.raises(ConfigError, match="sampling preset 'turbo' unknown"):
        sampling_settings(TINY.sampling, "turbo")


def test_guidance_1_runs_one_forward_per_step_and_passes_float_timesteps():
    from model.config import FAST_SAMPLING
    from model.sampler import DenoiseStats, schedule_for

    calls = []

    def experts(name):
        def velocity(latents, timesteps, context):
            calls.append((name, latents.shape[0], timesteps.tolist(), context.mean().item()))
            return latents * 0.5
        return velocity

    stats = DenoiseStats()
    schedule = schedule_for("distilled", 4, 5.0)
    denoise(torch.randn(1, 4, 2, 2, 2), experts=experts, cond=torch.ones(1, 3, 5),
            uncond=torch.zeros(1, 3, 5), schedule=schedule,
            guidance=GuidanceScales(guidance_high=FAST_SAMPLING.guidance_high,
                                    guidance_low=FAST_SAMPLING.guidance_low),
            boundary_timestep=875.0, solver="euler", stats=stats)
    assert len(calls) == 4 and stats.forwards == 4 and stats.forwards_skipped == 0
    assert [c[0] for c in calls] == [HIGH_NOISE, HIGH_NOISE, LOW_NOISE, LOW_NOISE]
    assert all(batch == 1 and ctx == 1.0 for _, batch, _, ctx in calls)  # cond only
    assert [c[2][0] for c in calls] == pytest.approx([1000.0, 937.5, 833.33331, 625.0])


def test_euler_on_the_distilled_schedule_is_x0_then_renoise():
    """LightX2V's form of the step: x0 = x - sigma * v, x_next = x0 + sigma_next * v."""
    from model.sampler import EulerSolver, schedule_for

    schedule = schedule_for("distilled", 4, 5.0)
    solver = EulerSolver(schedule.sigmas)
    x = torch.randn(1, 4, 2, 2, 2, generator=torch.Generator().manual_seed(1))
    for i in range(4):
        v = torch.sin(x) + i
        sigma, sigma_next = schedule.sigmas[i].item(), schedule.sigmas[i + 1].item()
        expected = (x - sigma * v) + sigma_next * v
        x = solver.step(v, x)
        assert torch.allclose(x, expected, atol=1e-6)
