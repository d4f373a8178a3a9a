"""Benchmark: our DiT forward against diffusers' WanTransformer3DModel at identical configs/inputs.

    .venv/bin/python bench/model_forward.py [--quick] [--repeats N]

CPU section (always): same random fp32 weights (loaded from diffusers' state dict), same inputs;
prints time per forward for both, the ratio ours/diffusers, and the max / relative error.

GPU section (only when torch.cuda.is_available()): one full T2V-A14B expert (40 layers, dim 5120)
with random bf16 weights built directly on the GPU; times one forward (batch 1, 512 text tokens) at
the 480p (832x480x81 -> 32,760 tokens) and 720p (1280x720x81 -> 75,600 tokens) token counts and
prints per-step time (2 forwards: cond + uncond) and achieved TFLOP/s.
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
from model.config import DiTConfig  # noqa: E402
from model.dit import WanDiT  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 8,190-token CPU case")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    cpu_section(args.repeats, args.quick)
    if torch.cuda.is_available():
        gpu_section(max(1, math.ceil(args.repeats / 3)))
    else:
        print("(no CUDA device: GPU section skipped)")


if __name__ == "__main__":
    main()
