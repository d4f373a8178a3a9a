"""One table per shot for its whole grade: an entry for each of the 2^24 8-bit colours.

Matching (:class:`tasks.grade.match.Correction`) and the brand look (a ``.cube`` 3D LUT at a
strength) are folded into a single table when a shot's grade is decided, so each frame costs
one gather per pixel (a few ms at 720p) whatever the grade does. Entries are packed ``uint32``
(r | g << 8 | b << 16), so a frame turned into RGBA by OpenCV *is* its own index array once the
alpha byte is masked off. 64 MB per table; the master holds one per shot being graded.

The order is the colourist's: match first, then the look, ``out = m + s (look(m) - m)`` with
``m`` the matched colour in 8 bits and ``s`` the look's strength. The look is exact for 8-bit
input (its trilinear value at that colour, rounded once). Matching is evaluated at every
colour too: per channel it is three 1D curves, and its saturation step, the only one that mixes
channels, runs in float32 a slab of blue levels at a time, with matching's no-new-clipping
guard on every entry. A grade that changes no colour has no table at all, so its frames stay
bit-identical.
"""

from __future__ import annotations

import cv2
import numpy as np

from tasks.grade.cube import Lut3D, expand, is_identity_grid
from tasks.grade.match import Correction, saturate

CHUNK = 32      # blue levels built at a time (bounds the build's scratch memory to ~25 MB)
_LEVELS = np.arange(256)


def identity_table() -> np.ndarray:
    return np.arange(1 << 24, dtype=np.uint32)


def _packed(values: np.ndarray) -> np.ndarray:
    """Levels ``float [..., 3]`` -> packed ``uint32 [...]`` (rounded, clipped to 0-255)."""
    rgba = np.zeros(values.shape[:-1] + (4,), np.uint8)
    rgba[..., :3] = np.clip(np.rint(values), 0, 255)
    return rgba.view(np.uint32)[..., 0]


def lut_table(lut: Lut3D, strength: float = 1.0) -> np.ndarray:
    """``uint32 [2^24]``: every 8-bit colour through ``lut`` at ``strength`` (0-1)."""
    table = np.empty((256, 256, 256), np.uint32)  # [b, g, r]
    levels = _LEVELS.astype(np.float32)
    for b0 in range(0, 256, CHUNK):
        blue = _LEVELS[b0:b0 + CHUNK]
        values = expand(lut, b_levels=blue, scale=255.0)                    # [B, g, r, 3]
        if strength < 1.0:
            k = np.float32(strength)
            sources = (levels[None, None, :], levels[None, :, None], levels[blue][:, None, None])
            for c, source in enumerate(sources):
                values[..., c] = source + k * (values[..., c] - source)
        table[b0:b0 + len(blue)] = _packed(values)
    return table.reshape(-1)


def _curves_table(correction: Correction) -> np.ndarray:
    """``uint32 [2^24]`` of the per-channel part (the gain curves): three 1D tables, packed
    by broadcasting."""
    levels = np.repeat(_LEVELS[:, None], 3, axis=1).astype(np.uint8)
    curve = np.rint(correction.apply(levels)).astype(np.uint32)              # [256, 3]
    return (curve[None, None, :, 0] | (curve[None, :, None, 1] << 8)
            | (curve[:, None, None, 2] << 16)).reshape(-1)


def correction_table(correction: Correction) -> np.ndarray:
    """``uint32 [2^24]``: every 8-bit colour through the matching correction."""
    curves = _curves_table(correction)
    if abs(correction.saturation - 1.0) <= 1e-9:
        return curves  # per channel only
    # Saturation mixes the channels: evaluate every colour, a slab of blue levels at a time,
    # by broadcasting the three per-channel linear values (no gathers) in float32.
    linear = correction.linear_tables().astype(np.float32)                # [256, 3]
    lin_r, lin_g = linear[None, None, :, 0], linear[None, :, None, 1]
    low = np.where(_LEVELS >= 1, 0.51, 0.0).astype(np.float32)            # the no-new-
    high = np.where(_LEVELS <= 254, 254.49, 255.0).astype(np.float32)     # clipping guard
    bounds = [(low[None, None, :], high[None, None, :]), (low[None, :, None], high[None, :, None])]
    table = np.empty((256, 256, 256), np.uint32)  # [b, g, r]
    for b0 in range(0, 256, CHUNK):
        blue = _LEVELS[b0:b0 + CHUNK]
        lin_b = linear[blue, 2][:, None, None]
        rgb = np.broadcast_arrays(lin_r, lin_g, lin_b)
        saturated = saturate(np.stack(rgb, axis=-1), correction.saturation)   # [B, g, r, 3]
        encoded = _encode(saturated)
        slab = bounds + [(low[blue][:, None, None], high[blue][:, None, None])]
        for c, (lo, hi) in enumerate(slab):
            np.clip(encoded[..., c], lo, hi, out=encoded[..., c])
        table[b0:b0 + len(blue)] = _packed(encoded)
    return table.reshape(-1)


def _encode(linear: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB levels 0-255, float32 (the same curve as media.colors)."""
    v = np.clip(linear, 0.0, 1.0, dtype=np.float32)
    return np.where(v <= 0.0031308, v * np.float32(12.92 * 255),
                    (np.float32(1.055) * np.power(v, np.float32(1 / 2.4)) - np.float32(0.055))
                    * np.float32(255))


class ColourTable:
    """A shot's grade as a 2^24-entry table; :meth:`apply` grades ``uint8 [H, W, 3]`` frames."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    @classmethod
    def build(cls, correction: Correction | None = None, look: Lut3D | None = None,
              strength: float = 1.0, *, look_cache: dict | None = None) -> ColourTable | None:
        """The table for matching then the look; None when the grade changes no colour.

        ``look_cache`` (a dict the caller keeps) reuses a look's own table across shots."""
        table = None
        if look is not None and strength > 0 and not is_identity_grid(look):
            key = (look.sha256 or id(look), round(strength, 6))
            table = look_cache.get(key) if look_cache is not None else None
            if table is None:
                table = lut_table(look, strength)
                if np.array_equal(table, identity_table()):
                    table = None
                if look_cache is not None:
                    look_cache[key] = table
        if correction is not None and not correction.is_identity:
            matched = correction_table(correction)
            table = matched if table is None else table[matched]
        return None if table is None else cls(table)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Grade one ``uint8 [H, W, 3]`` RGB frame (a new array)."""
        rgba = cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA)
        index = rgba.view(np.uint32)[..., 0]
        np.bitwise_and(index, 0xFFFFFF, out=index)
        graded = np.take(self.table, index).view(np.uint8).reshape(*frame.shape[:2], 4)
        return cv2.cvtColor(graded, cv2.COLOR_RGBA2RGB)
