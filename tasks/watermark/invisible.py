"""Invisible watermark: a clip's payload spread over the low/mid-frequency luma spectrum.

Method (spread spectrum in a transform domain, after Cox et al. 1997, "Secure spread spectrum
watermarking for multimedia", IEEE TIP 6(12)), adapted to video clips that must survive H.264
re-encoding and resizing, and to the factory's flat grey storyboard frames:

* Every frame's luma is looked at on a fixed ``grid x grid`` working plane (the frame resized to
  it, aspect ignored), so a mark embedded at 720p is read back the same way at 480p.
* A ring of 2-D DCT coefficients of that plane (``band``: radii in DCT index units, i.e. spatial
  frequencies of ``radius / 2`` cycles per frame side) is split at random among the embedded
  bits; each coefficient carries a keyed pseudo-random chip (+1/-1) times its bit's sign.
* The inverse DCT of those chips is one smooth pattern per clip. It is upsampled to the frame
  size once, scaled per pixel by a texture mask (a floor on flat areas, more where the frame is
  busy) and added to R, G and B equally: a pure luma change, so grey frames carry it exactly
  like colourful ones (``dwtDctSvd`` works in chroma and fails there, docs/reference/platform-facts.md).
* The detector divides each working plane's high-pass by its local RMS (so titles, labels and
  texture count no more than flat areas), sums the DCT over all frames, correlates each bit's
  coefficients with its chips (a matched filter per frequency ring: received mark amplitude over
  host power), and scales by the spread of decoy correlations (random chips on the same
  coefficients, over the host with the mark taken out) to get a z-score per bit.

Frames should have at least ``grid`` rows (the factory's are 480p and up): on smaller frames the
top of the band is lost. Cropping moves the pattern against the grid and is not survived (see
bench/watermark.py); re-encoding, downscaling and brightness changes are.

Embedded bits: the 48-bit payload followed by its CRC-16 (CCITT), 64 in all. An unmarked clip
reads as random bits, so the checksum fails (p = 2^-16) and the z-scores stay small.
"""

from __future__ import annotations

import binascii
import hashlib
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from common.errors import ConfigError

PAYLOAD_BYTES = 6  # 48 bits: the first 48 bits of the content id
CRC_BITS = 16
EMBEDDED_BITS = PAYLOAD_BYTES * 8 + CRC_BITS


@dataclass(frozen=True)
class WatermarkConfig:
    """How the invisible mark is made and read; embedder and detector must share it.

    ``key`` seeds the chip patterns: a clip marked with one key reads as unmarked with another,
    so production should set its own (a secret).
    """

    key: str = "content-factory/watermark/v1"
    grid: int = 256                 # side of the working luma plane
    band: tuple[float, float] = (40.0, 160.0)  # DCT radii carrying chips (20..80 cycles/side)
    strength: float = 1.3           # luma levels (RMS) of the pattern on flat areas
    texture_boost: float = 3.0      # busy areas get up to strength * (1 + texture_boost)
    texture_half: float = 3.0       # local gradient (levels/px at 1/4 size) giving half the boost
    ring_width: float = 2.0         # frequency rings over which host power is estimated
    highpass_sigma: float = 3.0     # detector: working px; keeps the band (periods <= 13 px)
    energy_sigma: float = 8.0       # detector: neighbourhood for the local host energy
    energy_floor: float = 1.0       # detector: luma levels; below this an area counts as flat
    decoys: int = 16                # random chip sets that measure the no-mark spread
    min_mean_abs_z: float = 2.0     # "found" needs bits decided this clearly on average

    def __post_init__(self) -> None:
        lo, hi = self.band
        if not 1.0 <= lo < hi <= self.grid:
            raise ConfigError(f"watermark band {self.band}: need 1 <= low < high <= grid "
                              f"({self.grid}); pick radii in DCT index units")
        if self.strength <= 0:
            raise ConfigError(f"watermark strength {self.strength}: must be > 0 luma levels")


