"""How a photo conditions the image-to-video presets, kept out of the sampler and the DiT.

Facts: docs/reference/wan22-image-models.md (Wan2.2 ``wan/textimage2video.py``,
``wan/image2video.py``; diffusers ``pipeline_wan_i2v.py`` with and without ``expand_timesteps``).

- **TI2V** (:class:`FirstLatent`, preset ``image_conditioning = FIRST_LATENT``): the photo, fitted
  to the frame, is encoded to one latent frame ``z``. With ``mask`` 0 on latent frame 0 and 1
  elsewhere, the sampler starts from ``(1 - mask) * z + mask * noise``, pastes ``z`` back the same
  way after every step, and the DiT gets one timestep per token, ``t * mask`` sampled at the patch
  grid, so the photo's tokens are told they are clean (t = 0).
- **I2V-A14B** (:class:`MaskChannels`, ``MASK_CHANNELS``): the photo followed by ``F - 1`` black
  frames goes through the VAE; 4 mask channels (latent frame 0 ones, the rest zeros: the first
  frame's mask repeated 4x, one per frame a latent frame stands for) and that latent are
  concatenated to the noise on channels: 16 + 4 + 16 = 36 DiT input channels.
- Text alone (:class:`TextOnly`): nothing changes.

Each conditioning has the same three hooks the pipeline wires in: ``start(noise)`` (the first
latents), ``experts(experts)`` (wraps the velocity functions the sampler calls) and
``after_step`` (None, or what the sampler applies after every solver step).

The photo is fitted to the frame by the one crop rule, :func:`media.images.fit_image` (the TI2V
reference's; the I2V-A14B reference resizes bicubically to a size of the photo's own aspect, which
the fit equals up to the rounding of that size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from einops import rearrange

from common.errors import SpecError
from media.images import fit_image, load_image
from model.config import FIRST_LATENT, MASK_CHANNELS, ModelPreset
from model.vae import VAEBase

VelocityFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Experts = Callable[[str], VelocityFn]


# ---------------------------------------------------------------------------------------------
# output size from the photo's aspect


def best_output_size(width: int, height: int, multiple: int, max_area: int) -> tuple[int, int]:
    """TI2V's rule (Wan2.2 ``wan/utils/utils.py`` ``best_output_size``): the size of at most
    ``max_area`` pixels, sides multiples of ``multiple``, whose aspect is nearest the photo's;
    the width-first and the height-first roundings are both tried."""
    ratio = width / height
    ow = (max_area * ratio) ** 0.5
    oh = max_area / ow
    ow1 = int(ow // multiple * multiple)
    oh1 = int(max_area / ow1 // multiple * multiple)
    oh2 = int(oh // multiple * multiple)
    ow2 = int(max_area / oh2 // multiple * multiple)
    off1 = max(ratio / (ow1 / oh1), (ow1 / oh1) / ratio)
    off2 = max(ratio / (ow2 / oh2), (ow2 / oh2) / ratio)
    return (ow1, oh1) if off1 < off2 else (ow2, oh2)


def i2v_output_size(width: int, height: int, stride: int, patch: int, max_area: int
                    ) -> tuple[int, int]:
    """I2V-A14B's rule (Wan2.2 ``wan/image2video.py``): each latent side is
    sqrt(max_area * aspect) / stride, floored to a multiple of the patch."""
    aspect = height / width
    lat_h = round(np.sqrt(max_area * aspect) // stride // patch * patch)
    lat_w = round(np.sqrt(max_area / aspect) // stride // patch * patch)
    return int(lat_w * stride), int(lat_h * stride)


def output_size(preset: ModelPreset, image_width: int, image_height: int) -> tuple[int, int]:
    """(width, height) of a clip made from a photo of this size when none is asked for: the
    photo's aspect within the preset's own area (1280x704 for TI2V, 1280x720 for I2V)."""
    max_area = preset.width * preset.height
    patch = preset.dit.patch_size[1]
    if preset.image_conditioning == MASK_CHANNELS:
        return i2v_output_size(image_width, image_height, preset.vae.spatial_factor, patch,
                               max_area)
    return best_output_size(image_width, image_height, preset.vae.spatial_factor * patch,
                            max_area)


# ---------------------------------------------------------------------------------------------
# the conditionings


def image_tensor(pixels: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [H, W, 3] -> [1, 3, 1, H, W] fp32 in [-1, 1] (the reference's to_tensor, -0.5, /0.5)."""
    video = torch.from_numpy(np.array(pixels)).to(device=device, dtype=torch.float32)
    return rearrange(video / 127.5 - 1.0, "h w c -> 1 c 1 h w")


