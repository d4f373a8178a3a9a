"""VAE parity against diffusers' AutoencoderKLWan (encode and chunked decode), via our loader."""

from __future__ import annotations

import pytest
import torch

from model.config import VAEConfig
from model.loader import DIFFUSERS, ORIGINAL, load_vae
from model.vae import WanVAE, frames_to_uint8
from tests.model.conftest import make_diffusers_vae, rel_err


def to_original_vae_key(key: str, num_res_blocks: int = 1, levels: int = 4) -> str:
    """diffusers -> original Wan2.1_VAE.pth names (inverse of the documented renames)."""
    if key.startswith("quant_conv."):
        return "conv1." + key[len("quant_conv."):]
    if key.startswith("post_quant_conv."):
        return "conv2." + key[len("post_quant_conv."):]
    key = key.replace(".conv1.", ".residual.2.").replace(".conv2.", ".residual.6.")
    for new, old in [("conv_in.", "conv1."), ("mid_block.resnets.0.", "middle.0."),
                     ("mid_block.attentions.0.", "middle.1."), ("mid_block.resnets.1.", "middle.2."),
                     ("norm1.gamma", "residual.0.gamma"), ("norm2.gamma", "residual.3.gamma"),
                     ("conv_shortcut.", "shortcut."), ("norm_out.gamma", "head.0.gamma"),
                     ("conv_out.", "head.2."), ("encoder.down_blocks.", "encoder.downsamples.")]:
        key = key.replace(new, old)
    if key.startswith("decoder.up_blocks."):
        parts = key.split(".")
        level, kind, idx = int(parts[2]), parts[3], int(parts[4])
        flat = level * (num_res_blocks + 2) + (idx if kind == "resnets" else num_res_blocks + 1)
        key = ".".join(["decoder", "upsamples", str(flat), *parts[5:]])
    return key


@pytest.fixture(scope="module")
def vae_pair(tmp_path_factory):
    ref = make_diffusers_vae()
    folder = tmp_path_factory.mktemp("vae")
    ref.save_pretrained(folder / "vae")
    return ref, load_vae(folder, DIFFUSERS, None)


@pytest.mark.parametrize("latent_hw", [(3, 5), (4, 4)])  # 3x5: odd latent grid
def test_decode_matches_diffusers(vae_pair, latent_hw):
    ref, ours = vae_pair
    z = torch.randn(1, 16, 3, *latent_hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref.decode(z).sample
        got = ours.decode(z)
    assert got.shape == expected.shape == (1, 3, 9, 8 * latent_hw[0], 8 * latent_hw[1])
    assert rel_err(expected, got) <= 1e-4


def test_encode_matches_diffusers(vae_pair):
    ref, ours = vae_pair
    video = torch.rand(1, 3, 9, 24, 40, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        expected = ref.encode(video).latent_dist.mode()
        got = ours.encode(video)
    assert got.shape == expected.shape == (1, 16, 3, 3, 5)
    assert rel_err(expected, got) <= 1e-4


def test_chunked_decode_streams_1_then_4_frames(vae_pair):
    _, ours = vae_pair
    z = torch.randn(1, 16, 4, 2, 2)
    with torch.no_grad():
        sizes = [chunk.shape[2] for chunk in ours.decode_chunks(z)]
    assert sizes == [1, 4, 4, 4]


def test_original_pth_loads_through_renames(tmp_path, vae_pair):
    ref, _ = vae_pair
    state = {to_original_vae_key(k): v for k, v in ref.state_dict().items()}
    assert "decoder.upsamples.2.resample.1.weight" in state  # level 0: 2 resnets, upsampler
    assert "encoder.downsamples.0.residual.2.weight" in state
    torch.save(state, tmp_path / "Wan2.1_VAE.pth")
    config = VAEConfig(base_dim=3, dim_mult=(1, 1, 1, 1), num_res_blocks=1)
    ours = load_vae(tmp_path, ORIGINAL, config)
    z = torch.randn(1, 16, 2, 3, 5)
    with torch.no_grad():
        assert rel_err(ref.decode(z).sample, ours.decode(z)) <= 1e-4


def test_latent_normalisation_round_trip_and_uint8():
    vae = WanVAE(VAEConfig(base_dim=3, dim_mult=(1, 1, 1, 1), num_res_blocks=1))
    mu = torch.randn(1, 16, 2, 3, 3)
    assert torch.allclose(vae.denormalize(vae.normalize(mu)), mu, atol=1e-5)
    assert vae.denormalize(torch.zeros(1, 16, 1, 1, 1))[0, :2, 0, 0, 0].tolist() == \
        pytest.approx([-0.7571, -0.7089])
    frames = frames_to_uint8(torch.tensor([-1.0, 0.0, 1.0]).view(3, 1, 1, 1).expand(3, 2, 4, 5))
    assert frames.shape == (2, 4, 5, 3) and frames.dtype == torch.uint8
    assert frames[0, 0, 0].tolist() == [0, 128, 255]
