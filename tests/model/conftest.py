"""Tiny diffusers checkpoints written by the tests (diffusers is the test oracle only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

# Two tiny DiT configs: the diffusers test config, and one with 3 heads of 8 and 3 layers.
DIT_CONFIGS = {
    "diffusers-tiny": dict(num_attention_heads=2, attention_head_dim=12, ffn_dim=32, num_layers=2),
    "three-heads": dict(num_attention_heads=3, attention_head_dim=8, ffn_dim=40, num_layers=3),
}


def make_diffusers_dit(name: str, seed: int = 0, *, in_channels: int = 16,
                       out_channels: int = 16):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    model = WanTransformer3DModel(patch_size=(1, 2, 2), in_channels=in_channels,
                                  out_channels=out_channels,
                                  text_dim=32, freq_dim=256, cross_attn_norm=True,
                                  qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
                                  **DIT_CONFIGS[name]).eval()
    # diffusers zero-inits nothing here, but make the biases non-zero so a dropped bias shows.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("bias"):
                p.normal_(0, 0.1)
    return model


def make_diffusers_vae(seed: int = 0):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    model = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                             temperal_downsample=[False, True, True]).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("gamma"):
                p.uniform_(0.5, 1.5)
    return model


# A tiny Wan2.2 VAE (diffusers names): every structural feature of the released one (patchify,
# residual down/up blocks with their shortcuts, a decoder wider than the encoder, 2 temporal
# downsamples), at widths 4 / 6 and 12 latent channels.
VAE22_TINY = dict(base_dim=4, decoder_base_dim=6, z_dim=12, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                  temperal_downsample=[False, True, True], is_residual=True, in_channels=12,
                  out_channels=12, patch_size=2, scale_factor_spatial=16,
                  latents_mean=[0.1 * i - 0.5 for i in range(12)],
                  latents_std=[0.5 + 0.1 * i for i in range(12)])


def make_diffusers_vae22(seed: int = 0, **overrides):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    model = AutoencoderKLWan(**{**VAE22_TINY, **overrides}).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("gamma"):
                p.uniform_(0.5, 1.5)
            elif n.endswith("bias"):
                p.normal_(0, 0.05)
    return model


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / a.double().norm()).item()


@pytest.fixture(scope="session")
def tiny_diffusers_folder(tmp_path_factory):
    """A whole tiny pipeline in diffusers layout: two experts (one sharded), VAE, umT5, tokenizer."""
    from transformers import UMT5EncoderModel

    from model.config import TINY
    from model.text_encoder import build_byte_tokenizer

    root = tmp_path_factory.mktemp("tiny-diffusers")
    make_diffusers_dit("diffusers-tiny", seed=1).save_pretrained(root / "transformer")
    make_diffusers_dit("diffusers-tiny", seed=2).save_pretrained(root / "transformer_2",
                                                                max_shard_size="20KB")
    make_diffusers_vae(seed=3).save_pretrained(root / "vae")
    torch.manual_seed(4)
    UMT5EncoderModel(TINY.text.to_transformers()).save_pretrained(root / "text_encoder")
    build_byte_tokenizer().save_pretrained(root / "tokenizer")
    return root


# A tiny Wan2.2 VAE whose weights are set, not drawn: a 16x16 box filter. Random weights cannot
# reproduce any photo, so they could not show that a photo reaches the first frame; this VAE can.
BOX_VAE22 = dict(base_dim=16, decoder_base_dim=16, z_dim=12, dim_mult=[1, 1, 1, 1],
                 num_res_blocks=0, temperal_downsample=[False, True, True], is_residual=True,
                 in_channels=12, out_channels=12, patch_size=2, scale_factor_spatial=16,
                 latents_mean=[0.0] * 12, latents_std=[1.0] * 12)
BOX_CONSTANT, BOX_GAMMA = 1000.0, 0.25


def make_box_vae22():
    """AutoencoderKLWan(is_residual) that encodes each 16x16 block of each 2x2 pixel phase to its
    mean and decodes by repeating it.

    How: every residual branch, resample conv and attention projection is zero, so each stage
    passes only its parameter-free shortcut, which with as many channels out as in is a 2x2
    (and time-pair) average going down and a repeat going up. The heads (RMS norm, SiLU, conv)
    are made linear: conv_in adds a constant channel of 1000 beside the 12 patchified pixel
    channels, so the RMS norm divides every pixel by about the same number, and a norm gamma
    of 0.25 keeps SiLU's input under 1e-3, where SiLU(a) = a/2 within 0.05%; the output convs
    undo both scales. (The averaging of time pairs scales the pixels and the constant alike,
    which the norm cancels.)
    """
    from diffusers import AutoencoderKLWan

    model = AutoencoderKLWan(**BOX_VAE22).eval()
    state = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    for k in state:
        if k.endswith("gamma"):
            state[k].fill_(1.0)
    signal = range(12)
    for side in ("encoder", "decoder"):
        for c in signal:
            state[f"{side}.conv_in.weight"][c, c, 2, 1, 1] = 1.0  # this frame, this pixel
            state[f"{side}.norm_out.gamma"][c] = BOX_GAMMA
            state[f"{side}.conv_out.weight"][c, c, 2, 1, 1] = BOX_CONSTANT / (2 * BOX_GAMMA)
        state[f"{side}.conv_in.bias"][12] = BOX_CONSTANT
    for c in range(24):
        state["quant_conv.weight"][c, c, 0, 0, 0] = 1.0
    for c in signal:
        state["post_quant_conv.weight"][c, c, 0, 0, 0] = 1.0
    model.load_state_dict(state)
    return model


def box_filter(frame: np.ndarray) -> np.ndarray:
    """What the box VAE makes of a still ``uint8 [H, W, 3]`` frame (H, W multiples of 16): per
    2x2 pixel phase, the mean of each 16x16 block, repeated."""
    h, w, _ = frame.shape
    phases = frame.astype(np.float64).reshape(h // 16, 8, 2, w // 16, 8, 2, 3)
    means = phases.mean(axis=(1, 4), keepdims=True)
    out = np.broadcast_to(means, phases.shape).reshape(h, w, 3)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