class TextOnly:
    """No photo: the sampler runs as text-to-video."""

    after_step = None

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        return noise

    def experts(self, experts: Experts) -> Experts:
        return experts


@dataclass
class FirstLatent:
    """TI2V: the photo's latent ``z`` [1, C, 1, h, w] is latent frame 0."""

    z: torch.Tensor
    mask: torch.Tensor        # [1, 1, T, h, w] fp32: 0 on latent frame 0, 1 after
    token_mask: torch.Tensor  # [L]: the mask at the DiT's patch grid, (f h w) order

    @classmethod
    def build(cls, z: torch.Tensor, latent_frames: int, patch: tuple[int, int, int]
              ) -> FirstLatent:
        _, _, _, h, w = z.shape
        mask = torch.ones(1, 1, latent_frames, h, w, device=z.device, dtype=torch.float32)
        mask[:, :, 0] = 0
        pt, ph, pw = patch
        token_mask = mask[0, 0, ::pt, ::ph, ::pw].flatten()
        return cls(z=z.float(), mask=mask, token_mask=token_mask)

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        """(1 - mask) * z + mask * noise: frame 0 is the photo, the rest noise."""
        return (1 - self.mask) * self.z + self.mask * noise

    def after_step(self, latents: torch.Tensor) -> torch.Tensor:
        """Frame 0 pasted back from z after every step (the solver moved it)."""
        return self.start(latents)

    def timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """[B] -> per token [B, L]: t everywhere but 0 on the photo's tokens."""
        return t[:, None].float() * self.token_mask[None]

    def experts(self, experts: Experts) -> Experts:
        def per_token(name: str) -> VelocityFn:
            model = experts(name)
            return lambda latents, t, context: model(latents, self.timesteps(t), context)
        return per_token


@dataclass
class MaskChannels:
    """I2V: ``y`` [1, 4 + z, T, h, w] (mask, then the photo's clip latent) beside the noise."""

    y: torch.Tensor

    after_step = None

    @classmethod
    def build(cls, latent: torch.Tensor, frames: int, temporal_factor: int) -> MaskChannels:
        """``latent`` [1, z, T, h, w] of the photo + black frames; ``frames`` = 4n+1 video frames."""
        _, _, t, h, w = latent.shape
        per_frame = torch.zeros(frames + temporal_factor - 1, device=latent.device)
        per_frame[:temporal_factor] = 1  # the first frame's mask, repeated once per latent slot
        mask = rearrange(per_frame, "(t k) -> k t", k=temporal_factor)
        mask = mask[None, :, :, None, None].expand(1, temporal_factor, t, h, w)
        return cls(y=torch.cat([mask, latent.float()], dim=1))

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        return noise

    def experts(self, experts: Experts) -> Experts:
        def with_channels(name: str) -> VelocityFn:
            model = experts(name)

            def velocity(latents: torch.Tensor, t: torch.Tensor, context: torch.Tensor):
                y = self.y.expand(latents.shape[0], -1, -1, -1, -1).to(latents.dtype)
                return model(torch.cat([latents, y], dim=1), t, context)
            return velocity
        return with_channels


Conditioning = TextOnly | FirstLatent | MaskChannels


def prepare_conditioning(preset: ModelPreset, vae: VAEBase, image, *, width: int, height: int,
                         frames: int, device: torch.device) -> Conditioning:
    """The conditioning of one clip: ``image`` (path, PIL image or uint8 array, or None) fitted
    to ``width`` x ``height`` and encoded by ``vae`` (fp32, on ``device``)."""
    if preset.image_conditioning is None:
        if image is not None:
            raise SpecError(f"preset {preset.name!r} is text-to-video only and cannot use a "
                            "photo; use ti2v-5b or i2v-a14b", field="image")
        return TextOnly()
    if image is None:
        if preset.needs_image:
            raise SpecError(f"preset {preset.name!r} animates a photo: give an image",
                            field="image")
        return TextOnly()
    photo = image_tensor(fit_image(load_image(image), width, height), device)
    latent_frames = (frames - 1) // preset.vae.temporal_factor + 1
    if preset.image_conditioning == FIRST_LATENT:
        z = vae.normalize(vae.encode(photo))
        return FirstLatent.build(z, latent_frames, preset.dit.patch_size)
    clip = torch.cat([photo, photo.new_zeros(1, 3, frames - 1, height, width)], dim=2)
    latent = vae.normalize(vae.encode(clip))
    return MaskChannels.build(latent, frames, preset.vae.temporal_factor)
