"""Timing from the speech: the plan lengthens shots to the longest locale before anything
renders; a shorter locale leaves room or is slowed (at most ~10%, pitch kept); a longer one is an
error naming the shot and locale. Speech is synthesized once and comes back from the store."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import SpecError
from media.audio import RATE, write_wav
from storage.file_store import FileStore
from tasks.assemble import ShotTiming
from tasks.audio import narrate, voices
from tasks.audio.narrate import (
    LEAD_IN_S,
    SpokenShot,
    VoiceOver,
    place_speech,
    spoken_lengths,
    time_shots,
    voice_over,
)
from tasks.audio.voices import Sentence
from tasks.script import PADDING_S, frames_for, load_campaign
from tests.tasks.audio.meters import band_db

SPEC = """\
id: timing-test
brand: {{name: Timing}}
output: {{width: 256, height: 256, fps: 16, delivery_fps: 24}}
locales: [en, ar]
script: |
  ## hero
{duration}  visual: A teapot
  [en] say: Spring is here.
  [ar] say: يبدأ الربيع.
  ## plain
  duration: 2s
  visual: A cup
  [en] Tea.
  [ar] شاي.
"""


def campaign_with(tmp_path, duration=""):
    path = tmp_path / "c.yaml"
    path.write_text(SPEC.format(duration=f"  duration: {duration}\n" if duration else ""),
                    encoding="utf-8")
    return load_campaign(path)


def spoken(tmp_path, locale: str, seconds: float, hz: float = 440.0) -> VoiceOver:
    """A stand-in voice-over: ``seconds`` of a tone as the hero shot's one sentence."""
    t = np.arange(round(seconds * RATE)) / RATE
    path = write_wav(tmp_path / f"{locale}-{seconds}.wav",
                     (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32))
    shot = SpokenShot("hero", path, seconds, (Sentence("x", 0.0, seconds),))
    return VoiceOver(locale, "test:x", "test 1.0 x", True, {"hero": shot})


def test_a_shot_lasts_its_longest_locales_speech_plus_padding(tmp_path):
    campaign = campaign_with(tmp_path)
    timed = time_shots(campaign, [spoken(tmp_path, "en", 2.0), spoken(tmp_path, "ar", 3.4)])
    hero, plain = timed.shots
    assert hero.frames == frames_for(3.4 + PADDING_S, 16, at_least=True) == 65
    assert hero.duration >= 3.4 + PADDING_S
    assert plain == campaign.shots[1]  # not narrated: untouched
    # Speech shorter than the captions' reading time leaves the shot as it was.
    assert time_shots(campaign, [spoken(tmp_path, "en", 0.2)]).shots == campaign.shots


def test_a_fixed_duration_too_short_for_a_locale_names_shot_and_locale(tmp_path):
    campaign = campaign_with(tmp_path, duration="2s")
    with pytest.raises(SpecError, match=r"shots\.hero\.say\[ar\]: shot 'hero' lasts 2\.06 s .* "
                                        r"its ar narration needs 3\.80 s"):
        time_shots(campaign, [spoken(tmp_path, "en", 1.0), spoken(tmp_path, "ar", 3.4)])
    fits = time_shots(campaign, [spoken(tmp_path, "en", 1.0)])
    assert fits.shots == campaign.shots


def test_narration_longer_than_any_shot_is_refused(tmp_path):
    with pytest.raises(SpecError, match=r"narration lasts 31\.00 s, over the 30 s"):
        time_shots(campaign_with(tmp_path), [spoken(tmp_path, "en", 31.0)])


def test_a_stored_run_keeps_the_lengths_it_rendered(tmp_path):
    campaign = campaign_with(tmp_path)
    kept = spoken_lengths(campaign, {"hero": 65, "plain": 99})
    assert kept.shots[0].frames == 65 and kept.shots[0].duration == pytest.approx(65 / 16)
    assert kept.shots[1] == campaign.shots[1]  # only narrated shots were timed by speech


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / RATE)[np.argmax(spectrum)])


