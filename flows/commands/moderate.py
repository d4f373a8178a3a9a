"""``content-factory moderate``: check a text (or a clip's frames) and print the decision."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("moderate")
    def moderate(
        text: str | None = typer.Option(None, "--text", help="The text to check."),
        file: Path | None = typer.Option(None, "--file", help="A UTF-8 text file to check."),
        video: Path | None = typer.Option(
            None, "--video", help="A clip whose frames to check with the frame detector."),
        locale: str | None = typer.Option(
            None, "--locale", help="The text's locale (en, zh-TW, ...); default: every list."),
        field: str = typer.Option(
            "text", "--field", help="prompt, negative_prompt, caption or text (negative "
            "prompts are judged one step more leniently for some categories)."),
        rate: float = typer.Option(1.0, "--rate", help="Frames sampled per second of video "
                                   "(plus the first and last)."),
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
                from tasks.moderate import moderate_clip_frames

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
