"""Campaign specs and scripts: valid ones in three languages, malformed ones with their messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from common.errors import SpecError
from tasks.script import frames_for, load_campaign
from tasks.subtitles.cues import seconds_to_read

EXAMPLE = Path(__file__).parents[2] / "examples" / "spring-launch" / "campaign.yaml"

SPEC = """\
id: test-campaign
brand:
  name: Test Brand
  colors: {{primary: "#112233", secondary: "#445566", text: "#FFFFFF"}}
output: {{width: 832, height: 480, fps: 16, delivery_fps: 24}}
locales: [{locales}]
model: {{seed: 1}}
templates:
  intro: {{visual: "Brand colours swirl", duration: 2}}
script: |
{script}
"""


def write_spec(tmp_path: Path, script: str, locales: str = "en, zh-CN, ar",
               spec: str = SPEC) -> Path:
    body = spec.format(locales=locales, script=textwrap.indent(textwrap.dedent(script), "  "))
    path = tmp_path / "campaign.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_example_campaign_parses_in_four_languages():
    campaign = load_campaign(EXAMPLE)
    assert campaign.spec.locales == ["zh-CN", "en", "ar", "ja"]
    assert campaign.spec.output.formats == ["16:9", "9:16"]
    assert [s.id for s in campaign.shots] == ["intro", "harvest", "cup"]
    cup = campaign.shots[2]
    assert cup.captions["zh-CN"] == ["茉莉龙珠，限时八折。"]
    assert cup.captions["ar"] == ["لؤلؤ الياسمين، خصم ٢٠٪ هذا الأسبوع فقط."]
    assert cup.prompt.startswith("A glass teapot") and cup.prompt.endswith("Camera: slow push-in.")
    assert "people, hands" in cup.negative_prompt and "blurry" in cup.negative_prompt
    for shot in campaign.shots:
        assert (shot.frames - 1) % 4 == 0
        assert shot.duration == pytest.approx(shot.frames / 16)
    # Every shot is narrated in every locale; the captions are the narration's sentences, and
    # no shot has a fixed length: the speech times them when the campaign runs.
    assert cup.narration["en"] == ["Jasmine Pearl, 20% off this week only."]
    assert all(s.narration.keys() == {"zh-CN", "en", "ar", "ja"} and s.captions == s.narration
               and not s.fixed_duration for s in campaign.shots)
    assert campaign.spec.audio.music.endswith("calm.m4a") and campaign.spec.audio.loudness == -14
    # Template shots take their seed from the template, so every campaign renders them alike.
    assert campaign.shots[0].template == "intro"


def test_valid_script_fields(tmp_path):
    path = write_spec(tmp_path, """\
        # a comment
        ## open: Opening
        template: intro
        [en] Hello there.
        [zh-CN] 你好。
        [ar] مرحبا.

        ## second
        duration: 2.5s
        camera: pan left
        visual: A city street at dusk
        visual: with neon signs
        seed: 42
        negative: rain
    """)
    campaign = load_campaign(path)
    open_, second = campaign.shots
    assert open_.visual == "Brand colours swirl" and open_.duration == pytest.approx(33 / 16)
    assert second.visual == "A city street at dusk with neon signs"
    assert second.seed == 42 and second.negative_prompt == "rain"
    assert second.frames == frames_for(2.5, 16) == 41
    assert second.captions == {}


def test_seed_is_stable_and_differs_per_shot(tmp_path):
    script = "## a\nvisual: x\n## b\nvisual: x\n"
    first = load_campaign(write_spec(tmp_path, script))
    again = load_campaign(write_spec(tmp_path, script))
    assert [s.seed for s in first.shots] == [s.seed for s in again.shots]
    assert first.shots[0].seed != first.shots[1].seed


def test_duration_follows_slowest_locale_when_missing(tmp_path):
    long_en = " ".join(["word"] * 27)
    path = write_spec(tmp_path, f"""\
        ## s1
        visual: A beach
        [en] {long_en}
        [zh-CN] 海滩
        [ar] شاطئ
    """)
    shot = load_campaign(path).shots[0]
    need = seconds_to_read([long_en], "en") + 0.6
    assert shot.frames == frames_for(need, 16, at_least=True)
    assert need <= shot.duration < need + 4 / 16


def test_cjk_caption_can_be_the_longest(tmp_path):
    zh = "阳光海滩度假胜地欢迎您来体验夏日的美好时光阳光海滩度假胜地欢迎您"
    path = write_spec(tmp_path, f"""\
        ## s1
        visual: A beach
        [en] Sun.
        [zh-CN] {zh}
        [ar] شمس
    """)
    shot = load_campaign(path).shots[0]
    assert seconds_to_read([zh], "zh-CN") > seconds_to_read(["Sun."], "en")
    assert shot.duration >= seconds_to_read([zh], "zh-CN") + 0.6


@pytest.mark.parametrize("locale,caption", [
    ("ja", "春の新作ジャスミンパールを今週だけ二割引きでお届けします。ぜひお試しください。"),
    ("zh-CN", "茉莉龙珠新茶上市，本周限时八折，欢迎品尝春天的味道。"),
    ("en", "Jasmine Pearl is back for spring, twenty percent off this week only, so come taste it."),
    ("ar", "لؤلؤة الياسمين عادت هذا الربيع بخصم عشرين بالمئة هذا الأسبوع فقط، تعال وتذوقها."),
])
def test_auto_timed_shot_never_triggers_the_reading_speed_warning(tmp_path, caplog, locale,
                                                                   caption):
    from tasks.subtitles import ShotCaptions, build_cues

    path = write_spec(tmp_path, f"""\
        ## s1
        visual: A teapot
        [{locale}] {caption}
        [{locale}] {caption[: len(caption) // 2]}
    """, locales=locale)
    shot = load_campaign(path).shots[0]
    with caplog.at_level("WARNING", logger="tasks.subtitles.cues"):
        build_cues([ShotCaptions("s1", 0.0, shot.duration, shot.captions[locale])], locale)
    assert not [r for r in caplog.records if "need" in r.getMessage()], caplog.text
    # The same captions on a shot one second shorter do warn: the check can fail.
    with caplog.at_level("WARNING", logger="tasks.subtitles.cues"):
        build_cues([ShotCaptions("s1", 0.0, shot.duration - 1.0, shot.captions[locale])], locale)
    assert [r for r in caplog.records if "need" in r.getMessage()]


MALFORMED = [
    # (script, expected line in the spec file, field, message fragment)
    ("visual: orphan\n", 11, "shots", "text before the first shot"),
    ("##\n", 11, "shots", "a shot header needs an id"),
    ("## a\ncamra: pan\nvisual: x\n", 12, "shots.a.camra", "unknown field 'camra'"),
    ("## a\nduration: soon\nvisual: x\n", 12, "shots.a.duration", "duration 'soon' must be seconds"),
    ("## a\nduration: 90s\nvisual: x\n", 12, "shots.a.duration", "between 1 and 30"),
    ("## a\ncamera: pan\n", 11, "shots.a.visual", "needs a 'visual:'"),
    ("## a\nvisual: x\n## a\nvisual: y\n", 13, "shots.a", "used twice"),
    ("## a\nvisual: x\nseed: -4\n", 13, "shots.a.seed", "seed '-4'"),
    ("## a\nvisual: x\n[fr] Bonjour\n", 13, "shots.a.caption[fr]", "not in the campaign's locales"),
    ("## a\nvisual: x\n[en] Hi\n", 11, "shots.a.caption[zh-CN]", "no caption for locale(s) zh-CN, ar"),
    ("## a\ntemplate: outro\n", 12, "shots.a.template", "template 'outro' is not defined"),
    ("## a\nvisual: x\nimage: nothere.png\n", 13, "shots.a.image", "does not exist"),
    ("## a\nvisual: x\njust some words\n", 13, "shots.a", "expected 'field: value'"),
    ("## a b\nvisual: x\n", 11, "shots", "may use letters"),
    ("", 11, "script", "no shots"),
]


@pytest.mark.parametrize("script,line,field,fragment", MALFORMED)
def test_malformed_scripts_name_line_and_field(tmp_path, script, line, field, fragment):
    path = write_spec(tmp_path, script)
    with pytest.raises(SpecError) as err:
        load_campaign(path)
    assert err.value.field == field
    assert err.value.line == line
    assert fragment in str(err.value)
    assert str(path) in str(err.value)


BAD_SPECS = [
    ("id: Bad Id!\n", "id", 1, "lower-case letters"),
    ("locales: [english]\n", "locales", 1, "not a locale code"),
    ("brand: {name: X, colors: {primary: red}}\n", "brand.colors.primary", 1, "not a colour"),
    ("output: {width: 1000, height: 480}\n", "output", 1, "multiples of 16"),
    ("color: blue\n", "color", 1, "unknown field"),
    ("colour: {strength: 2}\n", "colour.strength", 1, "less than or equal to 1"),
    ("model: {sampler: ddim}\n", "model.sampler", 1, "choose one of unipc, euler"),
    ("model: {sampling: turbo}\n", "model.sampling", 1, "choose one of default, fast"),
    ("model: {sampling: fast, step_cache: easycache}\n", "model", 1,
     "cannot be combined with distilled sampling"),
    ("model: {step_cache: teacache}\n", "model.step_cache", 1, "choose one of off, easycache"),
    ("model: {loras: [{path: a.safetensors, experts: [mid]}]}\n", "model.loras[0].experts", 1,
     "choose 'high' and/or 'low'"),
]


@pytest.mark.parametrize("override,field,line,fragment", BAD_SPECS)
def test_invalid_spec_fields(tmp_path, override, field, line, fragment):
    base = {"id": "id: ok\n", "locales": "locales: [en]\n", "brand": "brand: {name: B}\n",
            "script": "script: |\n  ## a\n  visual: x\n"}
    key = override.split(":")[0]
    base[key] = override
    text = "".join(base.values())
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_campaign(path)
    assert err.value.field == field
    expected_line = text.splitlines().index(override.rstrip("\n")) + line
    assert err.value.line == expected_line
    assert fragment in str(err.value)


def test_missing_required_field_and_bad_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("id: ok\nlocales: [en]\nscript: |\n  ## a\n  visual: x\n")
    with pytest.raises(SpecError, match="brand: required field is missing"):
        load_campaign(path)
    path.write_text("id: ok\nlocales: [en\n")
    with pytest.raises(SpecError, match="invalid YAML") as err:
        load_campaign(path)
    assert err.value.line == 3
    with pytest.raises(SpecError, match="no such file"):
        load_campaign(tmp_path / "absent.yaml")


def test_json_spec_with_script_file(tmp_path):
    (tmp_path / "s.txt").write_text("## a\nvisual: x\n[en] Hi\n")
    (tmp_path / "c.json").write_text('{"id": "j", "brand": {"name": "B"}, "locales": ["en"],\n'
                                     ' "script_file": "s.txt"}')
    campaign = load_campaign(tmp_path / "c.json")
    assert campaign.shots[0].captions == {"en": ["Hi"]}
    (tmp_path / "c.json").write_text('{"id": "j",\n "brand": {"name": "B"},, }')
    with pytest.raises(SpecError, match="invalid JSON") as err:
        load_campaign(tmp_path / "c.json")
    assert err.value.line == 2


LOOK_SPEC = """\
id: looked
brand:
  name: B
  look: {look}
locales: [en]
colour:
  reference: {reference}
script: |
  ## hero
  visual: a cup
  ## night
  visual: a street at night
  colour: keep
"""


def test_brand_look_and_colour_matching_in_a_spec(tmp_path):
    from tasks.grade import write_cube
    from tasks.grade.cube import identity_grid

    (tmp_path / "looks").mkdir()
    write_cube(tmp_path / "looks" / "warm.cube", identity_grid(2))
    path = tmp_path / "c.yaml"
    path.write_text(LOOK_SPEC.format(look="looks/warm.cube", reference="night"))
    campaign = load_campaign(path)
    assert campaign.spec.brand.look == (tmp_path / "looks" / "warm.cube").resolve()
    assert campaign.spec.colour.reference == "night" and campaign.spec.colour.match
    assert [s.colour for s in campaign.shots] == ["match", "keep"]


@pytest.mark.parametrize("look,reference,file,line,fragment", [
    ("missing.cube", "hero", "c.yaml", 4, "does not exist"),
    ("bad.cube", "hero", "bad.cube", 3, "expected 3 numbers"),
    ("ok.cube", "sunset", "c.yaml", 7, "neither a shot of the script"),
    ("ok.cube", "ref.png", "c.yaml", 7, "reference image"),
])
def test_bad_looks_and_references_name_file_and_line(tmp_path, look, reference, file, line,
                                                     fragment):
    from tasks.grade import write_cube
    from tasks.grade.cube import identity_grid

    write_cube(tmp_path / "ok.cube", identity_grid(2))
    (tmp_path / "bad.cube").write_text("LUT_3D_SIZE 2\n0 0 0\n0 0\n")
    path = tmp_path / "c.yaml"
    path.write_text(LOOK_SPEC.format(look=look, reference=reference))
    with pytest.raises(SpecError) as err:
        load_campaign(path)
    assert Path(err.value.file).name == file and err.value.line == line
    assert fragment in str(err.value)


def test_colour_field_of_a_shot_is_checked(tmp_path):
    path = write_spec(tmp_path, "## a\nvisual: x\ncolour: sepia\n", locales="en")
    with pytest.raises(SpecError) as err:
        load_campaign(path)
    assert err.value.field == "shots.a.colour" and "keep" in str(err.value)

def write_lora(path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.zeros(2, 24),
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.zeros(24, 2)},
              str(path))
    return path


LORA_SPEC = SPEC.replace("model: {{seed: 1}}", """model:
  seed: 1
  sampling: fast
  loras:
    - {{path: loras/high_noise_model.safetensors, strength: 0.8, experts: [high]}}
    - path: loras/low_noise_model.safetensors""")


def test_loras_and_the_fast_preset_in_a_spec(tmp_path):
    (tmp_path / "loras").mkdir()
    high = write_lora(tmp_path / "loras" / "high_noise_model.safetensors")
    low = write_lora(tmp_path / "loras" / "low_noise_model.safetensors")
    campaign = load_campaign(write_spec(tmp_path, "## a\nvisual: x\n", spec=LORA_SPEC))
    model = campaign.spec.model
    assert model.sampling_overrides() == {"preset": "fast"}
    loras = model.lora_settings()
    assert [(lo.path, lo.strength, lo.experts) for lo in loras] == [
        (str(high.resolve()), 0.8, ("high",)), (str(low.resolve()), 1.0, ("high", "low"))]


@pytest.mark.parametrize("content,fragment", [(None, "does not exist"),
                                              (b"PK\x03\x04 a zip", "not a .safetensors file")])
def test_a_missing_or_bad_lora_file_is_named(tmp_path, content, fragment):
    (tmp_path / "loras").mkdir()
    write_lora(tmp_path / "loras" / "high_noise_model.safetensors")
    if content is not None:
        (tmp_path / "loras" / "low_noise_model.safetensors").write_bytes(content)
    path = write_spec(tmp_path, "## a\nvisual: x\n", spec=LORA_SPEC)
    with pytest.raises(SpecError) as err:
        load_campaign(path)
    assert err.value.field == "model.loras[1].path" and fragment in str(err.value)
    assert "low_noise_model.safetensors" in str(err.value) and str(path) in str(err.value)
    lines = path.read_text().splitlines()
    assert lines[err.value.line - 1].strip() == "- path: loras/low_noise_model.safetensors"
