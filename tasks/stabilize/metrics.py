"""How steady a clip is: the numbers the stage reports before and after it runs.

- **stability**: share of the camera path's energy in its lowest frequencies, after Liu et al.
  2013 ("Bundled camera paths for video stabilization", SIGGRAPH, section 6): FFT of the path,
  bins 2-6 (1-5 after the DC bin) over all bins but DC. Translation x, y and rotation (as the
  arc, in px, it moves the frame corner) are pooled into one share rather than taking the
  minimum of translation and rotation as the paper does: synthetic and generated clips often
  have no rotation at all, and the minimum would then be decided by estimation noise. 1.0 is
  perfectly smooth; shaky hand-held footage scores ~0.3-0.6.
- **itf**: inter-frame transformation fidelity, the mean PSNR (dB) of consecutive frames. Measured
  on the analysis copies (scaled to ``analysis_width``, 320 px) so it comes out of the same
  cheap pass as everything else; it ranks clips as the full-size ITF does, but its absolute
  values run higher.
- **cropping**: mean over frames of ``1 / scale`` of the transform from input to output frame
  (DIFRINT's definition); 1.0 = nothing cropped.
- **distortion**: worst frame's ratio of the smaller to the larger singular value of that
  transform's linear part; 1.0 = no anisotropic stretch. (DIFRINT uses eigenvalues of a fitted
  homography; singular values are not confused by rotation.)
- **jitter**: RMS (px) of the camera path around its own smoothed course: the shake itself.
- **flicker**: RMS (grey levels) of the frame brightness around its running median: brightness
  that jumps up and down from frame to frame, while fades and cuts add nothing. Brightness is
  compared on the same content (each frame against the previous one aligned by the camera
  motion), so shake and moving content do not count as flicker.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from media.video import probe
from tasks.stabilize.analysis import ClipAnalysis, analyse_clip, read_analysis_frames
from tasks.stabilize.motion import MotionOptions, analysis_size
from tasks.stabilize.smoothing import smooth_gaussian, smooth_median

LOW_BINS = 5            # Liu et al. 2013: the 2nd to 6th FFT components
JITTER_RADIUS = 15      # frames; the smoothing the stage itself uses by default
FLICKER_RADIUS = 3      # frames either side of the running median
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, what yuv420p video stores as Y


@dataclass(frozen=True)
class ClipMetrics:
    """The steadiness of one clip; see the module docstring for each number."""

    frames: int
    stability: float
    itf: float
    cropping: float
    distortion: float
    jitter: float
    flicker: float

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def path_signals(path: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Camera path ``[N, 4]`` (x, y, angle, log zoom) -> ``[N, 4]`` in pixels.

    Angle and log zoom become the distance they move a frame corner (half the diagonal times
    the angle, or times the relative zoom), so all four are comparable and can be pooled.
    """
    half_diagonal = 0.5 * math.hypot(*size)
    return path * np.array([1.0, 1.0, half_diagonal, half_diagonal])


def stability_score(path: np.ndarray, size: tuple[int, int], low_bins: int = LOW_BINS) -> float:
    """Share of low-frequency energy in the translation and rotation paths, in [0, 1].

    ``path`` is ``[N, 4]`` (x, y, angle, log zoom) from :func:`camera_path`; zoom is left out
    as in Liu et al. 2013. A path that does not move at all scores 1.0.
    """
    signals = path_signals(path, size)[:, :3]  # [N, 3]: x, y, rotation arc
    n = len(signals)
    if n < 3:
        return 1.0
    spectrum = np.abs(np.fft.rfft(signals, axis=0)[1:]) ** 2  # [N//2, 3], DC dropped
    total = float(spectrum.sum())
    if total <= 1e-6 * n:  # under a thousandth of a pixel of movement: perfectly still
        return 1.0
    return float(spectrum[:low_bins].sum() / total)


def jitter(analysis: ClipAnalysis, radius: int = JITTER_RADIUS) -> float:
    """RMS (px) of the camera path around its Gaussian-smoothed course, shot by shot."""
    signals = path_signals(analysis.path, (analysis.width, analysis.height))
    if len(signals) < 2:
        return 0.0
    residual = signals - smooth_gaussian(signals, analysis.shots, radius)
    return float(np.sqrt((residual ** 2).sum(axis=1).mean()))


def tone_residual(analysis: ClipAnalysis, radius: int = FLICKER_RADIUS) -> np.ndarray:
    """``[N, 3]`` grey levels by which each frame's brightness (per channel, on the same
    content: see ``ClipAnalysis.tone_steps``) is off its running median, shot by shot."""
    tone = analysis.tone_path
    if len(tone) < 3:
        return np.zeros_like(tone)
    return (tone - smooth_median(tone, analysis.shots, radius)) * (analysis.means + 1.0)


def flicker(analysis: ClipAnalysis, radius: int = FLICKER_RADIUS) -> float:
    """RMS (grey levels) of frame brightness (luma) around its running median, shot by shot."""
    residual = tone_residual(analysis, radius) @ LUMA
    return float(np.sqrt((residual ** 2).mean())) if len(residual) else 0.0


