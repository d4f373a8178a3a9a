"""``content-factory stabilize``: steady a clip (shake, flicker, frame rate) and report how much."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows.commands import input_file, output_file, positive


def register(app: typer.Typer) -> None:
    @app.command("stabilize")
    def stabilize(
        src: Annotated[Path, typer.Argument(help="Clip to steady (any video ffmpeg reads).",
                                            callback=input_file("a video clip"))],
        dst: Annotated[Path, typer.Argument(help="Steadied clip to write (H.264 MP4).",
                                            callback=output_file("an MP4 file to write"))],
        fps: Annotated[float | None, typer.Option(
            "--fps",
            help="Re-time to this frame rate (e.g. 24 or 30) by motion-compensated interpolation; "
                 "default: keep it.", callback=positive)] = None,
        report: Annotated[Path | None, typer.Option(
            "--report", help="Write the metrics before and after as JSON here.",
            callback=output_file("a JSON file to write"))] = None,
        no_shake: Annotated[bool, typer.Option(
            "--no-shake", help="Leave camera shake alone.")] = False,
        no_flicker: Annotated[bool, typer.Option(
            "--no-flicker", help="Leave flicker alone.")] = False,
        smoothing: Annotated[int, typer.Option(
            "--smoothing", min=1,
            help="Camera path smoothing, frames either side (as vid.stab's smoothing).")] = 15,
        match_colour: Annotated[Path | None, typer.Option(
            "--match-colour",
            help="Also match white balance, exposure and saturation to this image or clip, "
                 "in the same pass.")] = None,
    ) -> None:
        """Remove camera shake and brightness flicker from SRC and write DST.

        A clip that is already steady is copied unchanged. Prints the report as JSON.
        """
        from dataclasses import replace

        from common.errors import ConfigError
        from tasks.stabilize import ShakeOptions, StabilizeOptions, stabilize_clip

        if smoothing < 1:
            raise ConfigError(f"--smoothing must be at least 1 frame, got {smoothing}")
        target = _rate(fps) if fps is not None else None
        options = replace(StabilizeOptions(), correct_shake=not no_shake,
                          correct_flicker=not no_flicker,
                          shake=ShakeOptions(radius=smoothing))
        reference = None
        if match_colour is not None:
            from tasks.grade.stage import image_stats

            reference = image_stats(match_colour)
        result = stabilize_clip(src, dst, target_fps=target, options=options,
                                colour_reference=reference).to_dict()
        text = json.dumps(result, indent=2)
        if report is not None:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(text + "\n")
        typer.echo(text)


def _rate(fps: float):
    """--fps as an exact rate: 29.97 means 30000/1001 (NTSC), 24 means 24."""
    from fractions import Fraction

    ntsc = round(fps * 1.001)
    if fps != int(fps) and abs(fps - ntsc * 1000 / 1001) < 0.006:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)
