"""Frame stabilization stage: camera shake, brightness flicker and frame rate, with metrics.

The public surface, usable with plain numpy frames and no Prefect::

    from tasks.stabilize import StabilizeOptions, stabilize_clip
    report = stabilize_clip(Path("in.mp4"), Path("out.mp4"), target_fps=24)
    report.to_dict()   # {"before": {...}, "after": {...}, "shake_corrected": ..., ...}

    stabilize_frames(frames)              # shake, over a list / ClipFrames(path)
    deflicker(frames)                     # flicker, streaming
    interpolate_fps(frames, 16, 24)       # frame rate, streaming

Importing this package does not import Prefect: the flows wrap it in ``tasks.master``.
"""

from __future__ import annotations

from tasks.stabilize.analysis import ClipAnalysis, analyse_clip, analyse_frames
from tasks.stabilize.flicker import FlickerOptions, FlickerPlan, deflicker, plan_deflicker
from tasks.stabilize.interpolate import InterpolateOptions, interpolate_fps, output_frame_count
from tasks.stabilize.metrics import ClipMetrics, clip_metrics, measure_clip, stability_score
from tasks.stabilize.motion import Motion, MotionOptions, track_motion
from tasks.stabilize.shake import ShakeOptions, ShakePlan, plan_shake, stabilize_frames
from tasks.stabilize.stage import ClipFrames, StabilizeOptions, StabilizeReport, stabilize_clip

__all__ = [
    "ClipAnalysis", "ClipFrames", "ClipMetrics", "FlickerOptions", "FlickerPlan",
    "InterpolateOptions", "Motion", "MotionOptions", "ShakeOptions", "ShakePlan",
    "StabilizeOptions", "StabilizeReport", "analyse_clip", "analyse_frames", "clip_metrics",
    "deflicker", "interpolate_fps", "measure_clip", "output_frame_count", "plan_deflicker",
    "plan_shake", "stability_score", "stabilize_clip", "stabilize_frames",
    "track_motion",
]

