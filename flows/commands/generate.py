"""``content-factory generate``: one prompt (and a photo) -> one MP4 with a Wan2.2 preset or SVD."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.commands import input_file, output_file


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        out: Annotated[Path, typer.Option("--out", help="Output MP4.",
                                          callback=output_file("an MP4 file to write"))],
        prompt: Annotated[str, typer.Option(
            "--prompt", help="What the clip shows (any language); not read by svd.")] = "",
        image: Annotated[Path | None, typer.Option(
            "--image", help="Photo the clip starts from (ti2v-5b, i2v-a14b, svd; tiny-ti2v, "
                            "tiny-i2v).", callback=input_file("a photo (PNG or JPEG)"))] = None,
        negative: Annotated[str, typer.Option(
            "--negative", help="What to avoid (default: the preset's official negative prompt).")] = "",
        preset: Annotated[str, typer.Option(
            "--preset", help="t2v-a14b, ti2v-5b, i2v-a14b, svd, or tiny, tiny-ti2v, tiny-i2v "
                             "(random weights).")] = "t2v-a14b",
        weights: Annotated[Path | None, typer.Option(
            "--weights",
            help="Weights folder (diffusers or original layout; for svd a diffusers folder); not "
                 "needed for the tiny presets.")] = None,
        size: Annotated[str | None, typer.Option(
            "--size",
            help="WxH: one of the preset's sizes (t2v-a14b: 1280x720, 720x1280, 832x480, "
                 "480x832; default 1280x720); the image presets take any size within their "
                 "token budget, by default the photo's aspect within the preset's area.")] = None,
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
            "--lora-high", help="LoRA for the high-noise expert only (repeatable; the only "
            "expert of ti2v-5b).")] = None,
        lora_low: Annotated[list[Path] | None, typer.Option(
            "--lora-low", help="LoRA for the low-noise expert only (repeatable).")] = None,
        lora_strength: Annotated[float, typer.Option(
            "--lora-strength", help="Strength of every LoRA given here.")] = 1.0,
        motion_bucket: Annotated[int | None, typer.Option(
            "--motion-bucket", help="svd: motion_bucket_id, 1-255 (default 127).")] = None,
        noise_aug: Annotated[float | None, typer.Option(
            "--noise-aug", help="svd: noise_aug_strength (default 0.02).")] = None,
        device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N.")] = "auto",
    ) -> None:
        """Render PROMPT (and PHOTO) into OUT.mp4; print where it went, how many frames it has,
        and with a photo how close the first frame is to it."""
        from common.errors import ConfigError
        from media.images import fit_image, frame_fidelity, load_image
        from media.video import write_video
        from model.config import LoraSettings
        from tasks.render import RenderRequest

        photo = load_image(image) if image is not None else None
        requested = _parse_size(size) if size else None
        loras = tuple(LoraSettings(str(path.resolve()), lora_strength, experts)
                      for paths, experts in ((lora, ("high", "low")), (lora_high, ("high",)),
                                             (lora_low, ("low",)))
                      for path in paths or ())
        wanted = {"preset": sampling, "steps": steps, "sampler": sampler,
                  "step_cache": step_cache}
        if preset == "svd":
            from tasks.render.svd import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE, SVDBackend

            if photo is None:
                raise ConfigError("--preset svd animates a photo: pass --image PHOTO")
            if loras or sampling or step_cache or sampler:
                raise ConfigError("--sampling, --step-cache, --sampler and --lora* are for the "
                                  "Wan2.2 presets; --preset svd takes --steps, --motion-bucket "
                                  "and --noise-aug")
            portrait = photo.height > photo.width
            width, height = requested or (DEFAULT_SIZE[::-1] if portrait else DEFAULT_SIZE)
            _check_sides(width, height, 8)
            # Only a missing option means the default (0 is refused by min=1 above).
            frames = frames if frames is not None else DEFAULT_FRAMES
            fps = DEFAULT_FPS
            backend = SVDBackend(weights_dir=weights, device=device)
        else:
            from model.conditioning import output_size
            from model.config import get_preset
            from tasks.render.model import ModelBackend

            config = get_preset(preset)
            if photo is not None and not config.image_conditioning:
                raise ConfigError(f"--preset {preset} is text-to-video and cannot use --image; "
                                  "use ti2v-5b, i2v-a14b or svd")
            if not prompt:
                raise ConfigError(f"--prompt is required for --preset {preset}")
            width, height = requested or (output_size(config, *photo.size) if photo is not None
                                          else (config.width, config.height))
            _check_sides(width, height, 16)
            frames = frames if frames is not None else config.frames
            fps = config.fps
            config.check_size(width, height, frames)  # before any weights load
            backend = ModelBackend(preset=preset, weights_dir=weights, device=device)
        request = RenderRequest(
            prompt=prompt, negative_prompt=negative, seed=seed, width=width, height=height,
            frames=frames, fps=fps,
            sampling={k: v for k, v in wanted.items() if v is not None}, loras=loras,
            image=str(image) if image is not None else None,
            motion={"motion_bucket_id": motion_bucket, "noise_aug_strength": noise_aug})
        if preset != "svd":
            backend.sampling(request)  # a bad combination fails before any weights load

        first: list = []

        def keep_first(stream):
            for frame in stream:
                if not first:
                    first.append(frame)
                yield frame

        from flows.display import RunDisplay

        details: dict = {}
        with RunDisplay(f"generate {out.name} ({preset})") as display:
            written = write_video(out, keep_first(backend.render(
                request, on_progress=display.steps(out.stem), details=details)), fps=fps)
        work = (f"{details.get('steps', 0)} steps, {details.get('svd_frames', 0)} frames from "
                "SVD re-timed" if preset == "svd" else
                f"{details.get('forwards', 0)} DiT forwards, "
                f"{details.get('forwards_skipped', 0)} skipped by the step cache")
        typer.echo(f"wrote {out} ({written} frames, {width}x{height} at {fps} fps; {work})")
        if photo is not None and first:
            fidelity = frame_fidelity(first[0], fit_image(photo, width, height))
            typer.echo(f"first frame vs photo: PSNR {fidelity.psnr:.2f} dB, "
                       f"SSIM {fidelity.ssim:.4f}")


def _parse_size(size: str) -> tuple[int, int]:
    from common.errors import ConfigError, echo

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size {echo(size)}: expected WxH, e.g. 1280x720") from None
    return width, height


def _check_sides(width: int, height: int, multiple: int) -> None:
    from common.errors import ConfigError

    if width <= 0 or height <= 0 or width % multiple or height % multiple:
        raise ConfigError(f"--size {width}x{height}: both sides must be positive multiples "
                          f"of {multiple}, e.g. 1280x720")
