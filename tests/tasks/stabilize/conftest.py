"""Synthetic clips with known camera motion, brightness and content, made by the tests."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest


def textured_canvas(height: int, width: int, seed: int) -> np.ndarray:
    """``uint8 [height, width, 3]``: blurred noise with shapes on it, corners everywhere."""
    rng = np.random.default_rng(seed)
    canvas = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 1.5)
    for _ in range(width * height // 900):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if rng.random() < 0.5:
            cv2.circle(canvas, (x, y), int(rng.integers(3, 14)), colour, -1)
        else:
            cv2.rectangle(canvas, (x, y), (x + int(rng.integers(4, 20)),
                                           y + int(rng.integers(4, 20))), colour, -1)
    return canvas


def film(canvas: np.ndarray, size: tuple[int, int], camera: np.ndarray) -> list[np.ndarray]:
    """Frames of ``size = (w, h)`` seen by a camera at ``camera [N, 3]`` (x, y px, angle rad)
    over the middle of ``canvas``."""
    w, h = size
    ch, cw = canvas.shape[:2]
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    origin = np.array([(cw - w) / 2, (ch - h) / 2])
    frames = []
    for x, y, angle in camera:
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        # Output pixel p shows canvas point rot (p - c) + c + origin + (x, y).
        offset = c + origin + np.array([x, y]) - rot @ c
        matrix = np.concatenate([rot, offset[:, None]], axis=1)
        frames.append(cv2.warpAffine(canvas, matrix, (w, h),
                                     flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
    return frames


def shaky_camera(n: int, *, shake: float, seed: int, pan: float = 1.0,
                 rotation: float = 0.004) -> np.ndarray:
    """``[n, 3]``: a steady pan plus random shake (px and radians, standard deviations)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    return np.stack([pan * t + rng.normal(0, shake, n), 0.3 * pan * t + rng.normal(0, shake, n),
                     rng.normal(0, rotation, n)], axis=1)


SIZE = (256, 144)


@pytest.fixture(scope="session")
def canvas() -> np.ndarray:
    return textured_canvas(260, 400, seed=7)


@pytest.fixture(scope="session")
def shaky(canvas) -> list[np.ndarray]:
    """40 frames 256x144, a pan with ~3 px of random shake."""
    return film(canvas, SIZE, shaky_camera(40, shake=3.0, seed=1))


@pytest.fixture(scope="session")
def steady(canvas) -> list[np.ndarray]:
    """40 frames 256x144 of a smooth pan, as the animatic backend draws them."""
    return film(canvas, SIZE, shaky_camera(40, shake=0.0, seed=1, rotation=0.0))
