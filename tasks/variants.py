"""Variants: several versions of one campaign, picked from the spec's axes, sharing renders.

    select_variants(spec)           the variants a run makes: the full grid, or a budget that
                                    covers every value of every axis (deterministic)
    apply_variant(campaign, v)      the campaign as variant ``v`` (its seed, script alternatives,
                                    call to action, music and look), validated like any spec
    tasks.plan.variant_plan         the variant table and its render cost, before anything runs
    promote(spec_path, variant_id)  the winner's values written into the spec as its defaults
                                    (a new revision; the old file kept beside it)

Only what decides pixels makes a render (the render key, tasks/render/request.py): variants that
differ in finishing (captions, call to action, music) share every render and the master, a look
or a pacing (shot order) shares the renders and makes its own master, and a seed or a visual
alternative renders only the shots it changes. Nothing here needs Prefect.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.errors import SpecError
from tasks.script import Campaign, Shot, derive_seed, load_campaign, parse_script
from tasks.spec import CampaignSpec, VariantsSpec, load_structured

# Axes that change what the model renders; the rest are finishing (tasks/localize.py, audio).
RENDER_AXES = ("seed", "visual")


@dataclass(frozen=True)
class Variant:
    """One version of a campaign: a label for every axis of the spec's ``variants`` block."""

    id: str
    values: dict[str, str] = field(default_factory=dict)  # axis -> label, in axis order

    def describe(self) -> str:
        return ", ".join(f"{axis}={label}" for axis, label in self.values.items())


def variant_id(values: dict[str, str]) -> str:
    """``{"seed": "b", "cta": "try"}`` -> ``seed-b.cta-try``: readable in an object key, and
    the same for the same labels in every revision of the spec."""
    return ".".join(f"{axis}-{label}" for axis, label in values.items())


def select_variants(variants: VariantsSpec) -> list[Variant]:
    """The variants a run makes, in a fixed order.

    Without ``max`` (or when the grid fits in it): the full grid, first values first. With a
    budget: the first combination (every axis's first value, the incumbent), then greedily the
    combination that covers the most values not yet covered, then the most pairs of values not
    yet seen together; ties go to the earlier combination in grid order. Every value of every
    axis is covered (the spec checks ``max`` is at least the longest axis).
    """
    axes = variants.axes()
    names = [axis for axis, _ in axes]
    grid = list(itertools.product(*(labels for _, labels in axes)))
    if variants.max is None or variants.max >= len(grid):
        chosen = grid
    else:
        chosen = [grid[0]]
        values = {(i, v) for i, v in enumerate(grid[0])}
        pairs = set(_pairs(grid[0]))
        left = grid[1:]
        while len(chosen) < variants.max and left:
            best = max(range(len(left)), key=lambda n: (
                len({(i, v) for i, v in enumerate(left[n])} - values),
                len(set(_pairs(left[n])) - pairs), -n))
            combo = left.pop(best)
            chosen.append(combo)
            values |= {(i, v) for i, v in enumerate(combo)}
            pairs |= set(_pairs(combo))
    out = []
    for combo in chosen:
        values = dict(zip(names, combo, strict=True))
        out.append(Variant(variant_id(values), values))
    return out


def _pairs(combo: tuple) -> list[tuple]:
    return [((i, a), (j, b)) for (i, a), (j, b) in itertools.combinations(enumerate(combo), 2)]


def seed_for(label: str, campaign_id: str) -> int:
    """The model seed a seed label stands for: a number is itself; a name is derived from the
    campaign id and the name alone, so it means the same seed in every spec revision."""
    return int(label) if label.isdigit() else derive_seed("variant-seed", campaign_id, label)


def variant_spec(spec: CampaignSpec, variant: Variant) -> CampaignSpec:
    """The spec with the variant's values as its own (and no variants block of its own)."""
    chosen = spec.variants
    update: dict[str, Any] = {"variants": None}
    values = variant.values
    if "seed" in values:
        update["model"] = spec.model.model_copy(update={"seed": seed_for(values["seed"],
                                                                          spec.id)})
    alternatives = dict(spec.alternatives)
    for axis in ("visual", "captions"):
        if axis in values:
            alternatives[axis] = values[axis]
    update["alternatives"] = alternatives
    if "cta" in values:
        update["cta"] = dict(chosen.cta[values["cta"]])
    if "music" in values and spec.audio is not None:  # --silent: no music in any variant
        update["audio"] = spec.audio.model_copy(update={"music": chosen.music[values["music"]]})
    if "look" in values:
        look = chosen.look[values["look"]]
        update["brand"] = spec.brand.model_copy(update={"look": Path(look) if look else None})
    if "pacing" in values:
        update["pacing"] = list(chosen.pacing[values["pacing"]])
    return spec.model_copy(update=update)


def apply_variant(campaign: Campaign, variant: Variant) -> Campaign:
    """The campaign as ``variant``: its spec's values replaced and its script parsed again (a
    new seed reaches only the shots without a ``seed:`` or template of their own)."""
    spec = variant_spec(campaign.spec, variant)
    base = Path(campaign.source).parent if campaign.source else None
    shots = parse_script(campaign.script, spec, file=campaign.source, base_dir=base)
    return dataclasses.replace(campaign, spec=spec, shots=_keep_lengths(shots, campaign.shots),
                               variant=variant.id)


