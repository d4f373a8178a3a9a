"""Benchmark: the generation path on one GPU, with random weights at the real T2V-A14B shape.

    .venv/bin/python bench/gpu.py              # full size on CUDA (about 3-5 minutes on one H200)
    .venv/bin/python bench/gpu.py --tiny       # toy sizes, any machine (CI runs this on a CPU)

No download: one A14B expert (40 blocks, dim 5120, 14.3B parameters) is built with random bf16
weights (fp32 islands as loaded) directly on the device, and the Wan2.1 VAE with random fp32
weights. Printed, as one table:

- seconds per DiT forward (batch 1, 512 text tokens) at the 480p (832x480x81: 32,760 tokens) and
  720p (1280x720x81: 75,600 tokens) token counts, achieved TFLOP/s (matmul FLOPs, 2 per
  multiply-add) and MFU against the H200's dense bf16 peak of 989 TFLOP/s (the datasheet figure,
  docs/reference/wan22-speed.md; measured matmul throughput is lower);
- peak GPU memory of each measurement;
- expert swap seconds: one expert brought in from pinned host memory (what an offloading run
  pays at the high -> low boundary; sending one back costs no copy);
- VAE decode seconds for 81 frames at 720p (21 latent frames, one at a time, fp32);
- whole-clip estimates at 720p: DiT forwards x seconds per forward + VAE decode, for 40-step CFG
  (80 forwards, the official setting), 40-step CFG with EasyCache (forwards divided by the
  published 2.2x of EasyCache on Wan2.2 T2V-A14B 720p, docs/reference/wan22-speed.md; random
  weights cannot show what a trained model's cache skips) and the 4-step distilled recipe
  (4 forwards). Text encoding is left out (once per clip, ~1 s); the estimates assume both
  experts stay resident (as the offload policy decides on an H200): add the swap when offloading.

With ``--tiny`` (the default without CUDA) the same measurements run at toy sizes; on a CPU the
swap row is skipped and MFU is not given (no peak to compare with).
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import TINY, DiTConfig, VAEConfig  # noqa: E402
from model.dit import WanDiT  # noqa: E402
from model.pipeline import ExpertPlacement  # noqa: E402
from model.vae import WanVAE  # noqa: E402

H200_BF16_DENSE_TFLOPS = 989.0
EASYCACHE_SPEEDUP = 2.2  # EasyCache on Wan2.2 T2V-A14B 720p: 5729 s -> 2603 s
TEXT_TOKENS = 512


@dataclass(frozen=True)
class Size:
    """One benchmark size: DiT config, the two latent grids, the VAE and its latent grid."""

    name: str
    dit: DiTConfig
    grids: dict[str, tuple[int, int, int]]  # label -> latent (F, H, W)
    vae: VAEConfig
    vae_grid: tuple[int, int, int]
    vae_label: str


FULL = Size("T2V-A14B expert", DiTConfig(),
            {"480p (832x480x81)": (21, 60, 104), "720p (1280x720x81)": (21, 90, 160)},
            VAEConfig(), (21, 90, 160), "81 frames at 1280x720")
SMALL = Size("tiny", TINY.dit, {"tiny A (64x48x9)": (3, 6, 8), "tiny B (96x64x17)": (5, 8, 12)},
             TINY.vae, (2, 6, 8), "5 frames at 64x48")


def forward_flops(config: DiTConfig, tokens: int, text_tokens: int = TEXT_TOKENS) -> float:
    """Matmul FLOPs of one forward (2 per multiply-add): linears, self- and cross-attention."""
    d, layers = config.dim, config.num_layers
    per_token_params = 4 * d * d + 2 * d * d + 2 * d * config.ffn_dim  # self qkvo, cross q/o, ffn
    linear = 2 * tokens * per_token_params + 2 * text_tokens * 2 * d * d  # + cross k/v on text
    attention = 4 * tokens * tokens * d + 4 * tokens * text_tokens * d
    return layers * (linear + attention)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, repeats: int, device: torch.device) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None


def random_expert(config: DiTConfig, device: torch.device, dtype: torch.dtype) -> WanDiT:
    """A DiT with random weights made on ``device`` (no host copy of 28 GB on the way)."""
    with torch.device("meta"):
        model = WanDiT(config)
    model = model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.data = p.data.to(torch.float32 if WanDiT.keep_fp32(name) else dtype)
            p.normal_(0, 0.02, generator=generator)
    return model.eval().requires_grad_(False)


def time_forward(expert: WanDiT, grid: tuple[int, int, int], device: torch.device,
                 dtype: torch.dtype, repeats: int) -> tuple[float, int]:
    """(median seconds of one batch-1 forward on a latent ``grid``, its token count)."""
    f, h, w = grid
    config = expert.config
    g = torch.Generator(device=device).manual_seed(1)
    x = torch.randn(1, config.in_channels, f, h, w, device=device, generator=g)
    t = torch.tensor([900], device=device)
    ctx = torch.randn(1, TEXT_TOKENS, config.text_dim, device=device, dtype=dtype, generator=g)
    with torch.inference_mode():
        seconds = timed(lambda: expert(x, t, ctx), repeats, device)
    pt, ph, pw = config.patch_size
    return seconds, (f // pt) * (h // ph) * (w // pw)


def measure(size: Size, device: torch.device, repeats: int, vae: bool) -> list[tuple[str, ...]]:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    rows: list[tuple[str, ...]] = []
    expert = random_expert(size.dit, device, dtype)
    forward_s: dict[str, float] = {}
    for label, grid in size.grids.items():
        reset_peak(device)
        seconds, tokens = time_forward(expert, grid, device, dtype, repeats)
        tflops = forward_flops(size.dit, tokens) / seconds / 1e12
        mfu = f"{100 * tflops / H200_BF16_DENSE_TFLOPS:.1f}%" if device.type == "cuda" else "-"
        peak = peak_gib(device)
        rows.append((f"DiT forward, {label}", f"{tokens:,} tokens", seconds_text(seconds),
                     f"{tflops:.1f} TFLOP/s", mfu, f"{peak:.1f} GiB" if peak else "-"))
        forward_s[label] = seconds
    if device.type == "cuda":
        placement = ExpertPlacement({"high": expert}, device, offload=True, pinned=True)
        placement.park()
        reset_peak(device)
        swap = []
        for _ in range(max(2, repeats)):
            start = time.perf_counter()
            placement("high")
            sync(device)
            swap.append(time.perf_counter() - start)
            placement.park()
        gib = sum(p.numel() * p.element_size() for p in expert.parameters()) / 2 ** 30
        rows.append(("expert swap in (pinned host -> GPU)", f"{gib:.1f} GiB",
                     seconds_text(statistics.median(swap)), f"{gib / statistics.median(swap):.1f} GiB/s",
                     "-", "-"))
    del expert
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    decode_s = 0.0
    if vae:
        model = WanVAE(size.vae)
        model.init_weights(torch.Generator().manual_seed(2))
        model = model.eval().requires_grad_(False).to(device)
        f, h, w = size.vae_grid
        latents = torch.randn(1, size.vae.z_dim, f, h, w, device=device)
        reset_peak(device)
        with torch.inference_mode():
            def decode() -> None:
                for _chunk in model.decode_chunks(model.denormalize(latents)):
                    pass
            decode_s = timed(decode, 1, device)
        peak = peak_gib(device)
        rows.append((f"VAE decode, {size.vae_label}", f"{f} latent frames", seconds_text(decode_s),
                     "-", "-", f"{peak:.1f} GiB" if peak else "-"))
        del model, latents
    big = list(forward_s.values())[-1]
    for label, forwards in (("clip estimate: 40 steps, CFG", 80),
                            ("clip estimate: 40 steps, CFG, EasyCache", 80 / EASYCACHE_SPEEDUP),
                            ("clip estimate: 4-step distilled", 4)):
        rows.append((label, f"{forwards:.0f} forwards", seconds_text(forwards * big + decode_s),
                     "-", "-", "-"))
    return rows


def seconds_text(seconds: float) -> str:
    """Three significant figures and no exponent: a tiny CPU forward can take well under a
    millisecond, which a fixed "0.000 s" would hide."""
    digits = max(1, 2 - math.floor(math.log10(seconds))) if seconds > 0 else 3
    return f"{seconds:.{digits}f} s"


def print_table(size: Size, device: torch.device, rows: list[tuple[str, ...]]) -> None:
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"## {size.name} on {where}, random weights, "
          f"{'bf16' if device.type == 'cuda' else 'fp32'}\n")
    print("| measurement | size | time | throughput | MFU (989 TFLOP/s peak) | peak memory |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nEstimates use the largest size's forward time plus the VAE decode; EasyCache as "
          f"its published {EASYCACHE_SPEEDUP}x fewer forwards.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes (default without CUDA)")
    parser.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda if "
                        "available)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-vae", action="store_true", help="skip the VAE decode")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    size = SMALL if args.tiny or device.type != "cuda" else FULL
    torch.set_grad_enabled(False)
    started = time.perf_counter()
    rows = measure(size, device, max(1, args.repeats), vae=not args.no_vae)
    print_table(size, device, rows)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
