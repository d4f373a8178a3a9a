"""Temporal smoothing of per-frame series (camera paths, brightness statistics), shot by shot.

A series is a ``float64 [N, K]`` array: one row per frame, one column per quantity. Each shot
(``[start, end)`` from :func:`tasks.stabilize.motion.segments`) is smoothed on its own, so a cut
never drags one shot's camera or brightness into the next. Near the ends of a shot the series
is extended by a straight line fitted to its first (last) ``radius + 1`` values: a steady pan
or a fade stays exactly a pan or a fade up to the last frame, where a mirrored or truncated
window would bend it (and cost crop).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def gaussian_kernel(radius: int) -> np.ndarray:
    """``[2 * radius + 1]`` weights summing to one.

    The shape is vid.stab's (``cameraPathGaussian`` in transform.c: ``exp(-d^2 / (radius/2)^2)``
    over ``2 * radius + 1`` frames), so ``radius`` means what vid.stab's ``smoothing`` means.
    """
    if radius <= 0:
        return np.ones(1)
    d = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-(d ** 2) / (radius / 2.0) ** 2)
    return w / w.sum()


def _extend(x: np.ndarray, pad: int) -> np.ndarray:
    """``[L, K]`` -> ``[L + 2 * pad, K]``, each end continued by a least-squares line."""
    n = len(x)
    if pad == 0:
        return x
    if n == 1:
        return np.repeat(x, 2 * pad + 1, axis=0)
    fit = min(n, pad + 1)

    def line(values: np.ndarray, at: np.ndarray) -> np.ndarray:
        t = np.arange(len(values), dtype=np.float64)
        slope, offset = np.polyfit(t, values, 1)  # values [fit, K] -> each [K]
        return offset[None, :] + slope[None, :] * at[:, None]

    head = line(x[:fit], np.arange(-pad, 0, dtype=np.float64))
    tail = line(x[n - fit:], np.arange(fit, fit + pad, dtype=np.float64))
    return np.concatenate([head, x, tail], axis=0)


def smooth_gaussian(series: np.ndarray, shots: Sequence[tuple[int, int]],
                    radius: int) -> np.ndarray:
    """Gaussian-smoothed copy of ``series [N, K]``, each shot on its own."""
    series = np.asarray(series, dtype=np.float64)
    out = series.copy()
    kernel = gaussian_kernel(radius)
    for start, end in shots:
        x = _extend(series[start:end], radius)
        windows = sliding_window_view(x, len(kernel), axis=0)  # [L, K, 2R+1]
        out[start:end] = windows @ kernel
    return out


def smooth_median(series: np.ndarray, shots: Sequence[tuple[int, int]],
                  radius: int) -> np.ndarray:
    """Running median of ``series [N, K]`` over ``2 * radius + 1`` frames, each shot on its own.

    A median leaves any monotone stretch (a fade) exactly as it is, and removes brightness
    that jumps up and down around it (flicker).
    """
    series = np.asarray(series, dtype=np.float64)
    out = series.copy()
    if radius <= 0:
        return out
    for start, end in shots:
        x = _extend(series[start:end], radius)
        out[start:end] = np.median(sliding_window_view(x, 2 * radius + 1, axis=0), axis=-1)
    return out
