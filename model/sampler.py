"""Flow-matching sampling for the two-expert MoE: schedule, expert choice, guidance, solvers, loop.

Convention (Wan2.2): x_t = (1 - sigma) * x0 + sigma * noise, the model predicts v = noise - x0.

Small pure pieces, read top to bottom:
- :func:`flow_schedule`: the official sigmas and integer timesteps; :func:`distilled_schedule`:
  the 4-step distilled recipe's float timesteps; :func:`schedule_for` picks one;
- :func:`choose_expert`: high-noise expert for t >= boundary, else low-noise;
- :func:`apply_guidance`: classifier-free guidance; :func:`guided_velocity`: one step's forwards
  (one forward at guidance 1, no unconditional pass);
- :class:`EasyCache`: the training-free step cache (reuses the last velocity residual);
- :class:`UniPCSolver` (order 2, bh2, x0-predicting; Wan2.2 ``fm_solvers_unipc.py``, the same
  algorithm as diffusers' ``UniPCMultistepScheduler``) and :class:`EulerSolver`;
- :func:`denoise`: the loop. Where the weights live is not its concern: it asks ``experts`` for
  the model of a step and gets back something to call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from common.errors import ConfigError

HIGH_NOISE = "high"
LOW_NOISE = "low"

VelocityFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FlowSchedule:
    """sigmas: [steps + 1] float32 ending in 0; timesteps: [steps], int64 = int(sigma * 1000)
    for the official schedule, float32 = sigma * 1000 for the distilled one."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor


def flow_schedule(steps: int, shift: float, *, num_train_timesteps: int = 1000) -> FlowSchedule:
    """Wan2.2's schedule: linspace(sigma_max, 0, steps + 1)[:-1], shifted
    sigma' = shift * sigma / (1 + (shift - 1) * sigma), then a final 0.

    sigma_max is float32(0.999) read back as a double, as the reference scheduler takes it
    from its float32 sigma table (Wan2.2 ``fm_solvers_unipc.py``): starting from the double
    0.999 instead puts a timestep off by one for 26 of the step counts 1..91 at shift 1.
    (diffusers starts from linspace(1, 1/1000) instead, so some timesteps differ by one.)
    """
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    if shift <= 0:
        raise ConfigError(f"shift must be > 0, got {shift}")
    sigma_max = float(np.float32(1.0 - 1.0 / num_train_timesteps))  # float32(0.999)
    sigmas = np.linspace(sigma_max, 0.0, steps + 1)[:-1]
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    timesteps = (sigmas * num_train_timesteps).astype(np.int64)
    sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)
    return FlowSchedule(torch.from_numpy(sigmas), torch.from_numpy(timesteps))


def distilled_schedule(steps: int, shift: float, *, num_train_timesteps: int = 1000
                       ) -> FlowSchedule:
    """The step-distilled recipe's schedule (Wan2.2-Lightning ``fm_solvers_euler.py``):
    timesteps linspace(1000, 0, steps + 1) in float32, as sigmas t/1000 shifted by
    s*t / (1 + (s - 1)*t); the timesteps stay floats. 4 steps at shift 5: sigmas 1.0, 0.9375,
    0.8333, 0.625, then 0 (docs/reference/wan22-speed.md)."""
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    if shift <= 0:
        raise ConfigError(f"shift must be > 0, got {shift}")
    t = torch.from_numpy(np.linspace(num_train_timesteps, 0, steps + 1, dtype=np.float32))
    sigmas = t / num_train_timesteps
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    return FlowSchedule(sigmas, (sigmas * num_train_timesteps)[:-1])


def schedule_for(kind: str, steps: int, shift: float, *, num_train_timesteps: int = 1000
                 ) -> FlowSchedule:
    """``official`` (:func:`flow_schedule`) or ``distilled`` (:func:`distilled_schedule`)."""
    if kind == "official":
        return flow_schedule(steps, shift, num_train_timesteps=num_train_timesteps)
    if kind == "distilled":
        return distilled_schedule(steps, shift, num_train_timesteps=num_train_timesteps)
    raise ConfigError(f"unknown schedule {kind!r}; choose 'official' or 'distilled'")


