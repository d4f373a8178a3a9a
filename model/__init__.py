"""The Wan2.2 video models in PyTorch + einops: text encoder, DiT experts, VAE, sampler, loader.

Public surface (imported lazily: ``import model.config`` does not import torch)::

    get_preset(name) -> ModelPreset            t2v-a14b, ti2v-5b, i2v-a14b, tiny, tiny-ti2v,
                                               tiny-i2v; DiTConfig, VAEConfig, ...
    SamplingSettings, sampling_settings        steps, shift, guidance per expert, sampler,
                                               schedule, step cache; FAST_SAMPLING (4 steps)
    LoraSettings, merge_loras, read_lora       LoRA files (three layouts) merged into experts
    WanT2VPipeline.load(preset, folder, RuntimeSettings(...)) / .random(...)
    pipeline.generate(GenerateRequest(...)) -> uint8 frames
    shared_pipeline(preset, weights_dir, settings)   the process's loaded pipeline
    WanDiT, WanVAE, Wan22VAE, TextEncoder      the components (build_vae: the VAE a config names)
    prepare_conditioning, output_size          a photo into an image-conditioned preset
    flow_schedule, denoise, GuidanceScales     the sampler's pieces; EasyCache, DenoiseStats
    compile_dit                                torch.compile with dynamic token/batch dims
    detect_layout, load_dit, load_vae, load_text_encoder, weights_fingerprint_files
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    **dict.fromkeys(("DiTConfig", "VAEConfig", "TextEncoderConfig", "SamplingSettings",
                     "ModelPreset", "PRESETS", "SAMPLERS", "get_preset", "LoraSettings",
                     "FAST_SAMPLING", "sampling_settings"), "model.config"),
    **dict.fromkeys(("WanT2VPipeline", "GenerateRequest", "RuntimeSettings", "shared_pipeline",
                     "check_request", "ExpertPlacement", "SplitOnOOM"), "model.pipeline"),
    **dict.fromkeys(("flow_schedule", "schedule_for", "denoise", "GuidanceScales", "HIGH_NOISE",
                     "LOW_NOISE", "EasyCache", "DenoiseStats"), "model.sampler"),
    **dict.fromkeys(("merge_loras", "read_lora"), "model.lora"),
    "compile_dit": "model.compile",
    **dict.fromkeys(("detect_layout", "load_dit", "load_vae", "load_text_encoder",
                     "weights_fingerprint_files"), "model.loader"),
    **dict.fromkeys(("Wan22VAE", "build_vae"), "model.vae22"),
    **dict.fromkeys(("prepare_conditioning", "output_size"), "model.conditioning"),
    "WanDiT": "model.dit", "WanVAE": "model.vae", "TextEncoder": "model.text_encoder",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
