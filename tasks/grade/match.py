"""Shot matching: measure each shot's colour in Lab, and correct it towards a reference.

**Statistics** (:class:`ColourStats`) come from small copies of a shot's frames (the stabilizer's
analysis frames, or any frames): a pooled pixel sample from the shot's *steady* frames, where a
frame whose median lightness is far from the shot's typical frame (the dark end of a fade, a
flash) is left out, so a fade is not read as under-exposure. Four robust numbers describe it:
median L* (exposure), mean a* and b* of the least colourful quarter of the pixels (the cast of
the light: near-neutral surfaces show it whatever the content), and median chroma C*
(saturation). Medians and a quantile selection ignore outliers (a logo, a specular highlight).

**Correction** (:class:`Correction`): per-channel gains in linear light (white balance, and
exposure when all three move together), then saturation around the luminance, also in linear
light, which keeps luminance. Gains go through a curve ``f(x) = g x (1 + (g^p - 1) x^p)^(-1/p)``
with ``f(0) = 0``, ``f(1) = 1`` and slope ``g`` below the shoulder: a brightened shot rolls off
into white instead of clipping, a darkened one keeps its whites white, and the curve is strictly
increasing, so no two input levels are merged at either end. Saturation is limited per colour
to what stays inside the gamut. A channel level that was not clipped (1-254) is never mapped
to 0 or 255: no channel clips more than it did before.

**Fitting** (:func:`fit_correction`): the four parameters (exposure, red and blue white balance
in stops, saturation) that bring the shot's four statistics onto the reference's, by bounded
least squares on the shot's pixel sample, then held inside :class:`MatchBounds` and scaled by
``strength``. The same :meth:`Correction.apply` is used by the fit and by the frame table, so
the fit sees exactly what the frames will get.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from media.colors import linear_to_srgb, srgb_to_linear
from tasks.grade.lab import STATS_WIDTH, linear_to_lab, rgb_to_lab, small

LUMINANCE = np.array([0.2126, 0.7152, 0.0722])  # sRGB / BT.709 primaries, linear light
SHOULDER = 6.0           # p of the gain curve: larger keeps the gain further up the range
NEUTRAL_SHARE = 0.25     # the least colourful share of pixels that shows the light's cast
FADE_L = 5.0             # a frame this far (L*) from the shot's typical frame is not "steady"
PIXELS_PER_FRAME = 768   # sampled from each measured frame
MAX_FRAMES = 48          # frames kept in a sample; longer shots keep every 2nd, 4th, ...
FIT_STEPS = 8            # Gauss-Newton steps at most
FIT_TOLERANCE = 0.05     # L*a*b* units: close enough to the reference's statistics
MIN_SATURATION_STOPS = 0.03  # log2 of a saturation factor within 2% of 1: left at 1


@dataclass(frozen=True)
class MatchBounds:
    """How far matching may move a shot."""

    exposure_stops: float = 1.5   # either way
    balance_stops: float = 0.5    # red and blue against green, either way
    saturation: float = 1.5       # at most this factor, at least its inverse


@dataclass(frozen=True)
class ColourStats:
    """A shot's colour in four robust Lab numbers, with the pixel sample they came from."""

    lightness: float        # median L*
    neutral_a: float        # mean a* of the least colourful pixels
    neutral_b: float        # mean b*
    chroma: float           # median C*
    frames: int             # frames measured
    steady_frames: int      # of which pooled (not in a fade or flash)
    sample: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(
        (0, 3), np.uint8))  # uint8 [M, 3] sRGB pixels

    def vector(self) -> np.ndarray:
        return np.array([self.lightness, self.neutral_a, self.neutral_b, self.chroma])

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "sample"}
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def statistics(pixels_lab: np.ndarray) -> np.ndarray:
    """``[4]`` (median L*, neutral a*, neutral b*, median C*) of ``[M, 3]`` Lab pixels."""
    lab = pixels_lab.reshape(-1, 3)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    usable = (lab[:, 0] > 4.0) & (lab[:, 0] < 96.0)  # black and clipped white carry no cast
    pool = lab[usable] if usable.sum() >= 16 else lab
    pool_chroma = np.hypot(pool[:, 1], pool[:, 2])
    k = max(1, int(len(pool) * NEUTRAL_SHARE))
    neutral = pool[np.argpartition(pool_chroma, k - 1)[:k]]
    return np.array([np.median(lab[:, 0]), neutral[:, 1].mean(), neutral[:, 2].mean(),
                     np.median(chroma)])