def choose_expert(timestep: int | torch.Tensor, boundary_timestep: float) -> str:
    """High-noise expert while t >= boundary (875 for T2V-A14B), low-noise expert after."""
    return HIGH_NOISE if float(timestep) >= boundary_timestep else LOW_NOISE


def apply_guidance(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: uncond + scale * (cond - uncond)."""
    return uncond + scale * (cond - uncond)


def guided_velocity(model: VelocityFn, latents: torch.Tensor, timestep: torch.Tensor,
                    cond: torch.Tensor, uncond: torch.Tensor, scale: float, *,
                    batch_cfg: bool = True) -> tuple[torch.Tensor, int]:
    """One step's velocity (fp32) and the DiT forwards it took.

    At guidance 1, uncond + 1 * (cond - uncond) is cond: the unconditional pass is never run
    (one forward, as the distilled recipe does). Otherwise cond and uncond run as one batch-2
    forward (``batch_cfg``) or two batch-1 forwards; either way that is two forwards.
    """
    if scale == 1.0:
        return model(latents, timestep, cond).float(), 1
    if batch_cfg:
        v_cond, v_uncond = model(torch.cat([latents, latents]), torch.cat([timestep, timestep]),
                                 torch.cat([cond, uncond])).float().chunk(2)
    else:
        v_cond = model(latents, timestep, cond).float()
        v_uncond = model(latents, timestep, uncond).float()
    return apply_guidance(v_cond, v_uncond, scale), 2


# ---------------------------------------------------------------------------------------------
# the step cache


class EasyCache:
    """EasyCache (training-free, no calibration; docs/reference/wan22-speed.md).

    While the sample changes slowly, a step's velocity is predicted as its input plus the last
    computed residual (velocity - input). The predicted relative change of the output,
    k * mean|x_i - x_{i-1}| / mean|v_last|, accumulates over the skipped steps; once it reaches
    ``threshold`` the step is computed and the sum restarts. k = mean|dv| / mean|dx| between the
    last two computed steps. Always computed: the first ``warmup_steps`` steps, the last step,
    and the first two steps on each expert (a residual from the other expert, or no k yet, says
    nothing). One decision covers both passes of a CFG step, so the guided velocity is cached.
    """

    def __init__(self, threshold: float, total_steps: int, *, warmup_steps: int = 7) -> None:
        self.threshold = threshold
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.expert: str | None = None        # expert of the last computed step
        self.k: float | None = None
        self.last_input: torch.Tensor | None = None     # x of the previous step (any)
        self.computed_input: torch.Tensor | None = None  # x of the last computed step
        self.computed_output: torch.Tensor | None = None  # v of the last computed step
        self.accumulated = 0.0
        self.skipped_steps = 0

    def reuse(self, step: int, expert: str, latents: torch.Tensor) -> torch.Tensor | None:
        """The predicted velocity for ``step`` if it may be skipped, else None (compute it)."""
        previous, self.last_input = self.last_input, latents
        if step < self.warmup_steps or step >= self.total_steps - 1 or expert != self.expert \
                or self.k is None or previous is None or self.computed_output is None:
            return None
        change = (latents - previous).abs().mean().item()
        self.accumulated += self.k * change / max(self.computed_output.abs().mean().item(), 1e-12)
        if self.accumulated >= self.threshold:
            return None
        self.skipped_steps += 1
        return latents + (self.computed_output - self.computed_input)

    def store(self, expert: str, latents: torch.Tensor, velocity: torch.Tensor) -> None:
        """Remember a computed step (and update k when the step before was on this expert)."""
        if expert == self.expert and self.computed_output is not None:
            dx = (latents - self.computed_input).abs().mean().item()
            self.k = (velocity - self.computed_output).abs().mean().item() / dx if dx > 0 else None
        else:
            self.k = None
        self.expert = expert
        self.computed_input, self.computed_output = latents, velocity
        self.accumulated = 0.0


@dataclass
class DenoiseStats:
    """What a denoising run did: steps, DiT forwards computed and forwards the cache skipped
    (a CFG step is two forwards, batched or not)."""

    steps: int = 0
    forwards: int = 0
    forwards_skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"steps": self.steps, "forwards": self.forwards,
                "forwards_skipped": self.forwards_skipped}


# ---------------------------------------------------------------------------------------------
# solvers


class EulerSolver:
    """First-order flow ODE step: x_next = x + (sigma_next - sigma) * v."""

    def __init__(self, sigmas: torch.Tensor) -> None:
        self.sigmas = sigmas
        self.index = 0

    def step(self, velocity: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        sigma, sigma_next = self.sigmas[self.index], self.sigmas[self.index + 1]
        self.index += 1
        return (sample.float() + (sigma_next - sigma).item() * velocity.float()).to(sample.dtype)


class UniPCSolver:
    """UniPC multistep (predictor UniP + corrector UniC, B(h) = expm1(h) "bh2"), predicting x0.

    Order ``order`` (2 in Wan2.2), lowered to 1 on the first and the last step. Scalar maths in
    float32 like the reference scheduler.
    """

    def __init__(self, sigmas: torch.Tensor, *, order: int = 2) -> None:
        self.sigmas = sigmas.float().cpu()
        self.order = order
        self.index = 0
        self.model_outputs: list[torch.Tensor] = []  # x0 predictions, newest last
        self.last_sample: torch.Tensor | None = None
        self.this_order = 1

    def _lambda(self, i: int) -> torch.Tensor:
        """log(alpha / sigma) at schedule index i; alpha = 1 - sigma."""
        sigma = self.sigmas[i]
        return torch.log(1 - sigma) - torch.log(sigma)

    def _coefficients(self, target: int, source: int, order: int, previous: list[int]):
        """h, hh, h_phi_1, B_h and the ratios rk of the earlier points, for a step source -> target."""
        h = self._lambda(target) - self._lambda(source)
        rks = [(self._lambda(p) - self._lambda(source)) / h for p in previous] + [torch.ones(())]
        hh = -h  # x0-predicting
        h_phi_1 = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        b_h = torch.expm1(hh)  # bh2
        factorial = 1
        rows, b = [], []
        rks_t = torch.stack(rks)
        for i in range(1, order + 1):
            rows.append(torch.pow(rks_t, i - 1))
            b.append(h_phi_k * factorial / b_h)
            factorial *= i + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        return h_phi_1, b_h, rks, torch.stack(rows), torch.stack(b)

    def _update(self, sample: torch.Tensor, target: int, source: int, order: int,
                corrector_output: torch.Tensor | None) -> torch.Tensor:
        """Predictor (corrector_output None) or corrector step from ``source`` to ``target``."""
        m0 = self.model_outputs[-1]
        # earlier points: the predictor looks back from `source`; the corrector from the one before
        previous = [source - i for i in range(1, order)]
        h_phi_1, b_h, rks, r_mat, b = self._coefficients(target, source, order, previous)
        d1s = [(self.model_outputs[-(i + 1)] - m0) / rks[i - 1] for i in range(1, order)]
        sigma_t, sigma_s = self.sigmas[target], self.sigmas[source]
        alpha_t = 1 - sigma_t
        x_t = (sigma_t / sigma_s) * sample - (alpha_t * h_phi_1) * m0
        if corrector_output is None:
            if d1s:
                rhos = torch.full((1,), 0.5) if order == 2 else \
                    torch.linalg.solve(r_mat[:-1, :-1], b[:-1])
                x_t = x_t - (alpha_t * b_h) * sum(r * d for r, d in zip(rhos, d1s))
        else:
            rhos = torch.full((1,), 0.5) if order == 1 else torch.linalg.solve(r_mat, b)
            corr = sum(r * d for r, d in zip(rhos[:-1], d1s)) if d1s else 0
            x_t = x_t - (alpha_t * b_h) * (corr + rhos[-1] * (corrector_output - m0))
        return x_t.to(sample.dtype)

    def step(self, velocity: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        """One solver step at schedule index ``self.index``: sample at sigma_i -> sigma_{i+1}."""
        i = self.index
        x0 = sample - self.sigmas[i].item() * velocity  # flow -> x0 prediction
        if i > 0 and self.last_sample is not None:
            # correct this sample with the new model output (UniC), using the previous step's order
            sample = self._corrector(x0, sample)
        self.model_outputs = (self.model_outputs + [x0])[-self.order:]
        order = min(self.order, len(self.sigmas) - 1 - i)  # lower order on the final step
        self.this_order = min(order, len(self.model_outputs))
        self.last_sample = sample
        out = self._update(sample, i + 1, i, self.this_order, None)
        self.index += 1
        return out

    def _corrector(self, x0: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        i = self.index
        return self._update(self.last_sample, i, i - 1, self.this_order, x0)


def make_solver(name: str, sigmas: torch.Tensor) -> UniPCSolver | EulerSolver:
    """``unipc`` (default, Wan2.2 ``sample_solver='unipc'``) or ``euler``."""
    if name == "unipc":
        return UniPCSolver(sigmas, order=2)
    if name == "euler":
        return EulerSolver(sigmas)
    raise ConfigError(f"unknown sampler {name!r}; choose 'unipc' or 'euler'")


# ---------------------------------------------------------------------------------------------
# the loop


@dataclass(frozen=True)
class GuidanceScales:
    """Per-expert classifier-free guidance (named, never a positional pair)."""

    guidance_high: float
    guidance_low: float

    def for_expert(self, expert: str) -> float:
        return self.guidance_high if expert == HIGH_NOISE else self.guidance_low


def denoise(noise: torch.Tensor, *, experts: Callable[[str], VelocityFn],
            cond: torch.Tensor, uncond: torch.Tensor, schedule: FlowSchedule,
            guidance: GuidanceScales, boundary_timestep: float, solver: str = "unipc",
            batch_cfg: bool = True,
            on_step: Callable[[int, int, str], None] | None = None,
            cache: EasyCache | None = None, stats: DenoiseStats | None = None,
            after_step: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Run the sampler from ``noise`` [1, C, F, H, W] (fp32) to clean latents (fp32).

    ``experts(name)`` returns the velocity function of expert ``HIGH_NOISE``/``LOW_NOISE``,
    called as f(latents [B, ...], timesteps [B], context [B, S, E]). With ``batch_cfg`` cond and
    uncond go through one batch-2 forward, else two batch-1 forwards; at guidance 1 only cond
    runs. ``on_step(done, total, expert)`` is called after every step. With ``cache`` a step
    may reuse the last velocity residual instead of running the DiT; ``stats`` counts forwards.
    ``after_step(latents)`` replaces the latents after every solver step (TI2V pastes the
    photo's latent back into frame 0). It runs after every step, computed or taken from the
    cache, so a cached step's prediction for frame 0 never survives; the cache compares the
    pasted latents from step to step, in which frame 0 does not change.
    """
    latents = noise.float()
    stepper = make_solver(solver, schedule.sigmas)
    total = len(schedule.timesteps)
    stats = stats if stats is not None else DenoiseStats()
    for i, t in enumerate(schedule.timesteps.tolist()):
        name = choose_expert(t, boundary_timestep)
        scale = guidance.for_expert(name)
        per_step = 1 if scale == 1.0 else 2
        timestep = torch.full((latents.shape[0],), t, device=latents.device,
                              dtype=schedule.timesteps.dtype)
        velocity = cache.reuse(i, name, latents) if cache is not None else None
        if velocity is None:
            velocity, forwards = guided_velocity(experts(name), latents, timestep, cond, uncond,
                                                 scale, batch_cfg=batch_cfg)
            stats.forwards += forwards
            if cache is not None:
                cache.store(name, latents, velocity)
        else:
            stats.forwards_skipped += per_step
        stats.steps += 1
        latents = stepper.step(velocity, latents)
        if after_step is not None:
            latents = after_step(latents)
        if on_step is not None:
            on_step(i + 1, total, name)
    return latents
