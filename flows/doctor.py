"""`content-factory doctor`: what this machine has for each stage, and what is missing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

from flows.settings import get_settings

Check = tuple[str, bool | None, str]  # name, passed (None: optional and absent), detail


def run_checks() -> Iterator[Check]:
    settings = get_settings()
    yield _ffmpeg()
    yield from _fonts(settings.fonts_dir)
    yield _voices()
    yield _cuda()
    yield _weights(settings.weights_dir)
    yield _svd(settings.svd_weights_dir)
    yield _database(settings.database_url)
    yield _prefect()


def _ffmpeg() -> Check:
    from media.video import ffmpeg_exe

    try:
        exe = ffmpeg_exe()
        info = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True)
        need = {"subtitles", "vidstabdetect", "overlay"}
        have = {f for f in need if f" {f} " in info.stdout}
        version = subprocess.run([exe, "-version"], capture_output=True,
                                 text=True).stdout.split("\n")[0]
        return ("ffmpeg", have == need, f"{version[:40]}; filters: {', '.join(sorted(have))}"
                + (f"; MISSING {', '.join(sorted(need - have))}" if have != need else ""))
    except (OSError, RuntimeError) as exc:
        return ("ffmpeg", False, str(exc))


def _fonts(fonts_dir) -> Iterator[Check]:
    try:
        from media.fonts import default_fonts_dir
    except ImportError as exc:
        yield ("fonts", False, f"subtitle stage unavailable: {exc}")
        return
    folder = fonts_dir or default_fonts_dir()
    files = sorted(p.name for p in folder.glob("*") if p.suffix.lower() in
                   (".ttf", ".otf", ".ttc")) if folder.is_dir() else []
    yield ("fonts", bool(files), f"{folder}: {', '.join(files) or 'none (run `make fonts`)'}")


def _voices() -> Check:
    from tasks.audio.voices import EspeakEngine, default_voice

    picks = ", ".join(f"{loc} {default_voice(loc)}" for loc in ("en", "ja", "zh-CN", "ar"))
    if EspeakEngine.available():
        return ("voices", True, f"offline: {picks}")
    return ("voices", False, f"espeak-ng MISSING (run `make voices`); {picks}")


def _cuda() -> Check:
    import torch

    if torch.cuda.is_available():
        return ("cuda", True, f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    return ("cuda", None, f"no CUDA device (torch {torch.__version__}): backend auto uses the "
                          "animatic")


def _weights(weights_dir) -> Check:
    if weights_dir is None:
        return ("weights", None, "FACTORY_WEIGHTS_DIR not set: the model backend is off")
    found = [p.name for p in weights_dir.glob("*")] if weights_dir.is_dir() else []
    return ("weights", bool(found), f"{weights_dir}: {', '.join(sorted(found)[:6]) or 'missing'}")


def _svd(weights_dir) -> Check:
    from common.errors import ConfigError
    from tasks.render.svd import has_svd_weights, require_diffusers

    if weights_dir is None:
        return ("svd", None, "FACTORY_SVD_WEIGHTS_DIR not set: the svd backend is off")
    try:
        require_diffusers()
    except ConfigError as exc:
        return ("svd", False, str(exc))
    if not has_svd_weights(weights_dir):
        return ("svd", False, f"{weights_dir}: not a diffusers stable-video-diffusion folder")
    return ("svd", True, f"{weights_dir}: Stable Video Diffusion")


def _database(url: str) -> Check:
    from storage.db import open_database, table_names

    try:
        db = open_database(url)
        return ("database", True, f"{db.dialect} at {url}: {len(table_names(db))} tables, "
                                  "migrated")
    except Exception as exc:  # doctor reports every failure instead of stopping at one
        return ("database", False, str(exc)[:200])


def _prefect() -> Check:
    import prefect

    api = os.environ.get("PREFECT_API_URL")
    return ("prefect", True, f"prefect {prefect.__version__}; "
                             + (f"API {api}" if api else "no PREFECT_API_URL: ephemeral server "
                                                         "per run (no schedules)"))
