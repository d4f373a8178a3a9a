"""The Wan2.2 causal 3D VAE (used by TI2V-5B): 4x16x16 compression to 48 channels.

Differences from the Wan2.1 VAE (``model/vae.py``, whose leaf modules this one reuses), after
Wan2.2 ``wan/modules/vae2_2.py`` and docs/reference/wan22-image-models.md:

- a 2x2 patchify in front (RGB -> 12 channels, ``b c f (h q) (w r) -> b (c r q) f h w``) and the
  inverse behind the decoder, so three spatial halvings make 16x;
- residual down and up blocks: each stage's output gets a parameter-free shortcut of its input,
  space/time-to-channel then the mean over channel groups going down (:class:`AvgDown`), channel
  repeat then depth-to-space going up (:class:`DupUp`);
- the decoder has its own width (256 against the encoder's 160), its upsamplers keep the width,
  and each decoder stage has ``num_res_blocks + 1`` residual blocks.

Parameter names match diffusers' ``AutoencoderKLWan(is_residual=True)``; the names of the original
``Wan2.2_VAE.pth`` are mapped in ``model/loader.py``.

Chunking and the feature cache are the Wan2.1 VAE's: the encoder takes the first frame alone, then
4 frames at a time; the decoder one latent frame at a time, the first one flagged (the up
shortcut then drops its leading ``factor_t - 1`` frames, as the time upsampler does).

Shapes: video ``[B, 3, T, H, W]`` in [-1, 1], ``T = 4n+1``; latents ``[B, 48, n+1, H/16, W/16]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from model.config import VAEConfig
from model.vae import (
    CausalConv3d,
    MidBlock,
    Resample,
    ResidualBlock,
    RMSNorm,
    StreamCache,
    VAEBase,
)

# ---------------------------------------------------------------------------------------------
# helpers


def patchify(video: torch.Tensor, patch: int) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, C*p*p, T, H/p, W/p], the channel order of the reference (c r q)."""
    return rearrange(video, "b c f (h q) (w r) -> b (c r q) f h w", q=patch, r=patch)


def unpatchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """The inverse of :func:`patchify`."""
    return rearrange(x, "b (c r q) f h w -> b c f (h q) (w r)", q=patch, r=patch)


# ---------------------------------------------------------------------------------------------
# leaf modules


class AvgDown(nn.Module):
    """Parameter-free down shortcut: space/time-to-channel, then the mean over channel groups.

    A chunk whose frame count is not a multiple of ``factor_t`` (the first frame alone) is padded
    with zero frames in front, as the reference does.
    """

    def __init__(self, in_dim: int, out_dim: int, factor_t: int, factor_s: int) -> None:
        super().__init__()
        self.factor_t, self.factor_s = factor_t, factor_s
        factor = factor_t * factor_s * factor_s
        if (in_dim * factor) % out_dim:
            raise ValueError(f"AvgDown: {in_dim} channels x {factor} do not split into {out_dim}")
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_t = (self.factor_t - x.shape[2] % self.factor_t) % self.factor_t
        x = F.pad(x, (0, 0, 0, 0, pad_t, 0))
        x = rearrange(x, "b c (t ft) (h fh) (w fw) -> b (c ft fh fw) t h w",
                      ft=self.factor_t, fh=self.factor_s, fw=self.factor_s)
        return rearrange(x, "b (o g) t h w -> b o g t h w", o=self.out_dim).mean(dim=2)


class DupUp(nn.Module):
    """Parameter-free up shortcut: repeat channels, then depth-to-space and depth-to-time."""

    def __init__(self, in_dim: int, out_dim: int, factor_t: int, factor_s: int) -> None:
        super().__init__()
        self.factor_t, self.factor_s = factor_t, factor_s
        factor = factor_t * factor_s * factor_s
        if (out_dim * factor) % in_dim:
            raise ValueError(f"DupUp: {out_dim} channels x {factor} are not a multiple of {in_dim}")
        self.repeats = out_dim * factor // in_dim

    def forward(self, x: torch.Tensor, first_chunk: bool) -> torch.Tensor:
        x = repeat(x, "b c t h w -> b (c r) t h w", r=self.repeats)
        x = rearrange(x, "b (o ft fh fw) t h w -> b o (t ft) (h fh) (w fw)",
                      ft=self.factor_t, fh=self.factor_s, fw=self.factor_s)
        # The first chunk is one frame: the time upsampler leaves it one frame, and so must this.
        return x[:, :, self.factor_t - 1:] if first_chunk else x


# ---------------------------------------------------------------------------------------------
# blocks


class ResidualDownBlock(nn.Module):
    """num_res_blocks residual blocks and an optional downsampler, plus the AvgDown shortcut."""

    def __init__(self, in_dim: int, out_dim: int, num_res_blocks: int, *, temporal: bool,
                 down: bool) -> None:
        super().__init__()
        self.avg_shortcut = AvgDown(in_dim, out_dim, factor_t=2 if temporal else 1,
                                    factor_s=2 if down else 1)
        dims = [in_dim] + [out_dim] * num_res_blocks
        self.resnets = nn.ModuleList([ResidualBlock(a, b) for a, b in zip(dims[:-1], dims[1:])])
        self.downsampler = Resample(out_dim, "downsample3d" if temporal else "downsample2d") \
            if down else None

    def forward(self, x: torch.Tensor, cache: StreamCache) -> torch.Tensor:
        shortcut = self.avg_shortcut(x)
        for resnet in self.resnets:
            x = resnet(x, cache)
        if self.downsampler is not None:
            x = self.downsampler(x, cache)
        return x + shortcut