@dataclass(frozen=True)
class Detection:
    """What the detector read from a clip.

    ``bits`` are the 64 decided bits (payload then CRC), ``z`` their z-scores (sign = bit value,
    size = how clearly it was decided). ``bit_confidence`` is the confidence of the least certain
    bit, ``1 - 2 * Q(min |z|)`` (0 = a coin toss, 1 = certain); an unmarked clip gives about
    0.02 for 64 bits, a marked one close to 1.
    """

    payload: bytes | None       # decoded payload when the checksum matched, else None
    found: bool                 # checksum matched and bits were decided clearly
    crc_ok: bool
    bits: np.ndarray = field(repr=False)
    z: np.ndarray = field(repr=False)
    bit_confidence: float = 0.0
    mean_abs_z: float = 0.0
    frames: int = 0

    @property
    def payload_hex(self) -> str | None:
        return self.payload.hex() if self.payload is not None else None

    def bit_accuracy(self, payload: bytes) -> float:
        """Fraction of the 64 embedded bits (payload + CRC) read correctly, given the truth."""
        return float(np.mean(self.bits == embedded_bits(payload)))


# ---------------------------------------------------------------------------------------------
# Payload framing

_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")


def payload_from_content_id(content_id: str) -> bytes:
    """The 48-bit payload that identifies a clip: the first 12 hex digits of its content id.

    Content ids are hex digests (sha256-style), so the payload is a prefix of the id and a clip
    is found again in the run records by that prefix. A content id that is not hex (or shorter
    than 12 digits) is hashed with SHA-256 first.
    """
    cid = content_id.strip()
    if not cid:
        raise ConfigError("content id is empty: the watermark payload is derived from it")
    if len(cid) >= PAYLOAD_BYTES * 2 and _HEX_RE.match(cid):
        return bytes.fromhex(cid[: PAYLOAD_BYTES * 2])
    return hashlib.sha256(cid.encode("utf-8")).digest()[:PAYLOAD_BYTES]


def parse_payload(text: str) -> bytes:
    """A payload given as hex on the command line (exactly 12 hex digits, 48 bits)."""
    cleaned = text.strip().lower().removeprefix("0x")
    if len(cleaned) != PAYLOAD_BYTES * 2 or not _HEX_RE.match(cleaned):
        raise ConfigError(f"--payload {text!r}: give exactly {PAYLOAD_BYTES * 2} hex digits "
                          f"({PAYLOAD_BYTES * 8} bits), e.g. the first 12 digits of a content id")
    return bytes.fromhex(cleaned)


def _crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)  # CRC-16/CCITT-FALSE


def embedded_bits(payload: bytes) -> np.ndarray:
    """The 64 bits put in the frames, as an int8 array of +1/-1: payload bits, then CRC-16."""
    if len(payload) != PAYLOAD_BYTES:
        raise ConfigError(f"watermark payload has {len(payload)} bytes; it must have "
                          f"{PAYLOAD_BYTES} (use payload_from_content_id)")
    framed = payload + _crc16(payload).to_bytes(2, "big")
    bits = np.unpackbits(np.frombuffer(framed, dtype=np.uint8))
    return (bits.astype(np.int8) * 2 - 1)


def _bits_to_payload(signs: np.ndarray) -> tuple[bytes, bool]:
    raw = np.packbits((signs > 0).astype(np.uint8)).tobytes()
    payload, crc = raw[:PAYLOAD_BYTES], int.from_bytes(raw[PAYLOAD_BYTES:], "big")
    return payload, _crc16(payload) == crc


# ---------------------------------------------------------------------------------------------
# The keyed layout of chips on the working plane


@dataclass(frozen=True)
class _Layout:
    rows: np.ndarray      # [K] DCT row index of each carrying coefficient
    cols: np.ndarray      # [K] DCT column index
    bit: np.ndarray       # [K] which embedded bit the coefficient carries
    chip: np.ndarray      # [K] +1/-1 chip
    ring: np.ndarray      # [K] frequency ring (for host power estimates)
    decoy: np.ndarray     # [D, K] +1/-1 chips that were never embedded


_LAYOUTS: dict[WatermarkConfig, _Layout] = {}


def _layout(config: WatermarkConfig) -> _Layout:
    if config in _LAYOUTS:
        return _LAYOUTS[config]
    seed = int.from_bytes(hashlib.sha256(config.key.encode("utf-8")).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(config.grid), np.arange(config.grid), indexing="ij")
    radius = np.hypot(u, v)
    lo, hi = config.band
    rows, cols = np.nonzero((radius >= lo) & (radius < hi))
    k = rows.size
    # Every bit gets the same number of coefficients (give or take one), spread over the band.
    bit = rng.permutation(np.arange(k) % EMBEDDED_BITS)
    chip = rng.choice(np.array([-1, 1], dtype=np.int8), size=k)
    decoy = rng.choice(np.array([-1, 1], dtype=np.int8), size=(config.decoys, k))
    ring = (radius[rows, cols] / config.ring_width).astype(np.int64)
    layout = _Layout(rows, cols, bit, chip, ring - ring.min(), decoy)
    _LAYOUTS[config] = layout
    return layout


