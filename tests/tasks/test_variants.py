"""Variant axes: the spec block, the script's alternatives, the covering budget, the render
cost and promotion, without Prefect."""

from __future__ import annotations

import itertools
import textwrap

import pytest
import yaml

from common.errors import SpecError
from tasks.plan import variant_plan
from tasks.script import load_campaign
from tasks.subtitles.cues import Cue, with_call_to_action
from tasks.variants import (
    apply_variant,
    pick_variants,
    promote,
    select_variants,
)

SPEC = """\
id: var-test
brand: {name: Var}
output: {width: 256, height: 256, fps: 8, delivery_fps: 8}
locales: [en, de]
cta: {en: Shop now, de: Jetzt kaufen}
variants:
%(variants)s
script: |
  ## one
  duration: 1.5s
  visual: A red cup
  visual@b: A blue cup
  [en] Hello.
  [de] Hallo.
  [en@b] Hi there.
  [de@b] Servus.
  ## two
  seed: 5
  duration: 1.5s
  visual: A green cup
"""
AXES = """\
  seed: [a, b]
  visual: [a, b]
  captions: [a, b]
  cta:
    shop: {en: Shop now, de: Jetzt kaufen}
    try: {en: Try it free, de: Gratis testen}
    learn: {en: Learn more, de: Mehr erfahren}
  music: [calm, none]"""


def write(tmp_path, variants=AXES, **extra):
    path = tmp_path / "campaign.yaml"
    text = SPEC % {"variants": variants}
    for key, value in extra.items():
        text = text.replace(f"{key}:", value, 1)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_full_grid_is_every_combination_first_values_first(tmp_path):
    campaign = load_campaign(write(tmp_path))
    variants = select_variants(campaign.spec.variants)
    assert len(variants) == 2 * 2 * 2 * 3 * 2
    assert variants[0].id == "seed-a.visual-a.captions-a.cta-shop.music-calm"
    assert len({v.id for v in variants}) == len(variants)


@pytest.mark.parametrize("budget", [3, 4, 6])
def test_a_budget_covers_every_value_of_every_axis(tmp_path, budget):
    campaign = load_campaign(write(tmp_path, AXES + f"\n  max: {budget}"))
    variants = select_variants(campaign.spec.variants)
    assert len(variants) == budget
    for axis, labels in campaign.spec.variants.axes():
        assert {v.values[axis] for v in variants} == set(labels), axis
    # Deterministic, and the incumbent (every first value) comes first.
    assert [v.id for v in select_variants(campaign.spec.variants)] == [v.id for v in variants]
    assert variants[0].id == "seed-a.visual-a.captions-a.cta-shop.music-calm"


def test_a_budget_smaller_than_an_axis_is_refused_naming_the_field(tmp_path):
    with pytest.raises(SpecError, match=r"variants: max 2 cannot cover every value.*at least 3"):
        load_campaign(write(tmp_path, AXES + "\n  max: 2"))


@pytest.mark.parametrize(("variants", "message"), [
    ("  cta:\n    shop: {en: Shop now}", r"variants.*cta.shop.*'de' is missing"),
    ("  seed: [a, a]", r"seed: a value is listed twice"),
    ("  seed: [A]", r"label 'A' must be lower-case"),
    ("  music: {x: nope.m4a}", r"variants.music.x: music file .*nope.m4a does not exist"),
    ("  look: {warm: warm.cube}", r"variants.look.warm: LUT file .*warm.cube does not exist"),
    ("  visual: [a, c]", r"variants.visual: labels 'a' and 'c' have no visual@label"),
    ("  colour: [a]", r"variants.colour: unknown field"),
])
def test_bad_variant_blocks_name_the_field(tmp_path, variants, message):
    with pytest.raises(SpecError, match=message):
        load_campaign(write(tmp_path, variants))


def test_a_caption_alternative_needs_every_locale(tmp_path):
    path = write(tmp_path, "  captions: [a, b]")
    path.write_text(path.read_text().replace("  [de@b] Servus.\n", ""))
    with pytest.raises(SpecError, match=r"shots.one.caption\[de\]: .*alternative 'b' has no"):
        load_campaign(path)


