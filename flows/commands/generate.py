"""``content-factory generate``: one prompt -> one MP4 with the MoE text-to-video model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.commands import output_file


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        prompt: Annotated[str, typer.Option(
            "--prompt", help="What the clip shows (any language).")],
        out: Annotated[Path, typer.Option("--out", help="Output MP4.",
                                          callback=output_file("an MP4 file to write"))],
        negative: Annotated[str, typer.Option(
            "--negative", help="What to avoid (default: the preset's official negative prompt).")] = "",
        preset: Annotated[str, typer.Option("--preset", help="t2v-a14b or tiny.")] = "t2v-a14b",
        weights: Annotated[Path | None, typer.Option(
            "--weights",
            help="Weights folder (diffusers or original layout); not needed for --preset tiny.")] = None,
        size: Annotated[str | None, typer.Option(
            "--size",
            help="WxH, one of the preset's sizes (t2v-a14b: 1280x720, 720x1280, 832x480, "
                 "480x832; default 1280x720).")] = None,
        frames: Annotated[int | None, typer.Option(
            "--frames", min=1, help="Frame count, 4n+1 (default: preset).")] = None,
        steps: Annotated[int | None, typer.Option(
            "--steps", min=1, help="Sampling steps (default: preset).")] = None,
        seed: Annotated[int, typer.Option(
            "--seed", min=0, help="Noise seed: same seed, same frames.")] = 0,
        sampler: Annotated[str | None, typer.Option(
            "--sampler", help="unipc or euler (default: the preset's).")] = None,
        sampling: Annotated[str | None, typer.Option(
            "--sampling", help="Sampling preset: default, or fast (the 4-step distilled recipe: "
            "Euler, shift 5, guidance 1; load the distill LoRAs with --lora-high/--lora-low).")]
        = None,
        step_cache: Annotated[str | None, typer.Option(
            "--step-cache", help="off or easycache (training-free, ~2x fewer DiT forwards; not "
            "with --sampling fast).")] = None,
        lora: Annotated[list[Path] | None, typer.Option(
            "--lora", help="LoRA .safetensors merged into both experts (repeatable).")] = None,
        lora_high: Annotated[list[Path] | None, typer.Option(
            "--lora-high", help="LoRA for the high-noise expert only (repeatable).")] = None,
        lora_low: Annotated[list[Path] | None, typer.Option(
            "--lora-low", help="LoRA for the low-noise expert only (repeatable).")] = None,
        lora_strength: Annotated[float, typer.Option(
            "--lora-strength", help="Strength of every LoRA given here.")] = 1.0,
        device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N.")] = "auto",
    ) -> None:
        """Render PROMPT into OUT.mp4 and print where it went and how many frames it has."""
        from common.errors import ConfigError, echo
        from media.video import write_video
        from model.config import LoraSettings, get_preset
        from tasks.render import RenderRequest
        from tasks.render.model import ModelBackend

        config = get_preset(preset)
        width, height = config.width, config.height
        if size:
            try:
                width, height = (int(v) for v in size.lower().split("x"))
            except ValueError:
                raise ConfigError(f"--size {echo(size)}: expected WxH, e.g. 1280x720") from None
        # Only a missing option means the preset's default (0 is refused by min=1 above).
        frames = frames if frames is not None else config.frames
        if width <= 0 or height <= 0 or width % 16 or height % 16:
            raise ConfigError(f"--size {width}x{height}: both sides must be positive multiples "
                              "of 16, e.g. 1280x720")
        config.check_size(width, height, frames)  # before any weights load
        loras = tuple(LoraSettings(str(path.resolve()), lora_strength, experts)
                      for paths, experts in ((lora, ("high", "low")), (lora_high, ("high",)),
                                             (lora_low, ("low",)))
                      for path in paths or ())
        wanted = {"preset": sampling, "steps": steps, "sampler": sampler,
                  "step_cache": step_cache}
        request = RenderRequest(
            prompt=prompt, negative_prompt=negative, seed=seed, width=width, height=height,
            frames=frames, fps=config.fps,
            sampling={k: v for k, v in wanted.items() if v is not None}, loras=loras)
        backend = ModelBackend(preset=preset, weights_dir=weights, device=device)
        backend.sampling(request)  # a bad combination fails before any weights load

        def progress(done: int, total: int) -> None:
            typer.echo(f"\rstep {done}/{total}", nl=done == total, err=True)

        details: dict = {}
        written = write_video(out, backend.render(request, on_progress=progress, details=details),
                              fps=config.fps)
        typer.echo(f"wrote {out} ({written} frames, {width}x{height} at {config.fps} fps; "
                   f"{details.get('forwards', 0)} DiT forwards, "
                   f"{details.get('forwards_skipped', 0)} skipped by the step cache)")
