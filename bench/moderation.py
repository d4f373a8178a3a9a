"""Moderation throughput on the CPU: text checks per second, 720p frames per second, and the
false positives on the benign marketing set.

Peers run in the same process: text against a plain regex alternation of the same terms with
word boundaries (no evasion handling), frames against nudenet's own ``detect_batch``.

    .venv/bin/python bench/moderation.py [--quick]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.video import write_video  # noqa: E402
from moderation import NudeNetDetector, Policy  # noqa: E402
from moderation.checks import moderate_clip_frames  # noqa: E402

BENIGN = Path(__file__).resolve().parents[1] / "tests" / "moderation" / "benign_marketing.yaml"

# Listed terms in disguise, each with the locale it is written for.
EVASIONS = [
    ("en", "Buy ＣＯＣＡＩＮＥ here"), ("en", "cheap c o c a i n e tonight"),
    ("en", "co\u200bca\u200dine"), ("en", "CoCaInE party"), ("en", "c0ca1n3 deals"),
    ("en", "h3r0!n"), ("en", "p.o.r.n"), ("zh-TW", "黃片下載"), ("zh-TW", "教你洗錢"),
    ("zh", "色*情*网站"), ("ja", "ｺｶｲﾝ"), ("ar", "كـوكـايـين"), ("es", "cocaina pura"),
    ("fr", "Blanchiment d’argent facile"), ("de", "GELDWÄSCHE leicht gemacht"),
]


def regex_peer(policy: Policy) -> re.Pattern:
    """All list entries as one case-insensitive alternation with word boundaries."""
    words = sorted({t.text.rstrip("*") for t in policy.terms.terms if t.severity != "allow"},
                   key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)


def rate(fn, items, seconds: float) -> float:
    """Items per second of ``fn`` over ``items``, repeated for about ``seconds``."""
    done, start = 0, time.perf_counter()
    while True:
        for item in items:
            fn(item)
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def bench_text(policy: Policy, seconds: float) -> list[tuple]:
    benign = yaml.safe_load(BENIGN.read_text(encoding="utf-8"))
    benign_items = [(loc, line) for loc, lines in benign.items() for line in lines]
    corpus = benign_items + EVASIONS
    peer = regex_peer(policy)

    ours = theirs = 0.0
    for _ in range(3):  # interleaved best of three: the machine is shared
        ours = max(ours, rate(lambda it: policy.check_text(it[1], locale=it[0], field="caption"),
                              corpus, seconds / 3))
        theirs = max(theirs, rate(lambda it: peer.search(it[1]), corpus, seconds / 3))
    fp_ours = sum(policy.check_text(t, locale=loc, field="caption").decision != "allow"
                  for loc, t in benign_items)
    fp_peer = sum(bool(peer.search(t)) for _, t in benign_items)
    caught_ours = sum(policy.check_text(t, locale=loc).decision != "allow"
                      for loc, t in EVASIONS)
    caught_peer = sum(bool(peer.search(t)) for _, t in EVASIONS)
    return [
        ("moderation (normalise + Aho-Corasick + policy)", f"{ours:,.0f}",
         f"{ours / theirs:.2f}x", f"{fp_ours} / {len(benign_items)}",
         f"{caught_ours} / {len(EVASIONS)}"),
        ("peer: regex alternation, \\b, casefold only", f"{theirs:,.0f}", "1.00x",
         f"{fp_peer} / {len(benign_items)}", f"{caught_peer} / {len(EVASIONS)}"),
    ]


def frames_720p(n: int) -> list[np.ndarray]:
    """Colourful moving gradients with noise: not flat, so the detector does real work."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:720, 0:1280].astype(np.float32)
    frames = []
    for i in range(n):
        r = (x / 1280 * 255 + 7 * i) % 256
        g = (y / 720 * 255 + 3 * i) % 256
        b = ((x + y) / 2000 * 255) % 256
        frame = np.stack([r, g, b], axis=-1) + rng.normal(0, 8, (720, 1280, 3))
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def best_fps(fn, frames: list, reps: int) -> float:
    """Frames per second of ``fn(frames)``, the best of ``reps`` runs (the machine is shared)."""
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn(frames)
        best = min(best, time.perf_counter() - start)
    return len(frames) / best


