"""Synthetic clips for tests and benchmarks (watermark, stabilization): the same content in both."""

from __future__ import annotations

import cv2
import numpy as np


def storyboard_frames(n: int, width: int = 1280, height: int = 720, grey=(96, 98, 104)):
    """Frames like the CPU animatic's: a title on a flat brand colour, a slow camera move."""
    pan_x, pan_y = width // 8, height // 16
    board = np.zeros((height + pan_y, width + pan_x, 3), np.uint8)
    board[:] = grey
    cv2.putText(board, "Spring launch", (width // 6, height // 2), cv2.FONT_HERSHEY_SIMPLEX,
                height / 300, (240, 240, 240), max(2, height // 200), cv2.LINE_AA)
    cv2.rectangle(board, (width // 6, int(height * 0.6)), (width // 2, int(height * 0.75)),
                  (200, 80, 60), -1)
    for i in range(n):
        t = i / max(n - 1, 1)
        x, y = round(t * pan_x), round(t * pan_y)
        yield board[y:y + height, x:x + width].copy()


def natural_frames(n: int, width: int = 1280, height: int = 720, seed: int = 1):
    """Colourful, textured frames with a natural-image (1/f) spectrum, panning slowly."""
    rng = np.random.default_rng(seed)
    big_h, big_w = height + height // 8, width + width // 8
    fy, fx = np.fft.fftfreq(big_h)[:, None], np.fft.rfftfreq(big_w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    channels = []
    for _ in range(3):
        spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f
        spectrum[0, 0] = 0
        plane = np.fft.irfft2(spectrum, s=(big_h, big_w))
        channels.append(plane / plane.std())
    mixed = np.stack(channels, -1) @ np.array([[1, .6, .3], [.2, 1, .5], [.3, .2, 1]])
    board = np.clip(128 + 45 * mixed / mixed.std(), 0, 255).astype(np.uint8)
    for i in range(n):
        t = i / max(n - 1, 1)
        x, y = round(t * width // 8), round(t * height // 16)
        yield board[y:y + height, x:x + width].copy()


def colour_scene(width: int = 320, height: int = 180, seed: int = 3) -> np.ndarray:
    """One ``uint8 [height, width, 3]`` scene for colour tests: a textured, colourful picture
    with a grey ramp, saturated patches, deep shadows and a few near-white highlights."""
    frame = next(natural_frames(1, width, height, seed=seed))
    # Squeeze the texture into the mid-tones so the highlights below are the brightest thing.
    frame = (frame.astype(np.float32) * 0.8 + 20).astype(np.uint8)
    ramp = np.linspace(8, 235, width, dtype=np.float32)
    frame[height - height // 8:] = ramp[None, :, None].astype(np.uint8)
    patch = max(4, width // 12)
    colours = [(200, 40, 40), (40, 160, 60), (50, 70, 200), (230, 200, 60), (20, 20, 24),
               (245, 245, 240)]
    for i, colour in enumerate(colours):
        x = width // 16 + i * (patch + patch // 2)
        frame[height // 10:height // 10 + patch, x:x + patch] = colour
    return frame


def apply_cast(frame: np.ndarray, *, gains=(1.0, 1.0, 1.0), stops: float = 0.0,
               saturation: float = 1.0) -> np.ndarray:
    """A known colour cast, as a camera makes one: per-channel ``gains`` (white balance) and
    ``2 ** stops`` (exposure) in linear light, then ``saturation`` around the luminance, then
    clipped to 8 bits. ``uint8 [H, W, 3]`` in and out."""
    from media.colors import linear_to_srgb, srgb_to_linear

    linear = srgb_to_linear(frame / 255.0) * np.asarray(gains) * 2.0 ** stops
    luma = linear @ np.array([0.2126, 0.7152, 0.0722])
    linear = luma[..., None] + saturation * (linear - luma[..., None])
    return np.rint(linear_to_srgb(linear) * 255).astype(np.uint8)


# The casts the colour tests and the bench correct: name -> apply_cast keyword arguments.
CASTS = {
    "tinted": {"gains": (1.18, 1.0, 0.78)},
    "under": {"stops": -0.8},
    "over": {"stops": 0.5},
    "dull": {"saturation": 0.7, "gains": (0.95, 1.0, 1.08)},
}


def cast_shot(n: int, cast: str | None, *, width: int = 320, height: int = 180, seed: int = 3,
              fade_out: int = 0):
    """``n`` frames of :func:`colour_scene` panning slowly, with the named cast of
    :data:`CASTS` (None: the reference look). ``fade_out`` last frames fade to black."""
    big = colour_scene(width + width // 8, height + height // 16, seed=seed)
    if cast is not None:
        big = apply_cast(big, **CASTS[cast])
    for i in range(n):
        t = i / max(n - 1, 1)
        x, y = round(t * width // 8), round(t * height // 16)
        frame = big[y:y + height, x:x + width].copy()
        left = n - i
        if fade_out and left <= fade_out:
            frame = (frame.astype(np.float32) * ((left - 1) / fade_out)).astype(np.uint8)
        yield frame
