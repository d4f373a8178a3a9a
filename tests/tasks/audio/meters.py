"""Independent meters for the audio tests: nothing here uses the factory's own measurements.

- integrated loudness: pyloudnorm (ITU-R BS.1770-4), on the decoded audio of the file;
- true peak: ffmpeg's ebur128 filter (4x oversampled), parsed here;
- speech onsets: from the energy of the 300-3400 Hz band in 10 ms frames;
- a tone's level: the energy of a narrow band around it, so a 13 kHz "music" tone is measured
  apart from speech (the voices here are sampled at 22-24 kHz: no speech energy above 12 kHz).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm

from media.video import ffmpeg_exe

RATE = 48_000
TONE_HZ = 13_000


def decode(path: Path, channels: int = 2) -> np.ndarray:
    """Audio stream 0 of ``path`` as float32 ``[n, channels]`` at 48 kHz (ffmpeg, by hand)."""
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0",
                           "-ac", str(channels), "-ar", str(RATE), "-f", "f32le", "pipe:1"],
                          capture_output=True, check=True)
    return np.frombuffer(proc.stdout, np.float32).reshape(-1, channels)


def integrated_lufs(path: Path) -> float:
    return float(pyloudnorm.Meter(RATE).integrated_loudness(decode(path).astype(np.float64)))


def true_peak_dbtp(path: Path) -> float:
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0",
                          "-af", "ebur128=peak=true", "-f", "null", "-"], capture_output=True,
                         text=True).stderr
    summary = err[err.rindex("Summary:"):]
    return float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))


def band_db(samples: np.ndarray, lo: float, hi: float) -> float:
    """Mean power (dB) of mono ``samples`` between ``lo`` and ``hi`` Hz: windows of any length
    compare (Parseval: the band's spectral energy over the window's)."""
    window = np.hanning(samples.size)
    spectrum = np.fft.rfft(samples * window)
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    sel = (freqs >= lo) & (freqs <= hi)
    power = 2 * np.sum(np.abs(spectrum[sel]) ** 2) / (samples.size * np.sum(window ** 2))
    return float(10 * np.log10(power + 1e-20))


def tone_db(mono: np.ndarray, start: float, end: float, hz: float = TONE_HZ) -> float:
    """The tone's level between ``start`` and ``end`` seconds."""
    return band_db(mono[round(start * RATE):round(end * RATE)], hz - 200, hz + 200)


def speech_frames_db(mono: np.ndarray, frame_s: float = 0.01) -> np.ndarray:
    """Voice-band (300-3400 Hz) energy in dB per ``frame_s`` frame."""
    frame = round(frame_s * RATE)
    n = mono.size // frame
    frames = mono[:n * frame].reshape(n, frame) * np.hanning(frame)
    spectrum = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(frame, 1 / RATE)
    band = spectrum[:, (freqs >= 300) & (freqs <= 3400)].sum(axis=1)
    return 10 * np.log10(band + 1e-20)


def speech_onsets(mono: np.ndarray, *, quiet_s: float = 0.2, below_db: float = 30.0) -> list[float]:
    """Seconds where speech starts after at least ``quiet_s`` of no speech: frames within
    ``below_db`` dB of the loudest voice-band frame count as speech."""
    db = speech_frames_db(mono)
    loud = db > db.max() - below_db
    onsets, quiet = [], quiet_s  # the start of the file counts as after a pause
    for i, on in enumerate(loud):
        if on and quiet >= quiet_s:
            onsets.append(i * 0.01)
        quiet = 0.0 if on else quiet + 0.01
    return onsets


def speech_spans(mono: np.ndarray, *, quiet_s: float = 0.2, below_db: float = 30.0
                 ) -> list[tuple[float, float]]:
    """(start, end) of each stretch of speech separated by ``quiet_s`` or more of no speech."""
    db = speech_frames_db(mono)
    loud = np.nonzero(db > db.max() - below_db)[0]
    spans: list[list[float]] = []
    for i in loud:
        t = i * 0.01
        if spans and t - spans[-1][1] < quiet_s:
            spans[-1][1] = t + 0.01
        else:
            spans.append([t, t + 0.01])
    return [(a, b) for a, b in spans]


def tone(seconds: float, hz: float = TONE_HZ, amplitude: float = 0.3) -> np.ndarray:
    """A stereo sine, the "music" of the tests."""
    t = np.arange(round(seconds * RATE)) / RATE
    mono = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.stack([mono, mono], 1)