def test_a_seed_or_visual_variant_changes_only_the_shots_it_touches(tmp_path):
    campaign = load_campaign(write(tmp_path, AXES))
    every = {v.id: v for v in select_variants(campaign.spec.variants)}
    base = apply_variant(campaign, every["seed-a.visual-a.captions-a.cta-shop.music-calm"])
    seed_b = apply_variant(campaign, every["seed-b.visual-a.captions-a.cta-shop.music-calm"])
    visual_b = apply_variant(campaign, every["seed-a.visual-b.captions-b.cta-try.music-none"])
    assert seed_b.shots[0].seed != base.shots[0].seed
    assert seed_b.shots[1].seed == base.shots[1].seed == 5  # its own seed: not a variant's
    assert visual_b.shots[0].prompt == "A blue cup." and visual_b.shots[1].prompt == "A green cup."
    assert visual_b.shots[0].captions == {"en": ["Hi there."], "de": ["Servus."]}
    assert visual_b.shots[0].frames == base.shots[0].frames  # copy never re-times a shot
    assert visual_b.spec.cta == {"en": "Try it free", "de": "Gratis testen"}
    assert visual_b.spec.audio.music is None and base.spec.audio.music.endswith("calm.m4a")
    assert visual_b.variant == "seed-a.visual-b.captions-b.cta-try.music-none"


def test_the_plan_counts_renders_against_clips(tmp_path):
    campaign = load_campaign(write(tmp_path, AXES))
    plan = variant_plan(campaign)
    # Shot one: 2 seeds x 2 visuals; shot two keeps its seed and prompt: 1. Captions, calls to
    # action and music never make a render.
    assert plan.renders == 5
    assert plan.clips == 48 * 2
    assert plan.masters == 4
    assert sum(row.new_renders for row in plan.rows) == 5
    assert "96 clip(s) from 5 render(s)" in plan.summary()


def test_the_plan_counts_every_format(tmp_path):
    # 16:9 and 9:16 are each rendered; 1:1 is a crop of 9:16, so it adds clips, not renders
    path = write(tmp_path, "  seed: [a, b]")
    path.write_text(path.read_text().replace(
        "delivery_fps: 8}", 'delivery_fps: 8, formats: ["16:9", "9:16", "1:1"]}'))
    plan = variant_plan(load_campaign(path))
    assert plan.clips == 2 * 2 * 3  # variants x locales x formats
    assert plan.renders == 3 * 2  # shot one per seed, shot two once; in both rendered formats
    assert [row.new_renders for row in plan.rows] == [4, 2]
    assert "2 variant(s) x 2 locale(s) x 3 format(s) = 12 clip(s) from 6 render(s)" \
        in plan.summary()


def test_pick_variants_refuses_an_unknown_id(tmp_path):
    campaign = load_campaign(write(tmp_path, "  seed: [a, b]"))
    assert [v.id for v in pick_variants(campaign, ["seed-b"])] == ["seed-b"]
    with pytest.raises(SpecError, match=r"variant 'seed-c' is not one of this spec's"):
        pick_variants(campaign, ["seed-c"])


def test_call_to_action_is_the_last_cue_over_the_last_seconds():
    cues = [Cue(0.0, 1.5, ("Hello.",)), Cue(1.6, 4.0, ("Fresh tea.",))]
    out = with_call_to_action(cues, "Shop now", end=4.0, locale="en")
    assert out[-1].lines == ("Shop now",) and out[-1].end == 4.0
    assert out[-1].start == pytest.approx(2.6)  # the caption before it keeps 1 s
    assert out[-2].end == pytest.approx(2.6) and out[0] == cues[0]
    alone = with_call_to_action([], "Jetzt kaufen", end=6.0, locale="de")
    assert [(c.start, c.end, c.text) for c in alone] == [(4.0, 6.0, "Jetzt kaufen")]


