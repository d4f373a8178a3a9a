"""Narration in the script ([locale] say: ...) and the spec's audio section: what they parse to
and the errors they give, with file, line and field."""

from __future__ import annotations

import textwrap

import pytest

from common.errors import SpecError
from tasks.script import load_campaign

HEAD = """\
id: say-test
brand: {name: Say}
locales: [en, zh-CN]
"""


def spec_file(tmp_path, script: str, extra: str = ""):
    path = tmp_path / "c.yaml"
    body = textwrap.indent(textwrap.dedent(script), "  ")
    path.write_text(f"{HEAD}{extra}script: |\n{body}", encoding="utf-8")
    return path


def test_narration_per_locale_and_captions_default_to_it(tmp_path):
    campaign = load_campaign(spec_file(tmp_path, """\
        ## hero
        visual: A teapot
        [en] say: Spring is here. Tea is ready.
        [zh-CN] say: 春天来了。
        [zh-CN] say: 茶好了。
        ## card
        visual: An end card
        [en] say: Visit us
        [en] Our shop, open daily
        [zh-CN] say: 欢迎光临
        [zh-CN] 每天营业
    """))
    hero, card = campaign.shots
    assert hero.narration == {"en": ["Spring is here.", "Tea is ready."],
                              "zh-CN": ["春天来了。", "茶好了。"]}
    assert hero.captions == hero.narration  # one caption per sentence
    # Captions given for a locale win over its narration.
    assert card.narration == {"en": ["Visit us"], "zh-CN": ["欢迎光临"]}
    assert card.captions == {"en": ["Our shop, open daily"], "zh-CN": ["每天营业"]}
    assert not hero.fixed_duration


@pytest.mark.parametrize("script, line, field, fragment", [
    ("## a\nvisual: x\n[en] say: Hi.\n[zh-CN] 你好\n", 5, "shots.a.say[zh-CN]",
     "no narration for locale(s) zh-CN"),
    ("## a\nvisual: x\n[en] say:\n", 7, "shots.a.say[en]", "empty narration"),
    ("## a\nvisual: x\n[fr] say: Bonjour.\n", 7, "shots.a.say[fr]",
     "narration for 'fr', which is not in the campaign's locales"),
])
def test_narration_errors_name_line_and_field(tmp_path, script, line, field, fragment):
    with pytest.raises(SpecError) as err:
        load_campaign(spec_file(tmp_path, script))
    assert (err.value.field, err.value.line) == (field, line)
    assert fragment in str(err.value)


def test_a_duration_or_a_templates_duration_fixes_the_length(tmp_path):
    campaign = load_campaign(spec_file(tmp_path, """\
        ## a
        duration: 4s
        visual: x
        ## b
        template: intro
    """, extra="templates: {intro: {visual: y, duration: 2}}\n"))
    assert [s.fixed_duration for s in campaign.shots] == [True, True]


def test_audio_section_defaults_and_none(tmp_path):
    plain = load_campaign(spec_file(tmp_path, "## a\nvisual: x\n"))
    audio = plain.spec.audio
    assert (audio.loudness, audio.true_peak, audio.ducking, audio.music) == (-14, -1, 12, None)
    for off in ("none", "off", "false"):
        silent = load_campaign(spec_file(tmp_path, "## a\nvisual: x\n", extra=f"audio: {off}\n"))
        assert silent.spec.audio is None


def test_audio_paths_resolve_against_the_spec(tmp_path):
    (tmp_path / "vo" / "ar").mkdir(parents=True)
    (tmp_path / "bed.wav").write_bytes(b"RIFF")
    campaign = load_campaign(spec_file(tmp_path, "## a\nvisual: x\n", extra=(
        "audio:\n  music: bed.wav\n  voices: {en: 'recorded:vo/ar', zh-CN: espeak:cmn}\n")))
    assert campaign.spec.audio.music == str(tmp_path / "bed.wav")
    assert campaign.spec.audio.voices == {"en": f"recorded:{tmp_path / 'vo' / 'ar'}",
                                          "zh-CN": "espeak:cmn"}
    bundled = load_campaign(spec_file(tmp_path, "## a\nvisual: x\n", extra="audio: {music: calm}\n"))
    assert bundled.spec.audio.music.endswith("tasks/audio/beds/calm.m4a")


@pytest.mark.parametrize("audio, field, line, fragment", [
    ("audio:\n  music: nothere.mp3\n", "audio.music", 5, "music file"),
    ("audio:\n  voices:\n    en: 'recorded:missing'\n", "audio.voices[en]", 6,
     "recordings folder"),
    ("audio:\n  voices: {english: auto}\n", "audio.voices", 5, "not a locale code"),
    ("audio:\n  voices: {en: 'Piper Joe'}\n", "audio.voices", 5, "write ENGINE:VOICE"),
    ("audio:\n  loudness: 3\n", "audio.loudness", 5, "less than or equal to -6"),
    ("audio:\n  ducking: -3\n", "audio.ducking", 5, "greater than or equal to 0"),
    ("audio:\n  musik: x\n", "audio.musik", 5, "unknown field"),
])
def test_audio_section_errors_name_the_field(tmp_path, audio, field, line, fragment):
    with pytest.raises(SpecError) as err:
        load_campaign(spec_file(tmp_path, "## a\nvisual: x\n", extra=audio))
    assert (err.value.field, err.value.line) == (field, line)
    assert fragment in str(err.value)
