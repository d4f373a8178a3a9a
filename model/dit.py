"""The Wan2.2 diffusion transformer (one expert of the text-to-video MoE).

Parameter names match the diffusers checkpoint keys (``WanTransformer3DModel``) so a diffusers
folder loads without renames; the original release's names are mapped in ``model/loader.py``.

Shapes: ``B`` batch, ``C`` latent channels, ``F, H, W`` latent frames/height/width,
``L = F*H*W / prod(patch)`` video tokens, ``S`` text tokens (512), ``D`` model dim.

Timesteps are one per sample ``[B]`` or one per token ``[B, L]`` (TI2V: the photo's first-frame
tokens get t = 0). Both go through one path: the time embedding is ``[B, 1 or L, ...]`` and
broadcasts over the tokens.

Numerics follow the reference: the time embedding, the modulation tables, the LayerNorms and the
residual adds run in fp32 even when weights and compute are bf16 ("fp32 islands"). The residual
stream itself stays fp32 between blocks and the output head runs in fp32, as the official model
does (its block additions and head run under fp32 autocast; docs/reference/wan22-speed.md):
rounding the stream to bf16 after every block doubles the error of a bf16 forward
(``WanDiT.fp32_residual``; tests/model/test_precision.py measures both).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from model.config import DiTConfig

# ---------------------------------------------------------------------------------------------
# helpers


def sinusoidal_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """[B] timesteps -> [B, dim] fp32, ordered [cos, sin], freqs 10000^(-i/half).

    Computed in float64 like Wan2.2 ``sinusoidal_embedding_1d``: at t ~ 999 fp32 angles lose ~1e-4.
    """
    half = dim // 2
    position = timesteps.to(torch.float64)
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64,
                                             device=timesteps.device) / half)
    angles = torch.outer(position, freqs)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).float()


def rope_axis_dims(head_dim: int) -> tuple[int, int, int]:
    """(time, height, width) rotary dims: d - 4*(d//6), 2*(d//6), 2*(d//6); 128 -> 44/42/42."""
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def rope_angles(grid: tuple[int, int, int], head_dim: int, *, theta: float = 10000.0,
                max_len: int = 1024, device: torch.device | None = None) -> torch.Tensor:
    """Rotary angles for a post-patch (f, h, w) grid -> [L, head_dim/2] float64, (f h w) order.

    Each axis has its own theta table over positions 0..max_len-1 (Wan ``rope_params``).
    """
    for n in grid:
        if n > max_len:
            raise ValueError(f"latent grid {grid} exceeds the rotary table length {max_len}")
    per_axis = []
    for n, d in zip(grid, rope_axis_dims(head_dim)):
        inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
        per_axis.append(torch.outer(torch.arange(n, dtype=torch.float64, device=device), inv))
    f, h, w = grid
    t_ang = per_axis[0][:, None, None, :].expand(f, h, w, -1)
    h_ang = per_axis[1][None, :, None, :].expand(f, h, w, -1)
    w_ang = per_axis[2][None, None, :, :].expand(f, h, w, -1)
    return rearrange(torch.cat([t_ang, h_ang, w_ang], dim=-1), "f h w d -> (f h w) d")


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x[2i], x[2i+1]) as complex numbers.

    x: [B, heads, L, head_dim]; cos, sin: [L, head_dim/2] fp32. Computed in fp32, returned in x's
    dtype.
    """
    pairs = rearrange(x.float(), "b n l (d two) -> b n l d two", two=2)
    real, imag = pairs.unbind(-1)
    out = torch.stack([real * cos - imag * sin, real * sin + imag * cos], dim=-1)
    return rearrange(out, "b n l d two -> b n l (d two)").type_as(x)


def mark_dynamic_dims(x: torch.Tensor, context: torch.Tensor, e0: torch.Tensor,
                      rope: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Tell torch.compile that the batch (CFG: 1 or 2) and token dims of the blocks' inputs vary.

    ``maybe_mark_dynamic``: a batch of 1 is still specialised (one graph for 1, one for >= 2),
    which dynamo would do anyway; every token count shares one graph. ``e0`` is [B, 1|L, 6, D]:
    its token dim is L with per-token timesteps (TI2V), so it is marked too (1 stays specialised).
    """
    from torch._dynamo import maybe_mark_dynamic

    for tensor in (x, context, e0):
        maybe_mark_dynamic(tensor, 0)
    maybe_mark_dynamic(x, 1)
    maybe_mark_dynamic(e0, 1)
    for table in rope:
        maybe_mark_dynamic(table, 0)


