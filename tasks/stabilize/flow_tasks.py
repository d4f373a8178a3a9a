"""The stabilization stage as a Prefect task (a thin wrapper of :func:`stabilize_clip`)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.stabilize.stage import StabilizeOptions, StabilizeReport, stabilize_clip


# No Prefect result cache: the output is a file on disk, and a cached report would not bring
# a deleted or moved output back.
@task(name="stabilize-clip", cache_policy=NO_CACHE)
def stabilize_task(src: Path, dst: Path, target_fps: int | float | Fraction | None = None,
                   options: StabilizeOptions = StabilizeOptions()) -> StabilizeReport:
    return stabilize_clip(src, dst, target_fps=target_fps, options=options)
