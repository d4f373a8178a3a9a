"""CIE Lab and ΔE for 8-bit RGB frames: the perceptual space the grade measures and matches in.

L*a*b* is computed here with the CIE 1976 formulas from sRGB (D65); the colour difference ΔE is
CIEDE2000 from colour-science, so the numbers agree with what colourists' tools report (the
tests check the conversion against colour-science too). ΔE 1 is about the
smallest difference a viewer notices side by side; under 3 reads as the same colour across a cut.
"""

from __future__ import annotations

import sys
import warnings
from functools import cache

import cv2
import numpy as np

from media.colors import srgb_to_linear

STATS_WIDTH = 160  # frames are scaled to this width before any colour statistic


# IEC 61966-2-1 sRGB primaries to CIE XYZ, and the D65 white they are relative to.
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                         [0.0193, 0.1192, 0.9505]])
_D65 = _SRGB_TO_XYZ.sum(axis=1)
_EPSILON, _KAPPA = 216 / 24389, 24389 / 27


@cache
def _colour():
    """colour-science, imported without its side effects: without matplotlib installed it
    warns, and puts stand-in ``matplotlib`` modules (with no ``__spec__``) into
    ``sys.modules``, which makes ``importlib.util.find_spec("matplotlib")`` raise in any
    library that checks for it later (diffusers, transformers). They are taken out again."""
    before = set(sys.modules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    for name in set(sys.modules) - before:
        if name.split(".")[0] == "matplotlib" and getattr(sys.modules[name], "__spec__", None) \
                is None:
            del sys.modules[name]
    return colour


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """``uint8 [..., 3]`` sRGB (or floats in [0, 1]) -> ``float64 [..., 3]`` L*a*b* (D65)."""
    values = np.asarray(rgb)
    values = values / 255.0 if values.dtype == np.uint8 else values.astype(np.float64)
    return linear_to_lab(srgb_to_linear(values))


def linear_to_lab(linear: np.ndarray) -> np.ndarray:
    """Linear-light sRGB ``[..., 3]`` -> L*a*b* (D65), the CIE 1976 formulas."""
    xyz = (np.asarray(linear, dtype=np.float64) @ _SRGB_TO_XYZ.T) / _D65
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), (_KAPPA * xyz + 16.0) / 116.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]),
                     200.0 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of two ``[..., 3]`` L*a*b* arrays."""
    return _colour().difference.delta_E(lab1, lab2, method="CIE 2000")


def small(frame: np.ndarray, width: int = STATS_WIDTH) -> np.ndarray:
    """``frame`` scaled (area average) to at most ``width`` pixels wide."""
    h, w = frame.shape[:2]
    if w <= width:
        return frame
    return cv2.resize(frame, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def mean_lab(frame: np.ndarray) -> np.ndarray:
    """``[3]``: the mean L*a*b* of a ``uint8 [H, W, 3]`` frame (computed on a small copy)."""
    return rgb_to_lab(small(frame)).reshape(-1, 3).mean(axis=0)


def mean_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-pixel CIEDE2000 between two ``uint8 [H, W, 3]`` frames of the same scene."""
    return float(delta_e(rgb_to_lab(small(a)), rgb_to_lab(small(b))).mean())
