"""CIE Lab and ΔE for 8-bit RGB frames: the perceptual space the grade measures and matches in.

L*a*b* is computed here with the CIE 1976 formulas from sRGB (D65); the colour difference ΔE is
CIEDE2000, so the numbers agree with what colourists' tools report (the tests check both
against colour-science). ΔE 1 is about the
smallest difference a viewer notices side by side; under 3 reads as the same colour across a cut.
"""

from __future__ import annotations

import cv2
import numpy as np

from media.colors import srgb_to_linear

STATS_WIDTH = 160  # frames are scaled to this width before any colour statistic


# IEC 61966-2-1 sRGB primaries to CIE XYZ, and the D65 white they are relative to.
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                         [0.0193, 0.1192, 0.9505]])
_D65 = _SRGB_TO_XYZ.sum(axis=1)
_EPSILON, _KAPPA = 216 / 24389, 24389 / 27


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
    """CIEDE2000 colour difference of two ``[..., 3]`` L*a*b* arrays (kL = kC = kH = 1).

    The formulas of Sharma, Wu and Dalal (2005), "The CIEDE2000 colour-difference formula:
    implementation notes", in numpy; the tests check them against colour-science, which is not
    imported at run time because it leaves stand-in ``matplotlib`` modules behind that break
    diffusers and transformers in the same process.
    """
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dlp, dcp = l2 - l1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dhp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    lp_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    hp_mean = np.where(np.abs(h1p - h2p) <= 180, h_sum / 2,
                       np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2))
    hp_mean = np.where(c1p * c2p == 0, h_sum, hp_mean)
    t = (1 - 0.17 * np.cos(np.radians(hp_mean - 30)) + 0.24 * np.cos(np.radians(2 * hp_mean))
         + 0.32 * np.cos(np.radians(3 * hp_mean + 6))
         - 0.20 * np.cos(np.radians(4 * hp_mean - 63)))
    d_theta = 30 * np.exp(-(((hp_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (lp_mean - 50) ** 2 / np.sqrt(20 + (lp_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((dlp / s_l) ** 2 + (dcp / s_c) ** 2 + (dhp / s_h) ** 2
                   + r_t * (dcp / s_c) * (dhp / s_h))


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
