"""Burn-in cost: libass subtitles at 720p versus the same x264 re-encode without them.

    .venv/bin/python bench/subtitles.py [--quick] [--png out/subtitles-check.png]

Prints a markdown table (fps and the ratio burn-in / plain re-encode). With ``--png`` it also
renders one frame with Arabic, Chinese, Japanese and Korean captions through the real stage
(build_cues -> write_sidecars -> burn_subtitles, one pass per locale, stacked) for a visual check.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.fonts import default_fonts_dir  # noqa: E402
from media.video import read_frames, run_ffmpeg, write_video  # noqa: E402
from tasks.subtitles import (  # noqa: E402
    ShotCaptions,
    SubtitleStyle,
    build_cues,
    burn_subtitles,
    write_sidecars,
)

W, H, FPS = 1280, 720, 24
CAPTIONS = {
    "ar": "تعرّف على حذاء الجري الجديد Aurora: أخف وأسرع!",
    "zh-CN": "全新极光跑鞋现已上市，更轻、更快。",
    "ja": "新しいオーロラが登場しました。「走る」をもっと楽しく！",
    "ko": "새로운 오로라 러닝화를 만나보세요.",
}


def _clip(path: Path, frames: int) -> None:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    base = np.stack([40 + 140 * x / W, 60 + 120 * y / H, 160 - 100 * x / W], -1)
    write_video(path, (np.clip(base + 30 * np.sin(x / 40 + t / 4)[..., None], 0, 255)
                       .astype(np.uint8) for t in range(frames)), fps=FPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="48 frames instead of 192")
    parser.add_argument("--png", type=Path, help="also render the check frame here")
    args = parser.parse_args()
    frames = 48 if args.quick else 192
    fonts = default_fonts_dir()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        src = work / "src.mp4"
        _clip(src, frames)
        seconds = frames / FPS
        style = SubtitleStyle.from_brand(primary="#FF5A00", text="#FFFFFF", frame_height=H)
        rows = []

        def best_of_two(run) -> float:  # the first ffmpeg start pays for cold caches
            times = []
            for _ in range(2):
                t = time.perf_counter()
                run()
                times.append(time.perf_counter() - t)
            return min(times)

        plain = best_of_two(lambda: run_ffmpeg(
            ["-i", str(src), "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
             "-pix_fmt", "yuv420p", str(work / "plain.mp4")], what="plain re-encode"))
        rows.append(("x264 re-encode, no subtitles", frames / plain, 1.0))
        current, line_px = src, round(style.font_px * 1.35)
        for i, (locale, text) in enumerate(CAPTIONS.items()):
            cues = build_cues([ShotCaptions("bench", 0.0, seconds, [text])], locale=locale)
            lifted = replace(style, margin_v_px=style.margin_v_px + i * 2 * line_px)
            paths = write_sidecars(cues, locale=locale, out_stem=work / "clip", style=lifted,
                                   frame_size=(W, H))
            out = work / f"burned{i}.mp4"
            took = best_of_two(lambda: burn_subtitles(current, paths["ass"], out, fonts_dir=fonts))
            rows.append((f"burn-in {locale} (libass + x264)", frames / took, plain / took))
            current = out
        print(f"Subtitle burn-in, {frames} frames {W}x{H}, x264 veryfast CRF 20\n")
        print("| pipeline | fps | speed vs plain re-encode |")
        print("|---|---|---|")
        for name, fps, ratio in rows:
            print(f"| {name} | {fps:.0f} | {ratio:.2f} |")
        if args.png:
            from PIL import Image

            frame = next(iter(read_frames(current)))
            args.png.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame).save(args.png)
            print(f"\ncheck frame: {args.png}")


if __name__ == "__main__":
    main()
