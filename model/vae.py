"""The Wan2.1 causal 3D VAE (used by Wan2.2 T2V-A14B and I2V-A14B), with chunked, cached encode and
decode. Its leaf modules are shared with the Wan2.2 VAE (``model/vae22.py``).

Parameter names match diffusers' ``AutoencoderKLWan`` keys; the original ``Wan2.1_VAE.pth`` names
are mapped in ``model/loader.py``.

Time is causal: every 3D conv pads time on the left only, and the video is processed in chunks
(encoder: frame 1 alone, then 4 frames at a time; decoder: one latent frame at a time). A
:class:`StreamCache` carries, for each causal conv, the last input frames it needs from earlier
chunks, so memory depends on the chunk size, never on the clip length.

Shapes: video ``[B, 3, T, H, W]`` in [-1, 1], ``T = 4n+1``; latents ``[B, z, n+1, H/8, W/8]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from model.config import VAEConfig

CACHE_FRAMES = 2  # a kernel-3 causal conv needs the last 2 input frames of the previous chunk


class StreamCache:
    """Per-module state carried between chunks of one encode or decode call."""

    def __init__(self) -> None:
        self._state: dict[int, torch.Tensor | None] = {}

    def seen(self, module: nn.Module) -> bool:
        return id(module) in self._state

    def get(self, module: nn.Module) -> torch.Tensor | None:
        return self._state.get(id(module))

    def put(self, module: nn.Module, value: torch.Tensor | None) -> None:
        self._state[id(module)] = value


# ---------------------------------------------------------------------------------------------
# leaf modules


class CausalConv3d(nn.Conv3d):
    """Conv3d padding time on the left only; with a cache, the left context is the previous chunk."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        pt, ph, pw = self.padding
        self.time_pad = 2 * pt
        self.spatial_pad = (pw, pw, ph, ph)
        self.padding = (0, 0, 0)

    def forward(self, x: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        """x: [B, C, t, H, W] -> [B, C_out, t', H', W']."""
        if self.time_pad:
            previous = cache.get(self) if cache is not None else None
            if previous is None:  # start of the stream: zeros, as the reference pads
                previous = x.new_zeros(*x.shape[:2], self.time_pad, *x.shape[3:])
            history = torch.cat([previous, x], dim=2)
            if cache is not None:
                cache.put(self, history[:, :, -self.time_pad:].clone())
            x = history
        return super().forward(F.pad(x, self.spatial_pad))


class RMSNorm(nn.Module):
    """x / ||x||_channels * sqrt(C) * gamma. gamma: (C,1,1,1) for video, (C,1,1) for images."""

    def __init__(self, dim: int, *, images: bool) -> None:
        super().__init__()
        self.scale = dim ** 0.5
        self.gamma = nn.Parameter(torch.ones(dim, *((1, 1) if images else (1, 1, 1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x.float(), dim=1).to(x.dtype) * self.scale * self.gamma


class ResidualBlock(nn.Module):
    """norm -> SiLU -> causal conv -> norm -> SiLU -> causal conv, plus a 1x1x1 shortcut."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm1 = RMSNorm(in_dim, images=False)
        self.conv1 = CausalConv3d(in_dim, out_dim, 3, padding=1)
        self.norm2 = RMSNorm(out_dim, images=False)
        self.conv2 = CausalConv3d(out_dim, out_dim, 3, padding=1)
        self.conv_shortcut = CausalConv3d(in_dim, out_dim, 1) if in_dim != out_dim else None

    def forward(self, x: torch.Tensor, cache: StreamCache) -> torch.Tensor:
        shortcut = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        x = self.conv1(F.silu(self.norm1(x)), cache)
        x = self.conv2(F.silu(self.norm2(x)), cache)
        return x + shortcut


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of each frame (no attention across time)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        b, _, t, h, w = x.shape
        frames = rearrange(x, "b c t h w -> (b t) c h w")
        qkv = self.to_qkv(self.norm(frames))
        q, k, v = rearrange(qkv, "bt (three c) h w -> three bt 1 (h w) c", three=3)
        out = F.scaled_dot_product_attention(q, k, v)
        out = self.proj(rearrange(out, "bt 1 (h w) c -> bt c h w", h=h, w=w))
        return x + rearrange(out, "(b t) c h w -> b c t h w", b=b, t=t)


class Resample(nn.Module):
    """2x spatial up/down sampling, with 2x temporal too in the ``*3d`` modes.

    ``resample`` is (Upsample|ZeroPad2d, Conv2d) so that its conv is the checkpoint's "resample.1".
    An upsampler's conv halves the width in the Wan2.1 VAE; the Wan2.2 VAE keeps it
    (``upsample_out_dim``).
    """

    def __init__(self, dim: int, mode: str, upsample_out_dim: int | None = None) -> None:
        super().__init__()
        self.mode = mode
        if mode in ("upsample2d", "upsample3d"):
            out_dim = dim // 2 if upsample_out_dim is None else upsample_out_dim
            self.resample = nn.Sequential(nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest-exact"),
                                          nn.Conv2d(dim, out_dim, 3, padding=1))
        elif mode in ("downsample2d", "downsample3d"):
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)),
                                          nn.Conv2d(dim, dim, 3, stride=(2, 2)))
        else:
            raise ValueError(f"unknown resample mode {mode!r}")
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))
        elif mode == "downsample3d":
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))

    def forward(self, x: torch.Tensor, cache: StreamCache) -> torch.Tensor:
        if self.mode == "upsample3d":
            # The first chunk (one latent frame) stays one frame; later chunks double in time,
            # their causal history starting after the first chunk (as the reference's "Rep").
            if cache.seen(self):
                x = self.time_conv(x, cache)
                x = rearrange(x, "b (two c) t h w -> b c (t two) h w", two=2)
            cache.put(self, None)
        b, t = x.shape[0], x.shape[2]
        frames = rearrange(x, "b c t h w -> (b t) c h w")
        if self.mode.startswith("upsample"):
            frames = self.resample[1](self.resample[0](frames.float()).type_as(frames))
        else:
            frames = self.resample(frames)
        x = rearrange(frames, "(b t) c h w -> b c t h w", b=b, t=t)
        if self.mode == "downsample3d":
            # Stride-2 time conv over (last frame of previous chunk, this chunk); the first chunk
            # (the first frame alone) passes through.
            previous = cache.get(self)
            last = x[:, :, -1:].clone()
            if cache.seen(self):
                x = self.time_conv(torch.cat([previous, x], dim=2))
            cache.put(self, last)
        return x


class MidBlock(nn.Module):
    """resnet -> attention -> resnet."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResidualBlock(dim, dim), ResidualBlock(dim, dim)])
        self.attentions = nn.ModuleList([AttentionBlock(dim)])

    def forward(self, x: torch.Tensor, cache: StreamCache) -> torch.Tensor:
        x = self.resnets[0](x, cache)
        x = self.attentions[0](x)
        return self.resnets[1](x, cache)


class UpBlock(nn.Module):
    """num_res_blocks + 1 residual blocks, then an optional upsampler."""

    def __init__(self, in_dim: int, out_dim: int, num_res_blocks: int, mode: str | None) -> None:
        super().__init__()
        dims = [in_dim] + [out_dim] * (num_res_blocks + 1)
        self.resnets = nn.ModuleList([ResidualBlock(a, b) for a, b in zip(dims[:-1], dims[1:])])
        self.upsamplers = nn.ModuleList([Resample(out_dim, mode)]) if mode else None

    def forward(self, x: torch.Tensor, cache: StreamCache) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x, cache)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, cache)
        return x


# ---------------------------------------------------------------------------------------------
# encoder / decoder


class Encoder(nn.Module):
    """[B, 3, t, H, W] chunk -> [B, 2z, t', H/8, W/8] (mean and log-variance)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        dims = [config.base_dim * m for m in (1, *config.dim_mult)]
        self.conv_in = CausalConv3d(3, dims[0], 3, padding=1)
        blocks: list[nn.Module] = []
        last = len(config.dim_mult) - 1
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(config.num_res_blocks):
                blocks.append(ResidualBlock(in_dim, out_dim))
                in_dim = out_dim
            if i != last:
                blocks.append(Resample(out_dim, "downsample3d" if config.temporal_downsample[i]
                                       else "downsample2d"))
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = MidBlock(dims[-1])
        self.norm_out = RMSNorm(dims[-1], images=False)
        self.conv_out = CausalConv3d(dims[-1], config.z_dim * 2, 3, padding=1)

    def forward(self, x: torch.Tensor, cache: StreamCache) -> torch.Tensor:
        x = self.conv_in(x, cache)
        for block in self.down_blocks:
            x = block(x, cache)
        x = self.mid_block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


class Decoder(nn.Module):
    """[B, z, t, h, w] chunk -> [B, 3, frames, 8h, 8w] (1 frame for the first latent, 4 after)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        mults = config.dim_mult
        dims = [config.base_dim * m for m in (mults[-1], *mults[::-1])]
        temporal_upsample = config.temporal_downsample[::-1]
        self.conv_in = CausalConv3d(config.z_dim, dims[0], 3, padding=1)
        self.mid_block = MidBlock(dims[0])
        blocks = []
        last = len(mults) - 1
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                in_dim //= 2  # the previous upsampler halved the channels
            mode = None if i == last else ("upsample3d" if temporal_upsample[i] else "upsample2d")
            blocks.append(UpBlock(in_dim, out_dim, config.num_res_blocks, mode))
        self.up_blocks = nn.ModuleList(blocks)
        self.norm_out = RMSNorm(dims[-1], images=False)
        self.conv_out = CausalConv3d(dims[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor, cache: StreamCache) -> torch.Tensor:
        x = self.conv_in(z, cache)
        x = self.mid_block(x, cache)
        for block in self.up_blocks:
            x = block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


# ---------------------------------------------------------------------------------------------
# top model


class VAEBase(nn.Module):
    """What every Wan VAE shares: the latent statistics and random initialisation.

    ``normalize``/``denormalize`` apply the per-channel statistics the DiT was trained on.
    """

    config: VAEConfig

    def init_weights(self, generator: torch.Generator) -> None:
        """Random weights from ``generator`` (tiny preset): convs ~ N(0, 1/fan_in), gammas 1."""
        for name, p in self.named_parameters():
            with torch.no_grad():
                if name.endswith("gamma"):
                    p.fill_(1.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    fan_in = p[0].numel()
                    p.copy_(torch.randn(p.shape, generator=generator) / fan_in ** 0.5)

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, self.config.z_dim, 1, 1, 1)
        mean = torch.tensor(self.config.latents_mean, device=like.device, dtype=like.dtype)
        std = torch.tensor(self.config.latents_std, device=like.device, dtype=like.dtype)
        return mean.view(shape), std.view(shape)

    def normalize(self, mu: torch.Tensor) -> torch.Tensor:
        """Raw latents -> the DiT's latent space: (mu - mean) / std."""
        mean, std = self._stats(mu)
        return (mu - mean) / std

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """The DiT's latent space -> raw latents: z * std + mean."""
        mean, std = self._stats(z)
        return z * std + mean


class WanVAE(VAEBase):
    """Video <-> latents (the Wan2.1 VAE). ``encode``/``decode`` work on raw latents."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.quant_conv = CausalConv3d(config.z_dim * 2, config.z_dim * 2, 1)
        self.post_quant_conv = CausalConv3d(config.z_dim, config.z_dim, 1)
        self.decoder = Decoder(config)

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """[B, 3, T, H, W] in [-1, 1], T = 4n+1 -> raw posterior mean [B, z, n+1, H/8, W/8]."""
        b, c, t, h, w = video.shape
        s = self.config.spatial_factor
        if c != 3 or (t - 1) % self.config.temporal_factor or h % s or w % s:
            raise ValueError(f"video {tuple(video.shape)} must be [B, 3, 4n+1, H, W] with H, W "
                             f"divisible by {s}")
        cache = StreamCache()
        step = self.config.temporal_factor
        chunks = [video[:, :, :1]] + [video[:, :, i:i + step] for i in range(1, t, step)]
        latents = torch.cat([self.encoder(chunk, cache) for chunk in chunks], dim=2)
        return self.quant_conv(latents)[:, :self.config.z_dim]

    def decode_chunks(self, latents: torch.Tensor) -> Iterator[torch.Tensor]:
        """Raw latents [B, z, n+1, h, w] -> chunks of [B, 3, t, 8h, 8w] in [-1, 1]: 1 frame, then 4s.

        Peak memory is that of one latent frame's decode, whatever n is.
        """
        if latents.ndim != 5 or latents.shape[1] != self.config.z_dim:
            raise ValueError(f"latents {tuple(latents.shape)} must be [B, {self.config.z_dim}, t, h, w]")
        cache = StreamCache()
        for i in range(latents.shape[2]):
            z = self.post_quant_conv(latents[:, :, i:i + 1])
            yield self.decoder(z, cache).clamp(-1.0, 1.0)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Raw latents [B, z, n+1, h, w] -> video [B, 3, 4n+1, 8h, 8w] in [-1, 1]."""
        return torch.cat(list(self.decode_chunks(latents)), dim=2)


def frames_to_uint8(video: torch.Tensor) -> torch.Tensor:
    """[3, T, H, W] in [-1, 1] -> uint8 [T, H, W, 3] (the reference's (x + 1) / 2 * 255, rounded)."""
    pixels = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rearrange(pixels, "c t h w -> t h w c")
