"""Brand looks as 3D LUTs in the ``.cube`` format colourists exchange, applied exactly.

The format (Adobe/Iridas "Cube LUT Specification 1.0"): optional ``TITLE "..."``, ``LUT_3D_SIZE N``
(2-256), optional ``DOMAIN_MIN r g b`` / ``DOMAIN_MAX r g b`` (default 0 0 0 / 1 1 1; Resolve's
``LUT_3D_INPUT_RANGE min max`` is the same thing), ``#`` comments, then N^3 rows of three numbers
with red changing fastest, then green, then blue. An input outside the domain is clamped to it,
and values between the grid points are interpolated trilinearly.

Frames are 8-bit, so the LUT is applied through a table with one entry per possible input colour
(256^3), each the exact trilinear value rounded to 8 bits: one gather per pixel
(:class:`tasks.grade.table.ColourTable`). Trilinear interpolation is a product of linear
interpolations along each axis, so that table is built axis by axis (:func:`expand`) instead
of evaluating eight corners per colour (:meth:`Lut3D.lookup`, which the tests compare it to).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import SpecError

MAX_SIZE = 256


@dataclass(frozen=True, eq=False)
class Lut3D:
    """A 3D LUT: ``grid [N, N, N, 3]`` float64 indexed ``[r, g, b]``, outputs in [0, 1] terms."""

    grid: np.ndarray
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    title: str = ""
    source: str = ""
    sha256: str = ""

    @property
    def size(self) -> int:
        return self.grid.shape[0]

    def lookup(self, rgb: np.ndarray) -> np.ndarray:
        """The LUT at ``rgb [..., 3]`` (floats in input terms): trilinear, as the format says.

        The direct eight-corner form, for checking :func:`expand` and for a few colours."""
        rgb = np.asarray(rgb, dtype=np.float64)
        lo, hi = np.array(self.domain_min), np.array(self.domain_max)
        n = self.size
        t = (np.clip(rgb, lo, hi) - lo) / (hi - lo) * (n - 1)
        i0 = np.minimum(np.floor(t).astype(int), n - 2)
        f = t - i0
        out = np.zeros(rgb.shape[:-1] + (3,))
        for dr in (0, 1):
            for dg in (0, 1):
                for db in (0, 1):
                    w = ((f[..., 0] if dr else 1 - f[..., 0]) * (f[..., 1] if dg else 1 - f[..., 1])
                         * (f[..., 2] if db else 1 - f[..., 2]))
                    out += w[..., None] * self.grid[i0[..., 0] + dr, i0[..., 1] + dg,
                                                    i0[..., 2] + db]
        return out


def axis_weights(lut: Lut3D, channel: int) -> tuple[np.ndarray, np.ndarray]:
    """For each 8-bit input level of ``channel``: the lower grid index ``[256]`` and the
    fraction ``[256]`` towards the next one (the domain clamped, as the format says)."""
    lo, hi, n = lut.domain_min[channel], lut.domain_max[channel], lut.size
    t = (np.clip(np.arange(256) / 255.0, lo, hi) - lo) / (hi - lo) * (n - 1)
    i0 = np.minimum(np.floor(t).astype(int), n - 2)
    return i0, t - i0


def expand(lut: Lut3D, *, b_levels: np.ndarray | None = None, scale: float = 1.0,
           dtype=np.float32) -> np.ndarray:
    """``[B, 256, 256, 3]`` indexed ``[b, g, r]``: ``scale`` times the LUT at every 8-bit input
    (trilinear), for the blue levels ``b_levels`` (default all 256), one axis at a time."""
    (ir, fr), (ig, fg), (ib, fb) = (axis_weights(lut, c) for c in range(3))
    if b_levels is not None:
        ib, fb = ib[b_levels], fb[b_levels]
    grid = (lut.grid.transpose(2, 1, 0, 3) * scale).astype(dtype)  # [b, g, r, 3]
    fr, fg, fb = (f.astype(dtype) for f in (fr, fg, fb))
    a = grid[ib] * (1 - fb)[:, None, None, None] + grid[ib + 1] * fb[:, None, None, None]
    a = a[:, ig] * (1 - fg)[None, :, None, None] + a[:, ig + 1] * fg[None, :, None, None]
    return a[:, :, ir] * (1 - fr)[None, None, :, None] + a[:, :, ir + 1] * fr[None, None, :, None]


def is_identity_grid(lut: Lut3D) -> bool:
    """True when the LUT's grid is the identity closely enough that no 8-bit colour moves
    (every output within 0.01 of a level of its input: far from a rounding boundary)."""
    if lut.domain_min != (0.0, 0.0, 0.0) or lut.domain_max != (1.0, 1.0, 1.0):
        return False
    return bool(np.abs(lut.grid - identity_grid(lut.size)).max() * 255 < 0.01)


def load_cube(path: str | Path, *, field: str | None = None) -> Lut3D:
    """Read and check a ``.cube`` 3D LUT. Any problem is a SpecError naming the file and line."""
    path = Path(path)

    def fail(message: str, line: int | None) -> SpecError:
        return SpecError(message, file=str(path), line=line, field=field)

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail("no such LUT file", None) from None
    except OSError as exc:
        raise fail(f"cannot read the LUT ({exc.strerror})", None) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"not a text .cube file ({exc.reason} at byte {exc.start})", None) from None
    size: int | None = None
    title = ""
    domain = [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    rows: list[tuple[float, float, float]] = []
    last_line = 0
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        last_line = number
        words = line.split()
        keyword = words[0].upper()
        if keyword[0].isalpha() and keyword not in ("NAN", "INF", "INFINITY"):
            if rows:
                raise fail(f"{words[0]} after the table rows: keywords come first", number)
            if keyword == "TITLE":
                title = line[len(words[0]):].strip().strip('"')
            elif keyword == "LUT_3D_SIZE":
                if len(words) != 2 or not words[1].isdigit() or not 2 <= int(words[1]) <= MAX_SIZE:
                    raise fail(f"LUT_3D_SIZE must be a whole number from 2 to {MAX_SIZE}, got "
                               f"{' '.join(words[1:])!r}", number)
                size = int(words[1])
            elif keyword == "LUT_1D_SIZE":
                raise fail("a 1D LUT (LUT_1D_SIZE); a look needs a 3D LUT (LUT_3D_SIZE)", number)
            elif keyword in ("DOMAIN_MIN", "DOMAIN_MAX"):
                domain[keyword == "DOMAIN_MAX"] = list(_numbers(words[1:], 3, number, fail))
            elif keyword == "LUT_3D_INPUT_RANGE":
                low, high = _numbers(words[1:], 2, number, fail)
                domain = [[low] * 3, [high] * 3]
            else:
                raise fail(f"unknown keyword {words[0]!r} (expected TITLE, LUT_3D_SIZE, "
                           "DOMAIN_MIN, DOMAIN_MAX or rows of three numbers)", number)
            continue
        if size is None:
            raise fail("a table row before LUT_3D_SIZE", number)
        if len(rows) == size ** 3:
            raise fail(f"more than the {size ** 3} rows LUT_3D_SIZE {size} needs", number)
        rows.append(_numbers(words, 3, number, fail))
    if size is None:
        raise fail("no LUT_3D_SIZE line: not a 3D .cube LUT", last_line or None)
    if len(rows) != size ** 3:
        raise fail(f"{len(rows)} table rows; LUT_3D_SIZE {size} needs {size ** 3}",
                   last_line or None)
    for c in range(3):
        if not domain[0][c] < domain[1][c]:
            raise fail(f"DOMAIN_MIN {domain[0][c]:g} is not below DOMAIN_MAX {domain[1][c]:g} "
                       f"for {'RGB'[c]}", None)
    # Rows run red fastest: reshape to [b, g, r, 3] and put red first.
    grid = np.array(rows, dtype=np.float64).reshape(size, size, size, 3).transpose(2, 1, 0, 3)
    return Lut3D(grid=np.ascontiguousarray(grid), domain_min=tuple(domain[0]),
                 domain_max=tuple(domain[1]), title=title, source=str(path),
                 sha256=hashlib.sha256(raw).hexdigest())


def _numbers(words: list[str], count: int, line: int, fail) -> tuple[float, ...]:
    if len(words) != count:
        raise fail(f"expected {count} numbers, got {len(words)}: {' '.join(words)!r}", line)
    try:
        values = tuple(float(w) for w in words)
    except ValueError:
        raise fail(f"expected {count} numbers, got {' '.join(words)!r}", line) from None
    if not all(math.isfinite(v) for v in values):
        raise fail(f"not a finite number in {' '.join(words)!r}", line)
    return values


def write_cube(path: str | Path, grid: np.ndarray, *, title: str = "") -> Path:
    """Write ``grid [N, N, N, 3]`` (indexed ``[r, g, b]``) as a ``.cube`` file."""
    path = Path(path)
    n = grid.shape[0]
    rows = grid.transpose(2, 1, 0, 3).reshape(-1, 3)
    lines = ([f'TITLE "{title}"'] if title else []) + [f"LUT_3D_SIZE {n}"]
    lines += [f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def identity_grid(size: int) -> np.ndarray:
    """``[size, size, size, 3]``: the grid of a LUT that changes nothing."""
    axis = np.linspace(0.0, 1.0, size)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