class ResidualUpBlock(nn.Module):
    """num_res_blocks + 1 residual blocks and an optional upsampler (width kept), plus the DupUp
    shortcut when it upsamples."""

    def __init__(self, in_dim: int, out_dim: int, num_res_blocks: int, *, temporal: bool,
                 up: bool) -> None:
        super().__init__()
        self.avg_shortcut = DupUp(in_dim, out_dim, factor_t=2 if temporal else 1, factor_s=2) \
            if up else None
        dims = [in_dim] + [out_dim] * (num_res_blocks + 1)
        self.resnets = nn.ModuleList([ResidualBlock(a, b) for a, b in zip(dims[:-1], dims[1:])])
        self.upsampler = Resample(out_dim, "upsample3d" if temporal else "upsample2d",
                                  upsample_out_dim=out_dim) if up else None

    def forward(self, x: torch.Tensor, cache: StreamCache, first_chunk: bool) -> torch.Tensor:
        shortcut = self.avg_shortcut(x, first_chunk) if self.avg_shortcut is not None else None
        for resnet in self.resnets:
            x = resnet(x, cache)
        if self.upsampler is not None:
            x = self.upsampler(x, cache)
        return x if shortcut is None else x + shortcut


# ---------------------------------------------------------------------------------------------
# encoder / decoder


class Encoder(nn.Module):
    """[B, 12, t, H/2, W/2] patchified chunk -> [B, 2z, t', H/16, W/16] (mean and log-variance)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        dims = [config.base_dim * m for m in (1, *config.dim_mult)]
        last = len(config.dim_mult) - 1
        self.conv_in = CausalConv3d(config.image_channels, dims[0], 3, padding=1)
        self.down_blocks = nn.ModuleList([
            ResidualDownBlock(a, b, config.num_res_blocks,
                              temporal=i != last and config.temporal_downsample[i],
                              down=i != last)
            for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))])
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
    """[B, z, 1, h, w] latent frame -> [B, 12, frames, 8h, 8w] patchified (1 frame first, 4 after)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        mults = config.dim_mult
        dims = [config.decoder_dim * m for m in (mults[-1], *mults[::-1])]
        temporal_upsample = config.temporal_downsample[::-1]
        last = len(mults) - 1
        self.conv_in = CausalConv3d(config.z_dim, dims[0], 3, padding=1)
        self.mid_block = MidBlock(dims[0])
        self.up_blocks = nn.ModuleList([
            ResidualUpBlock(a, b, config.num_res_blocks,
                            temporal=i != last and temporal_upsample[i], up=i != last)
            for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))])
        self.norm_out = RMSNorm(dims[-1], images=False)
        self.conv_out = CausalConv3d(dims[-1], config.image_channels, 3, padding=1)

    def forward(self, z: torch.Tensor, cache: StreamCache, first_chunk: bool) -> torch.Tensor:
        x = self.conv_in(z, cache)
        x = self.mid_block(x, cache)
        for block in self.up_blocks:
            x = block(x, cache, first_chunk)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


# ---------------------------------------------------------------------------------------------
# top model


class Wan22VAE(VAEBase):
    """Video <-> latents (the Wan2.2 VAE). ``encode``/``decode`` work on raw latents."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        if not config.is_residual:
            raise ValueError("Wan22VAE needs a residual VAE config (is_residual=True)")
        self.config = config
        self.encoder = Encoder(config)
        self.quant_conv = CausalConv3d(config.z_dim * 2, config.z_dim * 2, 1)
        self.post_quant_conv = CausalConv3d(config.z_dim, config.z_dim, 1)
        self.decoder = Decoder(config)

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """[B, 3, T, H, W] in [-1, 1], T = 4n+1 -> raw posterior mean [B, z, n+1, H/16, W/16]."""
        b, c, t, h, w = video.shape
        s, step = self.config.spatial_factor, self.config.temporal_factor
        if c != 3 or (t - 1) % step or h % s or w % s:
            raise ValueError(f"video {tuple(video.shape)} must be [B, 3, 4n+1, H, W] with H, W "
                             f"divisible by {s}")
        x = patchify(video, self.config.patch_size)
        cache = StreamCache()
        chunks = [x[:, :, :1]] + [x[:, :, i:i + step] for i in range(1, t, step)]
        latents = torch.cat([self.encoder(chunk, cache) for chunk in chunks], dim=2)
        return self.quant_conv(latents)[:, :self.config.z_dim]

    def decode_chunks(self, latents: torch.Tensor) -> Iterator[torch.Tensor]:
        """Raw latents [B, z, n+1, h, w] -> chunks of [B, 3, t, 16h, 16w] in [-1, 1]: 1 frame,
        then 4s. Peak memory is that of one latent frame's decode, whatever n is."""
        if latents.ndim != 5 or latents.shape[1] != self.config.z_dim:
            raise ValueError(f"latents {tuple(latents.shape)} must be [B, {self.config.z_dim}, t, h, w]")
        cache = StreamCache()
        for i in range(latents.shape[2]):
            z = self.post_quant_conv(latents[:, :, i:i + 1])
            chunk = self.decoder(z, cache, first_chunk=i == 0)
            yield unpatchify(chunk, self.config.patch_size).clamp(-1.0, 1.0)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Raw latents [B, z, n+1, h, w] -> video [B, 3, 4n+1, 16h, 16w] in [-1, 1]."""
        return torch.cat(list(self.decode_chunks(latents)), dim=2)


def build_vae(config: VAEConfig) -> VAEBase:
    """The VAE a config describes: Wan2.2 when residual, else Wan2.1."""
    from model.vae import WanVAE

    return Wan22VAE(config) if config.is_residual else WanVAE(config)
