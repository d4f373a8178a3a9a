"""The ``audio:`` section of a campaign spec: voices, music and loudness.

    audio:
      voices:                 # per locale (or language); default: auto
        en: piper:en_US-joe-medium
        ar: recorded:voiceover/ar      # DIR/<shot>.wav, relative to the spec
      music: calm             # a file relative to the spec, a bundled bed's name, or none
      loudness: -14           # LUFS integrated (streaming platforms: -14; EBU R128 broadcast: -23)
      true_peak: -1           # dBTP
      ducking: 12             # dB the music drops while the voice speaks
      music_level: -8         # dB of the music against the voice between sentences
      max_slowdown: 0.1       # a locale shorter than its shot may be slowed this much (pitch kept)

``audio: none`` (or ``off``) makes every clip silent, as ``--silent`` does. Without an ``audio``
section the defaults apply: narration is spoken, and a campaign with neither narration nor music
stays silent. Targets: docs/reference/audio-facts.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from common.errors import SpecError, echo
from common.inputs import path_problem
from media.locales import is_locale, language
from tasks.audio.mix import Mastering

BEDS_DIR = Path(__file__).parent / "beds"
# Music beds that ship with the factory, by name (made by scripts/make-music-bed.py).
BEDS = {"calm": BEDS_DIR / "calm.m4a"}
_VOICE = re.compile(r"^(auto|[a-z][a-z0-9_-]*(:.+)?)$")
_OFF = {"none", "off", "silent", "no", "false"}


class AudioSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    voices: dict[str, str] = Field(default_factory=dict)
    music: str | None = None
    loudness: float = Field(-14.0, ge=-36, le=-6)
    true_peak: float = Field(-1.0, ge=-9, le=0)
    ducking: float = Field(12.0, ge=0, le=40)
    music_level: float = Field(-8.0, ge=-40, le=0)
    max_slowdown: float = Field(0.10, ge=0, le=0.25)

    @field_validator("voices")
    @classmethod
    def _voices(cls, v: dict[str, str]) -> dict[str, str]:
        for loc, voice in v.items():
            if not is_locale(loc):
                raise ValueError(f"{loc!r} is not a locale code like 'en' or 'zh-CN'")
            if not isinstance(voice, str) or not _VOICE.match(voice.strip()):
                raise ValueError(f"voice {voice!r} for {loc}: write ENGINE:VOICE (piper:NAME, "
                                 "kokoro:NAME, espeak:NAME, recorded:DIR) or auto")
        return {loc: voice.strip() for loc, voice in v.items()}

    @field_validator("music", mode="before")
    @classmethod
    def _music(cls, v: Any) -> Any:
        if v is None or v is False or (isinstance(v, str) and v.strip().lower() in _OFF):
            return None
        return v

    def voice_for(self, locale: str) -> str:
        """The voice the spec names for ``locale`` (or its language), else ``auto``."""
        return self.voices.get(locale) or self.voices.get(language(locale)) or "auto"

    def mastering(self) -> Mastering:
        return Mastering(loudness=self.loudness, true_peak=self.true_peak, ducking=self.ducking,
                         music_level=self.music_level)


def _off(value: Any) -> Any:
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    return value


# The campaign spec's field: ``audio: none`` -> None (silent); absent -> the defaults.
AudioField = Annotated[AudioSpec | None, BeforeValidator(_off)]


def resolve_audio(audio: AudioSpec | None, base: Path, *, file: str,
                  lines: dict[tuple, int]) -> AudioSpec | None:
    """Paths in the audio section made absolute against the spec's folder (``base``), bundled
    beds found by name; SpecError naming the field when a file or folder does not exist."""
    if audio is None:
        return None
    update: dict[str, Any] = {}
    if audio.music is not None:
        bed = BEDS.get(audio.music)
        problem = None if bed is not None else path_problem(audio.music)
        if problem:  # before touching the file system: a 300-byte name is an OSError there
            raise SpecError(f"music file {echo(audio.music)}: {problem}", file=file,
                            line=lines.get(("audio", "music")), field="audio.music")
        music = bed if bed is not None else (base / audio.music).resolve()
        if not music.is_file():
            raise SpecError(f"music file {music} does not exist (or name a bundled bed: "
                            f"{', '.join(BEDS)})", file=file, line=lines.get(("audio", "music")),
                            field="audio.music")
        update["music"] = str(music)
    voices = dict(audio.voices)
    for loc, voice in audio.voices.items():
        engine, _, name = voice.partition(":")
        where = {"file": file, "line": lines.get(("audio", "voices", loc)),
                 "field": f"audio.voices[{loc}]"}
        if engine == "recorded" or (engine == "piper" and name.endswith(".onnx")):
            problem = path_problem(name)
            if problem:
                raise SpecError(f"voice {echo(voice)}: {problem}", **where)
        if engine == "recorded":
            folder = (base / name).resolve()
            if not folder.is_dir():
                raise SpecError(f"recordings folder {folder} does not exist", **where)
            voices[loc] = f"recorded:{folder}"
        elif engine == "piper" and name.endswith(".onnx"):
            model = (base / name).resolve()
            if not model.is_file():
                raise SpecError(f"piper voice file {model} does not exist", **where)
            voices[loc] = f"piper:{model}"
    if voices != audio.voices:
        update["voices"] = voices
    return audio.model_copy(update=update) if update else audio