def bench_frames(n: int, reps: int) -> list[tuple]:
    from nudenet import NudeDetector

    frames = frames_720p(n)
    bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
    ours_1, ours_4 = NudeNetDetector(batch_size=1), NudeNetDetector(batch_size=4)
    peer = NudeDetector()
    runs = {"ours_1": lambda fs: ours_1.detect(fs), "ours_4": lambda fs: ours_4.detect(fs),
            "peer": lambda fs: [peer.detect(f) for f in fs]}
    for name, fn in runs.items():  # load models and warm up outside the timing
        fn(bgr[:2] if name == "peer" else frames[:2])
    fps = {name: 0.0 for name in runs}
    for _ in range(reps):  # interleaved, so load on the machine hits every candidate alike
        for name, fn in runs.items():
            fps[name] = max(fps[name], best_fps(fn, bgr if name == "peer" else frames, 1))
    return [("NudeNetDetector, batch 4 (vectorised scoring)", f"{fps['ours_4']:.1f}",
             f"{1000 / fps['ours_4']:.1f}", f"{fps['ours_4'] / fps['peer']:.2f}x"),
            ("NudeNetDetector, batch 1", f"{fps['ours_1']:.1f}", f"{1000 / fps['ours_1']:.1f}",
             f"{fps['ours_1'] / fps['peer']:.2f}x"),
            ("peer: nudenet NudeDetector.detect per frame", f"{fps['peer']:.1f}",
             f"{1000 / fps['peer']:.1f}", "1.00x")]


def bench_stages(reps: int) -> list[tuple]:
    """Per-frame cost of each stage at 720p, best of ``reps`` (stable on a shared machine)."""
    from nudenet import nudenet as reference

    from moderation.detectors import label_scores, nudenet_blob

    frame = frames_720p(1)[0]
    bgr = np.ascontiguousarray(frame[..., ::-1])
    detector = NudeNetDetector(batch_size=1)
    detector.load()
    blob = nudenet_blob([frame])
    (output,) = detector._session.run(None, {detector._input: blob})

    def best_ms(fn) -> float:
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1000 * min(times)

    pre_ours, pre_peer = best_ms(lambda: nudenet_blob([frame])), \
        best_ms(lambda: reference._read_image(bgr, 320))
    infer = best_ms(lambda: detector._session.run(None, {detector._input: blob}))
    post_ours = best_ms(lambda: label_scores(output))
    post_peer = best_ms(lambda: reference._postprocess([output], 0, 0, 1, 1, 1280, 720, 320, 320))
    return [("preprocess (pad, resize to 320, blob)", f"{pre_ours:.2f}", f"{pre_peer:.2f}"),
            ("ONNX inference (320n.onnx, CPU)", f"{infer:.2f}", f"{infer:.2f}"),
            ("scores per label / boxes + NMS", f"{post_ours:.2f}", f"{post_peer:.2f}"),
            ("total", f"{pre_ours + infer + post_ours:.2f}", f"{pre_peer + infer + post_peer:.2f}")]


def bench_clip(policy: Policy, seconds: int) -> list[tuple]:
    """A whole 720p clip through moderate_clip_frames (decode + sample at 1 Hz + detect)."""
    fps = 24
    frames = frames_720p(8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        write_video(path, (frames[i % len(frames)] for i in range(seconds * fps)), fps=fps)
        detector = NudeNetDetector()
        detector.load()
        start = time.perf_counter()
        decision = moderate_clip_frames(path, detector, policy, sample_rate_hz=1.0)
        took = time.perf_counter() - start
    return [(f"{seconds} s 720p clip at {fps} fps, 1 Hz + last", f"{seconds + 1}",
             f"{took:.2f}", f"{seconds / took:.1f}x", decision.decision)]


def table(header: tuple, rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke test)")
    args = parser.parse_args()
    policy = Policy.load()

    print("## Text checks (benign set + evasions, per text)\n")
    print(table(("checker", "texts/s", "vs peer", "false positives (benign)",
                 "evasions caught"), bench_text(policy, 0.5 if args.quick else 2.0)))
    print("\n## Frames at 1280x720 on CPU\n")
    print(table(("detector", "frames/s", "ms/frame", "vs peer"),
                bench_frames(8 if args.quick else 24, 2 if args.quick else 3)))
    print("\n## One 720p frame, stage by stage (best of runs, ms)\n")
    print(table(("stage", "NudeNetDetector", "peer: nudenet"), bench_stages(5 if args.quick else 15)))
    print("\n## Clip moderation end to end\n")
    print(table(("clip", "frames sampled", "seconds", "x real time", "decision"),
                bench_clip(policy, 4 if args.quick else 10)))


if __name__ == "__main__":
    main()
