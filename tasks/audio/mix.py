"""Mixing and mastering a clip's sound with ffmpeg: voice over a ducked music bed, normalised
to a loudness target with a true-peak ceiling, encoded as AAC and muxed under the picture.

    voice (48 kHz mono) ──────────────────────────────────────┐
    speech key (1 while a sentence sounds) ─┐                  ├─ amix ─ [alimiter] ─ loudnorm ─ AAC
    music (looped/trimmed, faded) ── sidechaincompress ────────┘        (pass 1 measures, pass 2
                                                                         applies one linear gain)

Why it is built this way (docs/reference/audio-facts.md):

- The music is ducked by ``sidechaincompress`` whose sidechain is a *speech key*: a steady level
  wherever a sentence sounds (short pauses bridged, a little pre-roll so the music is down when
  the first word lands). With the key's level fixed, the threshold that gives a gain reduction
  of exactly ``ducking`` dB follows from the compressor's law, so the music drops by the same
  depth under a loud voice and a soft one.
- Voice and music are levelled separately first (the music ``music_level`` dB under the voice);
  the mix is then normalised with two-pass ``loudnorm`` in linear mode: one gain for the whole
  clip, so the ducking is not undone, as a dynamic single pass would. Linear mode needs the
  gained peaks under the ceiling; when they would not be, a look-ahead limiter takes the peaks
  down first and the mix is measured again.
- The ceiling loudnorm works to is ``TP_MARGIN_DB`` under the target true peak, because AAC
  encoding adds a few tenths of a dB of overshoot (up to 0.3 dB measured here at 192 kb/s).
- AAC at 48 kHz, stereo: what the platforms ingest. The track lasts exactly as long as the
  picture (``atrim``/``apad`` to the sample).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import ConfigError, MediaError
from media.audio import RATE, Loudness, measure_loudness, write_wav
from media.locales import iso639_2
from media.video import run_ffmpeg

FADE_IN_S, FADE_OUT_S = 1.0, 2.0   # music fades; at most a quarter of the clip each
KEY_LEVEL = 0.5                    # the speech key's level (-6 dBFS)
KEY_PRE_ROLL_S = 0.10              # the key rises this long before a sentence starts ...
KEY_HOLD_S = 0.10                  # ... and falls this long after it ends
KEY_BRIDGE_S = 0.6                 # pauses shorter than this keep the music down
DUCK_RATIO, DUCK_ATTACK_MS, DUCK_RELEASE_MS = 20.0, 30.0, 350.0
# loudnorm applies its linear gain only when the measured loudness range is at most its LRA
# target, and linear mode uses the range for nothing else. Clips of about 3 s can measure over
# 20 LU (a handful of 3-s short-term windows), so the target is the widest loudnorm accepts.
LOUDNORM_LRA = 50.0
TP_MARGIN_DB = 0.8                 # under the target true peak, for the AAC encoder's overshoot
# Peaks must clear the ceiling by this much before the second pass: loudnorm checks the same sum
# in its own floating-point order, and an exact tie may fall to its dynamic mode.
TP_TOLERANCE_DB = 0.1
LIMITER_TRIES = 8
# Speech at the loudness target: 3:1 over -20 dBFS, fast enough to catch syllable peaks.
VOICE_COMPRESSOR = "acompressor=threshold=0.1:ratio=3:attack=5:release=100:knee=2"
AAC_BITRATE = "192k"


@dataclass(frozen=True)
class Mastering:
    """Targets of the sound of a clip (the spec's ``audio:`` section supplies them)."""

    loudness: float = -14.0    # LUFS, integrated
    true_peak: float = -1.0    # dBTP
    ducking: float = 12.0      # dB the music drops while the voice speaks
    music_level: float = -8.0  # dB of the music against the voice, between sentences

    def __post_init__(self) -> None:
        if not -36 <= self.loudness <= -6:
            raise ConfigError(f"loudness {self.loudness} LUFS: use -36 to -6 (e.g. -14)")
        if not -9 <= self.true_peak <= 0:
            raise ConfigError(f"true peak {self.true_peak} dBTP: use -9 to 0 (e.g. -1)")
        if not 0 <= self.ducking <= 40:
            raise ConfigError(f"ducking {self.ducking} dB: use 0 to 40 (e.g. 12)")
        if not -40 <= self.music_level <= 0:
            raise ConfigError(f"music level {self.music_level} dB: use -40 to 0 (e.g. -8)")


def speech_key(spans: Sequence[tuple[float, float]], samples: int, rate: int = RATE) -> np.ndarray:
    """The sidechain key: ``KEY_LEVEL`` from a little before each sentence to a little after it,
    pauses shorter than ``KEY_BRIDGE_S`` bridged, 0 elsewhere."""
    key = np.zeros(samples, np.float32)
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] < KEY_BRIDGE_S:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        a = max(0, round((start - KEY_PRE_ROLL_S) * rate))
        b = min(samples, round((end + KEY_HOLD_S) * rate))
        key[a:b] = KEY_LEVEL
    return key


