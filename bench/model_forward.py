"""Benchmark: our DiT forward and Wan2.2 VAE against diffusers at identical configs/inputs.

    .venv/bin/python bench/model_forward.py [--quick] [--repeats N]

CPU sections (always): same random fp32 weights (loaded from diffusers' state dict), same inputs;
print time per call for both, the ratio ours/diffusers, and the max / relative error:
- the T2V DiT (one timestep per sample);
- the TI2V DiT (48 channels, one timestep per token, the first frame's tokens at t = 0);
- the Wan2.2 VAE (patchify, residual down/up blocks) encoding and decoding a short clip, at a
  reduced width (the released structure, channels / 10).

GPU sections (only when torch.cuda.is_available()): one full T2V-A14B expert (40 layers, dim 5120)
with random bf16 weights built directly on the GPU; times one forward (batch 1, 512 text tokens) at
the 480p (832x480x81 -> 32,760 tokens) and 720p (1280x720x81 -> 75,600 tokens) token counts and
prints per-step time (2 forwards: cond + uncond) and achieved TFLOP/s. Then the TI2V-5B DiT at
1280x704x121 (27,280 tokens, per-token timesteps) and the released-size Wan2.2 VAE (fp32)
encoding one frame and decoding 121 frames at 1280x704.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gpu import forward_flops  # noqa: E402  (one home for the FLOP count)
from model.config import TI2V_5B, WAN22_VAE, DiTConfig, VAEConfig  # noqa: E402
from model.dit import WanDiT  # noqa: E402
from model.vae22 import Wan22VAE  # noqa: E402

CPU_CASES = [  # (name, diffusers config, latent grid F, H, W)
    ("tiny (dim 24, 2 layers)", dict(num_attention_heads=2, attention_head_dim=12, ffn_dim=32,
                                     num_layers=2), (3, 6, 10)),
    ("tiny, 8,190 tokens", dict(num_attention_heads=2, attention_head_dim=12, ffn_dim=32,
                                num_layers=2), (21, 30, 52)),
    ("small (dim 256, 4 layers)", dict(num_attention_heads=4, attention_head_dim=64, ffn_dim=768,
                                       num_layers=4), (5, 24, 40)),
]


def timed(fn, repeats: int, sync=lambda: None) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_pair(fn_a, fn_b, repeats: int) -> tuple[float, float]:
    """Median seconds of ``fn_a()`` and ``fn_b()``, called alternately after one warm-up each,
    so a machine whose load drifts slows both alike."""
    fn_a(), fn_b()
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((fn_a, a), (fn_b, b)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def cpu_section(repeats: int, quick: bool) -> None:
    from diffusers import WanTransformer3DModel

    print("## CPU, fp32: ours vs diffusers (same weights, same inputs)\n")
    print("| config | tokens | ours ms | diffusers ms | ours/diffusers | max abs err | rel err |")
    print("|---|---|---|---|---|---|---|")
    cases = CPU_CASES[:1] + CPU_CASES[2:] if quick else CPU_CASES
    for name, cfg, (f, h, w) in cases:
        torch.manual_seed(0)
        ref = WanTransformer3DModel(patch_size=(1, 2, 2), in_channels=16, out_channels=16,
                                    text_dim=32, freq_dim=256, cross_attn_norm=True,
                                    qk_norm="rms_norm_across_heads", **cfg).eval()
        ours = WanDiT(DiTConfig.from_diffusers(dict(ref.config))).eval()
        ours.load_state_dict(ref.state_dict())
        g = torch.Generator().manual_seed(1)
        x = torch.randn(1, 16, f, h, w, generator=g)
        t = torch.tensor([700])
        ctx = torch.randn(1, 512, 32, generator=g)
        with torch.inference_mode():
            a = ref(x, t, ctx, return_dict=False)[0]
            b = ours(x, t, ctx)
            t_ref = timed(lambda: ref(x, t, ctx, return_dict=False), repeats)
            t_ours = timed(lambda: ours(x, t, ctx), repeats)
        tokens = f * (h // 2) * (w // 2)
        err = (a - b).abs().max().item()
        rel = ((a - b).norm() / a.norm()).item()
        print(f"| {name} | {tokens:,} | {t_ours * 1e3:.1f} | {t_ref * 1e3:.1f} | "
              f"{t_ours / t_ref:.2f} | {err:.2e} | {rel:.2e} |")
    print()


TI2V_CASES = [  # (name, diffusers config, latent grid F, H, W): 48 channels in and out
    ("tiny (dim 24, 2 layers)", dict(num_attention_heads=2, attention_head_dim=12, ffn_dim=32,
                                     num_layers=2), (3, 6, 10)),
    ("small (dim 256, 4 layers)", dict(num_attention_heads=4, attention_head_dim=64, ffn_dim=768,
                                       num_layers=4), (5, 22, 40)),
]


def ti2v_section(repeats: int) -> None:
    from diffusers import WanTransformer3DModel

    print("## CPU, fp32: TI2V DiT, per-token timesteps (first frame t = 0), ours vs diffusers\n")
    print("| config | tokens | ours ms | diffusers ms | ours/diffusers | max abs err | rel err |")
    print("|---|---|---|---|---|---|---|")
    for name, cfg, (f, h, w) in TI2V_CASES:
        torch.manual_seed(0)
        ref = WanTransformer3DModel(patch_size=(1, 2, 2), in_channels=48, out_channels=48,
                                    text_dim=32, freq_dim=256, cross_attn_norm=True,
                                    qk_norm="rms_norm_across_heads", **cfg).eval()
        ours = WanDiT(DiTConfig.from_diffusers(dict(ref.config))).eval()
        ours.load_state_dict(ref.state_dict())
        g = torch.Generator().manual_seed(1)
        x = torch.randn(1, 48, f, h, w, generator=g)
        tokens = f * (h // 2) * (w // 2)
        per_frame = tokens // f
        t = torch.tensor([[0] * per_frame + [700] * (tokens - per_frame)])
        ctx = torch.randn(1, 512, 32, generator=g)
        with torch.inference_mode():
            a = ref(x, t, ctx, return_dict=False)[0]
            b = ours(x, t, ctx)
            t_ours, t_ref = timed_pair(lambda: ours(x, t, ctx),
                                       lambda: ref(x, t, ctx, return_dict=False), repeats)
        err = (a - b).abs().max().item()
        rel = ((a - b).norm() / a.norm()).item()
        print(f"| {name} | {tokens:,} | {t_ours * 1e3:.1f} | {t_ref * 1e3:.1f} | "
              f"{t_ours / t_ref:.2f} | {err:.2e} | {rel:.2e} |")
    print()


def vae22_section(repeats: int, quick: bool) -> None:
    from diffusers import AutoencoderKLWan

    # The released structure (dims x1, x2, x4, x4; 2 residual blocks; decoder wider) at 1/10 width.
    config = dict(base_dim=16, decoder_base_dim=24, z_dim=48, dim_mult=[1, 2, 4, 4],
                  num_res_blocks=2, temperal_downsample=[False, True, True], is_residual=True,
                  in_channels=12, out_channels=12, patch_size=2, scale_factor_spatial=16,
                  latents_mean=list(WAN22_VAE.latents_mean), latents_std=list(WAN22_VAE.latents_std))
    torch.manual_seed(0)
    ref = AutoencoderKLWan(**config).eval()
    ours = Wan22VAE(VAEConfig.from_diffusers(dict(ref.config))).eval()
    ours.load_state_dict(ref.state_dict())
    frames, size = (5, 64) if quick else (9, 128)
    video = torch.rand(1, 3, frames, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    print(f"## CPU, fp32: Wan2.2 VAE (widths 16/24, z 48), {frames} frames at {size}x{size}, "
          "ours vs diffusers\n")
    print("| pass | ours ms | diffusers ms | ours/diffusers | max abs err | rel err |")
    print("|---|---|---|---|---|---|")
    with torch.inference_mode():
        z_ref = ref.encode(video).latent_dist.mode()
        z_ours = ours.encode(video)
        rows = [("encode", lambda: ours.encode(video), lambda: ref.encode(video), z_ref, z_ours)]
        rows.append(("decode", lambda: ours.decode(z_ref), lambda: ref.decode(z_ref),
                     ref.decode(z_ref).sample, ours.decode(z_ref)))
        for name, ours_fn, ref_fn, a, b in rows:
            t_ours, t_ref = timed_pair(ours_fn, ref_fn, repeats)
            err = (a - b).abs().max().item()
            rel = ((a - b).norm() / a.norm()).item()
            print(f"| {name} | {t_ours * 1e3:.0f} | {t_ref * 1e3:.0f} | {t_ours / t_ref:.2f} | "
                  f"{err:.2e} | {rel:.2e} |")
    print()


def gpu_section(repeats: int) -> None:
    print(f"## GPU ({torch.cuda.get_device_name()}), bf16, one T2V-A14B expert, random weights\n")
    config = DiTConfig()  # A14B expert
    with torch.device("meta"):
        model = WanDiT(config)
    model = model.to_empty(device="cuda")
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.data = p.data.to(torch.float32 if WanDiT.keep_fp32(name) else torch.bfloat16)
            p.normal_(0, 0.02)
    model.eval().requires_grad_(False)
    print("| size | tokens | forward s | step s (cond+uncond) | TFLOP/s | peak GB |")
    print("|---|---|---|---|---|---|")
    for label, (f, h, w) in (("832x480x81", (21, 60, 104)), ("1280x720x81", (21, 90, 160))):
        x = torch.randn(1, 16, f, h, w, device="cuda")
        t = torch.tensor([900], device="cuda")
        ctx = torch.randn(1, 512, config.text_dim, device="cuda", dtype=torch.bfloat16)
        torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            seconds = timed(lambda: model(x, t, ctx), repeats, sync=torch.cuda.synchronize)
        tokens = f * (h // 2) * (w // 2)
        tflops = forward_flops(config, tokens) / seconds / 1e12
        peak = torch.cuda.max_memory_allocated() / 2 ** 30
        print(f"| {label} | {tokens:,} | {seconds:.2f} | {2 * seconds:.2f} | {tflops:.0f} | "
              f"{peak:.1f} |")
    print(f"\n(one 720p forward = {forward_flops(config, 75600) / 1e15:.2f} PFLOP by this count)")


def random_on_gpu(module_cls, config, dtype_for):
    """A module of ``config`` built on the GPU with random weights, without a CPU copy."""
    with torch.device("meta"):
        model = module_cls(config)
    model = model.to_empty(device="cuda")
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.data = p.data.to(dtype_for(name))
            p.normal_(0, 0.02)
    return model.eval().requires_grad_(False)


def gpu_image_section(repeats: int) -> None:
    print(f"\n## GPU ({torch.cuda.get_device_name()}): TI2V-5B DiT (bf16) and Wan2.2 VAE (fp32)\n")
    print("| what | size | seconds | TFLOP/s | peak GB |")
    print("|---|---|---|---|---|")
    gpu_ti2v_dit(repeats)
    torch.cuda.empty_cache()
    gpu_vae22()


def gpu_ti2v_dit(repeats: int) -> None:
    config = TI2V_5B.dit
    model = random_on_gpu(WanDiT, config,
                          lambda n: torch.float32 if WanDiT.keep_fp32(n) else torch.bfloat16)
    f, h, w = 31, 44, 80  # 1280x704x121 -> 31 x 22 x 40 = 27,280 tokens
    tokens = f * (h // 2) * (w // 2)
    x = torch.randn(1, 48, f, h, w, device="cuda")
    per_frame = tokens // f
    t = torch.tensor([[0.0] * per_frame + [900.0] * (tokens - per_frame)], device="cuda")
    ctx = torch.randn(1, 512, config.text_dim, device="cuda", dtype=torch.bfloat16)
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        seconds = timed(lambda: model(x, t, ctx), repeats, sync=torch.cuda.synchronize)
    print(f"| TI2V DiT forward | {tokens:,} tokens | {seconds:.2f} | "
          f"{forward_flops(config, tokens) / seconds / 1e12:.0f} | "
          f"{torch.cuda.max_memory_allocated() / 2 ** 30:.1f} |")


def gpu_vae22() -> None:
    vae = random_on_gpu(Wan22VAE, WAN22_VAE, lambda n: torch.float32)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("gamma"):
                p.fill_(1.0)
    image = torch.rand(1, 3, 1, 704, 1280, device="cuda") * 2 - 1
    latents = torch.randn(1, 48, 31, 44, 80, device="cuda")
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        enc = timed(lambda: vae.encode(image), 1, sync=torch.cuda.synchronize)
        dec = timed(lambda: vae.decode(latents), 1, sync=torch.cuda.synchronize)
    peak = torch.cuda.max_memory_allocated() / 2 ** 30
    print(f"| Wan2.2 VAE encode, 1 frame | 1280x704 | {enc:.2f} | - | {peak:.1f} |")
    print(f"| Wan2.2 VAE decode, 121 frames | 1280x704 | {dec:.2f} | - | {peak:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 8,190-token CPU case")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    cpu_section(args.repeats, args.quick)
    ti2v_section(args.repeats)
    vae22_section(max(1, args.repeats // 2), args.quick)
    if torch.cuda.is_available():
        gpu_section(max(1, math.ceil(args.repeats / 3)))
        gpu_image_section(max(1, math.ceil(args.repeats / 3)))
    else:
        print("(no CUDA device: GPU sections skipped)")


if __name__ == "__main__":
    main()