def crop_and_distortion(transforms: Iterable[np.ndarray]) -> tuple[float, float]:
    """(cropping ratio, distortion) of per-frame ``[2, 3]`` input -> output affine transforms."""
    inverse_scales, ratios = [], []
    for matrix in transforms:
        linear = np.asarray(matrix, dtype=np.float64)[:, :2]
        singular = np.linalg.svd(linear, compute_uv=False)
        inverse_scales.append(1.0 / math.sqrt(max(abs(np.linalg.det(linear)), 1e-12)))
        ratios.append(float(singular[-1] / max(singular[0], 1e-12)))
    if not ratios:
        return 1.0, 1.0
    return float(np.mean(inverse_scales)), float(min(ratios))


def clip_metrics(analysis: ClipAnalysis,
                 transforms: Sequence[np.ndarray] | None = None) -> ClipMetrics:
    """Metrics of an analysed clip. ``transforms`` (input -> output, one ``[2, 3]`` per frame)
    give cropping and distortion; without them the clip is its own input (1.0 and 1.0)."""
    cropping, distortion = crop_and_distortion(transforms if transforms is not None else [])
    itf = float(analysis.psnr.mean()) if len(analysis.psnr) else 0.0
    return ClipMetrics(frames=analysis.frames,
                       stability=stability_score(analysis.path, (analysis.width, analysis.height)),
                       itf=itf, cropping=cropping, distortion=distortion,
                       jitter=jitter(analysis), flicker=flicker(analysis))


def measure_clip(path: str | os.PathLike, options: MotionOptions = MotionOptions(), *,
                 source: str | os.PathLike | None = None) -> ClipMetrics:
    """Metrics of a video file. With ``source`` (the clip it was made from, same frame count),
    cropping and distortion are estimated by matching each frame to its source frame, which is
    how any other stabilizer's output (vid.stab) is judged on equal terms."""
    analysis = analyse_clip(path, options)
    transforms = estimate_transforms(source, path, options) if source is not None else None
    return clip_metrics(analysis, transforms)


def estimate_transforms(source: str | os.PathLike, output: str | os.PathLike,
                        options: MotionOptions = MotionOptions()) -> list[np.ndarray]:
    """Per-frame ``[2, 3]`` affine (full-size px, about the centre) from ``source`` frames to
    the matching ``output`` frames: corners tracked across, full affine fitted with RANSAC.
    Frames where too few corners match are skipped."""
    src_info, out_info = probe(source), probe(output)
    size = analysis_size(src_info.width, src_info.height, options.analysis_width)
    out_size = analysis_size(out_info.width, out_info.height, options.analysis_width)
    sx, sy = src_info.width / size[0], src_info.height / size[1]
    ox, oy = out_info.width / size[0], out_info.height / size[1]
    transforms: list[np.ndarray] = []
    pairs = zip(read_analysis_frames(source, size), read_analysis_frames(output, out_size))
    for a, b in pairs:
        ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        if gb.shape != ga.shape:
            gb = cv2.resize(gb, (ga.shape[1], ga.shape[0]), interpolation=cv2.INTER_AREA)
        pts = cv2.goodFeaturesToTrack(ga, options.max_corners, options.corner_quality,
                                      options.corner_distance, blockSize=3)
        if pts is None or len(pts) < options.min_tracks:
            continue
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            ga, gb, pts, None, winSize=(options.lk_window, options.lk_window),
            maxLevel=options.lk_levels)
        good = status[:, 0] == 1
        if good.sum() < options.min_tracks:
            continue
        src = np.stack([(pts[good, 0, 0] + 0.5) * sx - src_info.width / 2,
                        (pts[good, 0, 1] + 0.5) * sy - src_info.height / 2], axis=1)
        # Output corners were tracked on the output resized to the source's analysis size.
        dst = np.stack([(moved[good, 0, 0] + 0.5) * ox - out_info.width / 2,
                        (moved[good, 0, 1] + 0.5) * oy - out_info.height / 2], axis=1)
        matrix, inliers = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC,
                                               ransacReprojThreshold=2.0 * max(sx, sy))
        if matrix is not None and inliers is not None and inliers.sum() >= options.min_tracks:
            transforms.append(matrix)
    return transforms


def describe(before: ClipMetrics, after: ClipMetrics) -> str:
    """Two-line human summary, for logs and the CLI."""
    return (f"stability {before.stability:.3f} -> {after.stability:.3f}, "
            f"ITF {before.itf:.2f} -> {after.itf:.2f} dB, jitter {before.jitter:.2f} -> "
            f"{after.jitter:.2f} px, flicker {before.flicker:.2f} -> {after.flicker:.2f}, "
            f"cropping {after.cropping:.3f}, distortion {after.distortion:.3f}")


__all__ = ["ClipMetrics", "clip_metrics", "crop_and_distortion", "describe",
           "estimate_transforms", "flicker", "jitter", "measure_clip", "stability_score"]
