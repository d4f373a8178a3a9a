"""``content-factory moderate``: check a text (or a clip's frames) and print the decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows.commands import MODERATION_EXIT, input_file, positive

MAX_TEXT_BYTES = 1024 * 1024


def register(app: typer.Typer) -> None:
    @app.command("moderate")
    def moderate(
        text: Annotated[str | None, typer.Option("--text", help="The text to check.")] = None,
        file: Annotated[Path | None, typer.Option(
            "--file", help="A UTF-8 text file to check.",
            callback=input_file("a UTF-8 text file"))] = None,
        video: Annotated[Path | None, typer.Option(
            "--video", help="A clip whose frames to check with the frame detector.",
            callback=input_file("a video clip"))] = None,
        locale: Annotated[str | None, typer.Option(
            "--locale", help="The text's locale (en, zh-TW, ...); default: every list.")] = None,
        field: Annotated[str, typer.Option(
            "--field",
            help="prompt, negative_prompt, caption or text (negative prompts are judged one step "
                 "more leniently for some categories).")] = "text",
        rate: Annotated[float, typer.Option(
            "--rate", help="Frames sampled per second of video (plus the first and last).",
            callback=positive)] = 1.0,
    ) -> None:
        """Print the moderation decision as JSON: decision, reasons, scores, detector.

        Exits 0 for allow, 3 for review and 4 for block (1 on an error), like every command.
        """
        from common.errors import ConfigError
        from common.inputs import read_text
        from moderation import NudeNetDetector, Policy

        if sum(x is not None for x in (text, file, video)) != 1:
            raise ConfigError("moderate: give exactly one of --text TEXT, --file PATH or "
                              "--video PATH")
        policy = Policy.load()
        if video is not None:
            from moderation.checks import moderate_clip_frames

            decision = moderate_clip_frames(video, NudeNetDetector(), policy, rate)
        else:
            if file is not None:
                text = read_text(file, max_bytes=MAX_TEXT_BYTES, what="text file")
            if not (text or "").strip():
                where = f"{file}: the file" if file is not None else "--text"
                raise ConfigError(f"{where} is empty: there is no text to moderate")
            subject = str(file) if file is not None else ""
            decision = policy.check_text(text, locale=locale, field=field, subject=subject)
        typer.echo(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2))
        raise typer.Exit(MODERATION_EXIT[str(decision.decision)])