class StatsAccumulator:
    """Feed a shot's frames (any size, ``uint8 [H, W, 3]`` RGB) one at a time; read
    :meth:`result`. Memory: at most ``MAX_FRAMES`` small pixel samples, whatever the length."""

    def __init__(self) -> None:
        self._samples: list[tuple[float, np.ndarray]] = []  # (median L*, uint8 [P, 3])
        self._every = 1
        self._seen = 0
        self._measured = 0

    def add(self, frame: np.ndarray) -> None:
        index, self._seen = self._seen, self._seen + 1
        if index % self._every:
            return
        pixels = small(frame, STATS_WIDTH).reshape(-1, 3)
        step = max(1, len(pixels) // PIXELS_PER_FRAME)
        # A fixed stride with a per-frame phase: different pixels each frame, reproducibly.
        sample = pixels[(index * 7919) % step::step][:PIXELS_PER_FRAME]
        lightness = float(np.median(rgb_to_lab(sample)[:, 0]))
        self._samples.append((lightness, np.ascontiguousarray(sample)))
        self._measured += 1
        if len(self._samples) > MAX_FRAMES:
            self._samples = self._samples[::2]
            self._every *= 2

    def result(self) -> ColourStats:
        if not self._samples:
            raise ValueError("no frames to measure")
        typical = float(np.median([lightness for lightness, _ in self._samples]))
        steady = [s for lightness, s in self._samples if abs(lightness - typical) <= FADE_L]
        sample = np.concatenate(steady)
        values = statistics(rgb_to_lab(sample))
        return ColourStats(*(float(v) for v in values), frames=self._measured,
                           steady_frames=len(steady), sample=sample)


def frame_stats(frames) -> ColourStats:
    """:class:`ColourStats` of an iterable of ``uint8 [H, W, 3]`` frames (or one image)."""
    acc = StatsAccumulator()
    for frame in frames:
        acc.add(frame)
    return acc.result()


def gain_curve(gain: float, x: np.ndarray) -> np.ndarray:
    """Linear light ``x`` in [0, 1] through the shouldered gain curve (module docstring)."""
    p = SHOULDER
    return gain * x * (1.0 + (gain ** p - 1.0) * x ** p) ** (-1.0 / p)


@dataclass(frozen=True)
class Correction:
    """What matching does to one shot: linear-light ``gains`` (r, g, b) and ``saturation``."""

    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    saturation: float = 1.0

    @classmethod
    def from_params(cls, params: np.ndarray) -> Correction:
        """From (exposure, red balance, blue balance) in stops and log2 saturation."""
        exposure, red, blue, sat = (float(v) for v in params)
        return cls(gains=(2.0 ** (exposure + red), 2.0 ** exposure, 2.0 ** (exposure + blue)),
                   saturation=2.0 ** sat)

    def params(self) -> np.ndarray:
        r, g, b = np.log2(self.gains)
        return np.array([g, r - g, b - g, np.log2(self.saturation)])

    @property
    def is_identity(self) -> bool:
        return np.allclose(self.gains, 1.0, atol=1e-6) and abs(self.saturation - 1.0) < 1e-6

    def linear_tables(self) -> np.ndarray:
        """``float64 [256, 3]``: each channel's 8-bit level -> linear light after its gain."""
        x = srgb_to_linear(np.arange(256) / 255.0)
        return np.stack([gain_curve(g, x) for g in self.gains], axis=1)

    def apply(self, rgb: np.ndarray, tables: np.ndarray | None = None) -> np.ndarray:
        """``uint8 [..., 3]`` -> ``float64 [..., 3]`` corrected levels in [0, 255] (unrounded).

        ``tables`` is :meth:`linear_tables`, when the caller applies it many times."""
        out = linear_to_srgb(self.apply_linear(rgb, tables)) * 255.0
        # No new clipping: an unclipped input level stays off 0 and 255 (rounds to 1..254).
        inner = (rgb >= 1) & (rgb <= 254)
        return np.where(inner, np.clip(out, 0.51, 254.49), out)

    def apply_linear(self, rgb: np.ndarray, tables: np.ndarray | None = None) -> np.ndarray:
        """``uint8 [..., 3]`` -> ``float64 [..., 3]`` corrected linear light (before the 8-bit
        encoding and its no-new-clipping guard)."""
        tables = self.linear_tables() if tables is None else tables
        linear = np.stack([tables[rgb[..., c], c] for c in range(3)], axis=-1)
        if abs(self.saturation - 1.0) > 1e-9:
            linear = saturate(linear, self.saturation)
        return linear

    def to_dict(self) -> dict:
        e, r, b, s = self.params()
        return {"exposure_stops": round(float(e), 3), "red_stops": round(float(r), 3),
                "blue_stops": round(float(b), 3), "saturation": round(float(2 ** s), 3)}


def saturate(linear: np.ndarray, factor: float) -> np.ndarray:
    """Scale each colour's distance from its luminance by ``factor`` (linear light), by less
    where the full factor would leave [0, 1]; luminance is kept. Keeps ``linear``'s dtype."""
    dtype = linear.dtype
    luma = (linear @ LUMINANCE.astype(dtype))[..., None]
    delta = linear - luma
    if factor <= 1.0:
        return luma + dtype.type(factor) * delta
    # The channel furthest above the luminance meets 1 first, the one furthest below meets 0.
    above, below = delta.max(axis=-1, keepdims=True), delta.min(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.minimum(np.where(above > 0, (1 - luma) / above, np.inf),
                          np.where(below < 0, luma / -below, np.inf))
    return luma + np.minimum(dtype.type(factor), room).astype(dtype) * delta


def fit_correction(shot: ColourStats, reference: ColourStats, *,
                   bounds: MatchBounds = MatchBounds(), strength: float = 1.0) -> Correction:
    """The correction that brings ``shot``'s statistics onto ``reference``'s, within
    ``bounds``, scaled by ``strength`` (0: none, 1: all of it).

    The statistics are nearly linear in the four parameters, so a few Gauss-Newton steps
    from "no change" (a finite-difference Jacobian once, then Broyden updates) land on them:
    about a dozen evaluations of the correction on the sample.
    """
    if strength <= 0 or len(shot.sample) == 0:
        return Correction()
    target = reference.vector()
    sample = shot.sample
    sat = np.log2(bounds.saturation)
    upper = np.array([bounds.exposure_stops, bounds.balance_stops, bounds.balance_stops, sat])
    lower = -upper

    def residual(params: np.ndarray) -> np.ndarray:  # in L*a*b* units
        linear = Correction.from_params(params).apply_linear(sample)
        return statistics(linear_to_lab(linear)) - target

    params = np.zeros(4)
    r = residual(params)
    step = 0.05
    jacobian = np.stack([(residual(params + step * e) - r) / step for e in np.eye(4)], axis=1)
    for _ in range(FIT_STEPS):
        if np.abs(r).max() < FIT_TOLERANCE:
            break
        delta = np.linalg.lstsq(jacobian, -r, rcond=None)[0]
        moved = np.clip(params + delta, lower, upper)
        delta = moved - params
        if not np.any(delta):
            break
        r_new = residual(moved)
        jacobian += np.outer(r_new - r - jacobian @ delta, delta) / (delta @ delta)
        params, r = moved, r_new
    params = params * min(strength, 1.0)
    if abs(params[3]) < MIN_SATURATION_STOPS:
        params[3] = 0.0  # an invisible saturation change is not worth a 3D table build
    correction = Correction.from_params(params)
    return Correction() if correction.is_identity else correction
