"""Benchmark: our stabilization stage against ffmpeg's two-pass vid.stab on the same 720p clips.

    .venv/bin/python bench/stabilize.py            # 2 clips x 96 frames, best of 2 runs each
    .venv/bin/python bench/stabilize.py --quick    # 1 clip x 48 frames, best of 2
    .venv/bin/python bench/stabilize.py --memory 96,384   # also peak memory per clip length

The clips are made here: a textured, captioned scene filmed by a camera that pans smoothly
while shaking (random offsets of ``--shake`` px and 0.3 degrees per frame, so ~15 px of mean
inter-frame shift as in docs/reference/platform-facts.md), encoded with libx264.

Two speeds per pipeline, each the best of ``--repeat`` interleaved runs (the machine is shared):

- **work**: everything but encoding. vid.stab: ``vidstabdetect`` then ``vidstabtransform`` into
  ``-f null``. Ours: ``stabilize_clip(src, None)``, every pass with the frames dropped at the end.
- **file to file**: the same, encoding the result with the same x264 settings (veryfast, CRF 20)
  for both; the encoder alone then takes a large share of either.

Quality is computed by one function (``tasks.stabilize.measure_clip``) on both output files:
stability score, ITF, cropping and distortion (estimated by matching each output frame to its
input frame, for both) and the residual jitter. vid.stab runs with ``smoothing=15`` and our
stage with ``radius=15`` (the same Gaussian).

**Memory** (``--memory 96,384``): each pipeline runs file to file once per clip length in a
fresh Python process; its peak RSS and the peak of its ffmpeg processes together are sampled
with psutil: flat in clip length means bounded by the queues, not by the clip.
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.video import FrameWriter, probe, run_ffmpeg  # noqa: E402
from tasks.stabilize import ShakeOptions, StabilizeOptions, measure_clip, stabilize_clip  # noqa: E402

SIZE = (1280, 720)
SMOOTHING = 15
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]


def make_clip(path: Path, frames: int, *, seed: int, shake: float, pan: float) -> None:
    """Write a shaky 720p clip: a captioned texture, a smooth pan, random shake."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    margin = int(4 * shake + pan * frames + 80)
    canvas = cv2.GaussianBlur(rng.integers(0, 256, (h + 2 * margin, w + 2 * margin, 3),
                                           dtype=np.uint8), (0, 0), 2.0)
    for _ in range(400):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, canvas.shape[1])), int(rng.integers(0, canvas.shape[0]))
        cv2.circle(canvas, (x, y), int(rng.integers(6, 50)), colour, -1)
    for row in range(8):
        cv2.putText(canvas, "SPRING LAUNCH  new colours  50% off", (margin, margin + 90 * row),
                    cv2.FONT_HERSHEY_DUPLEX, 2.0, (255, 255, 255), 4, cv2.LINE_AA)
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    with FrameWriter(path, fps=24, size=SIZE) as writer:
        for i in range(frames):
            angle = math.radians(rng.normal(0, 0.3))
            rot = np.array([[math.cos(angle), -math.sin(angle)],
                            [math.sin(angle), math.cos(angle)]])
            offset = np.array([margin + pan * i + rng.normal(0, shake),
                               margin + 0.4 * pan * i + rng.normal(0, shake)])
            matrix = np.concatenate([rot, (c + offset - rot @ c)[:, None]], axis=1)
            writer.write(cv2.warpAffine(canvas, matrix, SIZE,
                                        flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR))


def vidstab(src: Path, dst: Path | None, trf: Path, algo: str) -> None:
    """vid.stab's two passes; ``dst`` None: transform into the null muxer (no encoding).

    ``algo`` is vidstabtransform's ``optalgo``: ``opt`` (its default, a global optimisation
    of the camera path) or ``gauss`` (the Gaussian filter our stage also uses)."""
    run_ffmpeg(["-i", str(src), "-vf", f"vidstabdetect=result={trf}", "-f", "null", "-"],
               what="vidstabdetect")
    out = ["-f", "null", "-"] if dst is None else [*X264, str(dst)]
    run_ffmpeg(["-i", str(src), "-vf",
                f"vidstabtransform=input={trf}:smoothing={SMOOTHING}:optalgo={algo}", *out],
               what="vidstabtransform")


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (ffmpeg)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def best_of(repeat: int, runs: dict[str, Callable[[], object]]
            ) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds of each run, interleaving the runs so that changes in the
    machine's load hit all of them alike."""
    best = {name: (math.inf, math.inf) for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), _cpu()
            run()
            wall, cpu = time.perf_counter() - wall, _cpu() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def _child(pipeline: str, src: Path, dst: Path) -> None:
    """One file-to-file run in this (fresh) process."""
    if pipeline == "ours":
        stabilize_clip(src, dst, options=StabilizeOptions(shake=ShakeOptions(radius=SMOOTHING),
                                                          measure_after=False))
    else:
        vidstab(src, dst, dst.with_suffix(".trf"), "opt")


