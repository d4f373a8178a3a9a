"""Weight loading for both published layouts, built on the meta device and filled in place.

Layouts (``weights_dir``):
- diffusers: ``transformer/`` (high-noise expert), ``transformer_2/`` (low-noise), ``vae/``,
  ``text_encoder/``, ``tokenizer/``; each model folder has ``config.json`` and
  ``*.safetensors`` (single file or shards with an ``*.safetensors.index.json``).
- original release: ``high_noise_model/``, ``low_noise_model/`` (config.json + sharded
  safetensors, original key names), ``Wan2.1_VAE.pth``, ``models_t5_umt5-xxl-enc-bf16.pth``,
  tokenizer in ``google/umt5-xxl/``. TI2V-5B has one DiT, in the folder itself (config.json and
  shards beside the other files), and ``Wan2.2_VAE.pth``.

A module is built on the meta device (no memory), the checkpoint's key set is checked strictly
against it before any tensor is read (:class:`WeightKeyError` lists missing and unexpected keys),
then tensors are read one at a time from the memory-mapped files, converted to their target dtype
and assigned in place, so no second full copy of a model is ever held.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from common.errors import WeightKeyError, WeightsNotFound

SAFETENSORS_NAMES = ("diffusion_pytorch_model.safetensors", "model.safetensors")
ORIGINAL_VAE_FILE = "Wan2.1_VAE.pth"
ORIGINAL_VAE22_FILE = "Wan2.2_VAE.pth"
ORIGINAL_T5_FILE = "models_t5_umt5-xxl-enc-bf16.pth"
ORIGINAL_TOKENIZER_DIR = "google/umt5-xxl"


# ---------------------------------------------------------------------------------------------
# key renames: original release -> our (diffusers) names


_DIT_RENAMES = (  # string replacements, in order (docs/reference/wan22-model-facts.md)
    ("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
    ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
    ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
    ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
    ("time_projection.1", "condition_embedder.time_proj"),
    ("head.modulation", "scale_shift_table"),
    ("head.head", "proj_out"),
    ("modulation", "scale_shift_table"),
    ("ffn.0", "ffn.net.0.proj"),
    ("ffn.2", "ffn.net.2"),
    ("self_attn.o", "attn1.to_out.0"),
    ("cross_attn.o", "attn2.to_out.0"),
    ("self_attn.norm_q", "attn1.norm_q"),
    ("self_attn.norm_k", "attn1.norm_k"),
    ("cross_attn.norm_q", "attn2.norm_q"),
    ("cross_attn.norm_k", "attn2.norm_k"),
    ("self_attn.q", "attn1.to_q"),
    ("self_attn.k", "attn1.to_k"),
    ("self_attn.v", "attn1.to_v"),
    ("cross_attn.q", "attn2.to_q"),
    ("cross_attn.k", "attn2.to_k"),
    ("cross_attn.v", "attn2.to_v"),
)


def rename_original_dit_key(key: str) -> str:
    """An original ``WanModel`` key -> our name. norm2 and norm3 swap: the original norm3 is the
    affine cross-attention norm (our norm2); the original norm2 has no parameters."""
    key = re.sub(r"\.norm3\.", ".norm2.", key)
    for old, new in _DIT_RENAMES:
        key = key.replace(old, new)
    return key


def original_vae_renamer(num_res_blocks: int, num_levels: int) -> Callable[[str], str]:
    """Rename function for ``Wan2.1_VAE.pth`` keys given the decoder's shape.

    The original decoder keeps a flat ``upsamples`` list: per level, num_res_blocks + 1 resnets
    then one resample (except after the last level); ours groups them into ``up_blocks``.
    """
    upsample_index: dict[int, str] = {}
    index = 0
    for level in range(num_levels):
        for r in range(num_res_blocks + 1):
            upsample_index[index] = f"up_blocks.{level}.resnets.{r}"
            index += 1
        if level != num_levels - 1:
            upsample_index[index] = f"up_blocks.{level}.upsamplers.0"
            index += 1

    def rename(key: str) -> str:
        if key.startswith("conv1."):
            return "quant_conv." + key[len("conv1."):]
        if key.startswith("conv2."):
            return "post_quant_conv." + key[len("conv2."):]
        key = re.sub(r"^(encoder|decoder)\.conv1\.", r"\1.conv_in.", key)
        key = key.replace("middle.0.", "mid_block.resnets.0.")
        key = key.replace("middle.1.", "mid_block.attentions.0.")
        key = key.replace("middle.2.", "mid_block.resnets.1.")
        key = key.replace("residual.0.gamma", "norm1.gamma")
        key = key.replace("residual.2.", "conv1.")
        key = key.replace("residual.3.gamma", "norm2.gamma")
        key = key.replace("residual.6.", "conv2.")
        key = key.replace(".shortcut.", ".conv_shortcut.")
        key = key.replace("head.0.gamma", "norm_out.gamma")
        key = key.replace("head.2.", "conv_out.")
        key = key.replace("encoder.downsamples.", "encoder.down_blocks.")
        match = re.match(r"^decoder\.upsamples\.(\d+)\.(.*)$", key)
        if match:
            key = f"decoder.{upsample_index[int(match.group(1))]}.{match.group(2)}"
        return key

    return rename


def original_vae22_renamer(num_res_blocks: int) -> Callable[[str], str]:
    """Rename function for ``Wan2.2_VAE.pth`` keys (Wan2.2 ``wan/modules/vae2_2.py`` names).

    Each residual stage is ``downsamples.N.downsamples.M`` (encoder) or ``upsamples.N.upsamples.M``
    (decoder): its residual blocks, then its resample as the last entry (index num_res_blocks in
    the encoder, num_res_blocks + 1 in the decoder). The shortcuts have no parameters.
    """
    common = original_vae_renamer(num_res_blocks, 0)  # top convs, middle, heads, residual parts

    def rename(key: str) -> str:
        match = re.match(r"^(encoder\.downsamples|decoder\.upsamples)\.(\d+)\.\w+\.(\d+)\.(.*)$",
                         key)
        if match:
            where, stage, index, rest = match.groups()
            side, blocks, sampler, resnets = (
                ("encoder", "down_blocks", "downsampler", num_res_blocks)
                if where.startswith("encoder") else
                ("decoder", "up_blocks", "upsampler", num_res_blocks + 1))
            part = sampler if int(index) == resnets else f"resnets.{index}"
            key = f"{side}.{blocks}.{stage}.{part}.{rest}"
        return common(key)

    return rename


def rename_original_t5_key(key: str) -> str:
    """Wan's own ``T5Encoder`` key -> transformers ``UMT5EncoderModel`` key."""
    if key == "token_embedding.weight":
        return "shared.weight"
    if key == "norm.weight":
        return "encoder.final_layer_norm.weight"
    match = re.match(r"^blocks\.(\d+)\.(.*)$", key)
    if not match:
        return key
    block, rest = match.groups()
    table = {
        "norm1.weight": "layer.0.layer_norm.weight",
        "attn.q.weight": "layer.0.SelfAttention.q.weight",
        "attn.k.weight": "layer.0.SelfAttention.k.weight",
        "attn.v.weight": "layer.0.SelfAttention.v.weight",
        "attn.o.weight": "layer.0.SelfAttention.o.weight",
        "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
        "norm2.weight": "layer.1.layer_norm.weight",
        "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
        "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
        "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
    }
    return f"encoder.block.{block}.{table.get(rest, rest)}"


