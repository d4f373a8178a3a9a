"""LoRA files for the Wan2.2 DiT experts: three published layouts, merged into the weights.

Layouts (docs/reference/wan22-speed.md, "LoRA files for Wan2.2"):

- official names (Wan2.2-Lightning, LightX2V): ``diffusion_model.<WanModel module>.`` then
  ``lora_down.weight``/``lora_up.weight`` or ``lora_A.weight``/``lora_B.weight``, an optional
  ``alpha``, and full deltas ``diff`` (weight), ``diff_b`` (bias), ``diff_m`` (modulation);
- kohya / musubi-tuner: ``lora_unet_blocks_{i}_self_attn_q.lora_down.weight`` (the official
  module name with ``_`` for ``.``), ``.lora_up.weight``, ``.alpha``;
- diffusers / PEFT: ``transformer.blocks.{i}.attn1.to_q.lora_A.weight`` / ``lora_B.weight``
  (and ``lora_B.bias``), our own parameter names.

Every key is read into a :class:`LoraDelta` on one of our parameters:
``W += strength * scale * (up @ down)`` with scale = alpha / rank (rank = down.shape[0]), or 1
without alpha; full deltas add ``strength * delta``. The sum is formed in fp32 and rounded once
to the parameter's dtype. Keys for the Wan2.1 image attention (``k_img``, ``v_img``,
``norm_k_img``, ``img_emb``; diffusers ``add_k_proj``, ``add_v_proj``, ``norm_added_k``,
``image_embedder``) have no module in Wan2.2 text-to-video: they are skipped, with a warning that
counts them. Any other key that names nothing in the model is an error listing the keys.

Where diffusers' converter differs (``_convert_non_diffusers_wan_lora_to_diffusers``): it drops
``diff`` weight deltas of blocks, ``diff_m`` and norm deltas; they are applied here, as LightX2V's
own merger does.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from common.errors import ConfigError
from model.config import DiTConfig, LoraSettings

log = logging.getLogger(__name__)

OFFICIAL = "official"
KOHYA = "kohya"
DIFFUSERS = "diffusers"

# Wan2.1 image-conditioning modules (I2V); Wan2.2 text-to-video has none of them.
IMAGE_ATTENTION = re.compile(r"(^|\.|_)(k_img|v_img|norm_k_img|img_emb|add_k_proj|add_v_proj|"
                             r"norm_added_k|image_embedder)(\.|_|$)")

_KINDS = {  # key suffix -> what it holds
    "lora_down.weight": "down", "lora_A.weight": "down",
    "lora_up.weight": "up", "lora_B.weight": "up", "lora_B.bias": "bias",
    "alpha": "alpha", "diff": "diff", "diff_b": "diff_b", "diff_m": "diff_m",
}


@dataclass(frozen=True)
class LoraDelta:
    """One parameter's update: ``scale * (up @ down)`` or a full ``delta`` (scale 1)."""

    target: str                        # our parameter name, e.g. blocks.0.attn1.to_q.weight
    up: torch.Tensor | None = None     # [out, rank]
    down: torch.Tensor | None = None   # [rank, in]
    delta: torch.Tensor | None = None  # full delta, the parameter's shape
    scale: float = 1.0

    def tensor(self) -> torch.Tensor:
        """The fp32 update at strength 1."""
        if self.delta is not None:
            return self.delta.float() * self.scale
        return (self.up.float() @ self.down.float()) * self.scale


@dataclass(frozen=True)
class LoraFile:
    """A LoRA file read into per-parameter deltas."""

    path: Path
    layout: str
    deltas: tuple[LoraDelta, ...]
    skipped: tuple[str, ...]  # image-attention keys Wan2.2 has no module for


# ---------------------------------------------------------------------------------------------
# reading