def _peak_rss(args: list[str]) -> tuple[float, float, float]:
    """Run ``args``; (wall s, peak RSS MB of that process, peak RSS MB of its ffmpeg children
    together), sampled every 20 ms with psutil. (``getrusage``'s ru_maxrss is no good here: on
    Linux a child inherits its parent's high-water mark through fork and exec.)"""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    me, peak_self, peak_ffmpeg = psutil.Process(proc.pid), 0, 0
    while proc.poll() is None:
        try:
            peak_self = max(peak_self, me.memory_info().rss)
            peak_ffmpeg = max(peak_ffmpeg, sum(c.memory_info().rss
                                               for c in me.children(recursive=True)))
        except psutil.Error:
            pass
        time.sleep(0.02)
    if proc.returncode:
        raise RuntimeError(proc.stderr.read().decode(errors="replace")[-2000:])
    return time.perf_counter() - started, peak_self / 2 ** 20, peak_ffmpeg / 2 ** 20


def memory_table(lengths: list[int], shake: float) -> None:
    print("\n| pipeline | frames | file fps (incl. Python start) | peak RSS Python MB "
          "| peak RSS ffmpeg MB |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in lengths:
            src = Path(tmp) / f"mem{n}.mp4"
            make_clip(src, n, seed=5, shake=shake, pan=2.0)
            for pipeline in ("vid.stab", "ours"):
                wall, me, ffmpeg = _peak_rss([sys.executable, __file__, "--child", pipeline,
                                              str(src), str(Path(tmp) / f"{pipeline}{n}.mp4")])
                print(f"| {pipeline} | {n} | {n / wall:.0f} | {me:.0f} | {ffmpeg:.0f} |")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 clip of 48 frames, best of 2")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--shake", type=float, default=7.5, help="px, per axis and frame")
    parser.add_argument("--memory", default="", help="clip lengths for the memory table, "
                        "e.g. 96,384 (file fps there includes starting Python)")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.clips, args.repeat = 48, 1, 2

    options = StabilizeOptions(shake=ShakeOptions(radius=SMOOTHING), measure_after=False)
    pipelines = ("vid.stab", "vid.stab gauss", "ours")
    totals = {(p, mode): [0.0, 0.0] for p in pipelines for mode in ("work", "file")}
    rows, frames_total = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for k in range(args.clips):
            src = tmp / f"clip{k}.mp4"
            make_clip(src, args.frames, seed=k, shake=args.shake, pan=2.0 + 2.0 * k)
            n = probe(src).frames
            frames_total += n
            out = {p: tmp / f"{p.replace(' ', '_').replace('.', '')}{k}.mp4" for p in pipelines}
            trf = tmp / f"{k}.trf"
            times = best_of(args.repeat, {
                ("vid.stab", "work"): lambda: vidstab(src, None, trf, "opt"),
                ("vid.stab gauss", "work"): lambda: vidstab(src, None, trf, "gauss"),
                ("ours", "work"): lambda: stabilize_clip(src, None, options=options),
                ("vid.stab", "file"): lambda: vidstab(src, out["vid.stab"], trf, "opt"),
                ("vid.stab gauss", "file"): lambda: vidstab(src, out["vid.stab gauss"], trf,
                                                            "gauss"),
                ("ours", "file"): lambda: stabilize_clip(src, out["ours"], options=options),
            })
            for key, (wall, cpu) in times.items():
                totals[key][0] += wall
                totals[key][1] += cpu
            m = measure_clip(src)
            rows.append((f"clip{k}", "input", "-", "-", "-", *_quality(m)))
            for p in pipelines:
                m = measure_clip(out[p], source=src)
                rows.append((f"clip{k}", p, f"{n / times[p, 'work'][0]:.0f}",
                             f"{1000 * times[p, 'work'][1] / n:.1f}",
                             f"{n / times[p, 'file'][0]:.0f}", *_quality(m)))

    print(f"\n{args.clips} clip(s) of {args.frames} frames, 1280x720, shake {args.shake} px "
          f"per axis and frame; best of {args.repeat} runs; work = all but encoding, "
          f"file = file to file with x264 veryfast CRF 20 for all\n")
    print("| clip | pipeline | work fps | work CPU ms/frame | file fps | stability | ITF dB "
          "| cropping | distortion | jitter px |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    for p in pipelines[:2]:
        ours, theirs = totals["ours", "work"], totals[p, "work"]
        print(f"ours vs {p}: work {theirs[0] / ours[0]:.2f}x faster (wall), "
              f"{theirs[1] / ours[1]:.2f}x less CPU; file to file "
              f"{totals[p, 'file'][0] / totals['ours', 'file'][0]:.2f}x faster (wall), "
              f"{totals[p, 'file'][1] / totals['ours', 'file'][1]:.2f}x less CPU")
    if args.memory:
        memory_table([int(n) for n in args.memory.split(",")], args.shake)


def _quality(m) -> tuple[str, ...]:
    return (f"{m.stability:.3f}", f"{m.itf:.2f}", f"{m.cropping:.3f}", f"{m.distortion:.3f}",
            f"{m.jitter:.2f}")


if __name__ == "__main__":
    main()
