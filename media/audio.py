"""Audio in and out: sample arrays, WAV files, the streams a file holds, and its loudness.

Samples are ``float32`` numpy arrays in [-1, 1]: shape ``[n]`` for mono, ``[n, channels]``
otherwise. Decoding, resampling and measuring run the ffmpeg binary that imageio-ffmpeg ships
(:func:`media.video.ffmpeg_exe`), so every audio format ffmpeg reads is accepted.

Loudness is measured with ffmpeg's ``ebur128`` filter (ITU-R BS.1770 / EBU R128): integrated
loudness in LUFS, loudness range in LU and the true peak in dBTP (4x oversampled peak);
docs/reference/audio-facts.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from common.errors import MediaError
from media.video import ffmpeg_exe

RATE = 48_000  # what platforms ingest (docs/reference/audio-facts.md), and the factory's mix rate
SILENCE_LUFS = -70.0  # BS.1770's absolute gate: ebur128 reports a silent programme at this level


@dataclass(frozen=True)
class AudioStream:
    """One audio stream of a media file, as ffmpeg describes it."""

    index: int            # position among the file's audio streams
    codec: str
    rate: int
    channels: int
    language: str | None  # ISO 639-2 tag, None when untagged ("und")


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurement of a programme."""

    integrated: float  # LUFS
    true_peak: float   # dBTP
    lra: float         # LU
    threshold: float = -70.0  # LUFS, the relative gate of the integrated measurement

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        return (f"integrated {self.integrated:.1f} LUFS, true peak {self.true_peak:.1f} dBTP, "
                f"range {self.lra:.1f} LU")


def _run(args: list[str], *, what: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], input=data,
                          capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise MediaError(f"{what}: ffmpeg failed: {err[-1].strip() if err else 'no output'}")
    return proc


def read_audio(path: str | os.PathLike, *, rate: int = RATE, channels: int = 1,
               stream: int = 0) -> np.ndarray:
    """Decode audio stream ``stream`` of ``path``, resampled to ``rate`` and mixed to
    ``channels``. MediaError when the file is missing or has no such audio stream."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such audio file")
    proc = _run(["-i", str(path), "-map", f"0:a:{stream}", "-ac", str(channels), "-ar", str(rate),
                 "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"], what=f"decoding the audio of {path}")
    samples = np.frombuffer(proc.stdout, dtype=np.float32).copy()
    return samples if channels == 1 else samples.reshape(-1, channels)


def filter_samples(samples: np.ndarray, af: str, *, rate: int = RATE,
                   what: str = "filtering audio") -> np.ndarray:
    """Mono ``samples`` at ``rate`` through the ffmpeg audio filter chain ``af``."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    proc = _run(["-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0", "-af", af,
                 "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"], what=what, data=samples.tobytes())
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def resample(samples: np.ndarray, rate: int, to: int = RATE) -> np.ndarray:
    """Mono ``samples`` at ``rate`` resampled to ``to`` (SoX resampler, in ffmpeg)."""
    if rate == to or np.asarray(samples).size == 0:
        return np.ascontiguousarray(samples, dtype=np.float32)
    return filter_samples(samples, f"aresample={to}:resampler=soxr", rate=rate,
                          what=f"resampling audio from {rate} Hz to {to} Hz")


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate: int = RATE) -> Path:
    """Write 16-bit PCM WAV (mono ``[n]`` or ``[n, channels]``), under a temporary name first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.asarray(samples, dtype=np.float32)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    tmp = path.with_name(f".{path.name}.partial")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    os.replace(tmp, path)
    return path


_AUDIO_RE = re.compile(r"Stream #\d+:\d+(?:\[\w+\])?(?:\((\w+)\))?: Audio: (\w+)[^,\n]*, (\d+) Hz, "
                       r"([^,\n]+)")
_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}


def audio_streams(path: str | os.PathLike) -> list[AudioStream]:
    """The audio streams of a media file, in order (empty for a silent clip)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such media file")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                          capture_output=True, text=True, errors="replace")
    streams = []
    for i, (lang, codec, rate, layout) in enumerate(_AUDIO_RE.findall(proc.stderr)):
        layout = layout.strip()
        channels = _LAYOUTS.get(layout.split("(")[0].strip())
        if channels is None:
            m = re.match(r"(\d+) channels", layout)
            channels = int(m.group(1)) if m else 0
        streams.append(AudioStream(index=i, codec=codec, rate=int(rate), channels=channels,
                                   language=None if lang in ("", "und") else lang))
    return streams


def audio_duration(path: str | os.PathLike, stream: int = 0) -> float:
    """Seconds of decoded audio in stream ``stream`` (counted in samples, not read from headers)."""
    return read_audio(path, stream=stream).shape[0] / RATE


_SUMMARY = {"integrated": re.compile(r"I:\s+(-?[\d.]+|-inf) LUFS"),
            "threshold": re.compile(r"I:[^\n]*\n\s*Threshold:\s+(-?[\d.]+|-inf) LUFS"),
            "lra": re.compile(r"LRA:\s+(-?[\d.]+) LU"),
            "true_peak": re.compile(r"Peak:\s+(-?[\d.]+|-inf) dBFS")}


def measure_loudness(path: str | os.PathLike, stream: int = 0) -> Loudness:
    """Integrated loudness, loudness range and true peak of audio stream ``stream``."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such audio file")
    proc = _run(["-loglevel", "info", "-i", str(path), "-map", f"0:a:{stream}",
                 "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"],
                what=f"measuring the loudness of {path}")
    err = proc.stderr.decode("utf-8", "replace")
    summary = err[err.rfind("Summary:"):] if "Summary:" in err else ""
    values = {}
    for key, pattern in _SUMMARY.items():
        m = pattern.search(summary)
        if not m:
            raise MediaError(f"{path}: ffmpeg's ebur128 printed no {key} (is there audio?)")
        values[key] = float("-inf") if m.group(1) == "-inf" else float(m.group(1))
    if values["integrated"] <= SILENCE_LUFS:  # under the meter's absolute gate: silence
        values["integrated"] = float("-inf")
    return Loudness(**values)
