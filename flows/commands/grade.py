"""``content-factory grade``: a clip through a brand look (.cube) and/or matched to a reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("grade")
    def grade(
        src: Annotated[Path, typer.Argument(help="Clip to grade (any video ffmpeg reads).")],
        dst: Annotated[Path, typer.Argument(help="Graded clip to write (H.264 MP4).")],
        lut: Annotated[Path | None, typer.Option(
            "--lut", help="A .cube 3D LUT (the brand look), applied after matching.")] = None,
        strength: Annotated[float, typer.Option(
            "--strength", min=0.0, max=1.0, help="How much of the look: 0 none, 1 all.")] = 1.0,
        match: Annotated[Path | None, typer.Option(
            "--match", help="Match white balance, exposure and saturation to this image or "
                            "clip first.")] = None,
    ) -> None:
        """Grade SRC into DST in one decode and one encode; prints a JSON report."""
        from common.errors import ConfigError
        from tasks.grade import load_cube
        from tasks.grade.stage import grade_clip, image_stats

        if lut is None and match is None:
            raise ConfigError("grade: give --lut LOOK.cube, --match REF, or both")
        look = load_cube(lut, field="--lut") if lut is not None else None
        reference = image_stats(match) if match is not None else None
        report = grade_clip(src, dst, look=look, strength=strength, reference=reference)
        typer.echo(json.dumps(report.to_dict(), indent=2))