def watermark_pattern(payload: bytes, config: WatermarkConfig = WatermarkConfig()) -> np.ndarray:
    """The mark on the working plane: float32 ``[grid, grid]`` with unit RMS."""
    lay = _layout(config)
    coeffs = np.zeros((config.grid, config.grid), np.float32)
    coeffs[lay.rows, lay.cols] = embedded_bits(payload)[lay.bit] * lay.chip
    pattern = cv2.idct(coeffs)
    return pattern / float(np.sqrt(np.mean(pattern ** 2)))


# ---------------------------------------------------------------------------------------------
# Embedding


class WatermarkEmbedder:
    """Marks the frames of one clip with one payload.

    ``mark(frame)`` takes and returns ``uint8 [H, W, 3]`` RGB. The upsampled pattern is made
    once per frame size; per frame the work is a texture mask at 1/4 size and one add.
    """

    def __init__(self, payload: bytes, config: WatermarkConfig = WatermarkConfig()) -> None:
        self.config = config
        self.payload = payload
        self._pattern = watermark_pattern(payload, config)
        self._full: dict[tuple[int, int], np.ndarray] = {}

    def _pattern_at(self, height: int, width: int) -> np.ndarray:
        size = (height, width)
        if size not in self._full:
            # The detector shrinks frames onto the grid with INTER_AREA (a box average), which a
            # smooth upsampling inverts well; the pattern's highest frequency is far below Nyquist.
            self._full[size] = cv2.resize(self._pattern, (width, height),
                                          interpolation=cv2.INTER_CUBIC)
        return self._full[size]

    def texture_mask(self, luma: np.ndarray) -> np.ndarray:
        """Per-pixel amplitude in luma levels, float32 ``[H, W]``: ``strength`` on flat areas,
        up to ``strength * (1 + texture_boost)`` where the frame is busy (busy areas hide more)."""
        cfg = self.config
        h, w = luma.shape
        small = cv2.resize(luma, (max(w // 4, 8), max(h // 4, 8)),
                           interpolation=cv2.INTER_AREA).astype(np.float32)
        gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
        activity = cv2.blur(np.abs(gx) + np.abs(gy), (3, 3)) / 8.0  # Sobel gain is 4 per axis
        # A pixel counts as busy only if its whole neighbourhood is: the flat side of a title's
        # edge must not get the boost, or a halo of noise shows around the letters.
        activity = cv2.erode(activity, np.ones((5, 5), np.uint8))
        gain = cfg.strength * (1.0 + cfg.texture_boost * activity / (activity + cfg.texture_half))
        return cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)

    def mark(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ConfigError(f"watermark: frame has shape {frame.shape} {frame.dtype}, "
                              "expected [H, W, 3] uint8 RGB")
        h, w = frame.shape[:2]
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        delta = self._pattern_at(h, w) * self.texture_mask(luma)       # [H, W] luma levels
        delta = np.rint(delta).astype(np.int16)
        out = frame.astype(np.int16)
        out += delta[:, :, None]   # equal R, G, B change = luma change, no chroma change
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Detection


class WatermarkDetector:
    """Accumulates frames of one clip, then decides the 64 bits over all of them."""

    def __init__(self, config: WatermarkConfig = WatermarkConfig()) -> None:
        self.config = config
        self._sum = np.zeros((config.grid, config.grid), np.float64)
        self.frames = 0

    def add(self, frame: np.ndarray) -> None:
        """Take one ``uint8 [H, W, 3]`` RGB (or ``[H, W]`` luma) frame of any size."""
        luma = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        g = self.config.grid
        plane = cv2.resize(luma, (g, g), interpolation=cv2.INTER_AREA).astype(np.float32)
        self._sum += cv2.dct(self._normalize(plane))
        self.frames += 1

    def _normalize(self, plane: np.ndarray) -> np.ndarray:
        """Divide out the local host energy: float32 ``[grid, grid]`` -> same.

        Edges and text (a title, the AI label itself) carry far more energy in the band than
        the mark, and when they stand still they add up over frames exactly like it. Scaling
        each neighbourhood's high-pass by its own RMS lets flat areas, where the mark is nearly
        alone, count fully and busy ones count like any other area (divisive normalisation,
        the local form of a Wiener weighting). The floor keeps flat areas from amplifying
        compression noise.
        """
        cfg = self.config
        high = plane - cv2.GaussianBlur(plane, (0, 0), cfg.highpass_sigma)
        energy = cv2.GaussianBlur(high * high, (0, 0), cfg.energy_sigma)
        return high / np.sqrt(energy + cfg.energy_floor ** 2)

    def result(self) -> Detection:
        cfg, lay = self.config, _layout(self.config)
        if self.frames == 0:
            zeros = np.zeros(EMBEDDED_BITS)
            return Detection(None, False, False, zeros.astype(np.int8), zeros)
        x = self._sum[lay.rows, lay.cols]
        # First pass, to decide the signs: weight by 1/host power per frequency ring (natural
        # images fall off like 1/f, so low rings are noisier).
        counts = np.maximum(np.bincount(lay.ring), 1)
        power = np.bincount(lay.ring, weights=x * x) / counts
        wx = x / np.maximum(power[lay.ring], 1e-12)
        corr = np.bincount(lay.bit, weights=wx * lay.chip, minlength=EMBEDDED_BITS)
        # The no-mark spread comes from decoy chips run over the host alone: the mark as read
        # (each ring's mean amplitude times the decided chips) is taken out first, otherwise a
        # strong mark leaks into the decoys and caps every z-score near sqrt(coefficients/bit).
        signed = np.sign(corr)[lay.bit] * lay.chip
        amplitude = np.bincount(lay.ring, weights=x * signed) / counts
        residual = x - amplitude[lay.ring] * signed
        power = np.maximum(np.bincount(lay.ring, weights=residual * residual) / counts, 1e-12)
        # Matched filter proper: weight each ring by the mark's amplitude as received there
        # (compression and downscaling take the top of the band first) over its host power.
        # Ring estimates are noisy, so they are smoothed over neighbouring rings.
        smooth = np.convolve(amplitude, np.ones(5) / 5, mode="same")
        gain = (np.maximum(smooth, 0.0) / power)[lay.ring]
        wr = residual * gain
        corr = np.bincount(lay.bit, weights=x * gain * lay.chip, minlength=EMBEDDED_BITS)
        null = np.stack([np.bincount(lay.bit, weights=wr * d, minlength=EMBEDDED_BITS)
                         for d in lay.decoy])
        sigma = float(np.sqrt(np.mean(null ** 2)))
        z = corr / sigma if sigma > 0 else np.zeros_like(corr)
        bits = np.where(z >= 0, 1, -1).astype(np.int8)
        payload, crc_ok = _bits_to_payload(bits)
        min_abs = float(np.min(np.abs(z)))
        confidence = math.erf(min_abs / math.sqrt(2.0))   # 1 - 2 Q(|z|)
        mean_abs = float(np.mean(np.abs(z)))
        found = crc_ok and mean_abs >= cfg.min_mean_abs_z
        return Detection(payload=payload if found else None, found=found, crc_ok=crc_ok,
                         bits=bits, z=z, bit_confidence=confidence, mean_abs_z=mean_abs,
                         frames=self.frames)


def detect_watermark(frames: Iterable[np.ndarray],
                     config: WatermarkConfig = WatermarkConfig()) -> Detection:
    """Read the mark from frames (``uint8 [H, W, 3]`` RGB, any size), deciding over all of them."""
    detector = WatermarkDetector(config)
    for frame in frames:
        detector.add(frame)
    return detector.result()


def read_watermark(path: str | os.PathLike, config: WatermarkConfig = WatermarkConfig(), *,
                   max_frames: int | None = None) -> Detection:
    """Decode a video file and read its mark (every frame, or the first ``max_frames``)."""
    from media.video import read_frames

    detector = WatermarkDetector(config)
    for i, frame in enumerate(read_frames(Path(path))):
        if max_frames is not None and i >= max_frames:
            break
        detector.add(frame)
    return detector.result()
