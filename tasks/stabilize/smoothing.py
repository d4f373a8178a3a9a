"""Temporal smoothing of per-frame series (camera paths, brightness statistics), shot by shot.

A series is a ``float64 [N, K]`` array: one row per frame, one column per quantity. Each shot
(``[start, end)`` from :func:`tasks.stabilize.motion.segments`) is smoothed on its own, so a cut
never drags one shot's camera or brightness into the next. Near the ends of a shot the window
runs out; two ways to handle that (``ends``):

- ``"line"``: the series is continued by a straight line fitted to its first (last)
  ``radius + 1`` values, so a steady pan or a fade stays exactly that up to the last frame.
  Used for brightness (a fade must survive) and for the metrics.
- ``"truncate"``: the average is taken over the part of the window inside the shot, as
  vid.stab does. A camera move then eases in and out at the shot's ends; the shake stage uses
  it by default (it scores as vid.stab's Gaussian does on the stability metric).

The running median always uses ``"line"`` ends.
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


def smooth_gaussian(series: np.ndarray, shots: Sequence[tuple[int, int]], radius: int, *,
                    ends: str = "line") -> np.ndarray:
    """Gaussian-smoothed copy of ``series [N, K]``, each shot on its own.

    ``ends="line"`` continues each shot by a fitted line (a pan or fade runs on unchanged to
    the last frame); ``ends="truncate"`` averages over the part of the window inside the shot,
    as vid.stab does, which eases a camera move in and out at the shot's ends.
    """
    series = np.asarray(series, dtype=np.float64)
    out = series.copy()
    kernel = gaussian_kernel(radius)
    for start, end in shots:
        x = series[start:end]
        if ends == "line":
            out[start:end] = sliding_window_view(_extend(x, radius), len(kernel), axis=0) @ kernel
            continue
        padded = np.pad(x, ((radius, radius), (0, 0)))                     # [L + 2R, K]
        inside = np.pad(np.ones(len(x)), radius)                            # [L + 2R]
        weights = sliding_window_view(inside, len(kernel)) @ kernel          # [L]
        sums = sliding_window_view(padded, len(kernel), axis=0) @ kernel     # [L, K]
        out[start:end] = sums / weights[:, None]
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
