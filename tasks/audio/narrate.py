"""The audio stage: each locale's voice-over, the shot lengths it asks for, and the soundtrack of
one locale's clip.

    voice_over(campaign, locale, store=..., work_dir=...)   every narrated shot spoken (synthesized
                                                            once, then from the cache store)
    time_shots(campaign, voice_overs)                       before the plan: a shot lasts at least
                                                            its longest locale's speech + padding
    spoken_lengths(campaign, frames)                        a stored run's narrated shots keep the
                                                            length they were rendered at
    place_speech(voice_over, timings, ...)                  the clip's voice track: each shot's
                                                            speech at its start, slowed to fill
    soundtrack(timings, voice_over, audio, ...)             mixed and mastered AAC for one locale

Timing, the one rule (docs/reference/audio-facts.md): a shot's speech starts ``LEAD_IN_S`` after
its first frame and must end ``MIN_TAIL_S`` before its last; the plan gives a speech-timed shot
the whole padding (``tasks.script.PADDING_S``) so one render serves every locale. A locale whose
speech is shorter than its shot's window is slowed, pitch kept (``atempo``), by at most the
spec's ``max_slowdown``; the rest stays silence. A locale longer than its rendered shot is a
SpecError naming the shot and locale (shots are never cut and speech is never sped up).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from common.errors import SpecError
from media.audio import RATE, filter_samples, read_audio, write_wav
from storage.objects import ObjectStore
from tasks.assemble import ShotTiming
from tasks.audio.mix import master_soundtrack
from tasks.audio.spec import AudioSpec
from tasks.audio.voices import Sentence, describe_voice, parse_voice, synthesize
from tasks.script import MAX_SHOT_S, PADDING_S, Campaign, frames_for

SPEECH_VERSION = "speech-1"  # bump when synthesize() changes what it makes from the same voice
LEAD_IN_S = PADDING_S / 2    # speech starts this long after its shot's first frame
MIN_TAIL_S = 0.1             # and ends at least this long before the shot's last


@dataclass(frozen=True)
class SpokenShot:
    """One locale's speech for one shot, as a 48 kHz mono WAV with its sentence timings."""

    shot_id: str
    path: Path
    seconds: float
    sentences: tuple[Sentence, ...]
    key: str | None = None  # in the cache store (None: a recording, read from the spec's folder)


@dataclass(frozen=True)
class VoiceOver:
    """A locale's narration of the campaign: which voice, what it is, each narrated shot."""

    locale: str
    voice: str        # as the spec names it (``auto`` resolved)
    engine: str       # what spoke: engine, version and voice, for provenance
    synthetic: bool
    shots: dict[str, SpokenShot] = field(default_factory=dict)


@dataclass(frozen=True)
class Soundtrack:
    """A locale's finished sound: the AAC file and where each shot's sentences sound on it."""

    locale: str
    path: Path
    spans: dict[str, tuple[tuple[float, float], ...]]  # shot id -> (start, end) per sentence
    voice: str = ""                                     # engine label; "" for music only
    synthetic: bool = True
    music: str | None = None
    loudness: dict[str, float] = field(default_factory=dict)
    tempo: dict[str, float] = field(default_factory=dict)  # shot id -> length factor (1.1 = 10% slower)

    def details(self) -> dict:
        """What the run record keeps about the clip's sound."""
        return {"voice": self.voice, "synthetic_voice": self.synthetic and bool(self.voice),
                "music": Path(self.music).name if self.music else None,
                "loudness": self.loudness, "tempo": self.tempo}


def fits(speech_s: float, shot_s: float) -> bool:
    """Whether ``speech_s`` of speech fits a shot of ``shot_s`` (lead-in and least tail)."""
    return LEAD_IN_S + speech_s + MIN_TAIL_S <= shot_s + 1e-6


def silenced(campaign: Campaign) -> Campaign:
    """The campaign with no sound at all (``--silent``): captions stay, nothing is spoken."""
    return dataclasses.replace(campaign, spec=campaign.spec.model_copy(update={"audio": None}))