def safetensors_keys(path: Path) -> list[str]:
    """The tensor names in a .safetensors file, from its header alone (no torch, no tensors).

    Raises ConfigError naming the file when it is missing or not a safetensors file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"LoRA file {path} does not exist")
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > 100 * 2 ** 20 or size > path.stat().st_size:
                raise ValueError("header size out of range")
            header = json.loads(f.read(size))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"LoRA file {path} is not a .safetensors file ({exc}); give the "
                          "LoRA's .safetensors weights") from None
    keys = [k for k in header if k != "__metadata__"]
    if not keys:
        raise ConfigError(f"LoRA file {path} holds no tensors")
    return keys


def detect_layout(keys: Iterable[str]) -> str:
    """official (``diffusion_model.``), kohya (``lora_unet_``) or diffusers (``transformer.``)."""
    keys = list(keys)
    for prefix, layout in (("diffusion_model.", OFFICIAL), ("lora_unet_", KOHYA),
                           ("transformer.", DIFFUSERS)):
        if all(k.startswith(prefix) for k in keys):
            return layout
    raise ConfigError(f"LoRA keys are in no known layout (each key must start with "
                      f"'diffusion_model.', 'lora_unet_' or 'transformer.'), e.g. {keys[:3]}")


def _split(key: str) -> tuple[str, str] | None:
    """``module.suffix`` -> (module, kind) for a known suffix, else None."""
    for suffix, kind in _KINDS.items():
        if key.endswith("." + suffix):
            return key[: -len(suffix) - 1], kind
    return None


def original_module_names(config: DiTConfig) -> list[str]:
    """Every parameterised module of the official ``WanModel`` (its checkpoint names)."""
    names = ["patch_embedding", "text_embedding.0", "text_embedding.2", "time_embedding.0",
             "time_embedding.2", "time_projection.1", "head.head", "head"]
    for i in range(config.num_layers):
        for attn in ("self_attn", "cross_attn"):
            names += [f"blocks.{i}.{attn}.{p}" for p in ("q", "k", "v", "o", "norm_q", "norm_k")]
        names += [f"blocks.{i}.ffn.0", f"blocks.{i}.ffn.2", f"blocks.{i}.norm3", f"blocks.{i}"]
    return names


def _official_target(module: str, kind: str) -> str | None:
    """Our parameter for an official module name and kind (None: not a Wan2.2 parameter)."""
    from model.loader import rename_original_dit_key

    if re.search(r"(^|\.)norm2$", module) or module == "head" and kind != "diff_m":
        return None  # the original norm2 has no parameters; "head" only owns its modulation
    if kind == "diff_m":
        original = f"{module}.modulation"
    elif kind in ("diff_b", "bias"):
        original = f"{module}.bias"
    else:
        original = f"{module}.weight"
    return rename_original_dit_key(original)


def read_lora(path: Path, config: DiTConfig, parameters: dict[str, torch.Size]) -> LoraFile:
    """Read ``path`` into deltas on the parameters of a DiT with ``config``.

    ``parameters``: our parameter names and shapes. Raises ConfigError naming the file for a key
    that names nothing in the model, a shape that does not fit, or a half of a pair missing.
    """
    from safetensors import safe_open

    path = Path(path)
    keys = safetensors_keys(path)
    layout = detect_layout(keys)
    kohya_names = {n.replace(".", "_"): n for n in original_module_names(config)}
    groups: dict[str, dict[str, str]] = {}  # our module (or parameter) -> kind -> key
    unknown, skipped = [], []
    for key in keys:
        if IMAGE_ATTENTION.search(key):
            skipped.append(key)
            continue
        parts = _split(key)
        if parts is None:
            unknown.append(key)
            continue
        module, kind = parts
        if layout == OFFICIAL:
            module = module.removeprefix("diffusion_model.")
        elif layout == KOHYA:
            module = kohya_names.get(module.removeprefix("lora_unet_"), "")
        else:
            module = module.removeprefix("transformer.")
            if kind in ("diff", "diff_b", "diff_m"):
                unknown.append(key)  # full deltas are an official-layout thing
                continue
        groups.setdefault(module, {})[kind] = key
        if not module:
            unknown.append(key)
    if skipped:
        log.warning("LoRA %s: skipped %d image-attention key(s) Wan2.2 text-to-video has no "
                    "module for (e.g. %s)", path, len(skipped), skipped[0])
    deltas: list[LoraDelta] = []
    with safe_open(str(path), framework="pt") as f:
        for module, kinds in groups.items():
            if not module:
                continue
            found = _deltas_for(module, kinds, layout, f, parameters)
            if found is None:
                unknown.extend(kinds.values())
                continue
            deltas.extend(found)
    if unknown:
        raise ConfigError(f"LoRA file {path} ({layout} layout) has {len(unknown)} key(s) that "
                          f"name no parameter of this model: {', '.join(sorted(unknown))}")
    for d in deltas:
        shape = tuple(d.delta.shape) if d.delta is not None \
            else (d.up.shape[0], d.down.shape[1])
        if shape != tuple(parameters[d.target]):
            raise ConfigError(f"LoRA file {path}: {d.target} gets a {shape} update but the "
                              f"parameter is {tuple(parameters[d.target])}: the LoRA is for "
                              "another model size")
    return LoraFile(path, layout, tuple(deltas), tuple(skipped))


def _deltas_for(module: str, kinds: dict[str, str], layout: str, f,
                parameters: dict[str, torch.Size]) -> list[LoraDelta] | None:
    """Deltas of one module's keys; None when the module is not one of ours."""
    out: list[LoraDelta] = []

    def target(kind: str) -> str | None:
        if layout == DIFFUSERS:
            name = f"{module}.{'bias' if kind == 'bias' else 'weight'}"
        else:
            name = _official_target(module, kind)
        return name if name in parameters else None

    if "down" in kinds or "up" in kinds:
        if "down" not in kinds or "up" not in kinds:
            raise ConfigError(f"LoRA key {next(iter(kinds.values()))}: its down/up (A/B) pair "
                              "is incomplete")
        name = target("down")
        if name is None:
            return None
        down, up = f.get_tensor(kinds["down"]), f.get_tensor(kinds["up"])
        scale = float(f.get_tensor(kinds["alpha"]).item()) / down.shape[0] \
            if "alpha" in kinds else 1.0
        out.append(LoraDelta(name, up=up, down=down, scale=scale))
    elif "alpha" in kinds:
        return None  # an alpha with no pair
    for kind in ("diff", "diff_b", "diff_m", "bias"):
        if kind in kinds:
            name = target(kind)
            if name is None:
                return None
            out.append(LoraDelta(name, delta=f.get_tensor(kinds[kind])))
    return out