def test_promote_writes_the_winner_as_defaults_and_keeps_the_old_revision(tmp_path):
    path = write(tmp_path, AXES + "\n  max: 4")
    before = path.read_bytes()
    campaign = load_campaign(path)
    winner = next(v for v in select_variants(campaign.spec.variants.model_copy(
        update={"max": None})) if v.id == "seed-b.visual-b.captions-b.cta-try.music-none")
    won = apply_variant(campaign, winner)

    spec_path, kept = promote(path, winner.id)

    assert kept.name == "campaign.r1.yaml" and kept.read_bytes() == before
    data = yaml.safe_load(spec_path.read_text())
    assert data["revision"] == 2
    assert data["cta"] == {"en": "Try it free", "de": "Gratis testen"}
    assert data["alternatives"] == {"visual": "b", "captions": "b"}
    assert data["audio"]["music"] == "none"
    assert list(data["variants"]["cta"])[0] == "try" and data["variants"]["seed"][0] == "b"
    promoted = load_campaign(spec_path)
    # The plain spec is the winner now, and so is the next round's first variant.
    assert [s.prompt for s in promoted.shots] == [s.prompt for s in won.shots]
    assert [s.seed for s in promoted.shots] == [s.seed for s in won.shots]
    first = select_variants(promoted.spec.variants)[0]
    assert first.id == winner.id
    assert [s.seed for s in apply_variant(promoted, first).shots] == [s.seed for s in won.shots]
    # Every value is still covered around it, and a second promotion keeps r2 too.
    _, kept2 = promote(spec_path, "seed-a.visual-a.captions-a.cta-shop.music-calm")
    assert kept2.name == "campaign.r2.yaml" and load_campaign(spec_path).spec.revision == 3


def test_promote_refuses_an_unknown_variant_and_writes_nothing(tmp_path):
    path = write(tmp_path, "  seed: [a, b]")
    before = path.read_bytes()
    with pytest.raises(SpecError, match="variant 'seed-z'"):
        promote(path, "seed-z")
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == \
        ["campaign.yaml"]


def test_budget_selection_is_small_on_a_large_grid(tmp_path):
    axes = "\n".join(f"  {a}: [a, b, c, d]" for a in ("seed",)) + \
        "\n  cta:\n" + "\n".join(f"    c{i}: {{en: Go {i}, de: Los {i}}}" for i in range(8)) + \
        "\n  max: 8"
    campaign = load_campaign(write(tmp_path, axes))
    variants = select_variants(campaign.spec.variants)
    assert len(variants) == 8
    pairs = {(v.values["seed"], v.values["cta"]) for v in variants}
    assert len(pairs) == 8 and set(itertools.chain(*pairs)) >= {"a", "b", "c", "d", "c0", "c7"}


def warm_cube(path) -> None:
    rows = [f"{min(1.0, r * 1.1):.3f} {g:.3f} {b * 0.9:.3f}"
            for b in (0, 1) for g in (0, 1) for r in (0, 1)]
    path.write_text("LUT_3D_SIZE 2\n" + "\n".join(rows) + "\n")


def test_look_and_pacing_share_every_render_and_make_their_own_master(tmp_path):
    warm_cube(tmp_path / "warm.cube")
    axes = ("  look: {plain: none, warm: warm.cube}\n"
            "  pacing:\n    story: [one, two]\n    reverse: [two, one]\n    short: [one]")
    campaign = load_campaign(write(tmp_path, axes))
    plan = variant_plan(campaign)
    assert len(plan.rows) == 6 and plan.renders == 2 and plan.masters == 6
    rows = {row.variant.id: row.campaign for row in plan.rows}
    reverse = rows["look-warm.pacing-reverse"]
    assert [s.id for s in reverse.shots] == ["two", "one"]
    assert [s.position for s in reverse.shots] == [0, 1]
    assert str(reverse.spec.brand.look).endswith("warm.cube")
    assert [s.id for s in rows["look-plain.pacing-short"].shots] == ["one"]
    assert rows["look-plain.pacing-short"].spec.brand.look is None
    # Promoting a cut writes it as the spec's own pacing.
    spec_path, _ = promote(tmp_path / "campaign.yaml", "look-warm.pacing-reverse")
    promoted = load_campaign(spec_path)
    assert [s.id for s in promoted.shots] == ["two", "one"]
    assert yaml.safe_load(spec_path.read_text())["brand"]["look"] == "warm.cube"


def test_a_pacing_naming_an_unknown_shot_is_refused(tmp_path):
    with pytest.raises(SpecError, match=r"variants.pacing.cut: 'three' is not a shot"):
        load_campaign(write(tmp_path, "  pacing: {cut: [one, three]}"))


def test_validate_prints_the_variant_table_and_its_cost(tmp_path, capsys, monkeypatch):
    from flows.cli import run_cli

    monkeypatch.setenv("COLUMNS", "200")
    assert run_cli(["validate", str(write(tmp_path, AXES + "\n  max: 4"))]) == 0
    shown = capsys.readouterr().out
    assert "seed-a.visual-a.captions-a.cta-shop.music-calm" in shown
    assert "renders needed: 3, clips produced: 8" in shown