# ---------------------------------------------------------------------------------------------
# checkpoint files


@dataclass(frozen=True)
class CheckpointFiles:
    """The tensor files of one model and the key each holds (read from headers/index only)."""

    files: tuple[Path, ...]
    keys: dict[str, Path]


def find_checkpoint(folder: Path) -> CheckpointFiles:
    """Safetensors of a model folder: an index json's shards, else a single file, else all files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsNotFound(f"weights folder {folder} does not exist")
    indexes = sorted(folder.glob("*.safetensors.index.json"))
    if indexes:
        weight_map: dict[str, str] = json.loads(indexes[0].read_text())["weight_map"]
        keys = {k: folder / v for k, v in weight_map.items()}
        for path in set(keys.values()):
            if not path.is_file():
                raise WeightsNotFound(f"shard {path} named in {indexes[0]} is missing")
        return CheckpointFiles(tuple(sorted(set(keys.values()))), keys)
    files = [folder / n for n in SAFETENSORS_NAMES if (folder / n).is_file()] \
        or sorted(folder.glob("*.safetensors"))
    if not files:
        raise WeightsNotFound(f"no *.safetensors weights in {folder}")
    from safetensors import safe_open

    keys = {}
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            keys.update({k: path for k in f.keys()})
    return CheckpointFiles(tuple(files), keys)


def iter_safetensors(files: CheckpointFiles, wanted: set[str] | None = None
                     ) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (key, tensor) one at a time from memory-mapped safetensors."""
    from safetensors import safe_open

    for path in files.files:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                if wanted is None or key in wanted:
                    yield key, f.get_tensor(key)