class RMSNorm(nn.Module):
    """RMS norm over the last dim, normalised in fp32 (Wan ``WanRMSNorm``). Weight: (dim,)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32, returned in fp32 (callers cast)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps)


# ---------------------------------------------------------------------------------------------
# leaf modules


class Attention(nn.Module):
    """Multi-head attention with q/k RMSNorm over the full dim (before splitting heads).

    Self-attention when ``context`` is None (then rotary angles apply), else cross-attention to
    ``context`` with no mask: Wan attends to the zero-padded text positions too.
    """

    def __init__(self, dim: int, num_heads: int, eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])  # "to_out.0" as in the checkpoints
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """x: [B, L, D]; context: [B, S, D] or None; rope: (cos, sin) [L, head_dim/2] -> [B, L, D]."""
        source = x if context is None else context
        q = rearrange(self.norm_q(self.to_q(x)), "b l (n d) -> b n l d", n=self.num_heads)
        k = rearrange(self.norm_k(self.to_k(source)), "b s (n d) -> b n s d", n=self.num_heads)
        v = rearrange(self.to_v(source), "b s (n d) -> b n s d", n=self.num_heads)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out[0](rearrange(out, "b n l d -> b l (n d)"))


class GeluProjection(nn.Module):
    """Linear then tanh-approximated GELU (the "net.0.proj" of the checkpoint's FFN)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    """Linear -> GELU(tanh) -> Linear. Indices 0 and 2 match the checkpoint keys (1 was dropout)."""

    def __init__(self, dim: int, ffn_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(GeluProjection(dim, ffn_dim), nn.Identity(), nn.Linear(ffn_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConditionEmbedder(nn.Module):
    """Timestep -> (e [B, D], e0 [B, 6, D]) in fp32; text [B, S, text_dim] -> [B, S, D]."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        dim = config.dim
        self.freq_dim = config.freq_dim
        self.time_embedder = nn.Module()
        self.time_embedder.linear_1 = nn.Linear(config.freq_dim, dim)
        self.time_embedder.linear_2 = nn.Linear(dim, dim)
        self.time_proj = nn.Linear(dim, 6 * dim)
        self.text_embedder = nn.Module()
        self.text_embedder.linear_1 = nn.Linear(config.text_dim, dim)
        self.text_embedder.linear_2 = nn.Linear(dim, dim)

    def time(self, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B] or per token [B, L] -> e [B, 1|L, D] fp32, e0 [B, 1|L, 6, D] fp32 (the reference
        runs this under fp32 autocast).

        Per-token timesteps take few values (0 and t in TI2V): each distinct value is embedded
        once and gathered, which is what embedding every token gives, at a fraction of the work.
        """
        per_sample = timesteps.ndim == 1
        values, index = torch.unique(timesteps.reshape(-1), return_inverse=True)
        te = self.time_embedder
        sinus = sinusoidal_embedding(values, self.freq_dim)
        e = te.linear_2(F.silu(te.linear_1(sinus.to(te.linear_1.weight.dtype)))).float()
        e0 = self.time_proj(F.silu(e).to(self.time_proj.weight.dtype)).float()
        shape = (timesteps.shape[0], 1 if per_sample else timesteps.shape[1])
        e, e0 = e[index].reshape(*shape, -1), e0[index].reshape(*shape, -1)
        return e, rearrange(e0, "b l (six d) -> b l six d", six=6)

    def text(self, context: torch.Tensor) -> torch.Tensor:
        """[B, S, text_dim] -> [B, S, D]."""
        tx = self.text_embedder
        hidden = tx.linear_1(context.to(tx.linear_1.weight.dtype))
        return tx.linear_2(F.gelu(hidden, approximate="tanh"))


# ---------------------------------------------------------------------------------------------
# block


class DiTBlock(nn.Module):
    """adaLN block: modulated self-attention, plain cross-attention, modulated FFN."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        dim, eps = config.dim, config.eps
        self.norm1 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.attn1 = Attention(dim, config.num_heads, eps)
        # The affine cross-attention norm; the original release calls it norm3.
        self.norm2 = FP32LayerNorm(dim, eps, elementwise_affine=True) if config.cross_attn_norm \
            else nn.Identity()
        self.attn2 = Attention(dim, config.num_heads, eps)
        self.norm3 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.ffn = FeedForward(dim, config.ffn_dim)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, dim) / dim ** 0.5)

    def forward(self, x: torch.Tensor, context: torch.Tensor, e0: torch.Tensor,
                rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """x: [B, L, D] residual stream (fp32, or the compute dtype); context: [B, S, D];
        e0: [B, 1|L, 6, D] fp32 (per sample or per token) -> [B, L, D] in x's dtype. Attention
        and FFN run in the weights' dtype; the additions in fp32."""
        dtype = self.attn1.to_q.weight.dtype  # compute dtype
        shift_msa, scale_msa, gate_msa, c_shift, c_scale, c_gate = \
            (self.scale_shift_table.float()[:, None] + e0.float()).unbind(2)  # 6 x [B, 1|L, D]

        h = (self.norm1(x) * (1 + scale_msa) + shift_msa).to(dtype)
        x = (x.float() + self.attn1(h, rope=rope) * gate_msa).type_as(x)

        h = self.norm2(x.float()).to(dtype) if self.norm2 is not None else x.to(dtype)
        x = (x.float() + self.attn2(h, context=context)).type_as(x)

        h = (self.norm3(x) * (1 + c_scale) + c_shift).to(dtype)
        return (x.float() + self.ffn(h).float() * c_gate).type_as(x)


# ---------------------------------------------------------------------------------------------
# top model


class WanDiT(nn.Module):
    """One expert: latent video [B, C, F, H, W] + timestep [B] + text [B, S, text_dim] -> velocity."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim
        self.patch_embedding = nn.Conv3d(config.in_channels, dim, kernel_size=config.patch_size,
                                         stride=config.patch_size)
        self.condition_embedder = ConditionEmbedder(config)
        self.blocks = nn.ModuleList([DiTBlock(config) for _ in range(config.num_layers)])
        self.norm_out = FP32LayerNorm(dim, config.eps, elementwise_affine=False)
        self.proj_out = nn.Linear(dim, config.out_channels * math.prod(config.patch_size))
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, dim) / dim ** 0.5)
        self._rope_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        # fp32 residual stream and head (the reference); False rounds the stream to the compute
        # dtype after every block and runs the head in it (kept to measure the difference).
        self.fp32_residual = True
        # set by model.compile.compile_dit: the batch and token dims of the blocks' inputs are
        # marked dynamic, so a new token count or CFG batch does not recompile
        self.dynamic_dims = False

    # names of parameters the reference keeps in fp32 whatever the compute dtype
    FP32_PARAM_MARKERS = ("scale_shift_table", "condition_embedder.time_embedder",
                          "condition_embedder.time_proj", ".norm2.")

    @classmethod
    def keep_fp32(cls, name: str) -> bool:
        """True for parameters kept in fp32 under bf16 (time embedding, modulation, norms)."""
        return any(marker in name for marker in cls.FP32_PARAM_MARKERS)

    def init_weights(self, generator: torch.Generator) -> None:
        """Random weights from ``generator`` (tiny preset, benchmarks). Head not zeroed, so the
        untrained model still produces varied output."""
        for name, p in self.named_parameters():
            if name.endswith("norm_q.weight") or name.endswith("norm_k.weight") \
                    or (".norm2." in name and name.endswith("weight")):
                nn.init.ones_(p)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            elif "scale_shift_table" in name:
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=generator) / self.config.dim ** 0.5)
            else:
                fan_in = math.prod(p.shape[1:])
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=generator) / fan_in ** 0.5)

    def rope(self, grid: tuple[int, int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached (cos, sin) fp32 [L, head_dim/2] for a post-patch grid."""
        key = (grid, str(device))
        if key not in self._rope_cache:
            angles = rope_angles(grid, self.config.head_dim, max_len=self.config.rope_max_seq_len,
                                 device=device)
            self._rope_cache = {key: (torch.cos(angles).float(), torch.sin(angles).float())}
        return self._rope_cache[key]

    def forward(self, latents: torch.Tensor, timesteps: torch.Tensor,
                context: torch.Tensor) -> torch.Tensor:
        """latents [B, C, F, H, W], timesteps [B] or per token [B, L], context [B, S, text_dim]
        -> [B, C_out, F, H, W].

        Output dtype: fp32 (the head runs in fp32), or the compute dtype without fp32_residual.
        """
        cfg = self.config
        b, c, f, h, w = latents.shape
        pt, ph, pw = cfg.patch_size
        if c != cfg.in_channels or f % pt or h % ph or w % pw:
            raise ValueError(f"latents {tuple(latents.shape)} do not fit in_channels "
                             f"{cfg.in_channels} and patch {cfg.patch_size}")
        grid = (f // pt, h // ph, w // pw)
        if timesteps.shape not in ((b,), (b, math.prod(grid))) or context.shape[0] != b \
                or context.shape[2] != cfg.text_dim:
            raise ValueError(f"timesteps {tuple(timesteps.shape)} / context {tuple(context.shape)} "
                             f"do not match batch {b}, {math.prod(grid)} tokens and text_dim "
                             f"{cfg.text_dim}")
        dtype = self.patch_embedding.weight.dtype

        x = self.patch_embedding(latents.to(dtype))
        x = rearrange(x, "b d f h w -> b (f h w) d").contiguous()
        if self.fp32_residual:
            x = x.float()
        e, e0 = self.condition_embedder.time(timesteps)
        ctx = self.condition_embedder.text(context)
        rope = self.rope(grid, x.device)
        if self.dynamic_dims:
            mark_dynamic_dims(x, ctx, e0, rope)

        for block in self.blocks:
            x = block(x, ctx, e0, rope)

        shift, scale = (self.scale_shift_table.float()[:, None] + e[:, :, None]).unbind(2)
        x = self.norm_out(x) * (1 + scale) + shift
        if self.fp32_residual:
            x = F.linear(x, self.proj_out.weight.float(), self.proj_out.bias.float())
        else:
            x = self.proj_out(x.to(dtype))
        return rearrange(x, "b (f h w) (pt ph pw c) -> b c (f pt) (h ph) (w pw)",
                         f=grid[0], h=grid[1], w=grid[2], pt=pt, ph=ph, pw=pw)
