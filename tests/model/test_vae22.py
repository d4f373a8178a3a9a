"""The Wan2.2 VAE against diffusers' AutoencoderKLWan (is_residual), through our loader from the
diffusers folder and from an original Wan2.2_VAE.pth."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from common.errors import WeightKeyError
from model.config import TI2V_5B, WAN22_VAE, VAEConfig, get_preset
from model.loader import DIFFUSERS, ORIGINAL, detect_layout, load_vae
from model.vae22 import AvgDown, DupUp, Wan22VAE, patchify, unpatchify
from tests.model.conftest import VAE22_TINY, make_diffusers_vae22, rel_err

NUM_RES_BLOCKS = VAE22_TINY["num_res_blocks"]


def to_original_vae22_key(key: str) -> str:
    """diffusers -> Wan2.2_VAE.pth names (vae2_2.py's module tree), written for the test."""
    top = {"quant_conv.": "conv1.", "post_quant_conv.": "conv2."}
    for new, old in top.items():
        if key.startswith(new):
            return old + key[len(new):]
    for new, old in [("mid_block.resnets.0.", "middle.0."), ("mid_block.attentions.0.", "middle.1."),
                     ("mid_block.resnets.1.", "middle.2."), ("norm_out.gamma", "head.0.gamma"),
                     ("conv_out.", "head.2."), (".conv_shortcut.", ".shortcut."),
                     ("norm1.gamma", "residual.0.gamma"), (".conv1.", ".residual.2."),
                     ("norm2.gamma", "residual.3.gamma"), (".conv2.", ".residual.6."),
                     ("encoder.conv_in.", "encoder.conv1."), ("decoder.conv_in.", "decoder.conv1.")]:
        key = key.replace(new, old)
    m = re.match(r"^encoder\.down_blocks\.(\d+)\.(resnets\.(\d+)|downsampler)\.(.*)$", key)
    if m:
        index = m.group(3) if m.group(3) is not None else str(NUM_RES_BLOCKS)
        return f"encoder.downsamples.{m.group(1)}.downsamples.{index}.{m.group(4)}"
    m = re.match(r"^decoder\.up_blocks\.(\d+)\.(resnets\.(\d+)|upsampler)\.(.*)$", key)
    if m:
        index = m.group(3) if m.group(3) is not None else str(NUM_RES_BLOCKS + 1)
        return f"decoder.upsamples.{m.group(1)}.upsamples.{index}.{m.group(4)}"
    return key


@pytest.fixture(scope="module")
def vae_pair(tmp_path_factory):
    ref = make_diffusers_vae22()
    folder = tmp_path_factory.mktemp("vae22")
    ref.save_pretrained(folder / "vae")
    return ref, load_vae(folder, DIFFUSERS, None)


def test_the_diffusers_folder_loads_as_the_wan22_vae(vae_pair):
    _, ours = vae_pair
    assert isinstance(ours, Wan22VAE)
    assert (ours.config.z_dim, ours.config.patch_size, ours.config.spatial_factor) == (12, 2, 16)
    assert ours.config.decoder_dim == 6 and ours.config.is_residual


def test_encode_matches_diffusers(vae_pair):
    ref, ours = vae_pair
    video = torch.rand(1, 3, 9, 32, 48, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        expected = ref.encode(video).latent_dist.mode()
        got = ours.encode(video)
    assert got.shape == expected.shape == (1, 12, 3, 2, 3)
    assert rel_err(expected, got) <= 1e-4


@pytest.mark.parametrize("latent_hw", [(2, 3), (1, 1)])
def test_decode_matches_diffusers(vae_pair, latent_hw):
    ref, ours = vae_pair
    z = torch.randn(1, 12, 3, *latent_hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref.decode(z).sample
        got = ours.decode(z)
    assert got.shape == expected.shape == (1, 3, 9, 16 * latent_hw[0], 16 * latent_hw[1])
    assert rel_err(expected, got) <= 1e-4


def test_chunks_are_causal_and_stream_1_then_4_frames(vae_pair):
    """Memory follows the chunk: decoding streams one latent frame at a time, and the frames of a
    chunk do not depend on anything after it (so a long clip needs no more than a short one)."""
    _, ours = vae_pair
    g = torch.Generator().manual_seed(3)
    z = torch.randn(1, 12, 4, 2, 2, generator=g)
    video = torch.rand(1, 3, 13, 32, 32, generator=g) * 2 - 1
    with torch.no_grad():
        assert [chunk.shape[2] for chunk in ours.decode_chunks(z)] == [1, 4, 4, 4]
        assert torch.allclose(ours.decode(z[:, :, :2]), ours.decode(z)[:, :, :5], atol=1e-6)
        assert torch.allclose(ours.encode(video[:, :, :5]), ours.encode(video)[:, :, :2],
                              atol=1e-6)


def test_original_pth_loads_through_renames(tmp_path, vae_pair):
    ref, _ = vae_pair
    state = {to_original_vae22_key(k): v for k, v in ref.state_dict().items()}
    # vae2_2.py's tree: the resample after the residual blocks of a stage, heads and middles.
    assert "encoder.downsamples.0.downsamples.1.resample.1.weight" in state
    assert "encoder.downsamples.1.downsamples.1.time_conv.weight" in state
    assert "decoder.upsamples.0.upsamples.2.time_conv.weight" in state
    assert "decoder.upsamples.0.upsamples.1.residual.6.weight" in state
    assert "encoder.head.2.weight" in state and "conv2.weight" in state
    torch.save(state, tmp_path / "Wan2.2_VAE.pth")
    config = VAEConfig.from_diffusers(dict(ref.config))
    ours = load_vae(tmp_path, ORIGINAL, config)
    video = torch.rand(1, 3, 5, 32, 32, generator=torch.Generator().manual_seed(4)) * 2 - 1
    z = torch.randn(1, 12, 2, 2, 3)
    with torch.no_grad():
        assert rel_err(ref.decode(z).sample, ours.decode(z)) <= 1e-4
        assert rel_err(ref.encode(video).latent_dist.mode(), ours.encode(video)) <= 1e-4
    # A Wan2.1 file where a Wan2.2 one belongs is a key error naming both sides, not a crash.
    state.pop("decoder.head.2.weight")
    state["decoder.head.9.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "Wan2.2_VAE.pth")
    with pytest.raises(WeightKeyError, match="decoder.conv_out.weight"):
        load_vae(tmp_path, ORIGINAL, config)


def test_ti2v_original_release_folder_is_detected(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "ti2v"}))
    (tmp_path / "Wan2.2_VAE.pth").write_bytes(b"")
    assert detect_layout(tmp_path) == ORIGINAL


def test_the_released_configuration():
    """vae2_2.py's Wan2_2_VAE: z 48, widths 160 / 256, 4x16x16, its own statistics."""
    assert get_preset("ti2v-5b").vae is WAN22_VAE is TI2V_5B.vae
    assert (WAN22_VAE.z_dim, WAN22_VAE.base_dim, WAN22_VAE.decoder_dim) == (48, 160, 256)
    assert (WAN22_VAE.temporal_factor, WAN22_VAE.spatial_factor) == (4, 16)
    assert WAN22_VAE.latents_mean[:3] == (-0.2289, -0.0052, -0.1323)
    assert WAN22_VAE.latents_std[:3] == (0.4765, 1.0364, 0.4514)
    with torch.device("meta"):
        model = Wan22VAE(WAN22_VAE)
    # The released VAE's size (wan22-model-facts.md): 704,688,668 parameters.
    assert sum(p.numel() for p in model.parameters()) == 704_688_668


def test_shortcuts_and_patchify_are_exact_rearrangements():
    x = torch.arange(2 * 3 * 1 * 4 * 4, dtype=torch.float32).view(2, 3, 1, 4, 4)
    assert torch.equal(unpatchify(patchify(x, 2), 2), x)
    # Patchify order (c r q): red's channel 1 is the pixel one step down, channel 2 one right.
    assert patchify(x, 2)[0, 1, 0, 0, 0] == x[0, 0, 0, 1, 0]
    assert patchify(x, 2)[0, 2, 0, 0, 0] == x[0, 0, 0, 0, 1]
    # With as many channels out as in, the down shortcut is a 2x2 average and the up shortcut
    # a nearest-neighbour repeat.
    down = AvgDown(3, 3, factor_t=1, factor_s=2)(x)
    assert torch.allclose(down, torch.nn.functional.avg_pool3d(x, (1, 2, 2)))
    up = DupUp(3, 3, factor_t=2, factor_s=2)(down, first_chunk=True)
    assert up.shape == (2, 3, 1, 4, 4)
    assert torch.equal(up, down.repeat_interleave(2, 3).repeat_interleave(2, 4))


def test_the_box_vae_is_a_box_filter(tmp_path):
    """The product flow test's VAE (tests/model/conftest.py) does what it claims, through our
    loader: a photo's round trip is its 16x16 box filter to within one grey level."""
    from tests.model.conftest import box_filter, make_box_vae22

    make_box_vae22().save_pretrained(tmp_path / "vae")
    vae = load_vae(tmp_path, DIFFUSERS, None)
    ys, xs = np.mgrid[0:32, 0:48]
    frame = np.stack([xs * 5, ys * 7, 200 - xs * 3], axis=-1).clip(0, 255).astype(np.uint8)
    video = torch.from_numpy(frame).float().permute(2, 0, 1)[None, :, None] / 127.5 - 1
    with torch.no_grad():
        back = vae.decode(vae.encode(video))[0, :, 0].permute(1, 2, 0)
    pixels = ((back + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    assert np.abs(pixels.astype(int) - box_filter(frame).astype(int)).max() <= 1
