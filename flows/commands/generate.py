"""``content-factory generate``: one prompt -> one MP4 with the MoE text-to-video model."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        prompt: str = typer.Option(..., "--prompt", help="What the clip shows (any language)."),
        negative: str = typer.Option("", "--negative", help="What to avoid (default: the preset's "
                                     "official negative prompt)."),
        preset: str = typer.Option("t2v-a14b", "--preset", help="t2v-a14b or tiny."),
        weights: Path = typer.Option(None, "--weights", help="Weights folder (diffusers or "
                                     "original layout); not needed for --preset tiny."),
        size: str = typer.Option(None, "--size", help="WxH, both divisible by 16 (default: the "
                                 "preset's, 1280x720 for t2v-a14b)."),
        frames: int = typer.Option(None, "--frames", help="Frame count, 4n+1 (default: preset)."),
        steps: int = typer.Option(None, "--steps", help="Sampling steps (default: preset)."),
        seed: int = typer.Option(0, "--seed", help="Noise seed: same seed, same frames."),
        sampler: str = typer.Option("unipc", "--sampler", help="unipc or euler."),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
        out: Path = typer.Option(..., "--out", help="Output MP4."),
    ) -> None:
        """Render PROMPT into OUT.mp4 and print where it went and how many frames it has."""
        from common.errors import ConfigError
        from model.config import get_preset
        from tasks.render import RenderRequest
        from tasks.render_model import ModelBackend
        from tasks.video import write_video

        config = get_preset(preset)
        width, height = config.width, config.height
        if size:
            try:
                width, height = (int(v) for v in size.lower().split("x"))
            except ValueError:
                raise ConfigError(f"--size {size!r}: expected WxH, e.g. 1280x720") from None
        request = RenderRequest(
            prompt=prompt, negative_prompt=negative, seed=seed, width=width, height=height,
            frames=frames or config.frames, fps=config.fps, steps=steps or config.sampler.steps,
            guidance_high=config.sampler.guidance_high, guidance_low=config.sampler.guidance_low,
            shift=config.sampler.shift, sampler=sampler)
        backend = ModelBackend(preset=preset, weights_dir=weights, device=device)

        def progress(done: int, total: int) -> None:
            typer.echo(f"\rstep {done}/{total}", nl=done == total, err=True)

        written = write_video(out, backend.render(request, on_progress=progress), fps=config.fps)
        typer.echo(f"wrote {out} ({written} frames, {width}x{height} at {config.fps} fps)")