def _keep_lengths(shots: list[Shot], before: list[Shot]) -> list[Shot]:
    """A variant never re-times a shot (speech did, or captions did when they were parsed)."""
    frames = {s.id: (s.frames, s.duration) for s in before}
    return [dataclasses.replace(s, frames=frames[s.id][0], duration=frames[s.id][1])
            if s.id in frames else s for s in shots]


def pick_variants(campaign: Campaign, only: list[str] | None = None) -> list[Variant]:
    """The variants a run makes (``only``: these ids of them; SpecError for an unknown one)."""
    if campaign.spec.variants is None:
        if only:
            raise SpecError("the spec has no 'variants' block, so it has no variant "
                            f"{only[0]!r}", file=campaign.source, field="variants")
        return []
    variants = select_variants(campaign.spec.variants)
    if not only:
        return variants
    every = _every_variant(campaign.spec.variants)
    unknown = [v for v in only if v not in every]
    if unknown:
        raise SpecError(f"variant {unknown[0]!r} is not one of this spec's (e.g. "
                        f"{variants[0].id})", file=campaign.source, field="variants")
    return [every[v] for v in only]


def _every_variant(variants: VariantsSpec) -> dict[str, Variant]:
    """Every combination of the axes by id (a budget picks some; any may be asked for)."""
    full = variants.model_copy(update={"max": None})
    return {v.id: v for v in select_variants(full)}


# --------------------------------------------------------------------------------------------
# Promotion: the winner's values become the spec's defaults


_REVISION = re.compile(r"\.r\d+$")


def revision_path(spec_path: Path, revision: int) -> Path:
    """``campaign.yaml`` -> ``campaign.r1.yaml`` (beside it, so relative paths still work)."""
    stem = _REVISION.sub("", spec_path.stem)
    return spec_path.with_name(f"{stem}.r{revision}{spec_path.suffix}")


def promoted_data(data: dict, campaign: Campaign, variant: Variant) -> dict:
    """The spec file's data with ``variant``'s values as its defaults, each axis listing the
    winner's value first (the next round's first variant is the winner, its renders cached), and
    the revision bumped. Values are written as the file gave them (relative paths stay so)."""
    spec = campaign.spec
    data = dict(data)
    raw_variants = dict(data.get("variants") or {})
    for axis, label in variant.values.items():
        raw = raw_variants.get(axis)
        if isinstance(raw, dict):
            raw_variants[axis] = {label: raw[label], **{k: v for k, v in raw.items()
                                                        if k != label}}
            value = raw[label]
        else:
            items = list(raw)
            value = next(item for item in items if str(item).lower() == label)
            raw_variants[axis] = [value, *[item for item in items if item is not value]]
        if axis == "seed":
            data["model"] = {**(data.get("model") or {}), "seed": seed_for(label, spec.id)}
        elif axis in ("visual", "captions"):
            alternatives = {k: v for k, v in (data.get("alternatives") or {}).items()
                            if k != axis}
            lines = (s.alt_visuals if axis == "visual" else s.alt_captions
                     for s in campaign.shots)
            if any(label in alt for alt in lines):  # else the label is the plain lines
                alternatives[axis] = label
            data["alternatives"] = alternatives
            if not alternatives:
                del data["alternatives"]
        elif axis == "cta":
            data["cta"] = dict(value)
        elif axis == "music":
            data["audio"] = {**(data.get("audio") or {}), "music": value}
        elif axis == "look":
            data["brand"] = {**(data.get("brand") or {}), "look": value}
        elif axis == "pacing":
            data["pacing"] = list(value)
    data["variants"] = raw_variants
    data["revision"] = spec.revision + 1
    return data


def promote(spec_path: str | Path, variant: str) -> tuple[Path, Path]:
    """Write ``variant``'s values into the spec at ``spec_path`` as its new defaults.

    The file as it was is kept as ``NAME.rN.yaml`` (N: its revision) beside it; the spec file
    itself becomes revision N+1, so a schedule that runs it builds on the winner. Returns (the
    spec file, the kept revision). SpecError for an unknown variant; the new spec is validated
    before it replaces the old one.
    """
    spec_path = Path(spec_path)
    campaign = load_campaign(spec_path)
    [chosen] = pick_variants(campaign, [variant])
    data, _ = load_structured(spec_path)
    new = promoted_data(data, campaign, chosen)
    kept = revision_path(spec_path, campaign.spec.revision)
    if kept.exists() and kept.read_bytes() != spec_path.read_bytes():
        raise SpecError(f"{kept.name} exists already and differs from {spec_path.name}: "
                        "move it away before promoting", file=str(spec_path), field="revision")
    header = (f"# Revision {new['revision']}: variant {chosen.id} promoted by `content-factory "
              f"variants promote`.\n# The previous revision is kept as {kept.name}.\n")
    draft = spec_path.with_name(f".{spec_path.name}.promote.partial{spec_path.suffix}")
    text = json.dumps(new, indent=2, ensure_ascii=False) + "\n" \
        if spec_path.suffix.lower() == ".json" else header + dump_spec(new)
    draft.write_text(text, encoding="utf-8")
    try:
        load_campaign(draft)  # the new revision is a valid spec before it replaces the old one
        if not kept.exists():
            shutil.copyfile(spec_path, kept)
        draft.replace(spec_path)
    finally:
        draft.unlink(missing_ok=True)
    return spec_path, kept


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None  # an inline script stays a readable block
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump_spec(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
