"""Colour grading: shots matched to a reference in Lab, then the brand's look (a .cube 3D LUT).

    frame_stats(frames) -> ColourStats           robust Lab statistics of a shot (or an image)
    fit_correction(shot, reference) -> Correction  white balance, exposure, saturation, bounded
    load_cube(path) -> Lut3D                     a .cube LUT, SpecError naming file and line
    ColourTable.build(correction, look, strength)  one table per shot; .apply(frame)
    CutMeter                                     ΔE at each cut, before and after grading
    grade_clip(src, dst, ...)                    a file graded (content-factory grade)

Importing this package does not import Prefect; the master applies the grade in its own pass.
"""

from tasks.grade.cube import Lut3D, load_cube, write_cube
from tasks.grade.lab import delta_e, mean_delta_e, mean_lab, rgb_to_lab
from tasks.grade.match import (
    ColourStats,
    Correction,
    MatchBounds,
    StatsAccumulator,
    fit_correction,
    frame_stats,
)
from tasks.grade.table import ColourTable

__all__ = [
    "ColourStats", "ColourTable", "Correction", "Lut3D", "MatchBounds", "StatsAccumulator",
    "delta_e", "fit_correction", "frame_stats", "load_cube", "mean_delta_e", "mean_lab",
    "rgb_to_lab", "write_cube",
]