def load_pth(path: Path) -> dict[str, torch.Tensor]:
    """A .pth state dict, memory-mapped (tensors are read lazily as they are touched)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFound(f"weights file {path} does not exist")
    state = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


# ---------------------------------------------------------------------------------------------
# filling a meta module


def _aliases(module: nn.Module) -> dict[str, list[str]]:
    """Canonical parameter/buffer name -> every state-dict name sharing that tensor (tied weights)."""
    by_id: dict[int, list[str]] = {}
    for name, tensor in module.state_dict(keep_vars=True).items():
        by_id.setdefault(id(tensor), []).append(name)
    return {names[0]: names for names in by_id.values()}


def _assign(module: nn.Module, name: str, tensor: torch.Tensor) -> None:
    *path, leaf = name.split(".")
    owner = module.get_submodule(".".join(path)) if path else module
    if leaf in owner._parameters:
        owner._parameters[leaf] = nn.Parameter(tensor, requires_grad=False)
    else:
        owner._buffers[leaf] = tensor


def fill_module(module: nn.Module, tensors: Iterator[tuple[str, torch.Tensor]], *,
                checkpoint_keys: list[str], what: str,
                dtype_for: Callable[[str], torch.dtype], device: torch.device | str = "cpu") -> nn.Module:
    """Fill ``module`` (built on meta) from ``tensors`` whose keys are already renamed.

    ``checkpoint_keys`` (renamed) are checked strictly first: every parameter needs exactly one
    key (any of its tied aliases), and no key may be left over.
    """
    aliases = _aliases(module)
    alias_to_canonical = {a: c for c, names in aliases.items() for a in names}
    present = set(checkpoint_keys)
    missing = sorted(c for c, names in aliases.items() if not present.intersection(names))
    unexpected = sorted(k for k in present if k not in alias_to_canonical)
    if missing or unexpected:
        raise WeightKeyError(what, missing, unexpected)
    expected_shapes = {n: tuple(t.shape) for n, t in module.state_dict(keep_vars=True).items()}
    done: set[str] = set()
    for key, tensor in tensors:
        canonical = alias_to_canonical[key]
        if canonical in done:
            continue
        if tuple(tensor.shape) != expected_shapes[key]:
            raise WeightKeyError(f"{what}: {key} has shape {tuple(tensor.shape)}, expected "
                                 f"{expected_shapes[key]}", [], [key])
        value = tensor.to(device=device, dtype=dtype_for(canonical))
        for name in aliases[canonical]:
            _assign(module, name, value)
        done.add(canonical)
    leftovers = [n for n, t in module.state_dict(keep_vars=True).items() if t.is_meta]
    if leftovers:
        raise WeightKeyError(what, leftovers, [])
    return module.eval().requires_grad_(False)


def load_safetensors_into(module: nn.Module, folder: Path, *, what: str,
                          dtype_for: Callable[[str], torch.dtype],
                          rename: Callable[[str], str] = lambda k: k,
                          device: torch.device | str = "cpu") -> nn.Module:
    """Fill a meta ``module`` from a safetensors folder (single file or sharded with an index)."""
    files = find_checkpoint(folder)
    renamed = {key: rename(key) for key in files.keys}
    stream = ((renamed[k], t) for k, t in iter_safetensors(files))
    return fill_module(module, stream, checkpoint_keys=list(renamed.values()), what=what,
                       dtype_for=dtype_for, device=device)


def load_pth_into(module: nn.Module, path: Path, *, what: str,
                  dtype_for: Callable[[str], torch.dtype],
                  rename: Callable[[str], str] = lambda k: k,
                  device: torch.device | str = "cpu") -> nn.Module:
    """Fill a meta ``module`` from a (memory-mapped) .pth state dict."""
    state = load_pth(path)
    stream = ((rename(k), t) for k, t in state.items())
    return fill_module(module, stream, checkpoint_keys=[rename(k) for k in state], what=what,
                       dtype_for=dtype_for, device=device)


# ---------------------------------------------------------------------------------------------
# whole models from a weights folder


DIFFUSERS = "diffusers"
ORIGINAL = "original"


def detect_layout(weights_dir: Path) -> str:
    """``diffusers`` (transformer/ ...) or ``original`` (high_noise_model/ ...); raises otherwise."""
    weights_dir = Path(weights_dir)
    if not weights_dir.is_dir():
        raise WeightsNotFound(f"weights folder {weights_dir} does not exist; download the model "
                              "or pass --weights pointing at it")
    if (weights_dir / "transformer").is_dir():
        return DIFFUSERS
    if (weights_dir / "high_noise_model").is_dir() or (weights_dir / "low_noise_model").is_dir():
        return ORIGINAL
    if (weights_dir / "config.json").is_file() and (weights_dir / ORIGINAL_VAE22_FILE).is_file():
        return ORIGINAL  # TI2V-5B: the one DiT in the folder itself
    raise WeightsNotFound(f"{weights_dir} has neither transformer/ (diffusers layout) nor "
                          "high_noise_model/ or config.json with Wan2.2_VAE.pth (original layout)")


def expert_folders(weights_dir: Path, layout: str, two_experts: bool) -> dict[str, Path]:
    """{"high": folder, "low": folder} (or only "high" for a single-expert model)."""
    names = ("transformer", "transformer_2") if layout == DIFFUSERS \
        else ("high_noise_model", "low_noise_model")
    folders = {"high": Path(weights_dir) / names[0]}
    if layout == ORIGINAL and not two_experts and (Path(weights_dir) / "config.json").is_file():
        folders["high"] = Path(weights_dir)  # TI2V-5B's release keeps its DiT at the top
    if two_experts:
        folders["low"] = Path(weights_dir) / names[1]
    for folder in folders.values():
        if not (folder / "config.json").is_file():
            raise WeightsNotFound(f"{folder / 'config.json'} is missing: the expert's folder is "
                                  "incomplete")
    return folders


def load_dit(folder: Path, layout: str, *, dtype: torch.dtype, device: torch.device | str = "cpu"):
    """One DiT expert from its folder, weights in ``dtype`` except the fp32 islands."""
    from model.config import DiTConfig
    from model.dit import WanDiT

    config = DiTConfig.from_json_file(Path(folder) / "config.json")
    with torch.device("meta"):
        model = WanDiT(config)
    rename = rename_original_dit_key if layout == ORIGINAL else (lambda k: k)
    return load_safetensors_into(model, folder, what=f"DiT {folder}", rename=rename,
                                 dtype_for=lambda n: torch.float32 if WanDiT.keep_fp32(n) else dtype,
                                 device=device)


def load_vae(weights_dir: Path, layout: str, config, *, device: torch.device | str = "cpu"):
    """The VAE in fp32: Wan2.1 or Wan2.2 as its config says (vae/config.json in the diffusers
    layout; the preset's ``config`` in the original one, read from Wan2.1_VAE.pth or
    Wan2.2_VAE.pth)."""
    from model.config import VAEConfig
    from model.vae22 import build_vae

    fp32 = lambda name: torch.float32  # noqa: E731 - the VAE always runs in fp32
    if layout == DIFFUSERS:
        folder = Path(weights_dir) / "vae"
        if not (folder / "config.json").is_file():
            raise WeightsNotFound(f"{folder / 'config.json'} is missing")
        config = VAEConfig.from_diffusers(json.loads((folder / "config.json").read_text()))
        with torch.device("meta"):
            model = build_vae(config)
        return load_safetensors_into(model, folder, what=f"VAE {folder}", dtype_for=fp32,
                                     device=device)
    with torch.device("meta"):
        model = build_vae(config)
    if config.is_residual:
        rename = original_vae22_renamer(config.num_res_blocks)
        path = Path(weights_dir) / ORIGINAL_VAE22_FILE
    else:
        rename = original_vae_renamer(config.num_res_blocks, len(config.dim_mult))
        path = Path(weights_dir) / ORIGINAL_VAE_FILE
    return load_pth_into(model, path, what=f"VAE {path}", rename=rename, dtype_for=fp32,
                         device=device)


def load_text_encoder(weights_dir: Path, layout: str, config, *, dtype: torch.dtype,
                      device: torch.device | str = "cpu"):
    """umT5 encoder + tokenizer -> ``model.text_encoder.TextEncoder``."""
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    from model.text_encoder import TextEncoder, build_umt5

    weights_dir = Path(weights_dir)
    tokenizer_dir = weights_dir / ("tokenizer" if layout == DIFFUSERS else ORIGINAL_TOKENIZER_DIR)
    if not tokenizer_dir.is_dir():
        raise WeightsNotFound(f"tokenizer folder {tokenizer_dir} does not exist")
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    what_dtype = lambda name: dtype  # noqa: E731
    if layout == DIFFUSERS:
        folder = weights_dir / "text_encoder"
        if not (folder / "config.json").is_file():
            raise WeightsNotFound(f"{folder / 'config.json'} is missing")
        hf_config = UMT5Config.from_pretrained(str(folder), local_files_only=True)
        with torch.device("meta"):
            model = UMT5EncoderModel(hf_config)
        model = load_safetensors_into(model, folder, what=f"text encoder {folder}",
                                      dtype_for=what_dtype, device=device)
    else:
        with torch.device("meta"):
            model = build_umt5(config)
        path = weights_dir / ORIGINAL_T5_FILE
        model = load_pth_into(model, path, what=f"text encoder {path}",
                              rename=rename_original_t5_key, dtype_for=what_dtype, device=device)
    return TextEncoder(tokenizer, model, config)


def weights_fingerprint_files(weights_dir: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every weight, config and tokenizer file: cheap to list, changes
    whenever the weights do."""
    weights_dir = Path(weights_dir)
    suffixes = (".safetensors", ".json", ".pth", ".model", ".txt")
    return sorted((str(p.relative_to(weights_dir)), p.stat().st_size)
                  for p in weights_dir.rglob("*") if p.is_file() and p.suffix in suffixes)