def _speech_key(label: str, locale: str, sentences: Sequence[str]) -> str:
    blob = json.dumps([SPEECH_VERSION, label, locale, list(sentences)], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def voice_over(campaign: Campaign, locale: str, *, store: ObjectStore | None,
               work_dir: Path) -> VoiceOver | None:
    """Every narrated shot spoken in ``locale`` (None when the campaign is silent or says
    nothing). Synthesized speech is kept in ``store`` under a key of the voice and the text, so a
    rerun, a later localization or the localize stage gets the very same speech back."""
    audio = campaign.spec.audio
    narrated = [shot for shot in campaign.shots if shot.narration]
    if audio is None or not narrated:
        return None
    voice = audio.voice_for(locale)
    engine, name = parse_voice(voice, locale)
    label = describe_voice(voice, locale)
    shots: dict[str, SpokenShot] = {}
    for shot in narrated:
        sentences = shot.narration.get(locale)
        if not sentences:
            raise SpecError(f"shot {shot.id!r} has no narration for locale {locale!r}: add a "
                            f"'[{locale}] say: ...' line to it", file=campaign.source,
                            line=shot.line, field=f"shots.{shot.id}.say[{locale}]")
        if engine == "recorded":
            speech = synthesize(sentences, locale, voice, shot=shot.id)
            path = write_wav(work_dir / "speech" / f"{shot.id}.{locale}.wav", speech.samples)
            shots[shot.id] = SpokenShot(shot.id, path, speech.seconds, speech.sentences)
            continue
        shots[shot.id] = _cached_speech(sentences, locale, voice, label, store, work_dir, shot.id)
    return VoiceOver(locale=locale, voice=f"{engine}:{name}", engine=label,
                     synthetic=engine != "recorded", shots=shots)


def _cached_speech(sentences: Sequence[str], locale: str, voice: str, label: str,
                   store: ObjectStore | None, work_dir: Path, shot_id: str) -> SpokenShot:
    key = _speech_key(label, locale, sentences)
    path = work_dir / "speech" / f"{key}.wav"
    meta_key, wav_key = f"speech/{key}.json", f"speech/{key}.wav"
    if store is not None and store.exists(meta_key) and store.exists(wav_key):
        meta = json.loads(store.get_bytes(meta_key))
        if not (path.is_file() and path.stat().st_size == meta["size"]):
            store.get_file(wav_key, path)
    else:
        speech = synthesize(list(sentences), locale, voice, shot=shot_id)
        write_wav(path, speech.samples)
        meta = {"seconds": speech.seconds, "engine": speech.engine, "size": path.stat().st_size,
                "sentences": [dataclasses.asdict(s) for s in speech.sentences]}
        if store is not None:
            store.put_file(wav_key, path)
            store.put_bytes(meta_key, json.dumps(meta, ensure_ascii=False).encode())
    return SpokenShot(shot_id=shot_id, path=path, seconds=meta["seconds"],
                      sentences=tuple(Sentence(**s) for s in meta["sentences"]), key=key)


def time_shots(campaign: Campaign, voice_overs: Iterable[VoiceOver | None]) -> Campaign:
    """Shots lengthened to their longest locale's speech plus padding, before anything renders.

    A shot whose length is fixed (``duration:`` or its template's) is checked instead: a locale
    that does not fit is a SpecError naming the shot and locale.
    """
    spoken = [vo for vo in voice_overs if vo is not None]
    if not spoken:
        return campaign
    fps = campaign.spec.output.fps
    shots = []
    for shot in campaign.shots:
        lengths = [(vo.shots[shot.id].seconds, vo.locale) for vo in spoken if shot.id in vo.shots]
        if not lengths:
            shots.append(shot)
            continue
        seconds, locale = max(lengths)
        where = {"file": campaign.source, "line": shot.line,
                 "field": f"shots.{shot.id}.say[{locale}]"}
        needed = seconds + PADDING_S
        if shot.fixed_duration:
            if not fits(seconds, shot.duration):
                raise SpecError(
                    f"shot {shot.id!r} lasts {shot.duration:.2f} s (its duration or template's) "
                    f"but its {locale} narration needs {LEAD_IN_S + seconds + MIN_TAIL_S:.2f} s "
                    f"({seconds:.2f} s of speech): shorten the narration, or remove the fixed "
                    "duration so the speech times the shot", **where)
            shots.append(shot)
        elif needed > MAX_SHOT_S:
            raise SpecError(f"shot {shot.id!r}: its {locale} narration lasts {seconds:.2f} s, over "
                            f"the {MAX_SHOT_S:g} s a shot may last with padding; split it over "
                            "two shots", **where)
        elif needed > shot.duration:
            frames = frames_for(needed, fps, at_least=True)
            shots.append(dataclasses.replace(shot, frames=frames, duration=round(frames / fps, 4)))
        else:
            shots.append(shot)
    return dataclasses.replace(campaign, shots=shots)


def spoken_lengths(campaign: Campaign, frames: dict[str, int]) -> Campaign:
    """Narrated shots take the frame counts a run rendered them with (``frames`` by shot id):
    the speech that timed them is not parsed again, and a locale added later fits or fails
    against the length the master has."""
    fps = campaign.spec.output.fps
    shots = [dataclasses.replace(s, frames=frames[s.id], duration=round(frames[s.id] / fps, 4))
             if s.narration and s.id in frames else s for s in campaign.shots]
    return dataclasses.replace(campaign, shots=shots)


@dataclass(frozen=True)
class PlacedSpeech:
    samples: np.ndarray                                 # the clip's voice track, 48 kHz mono
    spans: dict[str, tuple[tuple[float, float], ...]]   # shot id -> sentence spans on the clip
    tempo: dict[str, float]                             # shot id -> length factor applied


def slow_down(samples: np.ndarray, factor: float) -> np.ndarray:
    """``samples`` made ``factor`` times longer, pitch kept (ffmpeg's ``atempo``)."""
    return filter_samples(samples, f"atempo={1 / factor:.6f}", what="slowing speech down")


def place_speech(voice: VoiceOver, timings: Sequence[ShotTiming], *, max_slowdown: float,
                 duration: float) -> PlacedSpeech:
    """Each narrated shot's speech at ``LEAD_IN_S`` into the shot, slowed (at most
    ``max_slowdown``) towards filling the shot up to its lead-out."""
    n = round(duration * RATE)
    track = np.zeros(n, np.float32)
    spans: dict[str, tuple[tuple[float, float], ...]] = {}
    tempo: dict[str, float] = {}
    for timing in timings:
        spoken = voice.shots.get(timing.shot_id)
        if spoken is None:
            continue
        length = timing.end - timing.start
        if not fits(spoken.seconds, length):
            raise SpecError(
                f"shot {timing.shot_id!r} lasts {length:.2f} s in the rendered master but its "
                f"{voice.locale} narration needs {LEAD_IN_S + spoken.seconds + MIN_TAIL_S:.2f} s "
                f"({spoken.seconds:.2f} s of speech): shorten the {voice.locale} narration, or "
                "make the campaign again with it so the plan lengthens the shot",
                field=f"shots.{timing.shot_id}.say[{voice.locale}]")
        window = length - PADDING_S  # the shot without its lead-in and lead-out
        factor = min(1 + max_slowdown, max(1.0, window / spoken.seconds))
        samples = read_audio(spoken.path)
        if factor > 1.0005:
            samples = slow_down(samples, factor)
        else:
            factor = 1.0
        start = timing.start + LEAD_IN_S
        a = round(start * RATE)
        b = min(a + samples.size, round((timing.end - MIN_TAIL_S / 2) * RATE), n)
        track[a:b] = samples[:b - a]
        spans[timing.shot_id] = tuple((round(start + s.start * factor, 3),
                                       round(start + s.end * factor, 3))
                                      for s in spoken.sentences)
        tempo[timing.shot_id] = round(factor, 4)
    return PlacedSpeech(track, spans, tempo)


def soundtrack(timings: Sequence[ShotTiming], voice: VoiceOver | None, audio: AudioSpec | None,
               *, locale: str, work_dir: Path) -> Soundtrack | None:
    """The locale's sound for the master's ``timings``: voice placed, music ducked under it,
    normalised to the spec's loudness; None when the clip is silent (``audio: none``, or
    neither narration nor music)."""
    if audio is None or not timings:
        return None
    music = Path(audio.music) if audio.music else None
    if (voice is None or not voice.shots) and music is None:
        return None
    duration = timings[-1].end
    placed = None
    if voice is not None and voice.shots:
        placed = place_speech(voice, timings, max_slowdown=audio.max_slowdown, duration=duration)
    out = work_dir / f"sound.{locale}.m4a"
    loudness = master_soundtrack(
        out, duration=duration, mastering=audio.mastering(), work_dir=work_dir / "mix",
        voice=placed.samples if placed else None,
        spans=[s for shot in placed.spans.values() for s in shot] if placed else [],
        music=music, locale=locale)
    return Soundtrack(locale=locale, path=out, spans=placed.spans if placed else {},
                      voice=voice.engine if placed else "",
                      synthetic=voice.synthetic if placed else True,
                      music=str(music) if music else None, loudness=loudness.to_dict(),
                      tempo=placed.tempo if placed else {})


# Prefect tasks (the flows call these; no caching: campaigns and stores are not inputs to hash).

@task(name="voice-over", cache_policy=NO_CACHE)
def voice_over_task(campaign: Campaign, locale: str, store: ObjectStore,
                    work_dir: Path) -> VoiceOver | None:
    return voice_over(campaign, locale, store=store, work_dir=work_dir)


@task(name="time-shots", cache_policy=NO_CACHE)
def time_shots_task(campaign: Campaign, voice_overs: list[VoiceOver | None]) -> Campaign:
    return time_shots(campaign, voice_overs)


@task(name="soundtrack", cache_policy=NO_CACHE)
def soundtrack_task(timings: list[ShotTiming], campaign: Campaign, locale: str,
                    store: ObjectStore, *, voice_dir: Path, work_dir: Path) -> Soundtrack | None:
    voice = voice_over(campaign, locale, store=store, work_dir=voice_dir)
    return soundtrack(timings, voice, campaign.spec.audio, locale=locale, work_dir=work_dir)
