"""LoRA files: the three published layouts merged into both experts, against diffusers'
``load_lora_weights`` (into ``transformer`` and, with ``load_into_transformer_2``, into
``transformer_2``), then alpha, strength, full deltas, unknown and image-attention keys."""

from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import save_file

from common.errors import ConfigError
from model.config import LoraSettings
from model.loader import DIFFUSERS, load_dit
from model.lora import merge_loras, read_lora
from tests.model.conftest import make_diffusers_dit

LAYERS, DIM, FFN, RANK = 3, 24, 40, 4  # the "three-heads" tiny config


def pair(g, out_dim: int, in_dim: int, rank: int = RANK):
    return torch.randn(rank, in_dim, generator=g) * 0.1, torch.randn(out_dim, rank, generator=g) * 0.1


def official_lora(names=("lora_down", "lora_up"), alpha: float | None = 2.0, seed: int = 0) -> dict:
    """Official names: self/cross attention, FFN, time projection, head; diff_b on a few."""
    g = torch.Generator().manual_seed(seed)
    down_name, up_name = names
    sd = {}
    modules = {}
    for i in range(LAYERS):
        for attn in ("self_attn", "cross_attn"):
            for o in "qkvo":
                modules[f"blocks.{i}.{attn}.{o}"] = (DIM, DIM)
        modules[f"blocks.{i}.ffn.0"] = (FFN, DIM)
        modules[f"blocks.{i}.ffn.2"] = (DIM, FFN)
    modules["time_projection.1"] = (6 * DIM, DIM)
    modules["head.head"] = (16 * 4, DIM)
    for module, (out_dim, in_dim) in modules.items():
        down, up = pair(g, out_dim, in_dim)
        sd[f"diffusion_model.{module}.{down_name}.weight"] = down
        sd[f"diffusion_model.{module}.{up_name}.weight"] = up
        if alpha is not None and module.startswith("blocks."):
            sd[f"diffusion_model.{module}.alpha"] = torch.tensor(alpha)
    for module in ("blocks.0.self_attn.q", "blocks.1.cross_attn.o", "blocks.2.ffn.2"):
        sd[f"diffusion_model.{module}.diff_b"] = torch.randn(DIM, generator=g) * 0.1
    return sd