# ---------------------------------------------------------------------------------------------
# merging


def parameter_shapes(model: nn.Module) -> dict[str, torch.Size]:
    return {name: p.shape for name, p in model.named_parameters()}


@torch.no_grad()
def merge_deltas(model: nn.Module, deltas: Iterable[LoraDelta], strength: float) -> int:
    """Add ``strength`` times each delta to ``model``'s parameters in place; returns the count.

    The update is formed in fp32 and the sum rounded once to the parameter's dtype.
    """
    params = dict(model.named_parameters())
    count = 0
    for d in deltas:
        p = params[d.target]
        update = d.tensor().to(p.device) * strength
        p.copy_((p.float() + update).to(p.dtype))
        count += 1
    return count


def merge_loras(experts: dict[str, nn.Module], loras: Iterable[LoraSettings]) -> dict[str, int]:
    """Merge every LoRA into the experts it names; returns updated parameters per expert.

    A LoRA for an expert the model does not have (``low`` on a single-expert model) is an error.
    """
    counts = dict.fromkeys(experts, 0)
    for lora in loras:
        missing = [e for e in lora.experts if e not in experts]
        if missing:
            raise ConfigError(f"LoRA {lora.path} names expert(s) {missing}, but this model has "
                              f"only {sorted(experts)}")
        first = experts[lora.experts[0]]
        read = read_lora(Path(lora.path), first.config, parameter_shapes(first))
        for name in lora.experts:
            counts[name] += merge_deltas(experts[name], read.deltas, lora.strength)
        log.info("LoRA %s (%s layout, strength %g) merged into %s: %d parameters",
                 lora.path, read.layout, lora.strength, "+".join(lora.experts), len(read.deltas))
    return counts


# ---------------------------------------------------------------------------------------------
# kept separate: a strength per run without reloading