def duck_threshold(depth_db: float) -> float:
    """The compressor threshold that takes ``depth_db`` off while the key is up: above the
    threshold the gain falls by (1 - 1/ratio) dB for every dB of key over it."""
    key_db = 20 * math.log10(KEY_LEVEL)
    return 10 ** ((key_db - depth_db / (1 - 1 / DUCK_RATIO)) / 20)


_JSON = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.S)


def _loudnorm_json(stderr: str, what: str) -> dict:
    found = _JSON.findall(stderr)
    if not found:
        raise MediaError(f"{what}: ffmpeg's loudnorm printed no measurement")
    return json.loads(found[-1])


def _ceiling(m: Mastering) -> float:
    """The true peak loudnorm works to: under the target by the AAC margin (-9 at the lowest,
    loudnorm's own limit)."""
    return max(-9.0, m.true_peak - TP_MARGIN_DB)


def _loudnorm(m: Mastering, measured: Loudness) -> str:
    """loudnorm's second pass: one linear gain, from the first pass's measurement."""
    return (f"loudnorm=I={m.loudness}:TP={_ceiling(m)}:LRA={LOUDNORM_LRA}"
            f":measured_I={measured.integrated}:measured_TP={measured.true_peak}"
            f":measured_LRA={measured.lra}"
            f":measured_thresh={measured.threshold}:linear=true:print_format=json")


def _limiter(limit_db: float) -> str:
    limit = min(1.0, max(0.0625, 10 ** (limit_db / 20)))
    return f"alimiter=limit={limit:.5f}:level=0:attack=5:release=50:latency=1"


def master_soundtrack(out: Path, *, duration: float, mastering: Mastering, work_dir: Path,
                      voice: np.ndarray | None = None,
                      spans: Sequence[tuple[float, float]] = (),
                      music: Path | None = None, locale: str | None = None) -> Loudness:
    """Write ``out`` (AAC in MP4, 48 kHz stereo, exactly ``duration`` s) from a voice track
    (mono, 48 kHz, at most ``duration`` long; ``spans`` where its sentences sound) and a music
    file (looped or trimmed to the clip). Returns the loudness measured on ``out``."""
    if voice is None and music is None:
        raise ConfigError(f"{out}: a soundtrack needs a voice, music or both")
    if music is not None and not Path(music).is_file():
        raise ConfigError(f"music file {music} does not exist")
    n = round(duration * RATE)
    work_dir.mkdir(parents=True, exist_ok=True)
    inputs: list[str] = []
    chains: list[str] = []
    voice_db = None
    if voice is not None:
        if voice.size > n:
            raise ConfigError(f"{out}: the voice lasts {voice.size / RATE:.2f} s, longer than the "
                              f"clip ({duration:.2f} s)")
        voice_wav, voice_db = _level_voice(voice, n, mastering, work_dir)
        inputs += ["-i", str(voice_wav)]
        chains.append("[0:a]aformat=sample_fmts=fltp:channel_layouts=stereo[voice]")
    if music is not None:
        music_db = measure_loudness(music).integrated
        if not math.isfinite(music_db):
            raise MediaError(f"music file {music} is silent")
        level = voice_db + mastering.music_level if voice_db is not None else mastering.loudness
        fade_in = min(FADE_IN_S, duration / 4)
        fade_out = min(FADE_OUT_S, duration / 4)
        m = _input_count(inputs)
        inputs += ["-stream_loop", "-1", "-i", str(music)]
        chains.append(
            f"[{m}:a]aresample={RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,"
            f"atrim=end_sample={n},asetpts=N/SR/TB,volume={level - music_db:.2f}dB,"
            f"afade=t=in:d={fade_in:.3f},afade=t=out:st={duration - fade_out:.3f}:d={fade_out:.3f}"
            "[music]")
        if voice is not None and mastering.ducking > 0:
            key_wav = write_wav(work_dir / "key.wav", speech_key(list(spans), n))
            k = _input_count(inputs)
            inputs += ["-i", str(key_wav)]
            chains.append(f"[{k}:a]pan=stereo|c0=c0|c1=c0,aformat=sample_fmts=fltp[key]")
            chains.append(
                f"[music][key]sidechaincompress=threshold={duck_threshold(mastering.ducking):.6f}"
                f":ratio={DUCK_RATIO}:attack={DUCK_ATTACK_MS}:release={DUCK_RELEASE_MS}:knee=1"
                ":detection=rms:link=maximum:makeup=1[bed]")
        else:
            chains.append("[music]anull[bed]")
    if voice is not None and music is not None:
        chains.append("[voice][bed]amix=inputs=2:normalize=0:duration=longest[mixed]")
    else:
        chains.append(f"[{'voice' if voice is not None else 'bed'}]anull[mixed]")
    chains.append(f"[mixed]atrim=end_sample={n},apad=whole_len={n}[out]")
    mix_wav = work_dir / "mix.wav"
    run_ffmpeg([*inputs, "-filter_complex", ";".join(chains), "-map", "[out]",
                "-c:a", "pcm_f32le", "-ar", str(RATE), str(mix_wav)], what=f"mixing {out.name}")
    return _normalize(mix_wav, out, n=n, mastering=mastering, locale=locale)


