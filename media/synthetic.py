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
