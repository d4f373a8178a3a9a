"""Watermark benchmark: embed/verify speed at 720p and bit accuracy across attacks.

Two kinds of 720p content: a storyboard clip (a title on a flat grey background, a slow camera
move, like the CPU animatic) and a natural-looking one (colourful 1/f texture, panning). Each is
marked with the factory's luma spread-spectrum mark and with the peer, invisible-watermark's
``dwtDctSvd`` (majority vote of its per-frame reads), encoded as the pipeline does (CRF 20),
attacked with ffmpeg, and read back. Bit accuracy is over the 64 embedded bits (48-bit payload +
CRC-16); "found" means the checksum matched (and, for ours, the bits were decided clearly).

    .venv/bin/python bench/watermark.py            # 48 frames per clip, peer on 24
    .venv/bin/python bench/watermark.py --quick    # 24 frames, peer on 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.synthetic import natural_frames, storyboard_frames  # noqa: E402
from media.video import read_frames, run_ffmpeg, write_video  # noqa: E402
from tasks.watermark import (  # noqa: E402
    WatermarkEmbedder,
    apply_marks,
    embedded_bits,
    payload_from_content_id,
    read_watermark,
)

PAYLOAD = payload_from_content_id("a1b2c3d4e5f6" + "0" * 52)
ATTACKS = {  # name -> (ffmpeg -vf or None, CRF of the re-encode)
    "CRF 23": (None, 23),
    "CRF 28": (None, 28),
    "CRF 35": (None, 35),
    "720p->480p (CRF 23)": ("scale=-2:480", 23),
    "crop 10% (CRF 23)": ("crop=iw*0.9:ih*0.9", 23),
    "brightness +8% (CRF 23)": ("eq=brightness=0.08", 23),
}


def attack(src: Path, dst: Path, vf: str | None, crf: int) -> Path:
    run_ffmpeg(["-i", str(src), *(["-vf", vf] if vf else []), "-c:v", "libx264", "-preset",
                "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", str(dst)], what=dst.name)
    return dst


class Peer:
    """invisible-watermark dwtDctSvd with the same 64 bits, read by majority vote over frames."""

    def __init__(self) -> None:
        from imwatermark import WatermarkDecoder, WatermarkEncoder

        self.bits = (embedded_bits(PAYLOAD) > 0).astype(int).tolist()
        self.encoder = WatermarkEncoder()
        self.encoder.set_watermark("bits", self.bits)
        self.decoder = WatermarkDecoder("bits", len(self.bits))

    def mark(self, frame: np.ndarray) -> np.ndarray:
        bgr = self.encoder.encode(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), "dwtDctSvd")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read(self, path: Path, max_frames: int) -> tuple[float, bool]:
        votes = np.zeros(len(self.bits))
        for i, frame in enumerate(read_frames(path)):
            if i >= max_frames:
                break
            bits = np.asarray(self.decoder.decode(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                                                  "dwtDctSvd"), dtype=float)
            votes += bits * 2 - 1
        decided = (votes > 0).astype(int)
        accuracy = float(np.mean(decided == np.asarray(self.bits)))
        return accuracy, accuracy == 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (about a minute)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (720p, 24 fps)")
    args = parser.parse_args()
    n = args.frames or (24 if args.quick else 48)
    n_peer = 8 if args.quick else 24
    work = Path(tempfile.mkdtemp(prefix="bench-watermark-"))

    sources = {}
    for name, gen in (("storyboard", storyboard_frames), ("natural", natural_frames)):
        sources[name] = work / f"{name}.mp4"
        write_video(sources[name], gen(n), fps=24, crf=18)

    # --- speed at 720p -------------------------------------------------------------------
    frames = list(read_frames(sources["natural"]))
    ours = WatermarkEmbedder(PAYLOAD)
    t = time.perf_counter()
    for f in frames:
        ours.mark(f)
    ours_embed = len(frames) / (time.perf_counter() - t)
    peer = Peer()
    t = time.perf_counter()
    peer_marked = [peer.mark(f) for f in frames[:n_peer]]
    peer_embed = n_peer / (time.perf_counter() - t)

    marked, peer_files, reports = {}, {}, {}
    for name, src in sources.items():
        marked[name] = work / f"{name}_ours.mp4"
        reports[name] = apply_marks(src, marked[name], payload=PAYLOAD, label_locale="en",
                                    fonts_dir=Path(__file__).resolve().parents[1] / ".fonts-cache")
        peer_files[name] = work / f"{name}_peer.mp4"
        src_frames = peer_marked if name == "natural" else \
            [peer.mark(f) for f in list(read_frames(src))[:n_peer]]
        write_video(peer_files[name], src_frames, fps=24, crf=20)
    t = time.perf_counter()
    read_watermark(marked["natural"])
    ours_verify = n / (time.perf_counter() - t)
    t = time.perf_counter()
    peer.read(peer_files["natural"], n_peer)
    peer_verify = n_peer / (time.perf_counter() - t)
    # The peer row of the end-to-end pass: the same decode + x264 encode with no marks at all.
    plain = {}
    for name, src in sources.items():
        t = time.perf_counter()
        write_video(work / f"{name}_plain.mp4", read_frames(src), fps=24)
        plain[name] = n / (time.perf_counter() - t)

    print(f"\n## Watermark speed, 1280x720 ({n} frames; peer on {n_peer})\n")
    print("| step | ours (luma spread spectrum) | peer (dwtDctSvd) | ours / peer |")
    print("|---|---|---|---|")
    print(f"| embed, pixels only | {ours_embed:.0f} fps | {peer_embed:.1f} fps | "
          f"{ours_embed / peer_embed:.0f}x |")
    print(f"| verify, decode + read | {ours_verify:.0f} fps | {peer_verify:.1f} fps | "
          f"{ours_verify / peer_verify:.0f}x |")
    for name in sources:
        fps = reports[name].frames / reports[name].seconds
        print(f"| apply_marks end to end, {name} (probe, decode, logo + label + mark, x264 CRF "
              f"20, mux) vs plain decode + encode | {fps:.0f} fps | {plain[name]:.0f} fps "
              f"(no marks) | {fps / plain[name]:.2f}x |")
    print(f"\nInvisible-mark PSNR: storyboard {reports['storyboard'].watermark_psnr_db:.1f} dB, "
          f"natural {reports['natural'].watermark_psnr_db:.1f} dB")

    # --- accuracy across attacks ---------------------------------------------------------
    print("\n## Bit accuracy over 64 bits after attacks (found = payload recovered)\n")
    print("| attack | storyboard: ours | storyboard: peer | natural: ours | natural: peer |")
    print("|---|---|---|---|---|")
    for attack_name, (vf, crf) in ATTACKS.items():
        cells = []
        for name in sources:
            slug = attack_name.split()[0].replace("%", "").replace(">", "")
            ours_file = attack(marked[name], work / f"{name}_ours_{slug}_{crf}.mp4", vf, crf)
            result = read_watermark(ours_file)
            cells.append(f"{result.bit_accuracy(PAYLOAD):.3f} "
                         f"({'found' if result.found else 'not found'}, "
                         f"mean z {result.mean_abs_z:.1f})")
            peer_file = attack(peer_files[name], work / f"{name}_peer_{slug}_{crf}.mp4", vf, crf)
            accuracy, found = peer.read(peer_file, n_peer)
            cells.append(f"{accuracy:.3f} ({'found' if found else 'not found'})")
        print(f"| {attack_name} | " + " | ".join(cells) + " |")
    unmarked = [read_watermark(src) for src in sources.values()]
    print("| unmarked source (must not be found) | "
          + " | - | ".join(f"{'FOUND' if r.found else 'not found'} (mean z {r.mean_abs_z:.1f})"
                           for r in unmarked) + " | - |")


if __name__ == "__main__":
    main()
