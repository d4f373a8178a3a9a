"""The video pipeline: text encoder -> DiT experts under the MoE sampler -> VAE; a photo, for the
image-conditioned presets, goes in through ``model/conditioning.py``.

Placement (which expert is on the GPU) is kept out of the sampling loop: :class:`ExpertPlacement`
hands the loop a callable per step and, when offloading, keeps only the active expert on the GPU
(the idle one waits in pinned host memory, as the official single-GPU path keeps it on the CPU).
Whether to offload is decided from the GPU's free memory (:func:`keep_experts_resident`): an
H200 holds both A14B experts and never swaps. The VAE runs in fp32 and decodes one latent frame
at a time, so frames stream out as they are decoded.

One render runs at a time in a process (:data:`RENDER_LOCK`): renders from several threads are
serialised, and the process-wide pipeline (:func:`shared_pipeline`) is only replaced between
renders.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.errors import ConfigError, RenderError, SpecError
from media.images import load_image
from model.conditioning import output_size, prepare_conditioning
from model.config import LoraSettings, ModelPreset, SamplingSettings, get_preset
from model.dit import WanDiT
from model.loader import detect_layout, expert_folders, load_dit, load_text_encoder, load_vae
from model.sampler import (
    HIGH_NOISE,
    LOW_NOISE,
    DenoiseStats,
    EasyCache,
    GuidanceScales,
    denoise,
    schedule_for,
)
from model.text_encoder import TextEncoder, build_byte_tokenizer, build_umt5
from model.vae import VAEBase, frames_to_uint8
from model.vae22 import build_vae

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeSettings:
    """Where and how the model runs.

    device: "auto" (cuda if available, else cpu), "cpu", "cuda", "cuda:N".
    dtype: "auto" (bf16 on CUDA, fp32 on CPU), "bf16", "fp32" (DiT and text encoder; VAE is fp32).
    offload: "auto" (default): keep both experts on the GPU when its free memory holds them,
        else swap; True: always keep only the active expert (and the text encoder only while
        encoding) on the GPU; False: never swap.
    compile: torch.compile each DiT block (dynamic batch and token dims: model/compile.py).
    cfg_batch: run cond and uncond as one batch-2 forward (falls back to two passes on OOM).
    lora_mode: "merge" (default): LoRAs merged into the weights at load, no cost per forward;
        "separate": kept beside the weights (model.lora.LoraSidePaths), so a run with other
        strengths of the same files reuses the loaded model.
    """

    device: str = "auto"
    dtype: str = "auto"
    offload: bool | str = "auto"
    compile: bool = False
    cfg_batch: bool = True
    lora_mode: str = "merge"

    def __post_init__(self) -> None:
        if self.lora_mode not in ("merge", "separate"):
            raise ConfigError(f"lora_mode {self.lora_mode!r} unknown; choose 'merge' or "
                              "'separate'")

    def offload_mode(self) -> str:
        """"auto", "always" or "never" (accepts True/False and their usual spellings)."""
        value = str(self.offload).strip().lower()
        if value == "auto":
            return "auto"
        if value in ("true", "1", "yes", "on", "always"):
            return "always"
        if value in ("false", "0", "no", "off", "never"):
            return "never"
        raise ConfigError(f"offload {self.offload!r} unknown; choose 'auto', true or false")

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


# What a clip needs on the GPU beside the experts' weights: activations, the VAE's decode and the
# text encoder while it encodes. The official single-GPU 720p run peaks at 59.8 GB with one
# 28.6 GB expert resident (docs/reference/wan22-model-facts.md), so about 32 GB.
WORKING_MEMORY_BYTES = 32 * 2 ** 30


def module_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def keep_experts_resident(resident_bytes: Sequence[int], free_bytes: int, *,
                          working_bytes: int = WORKING_MEMORY_BYTES) -> bool:
    """True when everything that would stay on the GPU (both experts, the text encoder) plus
    the working memory fits in ``free_bytes``: then nothing is ever swapped. An H200 (about
    139 GiB free) holds 2 x 28.6 GB experts and the 11 GB text encoder; an 80 GB H100 does not."""
    return sum(resident_bytes) + working_bytes <= free_bytes


def free_device_memory(device: torch.device) -> int:
    """Free bytes on a CUDA device (what the driver reports; other processes' use is counted)."""
    return torch.cuda.mem_get_info(device)[0]


def decide_offload(settings: RuntimeSettings, device: torch.device, resident: Sequence[nn.Module],
                   *, free_memory: Callable[[torch.device], int] = free_device_memory) -> bool:
    """Whether to swap experts: never on a CPU; else the setting, or with ``auto`` whether
    ``resident`` (the experts and the text encoder) fit beside the working memory."""
    if device.type != "cuda":
        return False
    mode = settings.offload_mode()
    if mode != "auto":
        return mode == "always"
    needed = [module_bytes(m) for m in resident]
    free = free_memory(device)
    resident_fits = keep_experts_resident(needed, free)
    log.info("offload auto: %.1f GiB of weights + %.0f GiB working memory vs %.1f GiB free on "
             "%s: %s", sum(needed) / 2 ** 30, WORKING_MEMORY_BYTES / 2 ** 30, free / 2 ** 30,
             device, "both experts stay on the GPU" if resident_fits
             else "the idle expert waits in pinned host memory")
    return not resident_fits


# One render at a time per process (one GPU): generate() holds it while it renders, and
# shared_pipeline() while it replaces the process's pipeline. Re-entrant, so a backend may hold it
# across both.
RENDER_LOCK = threading.RLock()


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
    that expert is on the compute device.

    With ``pinned`` (offload on CUDA) each expert's host copy lives in pinned memory and stays
    there: bringing an expert in is an asynchronous copy on its own stream (the compute stream
    waits for it, the host does not), and sending one back costs no copy at all, the GPU tensors
    are dropped. If a move runs out of memory halfway, the half-moved expert is parked back and
    ``active`` names no expert.
    """

    def __init__(self, experts: dict[str, nn.Module], device: torch.device, offload: bool, *,
                 pinned: bool = False) -> None:
        self.experts = experts
        self.device = device
        self.offload = offload
        self.runners = {name: SplitOnOOM(model) for name, model in experts.items()}
        self.active: str | None = None
        self.host: dict[str, dict[str, torch.Tensor]] | None = None
        if pinned and offload:
            self.host = {name: _pin_host_copy(model) for name, model in experts.items()}

    def __call__(self, name: str) -> Callable:
        name = name if name in self.experts else HIGH_NOISE  # single-expert models
        if name != self.active:
            if self.offload and self.active is not None:
                self._send_back(self.active)
                self.active = None
            try:
                self._bring(name)
            except torch.OutOfMemoryError:
                self._send_back(name)  # never leave half an expert on the GPU
                raise
            if self.device.type == "cuda" and self.offload:
                torch.cuda.empty_cache()
            self.active = name
        return self.runners[name]

    def _bring(self, name: str) -> None:
        if self.host is None:
            self.experts[name].to(self.device)
            return
        stream = torch.cuda.Stream(self.device)
        with torch.cuda.stream(stream):
            for tensor_name, host in self.host[name].items():
                _tensor(self.experts[name], tensor_name).data = host.to(self.device,
                                                                         non_blocking=True)
        torch.cuda.current_stream(self.device).wait_stream(stream)

    def _send_back(self, name: str) -> None:
        if self.host is None:
            self.experts[name].to("cpu")
        else:
            for tensor_name, host in self.host[name].items():
                _tensor(self.experts[name], tensor_name).data = host
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def park(self) -> None:
        """Move every expert off the GPU (offload) once a clip is done denoising."""
        if self.offload and self.active is not None:
            self._send_back(self.active)
            self.active = None


def _tensor(module: nn.Module, name: str) -> torch.Tensor:
    *path, leaf = name.split(".")
    owner = module.get_submodule(".".join(path)) if path else module
    return getattr(owner, leaf)


def _pin_host_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    """Move ``module``'s tensors into pinned host memory; returns them by name."""
    host = {}
    for name, tensor in (*module.named_parameters(), *module.named_buffers()):
        pinned = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        pinned.copy_(tensor.data)  # one copy, straight into pinned memory
        tensor.data = pinned
        host[name] = pinned
    return host


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
                 experts: dict[str, WanDiT], vae: VAEBase, settings: RuntimeSettings, *,
                 free_memory: Callable[[torch.device], int] = free_device_memory) -> None:
        self.preset = preset
        self.text_encoder = text_encoder
        self.vae = vae
        self.settings = settings
        self.device = settings.torch_device()
        if settings.compile:
            from model.compile import compile_dit

            for expert in experts.values():
                compile_dit(expert)
        self.offload = decide_offload(settings, self.device,
                                      [*experts.values(), text_encoder.model],
                                      free_memory=free_memory)
        # Without offload everything lives on the device; with it, only what runs.
        try:
            if not self.offload:
                for expert in experts.values():
                    expert.to(self.device)
                text_encoder.model.to(self.device)
            self.vae.to(self.device)
        except torch.OutOfMemoryError as exc:
            raise oom_error(f"loading {preset.name} onto {self.device}", exc) from exc
        self.placement = ExpertPlacement(experts, self.device, offload=self.offload,
                                         pinned=self.offload and self.device.type == "cuda")
        self.lora_paths = None  # LoraSidePaths in lora_mode "separate"

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def load(cls, preset: ModelPreset, weights_dir: Path, settings: RuntimeSettings, *,
             loras: Sequence[LoraSettings] = ()) -> WanT2VPipeline:
        """Load both experts, the VAE and the text encoder from ``weights_dir`` (either layout),
        then merge ``loras`` into the experts they name."""
        dtype = settings.torch_dtype()
        layout = detect_layout(weights_dir)
        folders = expert_folders(weights_dir, layout, preset.two_experts)
        try:
            experts = {name: load_dit(folder, layout, dtype=dtype)
                       for name, folder in folders.items()}
        except torch.OutOfMemoryError as exc:
            raise oom_error(f"loading {preset.name} from {weights_dir}", exc) from exc
        side = _attach_loras(experts, loras, settings)
        preset = preset.with_dit(experts[HIGH_NOISE].config)
        vae = load_vae(weights_dir, layout, preset.vae)
        preset = replace(preset, vae=vae.config)
        check_channels(preset, weights_dir)
        text_encoder = load_text_encoder(weights_dir, layout, preset.text, dtype=dtype)
        log.info("loaded %s weights (%s layout) from %s", preset.name, layout, weights_dir)
        pipeline = cls(preset, text_encoder, experts, vae, settings)
        pipeline.lora_paths = side
        return pipeline

    @classmethod
    def random(cls, preset: ModelPreset, settings: RuntimeSettings, *, seed: int = 0,
               loras: Sequence[LoraSettings] = ()) -> WanT2VPipeline:
        """Deterministic random weights (``seed``) and the offline byte tokenizer: smoke runs, tests."""
        dtype = settings.torch_dtype()
        generator = torch.Generator().manual_seed(seed)
        names = (HIGH_NOISE, LOW_NOISE) if preset.two_experts else (HIGH_NOISE,)
        experts = {}
        for name in names:
            expert = WanDiT(preset.dit)
            expert.init_weights(generator)
            experts[name] = expert.eval().requires_grad_(False)
        if settings.lora_mode == "merge":
            _attach_loras(experts, loras, settings)  # in fp32, before the cast
        experts = {name: _cast_dit(expert, dtype) for name, expert in experts.items()}
        side = _attach_loras(experts, loras, settings) if settings.lora_mode == "separate" \
            else None
        vae = build_vae(preset.vae)
        vae.init_weights(generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            umt5 = build_umt5(preset.text).eval().requires_grad_(False).to(dtype)
        text_encoder = TextEncoder(build_byte_tokenizer(), umt5, preset.text)
        pipeline = cls(preset, text_encoder, experts, vae.eval().requires_grad_(False), settings)
        pipeline.lora_paths = side
        return pipeline

    # -- generation ------------------------------------------------------------------------

    def encode_prompts(self, prompt: str, negative_prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond, uncond) contexts [1, text_len, d] on the compute device."""
        model = self.text_encoder.model
        offload = self.offload  # decided at load (decide_offload); never on a CPU
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
                 on_progress: Callable[[int, int], None] | None = None,
                 stats: DenoiseStats | None = None) -> Iterator[np.ndarray]:
        """Yield ``frames`` uint8 [height, width, 3] frames for ``request``.

        Denoising runs on the first ``next()``; frames then stream out of the VAE chunk by chunk.
        ``stats`` (if given) receives the steps, DiT forwards and forwards the step cache skipped.
        Holds :data:`RENDER_LOCK` from the first ``next()`` to the last frame. Inference mode is
        on only while this generator runs: the caller's code between frames runs without it.
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
        schedule = schedule_for(s.schedule, s.steps, s.shift,
                                num_train_timesteps=p.num_train_timesteps)
        cache = EasyCache(s.cache_threshold, s.steps) if s.step_cache == "easycache" else None
        with RENDER_LOCK:
            try:
                with torch.inference_mode():
                    conditioning = prepare_conditioning(p, self.vae, image, width=width,
                                                        height=height, frames=frames,
                                                        device=self.device)
                    cond, uncond = self.encode_prompts(request.prompt, negative)
                    noise = self.initial_noise(request.seed, width, height, frames)
                    # The photo (if any) goes in through the conditioning's three hooks: the
                    # first latents, the wrapped experts (per-token timesteps or extra channels)
                    # and the paste-back after every step, computed or taken from the step cache.
                    latents = denoise(
                        conditioning.start(noise), experts=conditioning.experts(self.placement),
                        cond=cond, uncond=uncond, schedule=schedule, guidance=guidance,
                        boundary_timestep=p.boundary * p.num_train_timesteps,
                        solver=s.sampler, batch_cfg=self.settings.cfg_batch,
                        on_step=(lambda done, total, _: on_progress(done, total))
                        if on_progress else None, cache=cache, stats=stats,
                        after_step=conditioning.after_step)
                    self.placement.park()
                    chunks = self.vae.decode_chunks(self.vae.denormalize(latents.float()))
                while True:
                    # A yield inside inference_mode would leave it on in the caller's frame.
                    with torch.inference_mode():
                        chunk = next(chunks, None)
                        decoded = None if chunk is None \
                            else frames_to_uint8(chunk[0]).cpu().numpy()
                    if decoded is None:
                        break
                    yield from decoded
            except torch.OutOfMemoryError as exc:
                self.placement.park()
                raise oom_error(f"rendering {width}x{height}x{frames}", exc) from exc


def _attach_loras(experts: dict[str, WanDiT], loras: Sequence[LoraSettings],
                  settings: RuntimeSettings):
    """Merge ``loras`` into the experts, or (lora_mode "separate") attach them as side paths,
    returned so their strengths can be set per run."""
    if not loras:
        return None
    from model.lora import LoraSidePaths, merge_loras

    if settings.lora_mode == "separate":
        return LoraSidePaths(experts, loras)
    merge_loras(experts, loras)
    return None


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
# only: settings that change (another preset, weights folder or LoRA set) replace it, and the old
# one is dropped before the new one loads, so a second key never holds a second copy of the
# weights. Replacing waits for a render in progress (RENDER_LOCK).
_SHARED: dict[tuple, WanT2VPipeline] = {}


def lora_identity(loras: Sequence[LoraSettings], *, strengths: bool = True) -> tuple:
    """What decides a LoRA set's loaded weights, cheaply: each file's path, size and mtime
    (the render key holds the content digests), experts, and (merged) strength."""
    out = []
    for lora in loras:
        path = Path(lora.path)
        stat = path.stat() if path.is_file() else None
        out.append((str(path), stat.st_size if stat else None, stat.st_mtime_ns if stat else None,
                    lora.strength if strengths else None, tuple(lora.experts)))
    return tuple(out)


def shared_pipeline(preset: str, weights_dir: Path | None, settings: RuntimeSettings, *,
                    loras: Sequence[LoraSettings] = ()) -> WanT2VPipeline:
    """The process's pipeline for these settings and LoRAs, loaded on first use.

    ``weights_dir`` None is only allowed for presets with random weights (``tiny``).
    """
    config = get_preset(preset)
    separate = settings.lora_mode == "separate"  # strengths are set per run, not loaded
    key = (preset, str(weights_dir) if weights_dir else None, settings,
           lora_identity(loras, strengths=not separate))
    with RENDER_LOCK:
        if key not in _SHARED:
            if _SHARED:
                _SHARED.clear()
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            if weights_dir is not None:
                _SHARED[key] = WanT2VPipeline.load(config, Path(weights_dir), settings,
                                                   loras=loras)
            elif config.random_init_seed is not None:
                _SHARED[key] = WanT2VPipeline.random(config, settings,
                                                     seed=config.random_init_seed, loras=loras)
            else:
                raise RenderError(f"preset {preset!r} needs a weights folder: pass weights_dir "
                                  "(--weights DIR) pointing at the downloaded model")
        pipeline = _SHARED[key]
        if pipeline.lora_paths is not None:
            pipeline.lora_paths.set_strengths(loras)
        return pipeline