@pytest.mark.parametrize("speech_s, factor", [(2.0, 1.10), (3.7, 4.0 / 3.7), (4.1, 1.0)])
def test_shorter_speech_is_slowed_at_most_ten_percent_with_its_pitch_kept(tmp_path, speech_s,
                                                                         factor):
    voice = spoken(tmp_path, "en", speech_s)
    timings = [ShotTiming("hero", 1.0, 5.6, 110)]  # 4.6 s: a window of 4.0 s for speech
    placed = place_speech(voice, timings, max_slowdown=0.10, duration=6.0)
    assert placed.tempo["hero"] == pytest.approx(min(factor, 1.10), abs=1e-3)
    assert placed.samples.size == 6 * RATE
    sounding = np.nonzero(np.abs(placed.samples) > 0.01)[0] / RATE
    start, end = sounding[0], sounding[-1]
    assert start == pytest.approx(1.0 + LEAD_IN_S, abs=0.02)
    assert end - start == pytest.approx(speech_s * placed.tempo["hero"], abs=0.05)
    assert dominant_hz(placed.samples[round(start * RATE):round(end * RATE)]) == \
        pytest.approx(440, abs=3)
    (span,) = placed.spans["hero"]
    assert span == pytest.approx((1.0 + LEAD_IN_S, 1.0 + LEAD_IN_S + speech_s * placed.tempo["hero"]),
                                 abs=0.002)


def test_speech_longer_than_the_rendered_shot_names_shot_and_locale(tmp_path):
    voice = spoken(tmp_path, "ar", 4.5)
    with pytest.raises(SpecError, match=r"shots\.hero\.say\[ar\]: shot 'hero' lasts 4\.60 s in "
                                        r"the rendered master but its ar narration needs 4\.90 s"):
        place_speech(voice, [ShotTiming("hero", 0.0, 4.6, 110)], max_slowdown=0.1, duration=5.0)


def test_speech_is_synthesized_once_then_comes_from_the_store(tmp_path, monkeypatch):
    calls = []
    real = narrate.synthesize

    def counting(text, locale, voice, **kw):
        calls.append((locale, tuple(text)))
        return real(text, locale, voice, **kw)

    monkeypatch.setattr(narrate, "synthesize", counting)
    campaign = campaign_with(tmp_path)
    store = FileStore(tmp_path / "cache")
    first = voice_over(campaign, "ar", store=store, work_dir=tmp_path / "w1")
    again = voice_over(campaign, "ar", store=store, work_dir=tmp_path / "w2")  # another worker
    assert calls == [("ar", ("يبدأ الربيع.",))]
    assert first.engine.startswith("espeak-ng") and first.synthetic and first.voice == "espeak:ar"
    assert again.shots["hero"].sentences == first.shots["hero"].sentences
    assert again.shots["hero"].path.read_bytes() == first.shots["hero"].path.read_bytes()
    assert band_db(np.frombuffer(again.shots["hero"].path.read_bytes()[44:], "<i2") / 32768.0,
                   300, 3400) > -60  # it is sound, not an empty file
    assert any(k.startswith("speech/") for k in (i.key for i in store.list("speech/")))


def test_a_locale_without_narration_names_the_shot(tmp_path):
    campaign = campaign_with(tmp_path)
    with pytest.raises(SpecError, match=r"shots\.hero\.say\[ja\]: shot 'hero' has no narration "
                                        r"for locale 'ja'"):
        voice_over(campaign, "ja", store=None, work_dir=tmp_path)


def test_silent_campaigns_have_no_voice_over(tmp_path):
    campaign = narrate.silenced(campaign_with(tmp_path))
    assert campaign.spec.audio is None
    assert voice_over(campaign, "en", store=None, work_dir=tmp_path) is None
    assert narrate.soundtrack([ShotTiming("hero", 0, 3, 72)], None, None, locale="en",
                              work_dir=tmp_path) is None


def test_the_spec_picks_the_voice_per_locale_or_language(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(SPEC.format(duration="").replace(
        "script: |", "audio: {voices: {ar: espeak}}\nscript: |"), encoding="utf-8")
    campaign = load_campaign(path)
    assert campaign.spec.audio.voice_for("ar") == "espeak"
    assert campaign.spec.audio.voice_for("ar-EG") == "espeak"
    assert campaign.spec.audio.voice_for("en") == "auto"
    voice = voice_over(campaign, "ar", store=None, work_dir=tmp_path)
    assert voice.voice == "espeak:ar" and voices.describe_voice("espeak", "ar") == voice.engine
