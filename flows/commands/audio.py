"""``content-factory voice`` and ``content-factory mix``: the audio stage by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True)  # paths and figures stay on one line, whatever the width


def register(app: typer.Typer) -> None:
    @app.command("voice")
    def voice(
        text: Annotated[str, typer.Option("--text", help="What to say (one or more sentences).")],
        locale: Annotated[str, typer.Option("--locale", help="BCP-47 locale: en, zh-CN, ar, ja, ...")],
        out_path: Annotated[Path, typer.Option("--out", help="WAV file to write (48 kHz mono).")],
        voice_name: Annotated[str, typer.Option(
            "--voice", help="ENGINE:VOICE (piper:en_US-joe-medium, kokoro:jf_alpha, espeak:cmn, "
                            "...) or auto: the locale's default.")] = "auto",
    ) -> None:
        """Speak TEXT in LOCALE with an offline voice; print the engine and each sentence's time."""
        from media.audio import write_wav
        from tasks.audio.voices import synthesize

        speech = synthesize(text, locale, voice_name)
        write_wav(out_path, speech.samples, speech.rate)
        out.print(f"{out_path}: {speech.seconds:.2f} s, {speech.engine}"
                  f"{'' if speech.synthetic else ' (recorded)'}")
        for s in speech.sentences:
            out.print(f"  {s.start:6.2f} - {s.end:6.2f}  {s.text}", markup=False, highlight=False)

    @app.command("mix")
    def mix(
        clip: Annotated[Path, typer.Argument(help="The clip (MP4) to put the sound under.")],
        out_path: Annotated[Path, typer.Option("--out", help="The clip with its soundtrack (MP4).")],
        voice_file: Annotated[Path | None, typer.Option(
            "--voice", help="Voice-over (WAV or any audio file ffmpeg reads).")] = None,
        music: Annotated[Path | None, typer.Option(
            "--music", help="Music bed, looped or trimmed to the clip and ducked under the voice.")]
        = None,
        locale: Annotated[str, typer.Option(
            "--locale", help="Language of the voice, for the audio track's tag.")] = "und",
        at: Annotated[float, typer.Option(
            "--at", help="Seconds into the clip where the voice starts.")] = 0.3,
        loudness: Annotated[float, typer.Option(help="Integrated loudness target, LUFS.")] = -14.0,
        true_peak: Annotated[float, typer.Option(help="True-peak ceiling, dBTP.")] = -1.0,
        ducking: Annotated[float, typer.Option(
            help="dB the music drops while the voice speaks.")] = 12.0,
        music_level: Annotated[float, typer.Option(
            help="dB of the music against the voice between sentences.")] = -8.0,
    ) -> None:
        """Mix VOICE over MUSIC (ducked under speech), normalise to the loudness target with a
        true-peak ceiling, mux it under CLIP as AAC 48 kHz stereo; print the measured loudness."""
        import tempfile

        import numpy as np

        from common.errors import ConfigError
        from media.audio import RATE, measure_loudness, read_audio
        from media.video import probe
        from tasks.audio.mix import Mastering, master_soundtrack, mux_soundtrack
        from tasks.audio.voices import trim_silence, voiced_spans

        if voice_file is None and music is None:
            raise ConfigError("mix: give --voice, --music or both")
        if at < 0:
            raise ConfigError(f"--at {at}: the voice cannot start before the clip")
        info = probe(clip)
        duration = info.frames / float(info.fps)
        track, spans = None, []
        if voice_file is not None:
            samples = trim_silence(read_audio(voice_file))
            track = np.concatenate([np.zeros(round(at * RATE), np.float32), samples])
            if track.size > round(duration * RATE):
                raise ConfigError(f"--voice {voice_file}: {samples.size / RATE:.2f} s of speech "
                                  f"from {at:g} s runs past the end of {clip.name} "
                                  f"({duration:.2f} s)")
            spans = [(at + s, at + e) for s, e in voiced_spans(samples)]
        mastering = Mastering(loudness=loudness, true_peak=true_peak, ducking=ducking,
                              music_level=music_level)
        with tempfile.TemporaryDirectory(prefix="cf-mix-") as tmp:
            sound = Path(tmp) / "sound.m4a"
            master_soundtrack(sound, duration=duration, mastering=mastering, work_dir=Path(tmp),
                              voice=track, spans=spans, music=music, locale=locale)
            mux_soundtrack(clip, sound, out_path, locale=locale)
        measured = measure_loudness(out_path)  # on the delivered file, not the intermediate
        out.print(f"{out_path}: {measured} (target {loudness:g} LUFS, ceiling {true_peak:g} dBTP)")
