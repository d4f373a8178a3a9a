"""Tiny diffusers checkpoints written by the tests (diffusers is the test oracle only)."""

from __future__ import annotations

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
