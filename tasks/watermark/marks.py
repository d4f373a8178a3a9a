"""All marks on a clip in one decode/encode pass, and reading them all back.

``apply_marks`` decodes a clip once (burning its captions in on the way, when given), draws the
logo and the AI label, adds the invisible mark, encodes H.264 once and copies every other
stream (audio, subtitles) unchanged. The metadata
label and the C2PA manifest are separate, stream-copy steps after it (metadata.py,
provenance.py); signing comes last of all.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from common.errors import MediaError
from media.video import (
    DEFAULT_CRF,
    DEFAULT_PRESET,
    FrameWriter,
    prefetch,
    probe,
    read_frames,
    run_ffmpeg,
)
from tasks.watermark.invisible import (
    WatermarkConfig,
    WatermarkEmbedder,
    payload_from_content_id,
    read_watermark,
)
from tasks.watermark.metadata import read_ai_metadata
from tasks.watermark.provenance import verify_c2pa
from tasks.watermark.visible import LabelPlacement, LogoPlacement, label_overlay, logo_overlay

PSNR_EVERY = 8  # frames between PSNR samples of the invisible mark (a full PSNR costs ~3 ms)


@dataclass(frozen=True)
class MarkReport:
    """What ``apply_marks`` did to a clip."""

    path: Path
    payload: str                  # hex of the 48-bit payload
    frames: int
    fps: float
    size: tuple[int, int]         # (width, height)
    label_locale: str | None
    label_text: str | None
    label_frames: int             # frames from the start that carry the AI label
    label_box: tuple[int, int, int, int] | None   # (x0, y0, x1, y1) of the label in pixels
    logo_box: tuple[int, int, int, int] | None
    watermark_psnr_db: float      # invisible mark alone, mean over sampled frames
    seconds: float

    def to_dict(self) -> dict:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def apply_marks(src: Path, dst: Path, *, payload: bytes, logo: Path | None = None,
                logo_placement: LogoPlacement = LogoPlacement(),
                label_locale: str | None = "en", label_placement: LabelPlacement = LabelPlacement(),
                fonts_dir: Path | None = None, watermark: WatermarkConfig = WatermarkConfig(),
                crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET,
                subtitles: Path | None = None,
                safe_box: tuple[int, int, int, int] | None = None,
                tail: np.ndarray | None = None, tail_seconds: float = 0.0) -> MarkReport:
    """Write ``dst``: ``src`` with the brand logo, the AI label and the invisible mark.

    ``payload`` is the 6-byte watermark payload (``payload_from_content_id``). The label shows
    on the first ``label_placement.seconds`` (the whole clip when it is shorter); ``None`` as
    ``label_locale`` leaves it out. Non-video streams are copied as they are. ``subtitles``
    (an ``.ass`` file) burns captions in while decoding (``tasks.subtitles.burned_frames``,
    fonts from ``fonts_dir``), so captions and marks cost one encode together.
    """
    src, dst = Path(src), Path(dst)
    started = time.perf_counter()
    info = probe(src)
    size = (info.width, info.height)
    embedder = WatermarkEmbedder(payload, watermark)
    logo_ov = logo_overlay(Path(logo), size, logo_placement, box=safe_box) \
        if logo is not None else None
    same_edge = logo_ov is not None and \
        logo_placement.corner.split("-")[0] == label_placement.corner.split("-")[0]
    reserve = (logo_ov.covers()[2] - logo_ov.covers()[0]) * 5 // 4 if same_edge else 0
    label_ov, label_text = (label_overlay(label_locale, size, label_placement, fonts_dir=fonts_dir,
                                          box=safe_box, reserve=reserve)
                            if label_locale else (None, None))
    label_frames = math.ceil(label_placement.seconds * float(info.fps)) if label_ov else 0

    dst.parent.mkdir(parents=True, exist_ok=True)
    video_only = dst.with_name(f".{dst.name}.marks.partial.mp4")
    psnrs: list[float] = []
    frames = 0
    try:
        with FrameWriter(video_only, fps=info.fps, size=size, crf=crf, preset=preset) as writer:
            if subtitles is not None:
                from media.fonts import default_fonts_dir
                from tasks.subtitles.burn import burned_frames

                decoded = burned_frames(src, subtitles, fonts_dir=fonts_dir or default_fonts_dir())
            else:
                decoded = read_frames(src)
            for i, frame in enumerate(prefetch(decoded)):
                if logo_ov is not None or (label_ov is not None and i < label_frames):
                    frame = frame.copy()  # decoded frames are read-only views of ffmpeg's output
                if logo_ov is not None:
                    logo_ov.apply(frame)
                if label_ov is not None and i < label_frames:
                    label_ov.apply(frame)
                marked = embedder.mark(frame)
                if i % PSNR_EVERY == 0:
                    psnrs.append(cv2.PSNR(frame, marked))
                writer.write(marked)
                frames += 1
            if tail is not None and tail_seconds > 0:
                card = embedder.mark(np.ascontiguousarray(tail))
                for _ in range(round(tail_seconds * float(info.fps))):
                    writer.write(card)
                    frames += 1
        _mux_other_streams(video_only, src, dst)
    finally:
        video_only.unlink(missing_ok=True)
    return MarkReport(
        path=dst, payload=payload.hex(), frames=frames, fps=float(info.fps), size=size,
        label_locale=label_locale, label_text=label_text, label_frames=min(label_frames, frames),
        label_box=label_ov.covers() if label_ov else None,
        logo_box=logo_ov.covers() if logo_ov else None,
        watermark_psnr_db=float(np.mean(psnrs)) if psnrs else float("inf"),
        seconds=time.perf_counter() - started)


def _mux_other_streams(video: Path, src: Path, dst: Path) -> None:
    """``dst`` = the new video stream + every non-video stream of ``src``, copied."""
    tmp = dst.with_name(f".{dst.name}.mux.partial.mp4")
    try:
        run_ffmpeg(["-i", str(video), "-i", str(src), "-map", "0:v:0", "-map", "1",
                    "-map", "-1:v", "-c", "copy", "-map_metadata", "1",
                    "-movflags", "+faststart+use_metadata_tags", str(tmp)],
                   what=f"copying the audio and subtitle streams of {src} into {dst}")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def verify_clip(path: Path, *, watermark: WatermarkConfig = WatermarkConfig(),
                max_frames: int | None = None, trust: dict[str, Path] | None = None) -> dict:
    """Everything a clip says about itself, as a JSON-ready dict.

    ``payload`` (hex or None), ``found``, ``bit_confidence`` (of the least certain bit) and
    ``mean_abs_z`` from the pixels; ``metadata`` (the AI-content tags) and whether their content
    id yields the payload read from the pixels; ``c2pa`` (state valid / invalid / absent, who
    signed, and whether one of the ``trust`` anchors vouches for the signer).
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file to verify")
    probe(path)  # a file that is not a readable clip fails here, in one line, before decoding
    detection = read_watermark(path, watermark, max_frames=max_frames)
    label = read_ai_metadata(path)
    matches = None
    if label is not None and detection.payload is not None:
        matches = payload_from_content_id(label.content_id) == detection.payload
    return {
        "file": str(path),
        "payload": detection.payload_hex,
        "found": detection.found,
        "bit_confidence": round(detection.bit_confidence, 4),
        "mean_abs_z": round(detection.mean_abs_z, 3),
        "frames": detection.frames,
        "metadata": label.to_dict() if label else None,
        "metadata_matches_payload": matches,
        "c2pa": verify_c2pa(path, trust=trust).to_dict(),
    }
