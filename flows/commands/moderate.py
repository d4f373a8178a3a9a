"""``content-factory moderate``: check a text (or a clip's frames) and print the decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("moderate")
    def moderate(
        text: Annotated[str | None, typer.Option("--text", help="The text to check.")] = None,
        file: Annotated[Path | None, typer.Option(
            "--file", help="A UTF-8 text file to check.")] = None,
        video: Annotated[Path | None, typer.Option(
            "--video", help="A clip whose frames to check with the frame detector.")] = None,
        locale: Annotated[str | None, typer.Option(
            "--locale", help="The text's locale (en, zh-TW, ...); default: every list.")] = None,
        field: Annotated[str, typer.Option(
            "--field",
            help="prompt, negative_prompt, caption or text (negative prompts are judged one step "
                 "more leniently for some categories).")] = "text",
        rate: Annotated[float, typer.Option(
            "--rate", help="Frames sampled per second of video (plus the first and last).")] = 1.0,
    ) -> None:
        """Print the moderation decision as JSON: decision, reasons, scores, detector."""
        from common.errors import FactoryError
        from moderation import NudeNetDetector, Policy

        if sum(x is not None for x in (text, file, video)) != 1:
            typer.echo("moderate: give exactly one of --text TEXT, --file PATH or --video PATH",
                       err=True)
            raise typer.Exit(2)
        try:
            policy = Policy.load()
            if video is not None:
                from moderation.checks import moderate_clip_frames

                decision = moderate_clip_frames(video, NudeNetDetector(), policy, rate)
            else:
                if file is not None:
                    try:
                        text = file.read_text(encoding="utf-8")
                    except (OSError, UnicodeDecodeError) as exc:
                        typer.echo(f"moderate: cannot read {file} as UTF-8 text: {exc}",
                                   err=True)
                        raise typer.Exit(2) from exc
                subject = str(file) if file is not None else ""
                decision = policy.check_text(text, locale=locale, field=field, subject=subject)
        except FactoryError as exc:
            typer.echo(f"moderate: {exc}", err=True)
            raise typer.Exit(1) from exc
        typer.echo(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2))
