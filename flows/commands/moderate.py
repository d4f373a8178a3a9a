"""``content-factory moderate``: check a text against the term lists and print the decision."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("moderate")
    def moderate(
        text: str | None = typer.Option(None, "--text", help="The text to check."),
        file: Path | None = typer.Option(None, "--file", help="A UTF-8 text file to check."),
        locale: str | None = typer.Option(
            None, "--locale", help="The text's locale (en, zh-TW, ...); default: every list."),
        field: str = typer.Option(
            "text", "--field", help="prompt, negative_prompt, caption or text (negative "
            "prompts are judged one step more leniently for some categories)."),
    ) -> None:
        """Print the moderation decision for a text as JSON: decision, reasons, scores."""
        from common.errors import FactoryError
        from moderation import Policy

        if (text is None) == (file is None):
            typer.echo("moderate: give exactly one of --text TEXT or --file PATH", err=True)
            raise typer.Exit(2)
        try:
            if file is not None:
                try:
                    text = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    typer.echo(f"moderate: cannot read {file} as UTF-8 text: {exc}", err=True)
                    raise typer.Exit(2) from exc
            subject = str(file) if file is not None else "--text"
            decision = Policy.load().check_text(text, locale=locale, field=field,
                                                subject=subject)
        except FactoryError as exc:
            typer.echo(f"moderate: {exc}", err=True)
            raise typer.Exit(1) from exc
        typer.echo(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2))