def _input_count(inputs: list[str]) -> int:
    return inputs.count("-i")


def _level_voice(voice: np.ndarray, n: int, mastering: Mastering, work_dir: Path
                 ) -> tuple[Path, float]:
    """The voice track at the clip's length, brought to the loudness target and gently
    compressed (even syllables, fewer peaks for the limiter); its path and loudness."""
    track = np.zeros(n, np.float32)
    track[:voice.size] = voice
    raw = write_wav(work_dir / "voice.raw.wav", track)
    raw_db = measure_loudness(raw).integrated
    if not math.isfinite(raw_db):
        raise MediaError(f"{work_dir}: the voice track is silent")
    levelled = work_dir / "voice.wav"
    run_ffmpeg(["-i", str(raw), "-af",
                f"volume={mastering.loudness - raw_db:.2f}dB,{VOICE_COMPRESSOR}",
                "-c:a", "pcm_f32le", str(levelled)], what="levelling the voice")
    return levelled, measure_loudness(levelled).integrated


def _normalize(mix_wav: Path, out: Path, *, n: int, mastering: Mastering,
               locale: str | None) -> Loudness:
    """Two passes: measure ``mix_wav``, then loudnorm it (linear) into AAC ``out``; a limiter
    first when the gain would push the peaks over the ceiling."""
    ceiling = _ceiling(mastering)
    source, limit_db = mix_wav, None
    for _ in range(LIMITER_TRIES):
        # The first pass measures with ebur128: loudnorm's own first-pass figure drifts by a few
        # tenths of a LU on clips this short (its analysis window is 3 s).
        measured = measure_loudness(source)
        if not math.isfinite(measured.integrated):
            raise MediaError(f"{out.name}: the mix is silent")
        excess = measured.true_peak + mastering.loudness - measured.integrated - ceiling \
            + TP_TOLERANCE_DB
        if excess <= 0:
            break
        # Take the peaks down by what is over, and a little more: limiting lowers the loudness
        # too, which raises the gain loudnorm will apply. The limited mix is written out, so the
        # second pass reads exactly the samples the first one measured.
        limit_db = (limit_db if limit_db is not None else measured.true_peak) - excess - 0.3
        source = mix_wav.with_name("mix.limited.wav")
        run_ffmpeg(["-i", str(mix_wav), "-af", _limiter(limit_db), "-c:a", "pcm_f32le",
                    str(source)], what=f"limiting the peaks of {out.name}")
    else:
        raise MediaError(f"{out.name}: cannot reach {mastering.loudness} LUFS under "
                         f"{mastering.true_peak} dBTP (measured {measured}); lower the loudness "
                         "target")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial.m4a")
    lang = ["-metadata:s:a:0", f"language={iso639_2(locale)}"] if locale else []
    try:
        err = run_ffmpeg(["-i", str(source), "-af",
                          f"{_loudnorm(mastering, measured)},aresample={RATE},"
                          f"atrim=end_sample={n},apad=whole_len={n}",
                          "-c:a", "aac", "-b:a", AAC_BITRATE, "-ar", str(RATE), "-ac", "2", *lang,
                          "-movflags", "+faststart", str(tmp)], what=f"normalising {out.name}")
        applied = _loudnorm_json(err, f"normalising {out.name}")
        if applied.get("normalization_type") != "linear":
            raise MediaError(f"{out.name}: loudnorm fell back to dynamic mode, which would undo "
                             "the ducking")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return measure_loudness(out)


def mux_soundtrack(video: Path, soundtrack: Path, dst: Path, *, locale: str) -> Path:
    """``dst`` = ``video`` (picture and subtitle tracks copied, any audio dropped) + the
    soundtrack as its one audio stream, tagged with the locale's ISO 639-2 language."""
    video, soundtrack, dst = Path(video), Path(soundtrack), Path(dst)
    for path in (video, soundtrack):
        if not path.is_file():
            raise MediaError(f"muxing the soundtrack: no such file {path}")
    tmp = dst.with_name(f".{dst.name}.audio.partial.mp4")
    try:
        run_ffmpeg(["-i", str(video), "-i", str(soundtrack), "-map", "0:v", "-map", "0:s?",
                    "-map", "1:a:0", "-c", "copy", "-metadata:s:a:0",
                    f"language={iso639_2(locale)}", "-metadata:s:a:0", f"handler_name={locale}",
                    "-disposition:a:0", "default", "-map_metadata", "0",
                    "-movflags", "+faststart+use_metadata_tags", str(tmp)],
                   what=f"adding the {locale} soundtrack to {video.name}")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst
