"""The video pipeline: text encoder -> DiT experts under the MoE sampler -> VAE; a photo, for the
image-conditioned presets, goes in through ``model/conditioning.py``.

Placement (which expert is on the GPU) is kept out of the sampling loop: :class:`ExpertPlacement`
hands the loop a callable per step and, with ``offload``, keeps only the active expert on the GPU
(the idle one waits on the CPU, as the official single-GPU path does). The VAE runs in fp32 and
decodes one latent frame at a time, so frames stream out as they are decoded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.errors import ConfigError, RenderError, SpecError
from media.images import load_image
from model.conditioning import output_size, prepare_conditioning
from model.config import ModelPreset, SamplingSettings, get_preset
from model.dit import WanDiT
from model.loader import detect_layout, expert_folders, load_dit, load_text_encoder, load_vae
from model.sampler import HIGH_NOISE, LOW_NOISE, GuidanceScales, denoise, flow_schedule
from model.text_encoder import TextEncoder, build_byte_tokenizer, build_umt5
from model.vae import VAEBase, frames_to_uint8
from model.vae22 import build_vae

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeSettings:
    """Where and how the model runs.

    device: "auto" (cuda if available, else cpu), "cpu", "cuda", "cuda:N".
    dtype: "auto" (bf16 on CUDA, fp32 on CPU), "bf16", "fp32" (DiT and text encoder; VAE is fp32).
    offload: keep only the active expert (and the text encoder only while encoding) on the GPU.
    compile: torch.compile each DiT block.
    cfg_batch: run cond and uncond as one batch-2 forward (falls back to two passes on OOM).
    """

    device: str = "auto"
    dtype: str = "auto"
    offload: bool = True
    compile: bool = False
    cfg_batch: bool = True

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {self.device!r} requested but CUDA is not available; "
                              "use --device cpu or device 'auto'")
        return device

    def torch_dtype(self) -> torch.dtype:
        table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp32": torch.float32,
                 "float32": torch.float32}
        if self.dtype == "auto":
            return torch.bfloat16 if self.torch_device().type == "cuda" else torch.float32
        if self.dtype not in table:
            raise ConfigError(f"dtype {self.dtype!r} unknown; choose 'auto', 'bf16' or 'fp32'")
        return table[self.dtype]


@dataclass(frozen=True)
class GenerateRequest:
    """One clip: prompt, seed, size and sampling settings (None: the preset's default).

    ``image`` (a path, PIL image or uint8 [H, W, 3] array) is the photo an image-conditioned
    preset starts from; without a size, the clip takes the photo's aspect within the preset's
    area.
    """

    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    sampling: SamplingSettings | None = None
    image: object | None = None


def oom_error(where: str, exc: BaseException) -> RenderError:
    return RenderError(f"CUDA out of memory during {where} ({exc.__class__.__name__}). Lower the "
                       "size (--size) or the frame count (--frames), keep expert offload on "
                       "(offload=True), or use a GPU with more memory (>= 80 GB for t2v-a14b).")


class SplitOnOOM:
    """Calls an expert on a cond+uncond batch; if that runs out of GPU memory, runs the two halves
    one after the other from then on (the reference's two batch-1 passes)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.split = False

    def __call__(self, latents: torch.Tensor, timesteps: torch.Tensor,
                 context: torch.Tensor) -> torch.Tensor:
        if not self.split or latents.shape[0] == 1:
            try:
                return self.model(latents, timesteps, context)
            except torch.OutOfMemoryError:
                if latents.shape[0] == 1:
                    raise
                log.warning("CFG batch of %d ran out of GPU memory; running it in parts",
                            latents.shape[0])
                self.split = True
                torch.cuda.empty_cache()
        return torch.cat([self.model(x, t, c) for x, t, c in
                          zip(latents.split(1), timesteps.split(1), context.split(1))])


class ExpertPlacement:
    """Gives the sampling loop the expert of a step, moving weights so that with ``offload`` only
    that expert is on the compute device."""

    def __init__(self, experts: dict[str, nn.Module], device: torch.device, offload: bool) -> None:
        self.experts = experts
        self.device = device
        self.offload = offload
        self.runners = {name: SplitOnOOM(model) for name, model in experts.items()}
        self.active: str | None = None

    def __call__(self, name: str) -> Callable:
        name = name if name in self.experts else HIGH_NOISE  # single-expert models
        if name != self.active:
            if self.offload and self.active is not None:
                self.experts[self.active].to("cpu")
            self.experts[name].to(self.device)
            if self.device.type == "cuda" and self.offload:
                torch.cuda.empty_cache()
            self.active = name
        return self.runners[name]

    def park(self) -> None:
        """Move every expert off the GPU (offload) once a clip is done denoising."""
        if self.offload and self.active is not None:
            self.experts[self.active].to("cpu")
            self.active = None


def check_request(width: int, height: int, frames: int, *, multiple: int = 16) -> None:
    """Raise SpecError unless frames = 4n+1 and width/height are positive multiples of 16.

    A size or length the model cannot take is the asker's mistake, not a render failure.
    """
    if frames < 1 or (frames - 1) % 4:
        raise SpecError(f"must be 4n+1 (e.g. 81, 49, 17), got {frames}", field="frames")
    if width <= 0 or height <= 0 or width % multiple or height % multiple:
        examples = "1280x704, 832x480" if multiple == 32 else "1280x720, 832x480"
        raise SpecError(f"{width}x{height}: width and height must be divisible by {multiple} "
                        f"(e.g. {examples})", field="size")


class WanT2VPipeline:
    """A loaded model: call :meth:`generate` per clip. Build with :meth:`load` or :meth:`random`."""

    def __init__(self, preset: ModelPreset, text_encoder: TextEncoder,
                 experts: dict[str, WanDiT], vae: VAEBase, settings: RuntimeSettings) -> None:
        self.preset = preset
        self.text_encoder = text_encoder
        self.vae = vae
        self.settings = settings
        self.device = settings.torch_device()
        if settings.compile:
            for expert in experts.values():
                for block in expert.blocks:
                    block.compile(dynamic=False)
        # Without offload everything lives on the device; with it, only what runs.
        on_device = not settings.offload or self.device.type == "cpu"
        if on_device:
            for expert in experts.values():
                expert.to(self.device)
            text_encoder.model.to(self.device)
        self.vae.to(self.device)
        self.placement = ExpertPlacement(experts, self.device,
                                         offload=settings.offload and self.device.type != "cpu")

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def load(cls, preset: ModelPreset, weights_dir: Path, settings: RuntimeSettings
             ) -> WanT2VPipeline:
        """Load both experts, the VAE and the text encoder from ``weights_dir`` (either layout)."""
        dtype = settings.torch_dtype()
        layout = detect_layout(weights_dir)
        folders = expert_folders(weights_dir, layout, preset.two_experts)
        experts = {name: load_dit(folder, layout, dtype=dtype) for name, folder in folders.items()}
        preset = preset.with_dit(experts[HIGH_NOISE].config)
        vae = load_vae(weights_dir, layout, preset.vae)
        preset = replace(preset, vae=vae.config)
        check_channels(preset, weights_dir)
        text_encoder = load_text_encoder(weights_dir, layout, preset.text, dtype=dtype)
        log.info("loaded %s weights (%s layout) from %s", preset.name, layout, weights_dir)
        return cls(preset, text_encoder, experts, vae, settings)

    @classmethod
    def random(cls, preset: ModelPreset, settings: RuntimeSettings, *, seed: int = 0
               ) -> WanT2VPipeline:
        """Deterministic random weights (``seed``) and the offline byte tokenizer: smoke runs, tests."""
        dtype = settings.torch_dtype()
        generator = torch.Generator().manual_seed(seed)
        names = (HIGH_NOISE, LOW_NOISE) if preset.two_experts else (HIGH_NOISE,)
        experts = {}
        for name in names:
            expert = WanDiT(preset.dit)
            expert.init_weights(generator)
            experts[name] = _cast_dit(expert, dtype)
        vae = build_vae(preset.vae)
        vae.init_weights(generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            umt5 = build_umt5(preset.text).eval().requires_grad_(False).to(dtype)
        text_encoder = TextEncoder(build_byte_tokenizer(), umt5, preset.text)
        return cls(preset, text_encoder, experts, vae.eval().requires_grad_(False), settings)

    # -- generation ------------------------------------------------------------------------

    def encode_prompts(self, prompt: str, negative_prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond, uncond) contexts [1, text_len, d] on the compute device."""
        model = self.text_encoder.model
        offload = self.settings.offload and self.device.type == "cuda"
        if offload:
            model.to(self.device)
        try:
            context = self.text_encoder.encode([prompt, negative_prompt]).to(self.device)
        finally:
            if offload:
                model.to("cpu")
        return context[:1], context[1:]

    def initial_noise(self, seed: int, width: int, height: int, frames: int) -> torch.Tensor:
        """fp32 noise [1, z, (F-1)/4+1, H/8, W/8] from a CPU generator: same seed, same noise on
        any device."""
        vae = self.preset.vae
        shape = (1, vae.z_dim, (frames - 1) // vae.temporal_factor + 1,
                 height // vae.spatial_factor, width // vae.spatial_factor)
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(shape, generator=generator, dtype=torch.float32).to(self.device)

    def generate(self, request: GenerateRequest, *,
                 on_progress: Callable[[int, int], None] | None = None) -> Iterator[np.ndarray]:
        """Yield ``frames`` uint8 [height, width, 3] frames for ``request``.

        Denoising runs on the first ``next()``; frames then stream out of the VAE chunk by chunk.
        """
        p = self.preset
        s = request.sampling or p.sampling
        image = load_image(request.image) if request.image is not None else None
        default_size = output_size(p, *image.size) if image is not None \
            and p.image_conditioning else (p.width, p.height)
        width, height = request.width or default_size[0], request.height or default_size[1]
        frames = request.frames or p.frames
        check_request(width, height, frames, multiple=p.vae.spatial_factor * p.dit.patch_size[1])
        negative = request.negative_prompt or p.default_negative_prompt
        guidance = GuidanceScales(guidance_high=s.guidance_high, guidance_low=s.guidance_low)
        schedule = flow_schedule(s.steps, s.shift, num_train_timesteps=p.num_train_timesteps)
        try:
            with torch.inference_mode():
                conditioning = prepare_conditioning(p, self.vae, image, width=width,
                                                    height=height, frames=frames,
                                                    device=self.device)
                cond, uncond = self.encode_prompts(request.prompt, negative)
                noise = self.initial_noise(request.seed, width, height, frames)
                latents = denoise(
                    conditioning.start(noise), experts=conditioning.experts(self.placement),
                    cond=cond, uncond=uncond, schedule=schedule,
                    guidance=guidance, boundary_timestep=p.boundary * p.num_train_timesteps,
                    solver=s.sampler, batch_cfg=self.settings.cfg_batch,
                    on_step=(lambda done, total, _: on_progress(done, total)) if on_progress else None,
                    after_step=conditioning.after_step)
                self.placement.park()
                raw = self.vae.denormalize(latents.float())
                for chunk in self.vae.decode_chunks(raw):
                    yield from frames_to_uint8(chunk[0]).cpu().numpy()
        except torch.OutOfMemoryError as exc:
            self.placement.park()
            raise oom_error(f"rendering {width}x{height}x{frames}", exc) from exc


def check_channels(preset: ModelPreset, weights_dir: Path) -> None:
    """ConfigError unless the loaded DiT's input channels fit the preset's conditioning (a T2V
    checkpoint under ``i2v-a14b`` would otherwise fail deep inside the first step)."""
    expected = preset.expected_in_channels()
    if preset.dit.in_channels != expected:
        raise ConfigError(f"the DiT in {weights_dir} takes {preset.dit.in_channels} input "
                          f"channels, but preset {preset.name!r} needs {expected}: pick the "
                          "preset these weights are for (t2v-a14b, ti2v-5b, i2v-a14b)")


def _cast_dit(model: WanDiT, dtype: torch.dtype) -> WanDiT:
    """Cast a DiT to ``dtype`` except the fp32 islands."""
    for name, param in model.named_parameters():
        param.data = param.data.to(torch.float32 if WanDiT.keep_fp32(name) else dtype)
    return model.eval().requires_grad_(False)


# The process-wide pipeline: a worker that renders many shots loads its weights once. One entry
# only: settings that change (another preset or weights folder) replace it, so a second key never
# holds a second copy of the weights.
_SHARED: dict[tuple, WanT2VPipeline] = {}
_SHARED_LOCK = threading.Lock()


def shared_pipeline(preset: str, weights_dir: Path | None, settings: RuntimeSettings
                    ) -> WanT2VPipeline:
    """The process's pipeline for these settings, loaded on first use.

    ``weights_dir`` None is only allowed for presets with random weights (``tiny``).
    """
    config = get_preset(preset)
    key = (preset, str(weights_dir) if weights_dir else None, settings)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED.clear()
            if weights_dir is not None:
                _SHARED[key] = WanT2VPipeline.load(config, Path(weights_dir), settings)
            elif config.random_init_seed is not None:
                _SHARED[key] = WanT2VPipeline.random(config, settings, seed=config.random_init_seed)
            else:
                raise RenderError(f"preset {preset!r} needs a weights folder: pass weights_dir "
                                  "(--weights DIR) pointing at the downloaded model")
        return _SHARED[key]
