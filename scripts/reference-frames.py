#!/usr/bin/env python3
"""Reference frames of every delivery format, from a published run, for docs/images/.

    python scripts/reference-frames.py data/store/<campaign>/<run>/manifest.json docs/images

For each format in the manifest: one PNG of three panels side by side, each with the format's
safe zone outlined in yellow (1 px, drawn on the copy only): an Arabic caption frame, a Japanese
(else English) caption frame, and the end card in Chinese (else English). A reviewer checks that
the label, logo, captions and card text sit inside the outline and read in every script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.formats import get_format  # noqa: E402
from media.video import read_frames  # noqa: E402
from tasks.subtitles.files import read_srt  # noqa: E402


def _frame(video: Path, index: int) -> np.ndarray:
    for i, frame in enumerate(read_frames(video)):
        if i == index:
            return frame.copy()
    raise SystemExit(f"{video}: has no frame {index}")


def _outlined(frame: np.ndarray, box: tuple[int, int, int, int]) -> Image.Image:
    img = Image.fromarray(frame)
    x0, y0, x1, y1 = box
    ImageDraw.Draw(img).rectangle((x0, y0, x1 - 1, y1 - 1), outline=(255, 220, 0))
    return img


def main(manifest_path: Path, out_dir: Path) -> None:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    store = manifest_path.parents[2]
    clips = {(c["format"], c["locale"]): c for c in manifest["clips"] if "format" in c}
    out_dir.mkdir(parents=True, exist_ok=True)
    for fmt in manifest.get("formats", []):
        panels = []
        for wanted in (["ar"], ["ja", "en"], ["zh-CN", "en"]):
            locale = next((loc for loc in wanted if (fmt, loc) in clips), None)
            if locale is None:
                continue
            clip = clips[(fmt, locale)]
            video = store / clip["key"]
            if wanted[0] == "zh-CN":
                index = clip["frames"] - 1  # the end card
            else:
                cues = read_srt(store / clip["sidecars"]["srt"]["key"])
                cue = cues[0]  # while the AI label shows (the first 3 s)
                index = int((cue.start + cue.end) / 2 * clip["fps"])
            frame = _frame(video, index)
            box = get_format(fmt).safe.box((frame.shape[1], frame.shape[0]))
            panels.append(_outlined(frame, box))
        gap = 8
        sheet = Image.new("RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1),
                                  max(p.height for p in panels)), (255, 255, 255))
        x = 0
        for panel in panels:
            sheet.paste(panel, (x, 0))
            x += panel.width + gap
        path = out_dir / f"formats-{get_format(fmt).slug}.png"
        # A 256-colour palette keeps the files small (docs/images is committed); text and the
        # safe-zone outline keep their edges.
        sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) \
            .save(path, optimize=True)
        print(path, sheet.size)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