class LoraSidePaths:
    """LoRAs kept out of the weights, so their strengths can change from run to run.

    An update of a block's Linear weight (the bulk of the model) runs beside the Linear as a
    forward hook: ``out += strength * scale * up(down(x))`` (or ``x @ delta.T``), its tensors
    kept as buffers of that Linear so they move with the expert. Every other update (biases,
    modulation tables, norms, the embeddings and the head, which the DiT calls functionally in
    fp32) is re-merged exactly from a kept copy of the original parameter. The
    strengths are 0-dim buffers filled in place, so a compiled block sees a new strength without
    recompiling. A full ``diff`` costs a second matmul of its Linear per forward; merge it instead
    when its strength never changes.
    """

    def __init__(self, experts: dict[str, nn.Module], loras: Iterable[LoraSettings]) -> None:
        self.loras = tuple(loras)
        # expert -> parameter -> (original, [(lora index, fp32 update)])
        self.small: dict[str, dict[str, tuple[torch.Tensor, list]]] = {n: {} for n in experts}
        self.experts = experts
        for index, lora in enumerate(self.loras):
            missing = [e for e in lora.experts if e not in experts]
            if missing:
                raise ConfigError(f"LoRA {lora.path} names expert(s) {missing}, but this model "
                                  f"has only {sorted(experts)}")
            first = experts[lora.experts[0]]
            read = read_lora(Path(lora.path), first.config, parameter_shapes(first))
            for name in lora.experts:
                self._attach(name, index, read.deltas)
        self.set_strengths(self.loras)

    def _attach(self, expert: str, index: int, deltas: Iterable[LoraDelta]) -> None:
        model = self.experts[expert]
        params = dict(model.named_parameters())
        strength = torch.zeros((), dtype=torch.float32, device=next(model.parameters()).device)
        holder = model.get_submodule("blocks") if hasattr(model, "blocks") else model
        holder.register_buffer(f"lora_strength_{index}", strength)
        for d in deltas:
            module_name, _, leaf = d.target.rpartition(".")
            module = model.get_submodule(module_name) if module_name else model
            if d.target.startswith("blocks.") and isinstance(module, nn.Linear) \
                    and leaf == "weight":
                _add_side_path(module, holder, index, d)
            else:
                original = params[d.target].detach().clone()
                kept = self.small[expert].setdefault(d.target, (original, []))
                kept[1].append((index, d.tensor()))

    @torch.no_grad()
    def set_strengths(self, loras: Iterable[LoraSettings]) -> None:
        """Set each LoRA's strength (the same files, in the same order, as at load)."""
        loras = tuple(loras)
        same = [(lo.path, lo.experts) for lo in loras] == \
            [(lo.path, lo.experts) for lo in self.loras]
        if not same:
            raise ConfigError("these LoRAs were not loaded with the model: set_strengths takes "
                              "the same files and experts, in the same order")
        for expert in self.experts:
            by_index = {i: lora.strength for i, lora in enumerate(loras) if expert in lora.experts}
            holder = self.experts[expert].get_submodule("blocks") \
                if hasattr(self.experts[expert], "blocks") else self.experts[expert]
            for index in by_index:
                holder.get_buffer(f"lora_strength_{index}").fill_(by_index[index])
            params = dict(self.experts[expert].named_parameters())
            for target, (original, updates) in self.small[expert].items():
                value = original.float().to(params[target].device)
                for index, update in updates:
                    value = value + by_index[index] * update.to(value.device)
                params[target].copy_(value.to(params[target].dtype))
        self.loras = loras


def _add_side_path(linear: nn.Linear, holder: nn.Module, index: int, d: LoraDelta) -> None:
    """Register ``d``'s tensors on ``linear`` and a hook adding its update to the output."""
    dtype = linear.weight.dtype
    n = sum(1 for name in linear._buffers if name.startswith("lora_")) // 2
    if d.delta is not None:
        linear.register_buffer(f"lora_{n}_delta", (d.delta.float() * d.scale).to(dtype))
        linear.register_buffer(f"lora_{n}_unused", torch.empty(0))
    else:
        linear.register_buffer(f"lora_{n}_down", d.down.to(dtype))
        linear.register_buffer(f"lora_{n}_up", (d.up.float() * d.scale).to(dtype))
    strength_name = f"lora_strength_{index}"

    def hook(module: nn.Linear, args: tuple, output: torch.Tensor) -> torch.Tensor:
        strength = holder.get_buffer(strength_name)
        x = args[0].to(dtype)
        if hasattr(module, f"lora_{n}_delta"):
            side = F.linear(x, module.get_buffer(f"lora_{n}_delta"))
        else:
            side = F.linear(F.linear(x, module.get_buffer(f"lora_{n}_down")),
                            module.get_buffer(f"lora_{n}_up"))
        return output + (side * strength.to(side.dtype)).to(output.dtype)

    linear.register_forward_hook(hook)