def kohya_lora(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i in range(LAYERS):
        shapes = {f"blocks_{i}_{a}_{o}": (DIM, DIM) for a in ("self_attn", "cross_attn")
                  for o in "qkvo"}
        shapes.update({f"blocks_{i}_ffn_0": (FFN, DIM), f"blocks_{i}_ffn_2": (DIM, FFN)})
        for name, (out_dim, in_dim) in shapes.items():
            down, up = pair(g, out_dim, in_dim)
            sd[f"lora_unet_{name}.lora_down.weight"] = down
            sd[f"lora_unet_{name}.lora_up.weight"] = up
            sd[f"lora_unet_{name}.alpha"] = torch.tensor(float(1 + i))
    return sd


def diffusers_lora(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i in range(LAYERS):
        shapes = {f"blocks.{i}.attn1.to_q": (DIM, DIM), f"blocks.{i}.attn1.to_v": (DIM, DIM),
                  f"blocks.{i}.attn2.to_out.0": (DIM, DIM), f"blocks.{i}.ffn.net.0.proj": (FFN, DIM)}
        for name, (out_dim, in_dim) in shapes.items():
            down, up = pair(g, out_dim, in_dim)
            sd[f"transformer.{name}.lora_A.weight"] = down
            sd[f"transformer.{name}.lora_B.weight"] = up
    sd["transformer.blocks.0.attn1.to_q.lora_B.bias"] = torch.randn(DIM, generator=g) * 0.1
    return sd


LAYOUTS = {
    "official-down-up-alpha": lambda: official_lora(),
    "official-A-B-no-alpha": lambda: official_lora(names=("lora_A", "lora_B"), alpha=None),
    "kohya": kohya_lora,
    "diffusers": diffusers_lora,
}


def diffusers_merged(folders, lora_path, strength):
    """Both transformers after diffusers' load_lora_weights + fuse_lora(lora_scale=strength)."""
    from diffusers import WanPipeline, WanTransformer3DModel

    t1 = WanTransformer3DModel.from_pretrained(folders[0]).eval()
    t2 = WanTransformer3DModel.from_pretrained(folders[1]).eval()
    pipe = WanPipeline(tokenizer=None, text_encoder=None, vae=None, scheduler=None,
                       transformer=t1, transformer_2=t2, boundary_ratio=0.875)
    pipe.load_lora_weights(str(lora_path), adapter_name="lora")
    pipe.load_lora_weights(str(lora_path), adapter_name="lora", load_into_transformer_2=True)
    states = []
    for t in (t1, t2):
        t.fuse_lora(lora_scale=strength)
        t.unload_lora()
        states.append(t.state_dict())
    return states


@pytest.fixture(scope="module")
def expert_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora-experts")
    make_diffusers_dit("three-heads", seed=11).save_pretrained(root / "transformer")
    make_diffusers_dit("three-heads", seed=12).save_pretrained(root / "transformer_2")
    return root / "transformer", root / "transformer_2"


def ours_merged(folders, lora: LoraSettings):
    experts = {"high": load_dit(folders[0], DIFFUSERS, dtype=torch.float32),
               "low": load_dit(folders[1], DIFFUSERS, dtype=torch.float32)}
    counts = merge_loras(experts, [lora])
    return experts, counts


def max_rel_err(expected: dict, model: torch.nn.Module) -> float:
    got = dict(model.named_parameters())
    assert set(got) == set(expected)
    return max(((got[k].double() - expected[k].double()).norm()
                / expected[k].double().norm().clamp_min(1e-12)).item() for k in expected)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_merges_like_diffusers_into_both_experts(tmp_path, expert_folders, layout):
    path = tmp_path / f"{layout}.safetensors"
    save_file(LAYOUTS[layout](), str(path))
    strength = 0.8
    expected_high, expected_low = diffusers_merged(expert_folders, path, strength)
    experts, counts = ours_merged(expert_folders, LoraSettings(str(path), strength=strength))
    assert counts["high"] == counts["low"] > 0
    base = load_dit(expert_folders[0], DIFFUSERS, dtype=torch.float32).state_dict()
    assert not torch.equal(base["blocks.0.attn1.to_q.weight"],
                           experts["high"].state_dict()["blocks.0.attn1.to_q.weight"])
    assert max_rel_err(expected_high, experts["high"]) <= 1e-5
    assert max_rel_err(expected_low, experts["low"]) <= 1e-5


def test_one_expert_only(tmp_path, expert_folders):
    path = tmp_path / "high.safetensors"
    save_file(official_lora(), str(path))
    experts, counts = ours_merged(expert_folders, LoraSettings(str(path), experts=("high",)))
    assert counts == {"high": counts["high"], "low": 0} and counts["high"] > 0
    low_base = load_dit(expert_folders[1], DIFFUSERS, dtype=torch.float32)
    assert all(torch.equal(a, b) for a, b in zip(low_base.parameters(),
                                                 experts["low"].parameters()))


def deltas_of(path, folders, **settings) -> dict[str, torch.Tensor]:
    base = load_dit(folders[0], DIFFUSERS, dtype=torch.float32).state_dict()
    experts, _ = ours_merged(folders, LoraSettings(str(path), experts=("high",), **settings))
    merged = experts["high"].state_dict()
    return {k: merged[k] - base[k] for k in base if not torch.equal(merged[k], base[k])}


def test_alpha_over_rank_and_strength_scale_the_update(tmp_path, expert_folders):
    down, up = pair(torch.Generator().manual_seed(3), DIM, DIM)
    key = "diffusion_model.blocks.1.self_attn.k"
    plain = {f"{key}.lora_down.weight": down, f"{key}.lora_up.weight": up}
    save_file(plain, str(tmp_path / "plain.safetensors"))
    save_file({**plain, f"{key}.alpha": torch.tensor(1.0)}, str(tmp_path / "alpha.safetensors"))
    target = "blocks.1.attn1.to_k.weight"
    full = deltas_of(tmp_path / "plain.safetensors", expert_folders)
    assert set(full) == {target}
    assert torch.allclose(full[target], up @ down, atol=1e-6)  # no alpha: scale 1
    alpha = deltas_of(tmp_path / "alpha.safetensors", expert_folders)
    assert torch.allclose(alpha[target], (1.0 / RANK) * (up @ down), atol=1e-6)  # alpha / rank
    half = deltas_of(tmp_path / "alpha.safetensors", expert_folders, strength=0.5)
    assert torch.allclose(half[target], 0.5 * (1.0 / RANK) * (up @ down), atol=1e-6)


def test_full_deltas_diff_diff_b_diff_m_reach_their_parameters(tmp_path, expert_folders):
    g = torch.Generator().manual_seed(4)
    sd = {
        "diffusion_model.blocks.0.self_attn.q.diff": torch.randn(DIM, DIM, generator=g),
        "diffusion_model.blocks.0.self_attn.q.diff_b": torch.randn(DIM, generator=g),
        "diffusion_model.blocks.0.diff_m": torch.randn(1, 6, DIM, generator=g),
        "diffusion_model.head.diff_m": torch.randn(1, 2, DIM, generator=g),
        "diffusion_model.blocks.2.norm3.diff": torch.randn(DIM, generator=g),
        "diffusion_model.blocks.2.cross_attn.norm_k.diff": torch.randn(DIM, generator=g),
        "diffusion_model.head.head.diff_b": torch.randn(64, generator=g),
    }
    save_file(sd, str(tmp_path / "diff.safetensors"))
    deltas = deltas_of(tmp_path / "diff.safetensors", expert_folders, strength=2.0)
    expected = {
        "blocks.0.attn1.to_q.weight": "blocks.0.self_attn.q.diff",
        "blocks.0.attn1.to_q.bias": "blocks.0.self_attn.q.diff_b",
        "blocks.0.scale_shift_table": "blocks.0.diff_m",
        "scale_shift_table": "head.diff_m",
        "blocks.2.norm2.weight": "blocks.2.norm3.diff",  # the original norm3 is our norm2
        "blocks.2.attn2.norm_k.weight": "blocks.2.cross_attn.norm_k.diff",
        "proj_out.bias": "head.head.diff_b",
    }
    assert set(deltas) == set(expected)
    for ours, theirs in expected.items():
        assert torch.allclose(deltas[ours], 2.0 * sd[f"diffusion_model.{theirs}"], atol=1e-5), ours


def test_unknown_keys_fail_and_list_every_one(tmp_path, expert_folders):
    g = torch.Generator().manual_seed(5)
    down, up = pair(g, DIM, DIM)
    ffn_down, ffn_up = pair(g, FFN, DIM)
    sd = {**official_lora(),
          "diffusion_model.blocks.0.self_attn.q_proj.lora_down.weight": down,
          "diffusion_model.blocks.0.self_attn.q_proj.lora_up.weight": up,
          "diffusion_model.blocks.7.ffn.0.lora_down.weight": ffn_down,  # only 3 blocks
          "diffusion_model.blocks.7.ffn.0.lora_up.weight": ffn_up}
    save_file(sd, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ConfigError) as err:
        ours_merged(expert_folders, LoraSettings(str(tmp_path / "bad.safetensors")))
    message = str(err.value)
    assert "bad.safetensors" in message and "4 key(s)" in message
    for key in ("blocks.0.self_attn.q_proj.lora_down.weight", "blocks.7.ffn.0.lora_up.weight"):
        assert key in message


def test_image_attention_keys_are_skipped_and_counted(tmp_path, expert_folders, caplog):
    g = torch.Generator().manual_seed(6)
    sd = official_lora()
    for i in range(2):
        for o in ("k_img", "v_img"):
            down, up = pair(g, DIM, DIM)
            sd[f"diffusion_model.blocks.{i}.cross_attn.{o}.lora_down.weight"] = down
            sd[f"diffusion_model.blocks.{i}.cross_attn.{o}.lora_up.weight"] = up
    sd["diffusion_model.blocks.0.cross_attn.norm_k_img.diff"] = torch.randn(DIM, generator=g)
    sd["diffusion_model.img_emb.proj.1.diff_b"] = torch.randn(DIM, generator=g)
    save_file(sd, str(tmp_path / "i2v.safetensors"))
    with caplog.at_level(logging.WARNING, logger="model.lora"):
        experts, counts = ours_merged(expert_folders, LoraSettings(str(tmp_path / "i2v.safetensors")))
    warnings = [r.message for r in caplog.records if "image-attention" in r.message]
    assert len(warnings) == 1 and "skipped 10 image-attention key(s)" in warnings[0]
    model = experts["high"]
    read = read_lora(tmp_path / "i2v.safetensors", model.config,
                     {n: p.shape for n, p in model.named_parameters()})
    assert len(read.skipped) == 10 and counts["high"] == len(read.deltas)


def test_a_file_that_is_not_safetensors_is_named(tmp_path, expert_folders):
    bad = tmp_path / "lora.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ConfigError, match="lora.safetensors is not a .safetensors file"):
        ours_merged(expert_folders, LoraSettings(str(bad)))
    with pytest.raises(ConfigError, match="missing.safetensors does not exist"):
        ours_merged(expert_folders, LoraSettings(str(tmp_path / "missing.safetensors")))


def full_delta_lora(seed: int = 7) -> dict:
    """Low-rank pairs plus full deltas on a weight, biases, a modulation table and a norm."""
    g = torch.Generator().manual_seed(seed)
    return {**official_lora(seed=seed),
            "diffusion_model.blocks.1.self_attn.v.diff": torch.randn(DIM, DIM, generator=g) * 0.1,
            "diffusion_model.blocks.0.diff_m": torch.randn(1, 6, DIM, generator=g) * 0.1,
            "diffusion_model.blocks.2.norm3.diff": torch.randn(DIM, generator=g) * 0.1}


def forward(model):
    g = torch.Generator().manual_seed(9)
    x = torch.randn(1, 16, 3, 6, 10, generator=g)
    with torch.no_grad():
        return model(x, torch.tensor([600]), torch.randn(1, 12, 32, generator=g))


def test_loras_kept_separate_match_merged_ones_and_change_strength_without_reloading(
        tmp_path, expert_folders):
    from model.lora import LoraSidePaths
    from tests.model.conftest import rel_err

    path = tmp_path / "lora.safetensors"
    save_file(full_delta_lora(), str(path))
    merged = {s: ours_merged(expert_folders, LoraSettings(str(path), strength=s))[0]["high"]
              for s in (0.6, 1.0)}
    experts = {"high": load_dit(expert_folders[0], DIFFUSERS, dtype=torch.float32),
               "low": load_dit(expert_folders[1], DIFFUSERS, dtype=torch.float32)}
    side = LoraSidePaths(experts, [LoraSettings(str(path), strength=0.6)])
    at_06 = forward(experts["high"])
    assert rel_err(forward(merged[0.6]), at_06) <= 1e-5
    side.set_strengths([LoraSettings(str(path), strength=1.0)])
    assert rel_err(forward(merged[1.0]), forward(experts["high"])) <= 1e-5
    side.set_strengths([LoraSettings(str(path), strength=0.6)])
    assert torch.equal(forward(experts["high"]), at_06)  # small tensors re-merged exactly
    with pytest.raises(ConfigError, match="were not loaded with the model"):
        side.set_strengths([LoraSettings(str(path), experts=("high",))])


def test_a_separate_lora_pipeline_serves_new_strengths_without_reloading(tmp_path):
    from model import pipeline as pipeline_module
    from model.pipeline import RuntimeSettings, shared_pipeline

    path = tmp_path / "tiny.safetensors"
    g = torch.Generator().manual_seed(0)
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.randn(2, 24, generator=g),
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.randn(24, 2, generator=g)},
              str(path))
    settings = RuntimeSettings(device="cpu", lora_mode="separate")
    first = shared_pipeline("tiny", None, settings, loras=[LoraSettings(str(path), 0.5)])
    out_05 = forward_tiny(first)
    second = shared_pipeline("tiny", None, settings, loras=[LoraSettings(str(path), 1.5)])
    assert second is first  # no reload for a new strength
    assert not torch.equal(forward_tiny(second), out_05)
    shared_pipeline("tiny", None, settings, loras=[LoraSettings(str(path), 0.5)])
    assert torch.equal(forward_tiny(first), out_05)
    pipeline_module._SHARED.clear()


def forward_tiny(pipeline):
    g = torch.Generator().manual_seed(3)
    expert = pipeline.placement.experts["high"]
    with torch.no_grad():
        return expert(torch.randn(1, 16, 2, 4, 4, generator=g), torch.tensor([900]),
                      torch.randn(1, 6, 32, generator=g))
