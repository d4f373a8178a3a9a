"""DiT parity against diffusers' WanTransformer3DModel, loaded through our loader."""

from __future__ import annotations

import pytest
import torch

from common.errors import WeightKeyError
from model.loader import DIFFUSERS, ORIGINAL, load_dit
from tests.model.conftest import make_diffusers_dit, rel_err

# inverse of the documented original -> diffusers renames, written independently for the test
TO_ORIGINAL = [
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("attn1.to_out.0", "self_attn.o"), ("attn2.to_out.0", "cross_attn.o"),
    ("attn1.to_", "self_attn."), ("attn2.to_", "cross_attn."),
    ("attn1.", "self_attn."), ("attn2.", "cross_attn."),
    ("ffn.net.0.proj", "ffn.0"), ("ffn.net.2", "ffn.2"),
    (".norm2.", ".norm3."), ("proj_out", "head.head"),
]


def to_original_key(key: str) -> str:
    if key == "scale_shift_table":
        return "head.modulation"
    key = key.replace("scale_shift_table", "modulation")
    for new, old in TO_ORIGINAL:
        key = key.replace(new, old)
    return key


def inputs(frames: int, height: int, width: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 16, frames, height, width, generator=g), torch.tensor([999, 431]),
            torch.randn(2, 12, 32, generator=g))


@pytest.mark.parametrize("name", ["diffusers-tiny", "three-heads"])
@pytest.mark.parametrize("grid", [(3, 6, 10), (5, 6, 14)])  # latent (F, H, W); second: odd post-patch 5x3x7
def test_dit_matches_diffusers(tmp_path, name, grid):
    ref = make_diffusers_dit(name)
    ref.save_pretrained(tmp_path / "transformer")
    ours = load_dit(tmp_path / "transformer", DIFFUSERS, dtype=torch.float32)
    x, t, ctx = inputs(*grid)
    with torch.no_grad():
        expected = ref(x, t, ctx, return_dict=False)[0]
        got = ours(x, t, ctx)
    assert got.shape == expected.shape == x.shape
    assert rel_err(expected, got) <= 1e-4


def test_sharded_checkpoint_with_index_loads(tmp_path):
    ref = make_diffusers_dit("three-heads", seed=5)
    ref.save_pretrained(tmp_path / "t", max_shard_size="10KB")
    assert list((tmp_path / "t").glob("*.safetensors.index.json"))
    assert len(list((tmp_path / "t").glob("*.safetensors"))) > 1
    ours = load_dit(tmp_path / "t", DIFFUSERS, dtype=torch.float32)
    x, t, ctx = inputs(3, 6, 10)
    with torch.no_grad():
        assert rel_err(ref(x, t, ctx, return_dict=False)[0], ours(x, t, ctx)) <= 1e-4


def test_original_layout_loads_through_renames(tmp_path):
    import json

    from safetensors.torch import save_file

    ref = make_diffusers_dit("diffusers-tiny", seed=7)
    folder = tmp_path / "high_noise_model"
    folder.mkdir()
    state = {to_original_key(k): v.contiguous() for k, v in ref.state_dict().items()}
    assert "head.modulation" in state and "blocks.0.norm3.weight" in state
    assert "blocks.0.self_attn.o.weight" in state and "blocks.1.ffn.0.weight" in state
    save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    (folder / "config.json").write_text(json.dumps(dict(
        _class_name="WanModel", model_type="t2v", dim=24, num_heads=2, num_layers=2, ffn_dim=32,
        in_dim=16, out_dim=16, text_dim=32, freq_dim=256, eps=1e-6, text_len=512)))
    ours = load_dit(folder, ORIGINAL, dtype=torch.float32)
    x, t, ctx = inputs(3, 6, 10)
    with torch.no_grad():
        assert rel_err(ref(x, t, ctx, return_dict=False)[0], ours(x, t, ctx)) <= 1e-4


def test_key_mismatch_lists_missing_and_unexpected(tmp_path):
    from safetensors.torch import save_file

    ref = make_diffusers_dit("diffusers-tiny")
    ref.save_pretrained(tmp_path / "t")
    state = dict(ref.state_dict())
    state["blocks.0.extra.weight"] = state.pop("blocks.1.attn2.to_k.weight")
    save_file({k: v.contiguous() for k, v in state.items()},
              str(tmp_path / "t" / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(WeightKeyError) as err:
        load_dit(tmp_path / "t", DIFFUSERS, dtype=torch.float32)
    assert err.value.missing == ["blocks.1.attn2.to_k.weight"]
    assert err.value.unexpected == ["blocks.0.extra.weight"]
    assert "blocks.1.attn2.to_k.weight" in str(err.value) and "blocks.0.extra.weight" in str(err.value)


def test_bf16_load_keeps_fp32_islands(tmp_path):
    make_diffusers_dit("diffusers-tiny").save_pretrained(tmp_path / "t")
    ours = load_dit(tmp_path / "t", DIFFUSERS, dtype=torch.bfloat16)
    dtypes = {n: p.dtype for n, p in ours.named_parameters()}
    assert dtypes["blocks.0.attn1.to_q.weight"] == torch.bfloat16
    assert dtypes["scale_shift_table"] == torch.float32
    assert dtypes["blocks.0.scale_shift_table"] == torch.float32
    assert dtypes["condition_embedder.time_embedder.linear_1.weight"] == torch.float32
    assert dtypes["blocks.0.norm2.weight"] == torch.float32
    x, t, ctx = inputs(3, 6, 10)
    with torch.no_grad():
        out = ours(x, t, ctx)
    # the residual stream and the head run in fp32, as the reference does
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
