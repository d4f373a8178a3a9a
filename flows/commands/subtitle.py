"""``content-factory subtitle``: burn a cue file into a clip and write SRT/WebVTT sidecars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.commands import input_file, output_file


def register(app: typer.Typer) -> None:
    @app.command("subtitle")
    def subtitle(
        video: Annotated[Path, typer.Argument(help="Clip to subtitle (MP4).",
                                              callback=input_file("a video clip"))],
        cues: Annotated[Path, typer.Option(
            "--cues", help="Cue file (SRT); its text is taken literally.",
            callback=input_file("an SRT cue file"))],
        locale: Annotated[str, typer.Option(
            "--locale", help="BCP-47 locale of the cues: en, zh-CN, ja, ar, ...")],
        out: Annotated[Path, typer.Option(
            "--out", help="Burned-in clip; sidecars go next to it as OUT.LOCALE.srt/.vtt/.ass.",
            callback=output_file("an MP4 file to write"))],
        primary: Annotated[str, typer.Option(
            help="Brand primary colour (outline when it contrasts with the text).")] = "#000000",
        text: Annotated[str, typer.Option(help="Caption text colour.")] = "#FFFFFF",
        fonts_dir: Annotated[Path | None, typer.Option(
            "--fonts-dir",
            help="Font folder (default: the project's .fonts-cache from `make fonts`).")] = None,
        soft_track: Annotated[bool, typer.Option(
            "--soft-track", help="Also add the cues as a language-tagged mov_text track.")] = False,
    ) -> None:
        """Burn the cues of CUES.srt into VIDEO with libass and write OUT plus OUT.LOCALE.srt/.vtt.

        Cue text is re-wrapped to the locale's line rules (line length, phrase breaks, kinsoku)
        and each cue keeps its time span.
        """
        from dataclasses import replace

        from media.fonts import default_fonts_dir
        from media.locales import rules_for
        from media.video import probe
        from tasks.subtitles import (
            ShotCaptions,
            SubtitleStyle,
            build_cues,
            burn_subtitles,
            mux_soft_subtitles,
            read_srt,
            write_sidecars,
        )

        info = probe(video)
        # The cue file's author chose each span: honour it even when shorter than the minimum
        # on-screen time a generated caption gets.
        rules = replace(rules_for(locale), min_seconds=0.0)
        joiner = "" if rules.joins_without_spaces else " "
        # Each cue of the file is a "shot" for timing: the text is re-laid out inside its span.
        shots = [ShotCaptions(shot_id=f"{cues.name} {cue.shot_id}", start=cue.start, end=cue.end,
                              lines=[joiner.join(cue.lines)]) for cue in read_srt(cues)]
        timed = build_cues(shots, locale=locale, rules=rules)
        style = SubtitleStyle.from_brand(primary=primary, text=text,
                                         frame_height=info.height, frame_width=info.width)
        stem = out.with_suffix("")
        paths = write_sidecars(timed, locale=locale, out_stem=stem, style=style, frame_size=info.size)
        fonts = fonts_dir or default_fonts_dir()
        if soft_track:
            burned = burn_subtitles(video, paths["ass"], out.with_name(f".{out.name}.burned.mp4"),
                                    fonts_dir=fonts)
            mux_soft_subtitles(burned, out, {locale: paths["srt"]})
            burned.unlink()
        else:
            burn_subtitles(video, paths["ass"], out, fonts_dir=fonts)
        typer.echo(f"{out}\n{paths['srt']}\n{paths['vtt']}")
