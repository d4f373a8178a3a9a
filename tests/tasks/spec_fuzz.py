"""Fuzzing the campaign loader: mutated specs and scripts from a fixed seed.

Every case must end in an accepted campaign or a typed :class:`FactoryError`, within a time and a
memory bound. Run as a script it prints the figures as JSON (the test in
``test_spec_fuzz.py`` runs it in a child process, whose address space it limits)::

    python -m tests.tasks.spec_fuzz --cases 3000 --seed 20 --memory-mb 1024
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from common.errors import FactoryError
from tasks.script import load_campaign

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spring-launch"

INLINE = """\
id: fuzz-inline
name: Fuzz
brand:
  name: Fuzz Brand
  colors: {primary: "#112233", secondary: "#445566", text: "#FFFFFF"}
output: {width: 832, height: 480, fps: 16, delivery_fps: 24, shot_duration: 3}
locales: [en, zh-CN, ar]
model: {seed: 1, steps: 4, guidance_high: 4.0, sampler: unipc, negative_prompt: "blurry"}
publish: {target: "file:///tmp/x", presign_expiry_s: 3600}
templates:
  intro: {visual: "Brand colours swirl", duration: 2, seed: 3, pin: true}
script: |
  # a comment
  ## intro: Opening
  template: intro
  [en] Hello there.
  [zh-CN] 你好。
  [ar] مرحبا.

  ## second: The product
  duration: 2.5s
  camera: pan left
  visual: A city street at dusk
  visual: with neon signs
  seed: 42
  negative: rain
"""

JSON_SPEC = """\
{"id": "fuzz-json", "brand": {"name": "B", "colors": {"primary": "#102030"}},
 "locales": ["en", "ja"], "output": {"width": 480, "height": 832},
 "templates": {"outro": {"visual": "Logo on white", "duration": 1.5}},
 "script_file": "script.txt"}
"""

JSON_SCRIPT = """\
## one: First
visual: A teapot on a table
camera: slow push-in
[en] Tea time.
[ja] お茶の時間。

## two
template: outro
"""

# Fragments that broke loaders before: aliases and merges, deep nesting, tags, non-finite and
# huge numbers, malformed dates, escapes for NUL and surrogates, padded headers, long lines,
# line separators and paths that cannot exist.
TOKENS = [
    "*a", "&a ", "<<: *a", "&x [*x]", "a: &a [1]\nb: *a\n", "[" * 40, "{" * 40, "- " * 60,
    "!!python/object/apply:os.system ['true']", "!!binary aGVsbG8=", "!!set {a, b}",
    "!!omap [a: 1]", "!!float", "!!int", "!!str", ".nan", ".inf", "-.inf", "1e400", "NaN",
    "Infinity", "9" * 5000, "0x" + "f" * 300, "2026-13-45", "2026-01-01T25:61:00Z", '"\\udcff"',
    '"\\x00"', '"\\ud800\\udc00"', "\x00", "\t", "\r", "\u2028", "\ufeff", "\udcff", ": ", "? ",
    "%YAML 1.1\n", "---\n", "...\n", "## " + " " * 20000 + "x", "##" + " " * 5000 + ":" + " " * 5000,
    "[" + "x" * 5000 + "] hi", "a" * 100_000, "seed: 99999999999", "duration: 1e999s",
    "script_file: " + "a" * 300, "script_file: \"a\\0b\"", "script_file: /dev/zero",
    "script_file: .", "logo: \"\\udcff.png\"", "logo: /", "image: " + "b" * 400,
    "image: \"x\\0y\"", "template: " + "t" * 1000, "[en] " + "字" * 3000, "\\", "'", '"',
    "{a: [b, {c: [d, {e: f}]}]}", "locales: [en, en]", "id: A B", "brand: {name: ''}",
]

BILLION_LAUGHS = ("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                  + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
                            for i in range(8)))


def seeds(folder: Path) -> list[tuple[Path, dict[str, bytes]]]:
    """(spec file to load, files to write) for each seed campaign."""
    example = {p.name: p.read_bytes() for p in EXAMPLE.iterdir() if p.is_file()}
    return [
        (folder / "inline.yaml", {"inline.yaml": INLINE.encode()}),
        (folder / "campaign.json", {"campaign.json": JSON_SPEC.encode(),
                                    "script.txt": JSON_SCRIPT.encode()}),
        (folder / "campaign.yaml", example),
    ]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits: byte flips, inserted bytes or tokens, cut, repeated or swapped
    slices, truncation, deep nesting, an alias bomb."""
    for _ in range(rng.randint(1, 4)):
        n = len(data)
        at = rng.randint(0, n)
        kind = rng.randrange(10)
        if kind == 0 and n:
            i = rng.randrange(n)
            data = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]
        elif kind == 1:
            data = data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) \
                + data[at:]
        elif kind in (2, 3):
            token = rng.choice(TOKENS).encode("utf-8", "surrogatepass")
            data = data[:at] + token + data[at:]
        elif kind == 4 and n:
            j = rng.randint(at, min(n, at + rng.randint(1, 200)))
            data = data[:at] + data[j:]
        elif kind == 5 and n:
            j = min(n, at + rng.randint(1, 40))
            data = data[:at] + data[at:j] * rng.choice([2, 10, 1000]) + data[j:]
        elif kind == 6:
            lines = data.split(b"\n")
            if len(lines) > 2:
                i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif kind == 7:
            data = data[:at]
        elif kind == 8:
            depth = rng.choice([50, 5000, 50_000])
            nest = rng.choice([b"[" * depth, b"{a: " * depth, b"".join(
                b" " * i + b"k:\n" for i in range(min(depth, 1500)))])
            data = data[:at] + nest + data[at:]
        else:
            data = BILLION_LAUGHS.encode() + data
    return data


def run(cases: int, seed: int, *, memory_mb: int | None = None) -> dict:
    """Load ``cases`` mutated campaigns; returns the figures (and up to 20 failures)."""
    if memory_mb:
        # The bound: this much address space beyond what the process uses now.
        vm_kb = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0])
        limit = vm_kb * 1024 + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rng = random.Random(seed)
    outcomes: Counter = Counter()
    errors: Counter = Counter()
    failures: list[dict] = []
    slowest = 0.0
    with tempfile.TemporaryDirectory(prefix="spec-fuzz-") as tmp:
        root = Path(tmp)
        for case in range(cases):
            folder = root / f"c{case % 50}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            spec_path, files = rng.choice(seeds(folder))
            target = rng.choice(sorted(files))
            for name, data in files.items():
                (folder / name).write_bytes(mutate(data, rng) if name == target else data)
            started = time.perf_counter()
            try:
                load_campaign(spec_path)
                outcomes["accepted"] += 1
            except FactoryError as exc:
                outcomes["typed_error"] += 1
                errors[type(exc).__name__] += 1
                if "\n" in str(exc) or len(str(exc)) > 2000:
                    outcomes["multi_line_or_long_error"] += 1
                    failures.append({"case": case, "error": str(exc)[:300]})
            except BaseException as exc:  # the point: nothing else may come out
                outcomes["other"] += 1
                if len(failures) < 20:
                    failures.append({"case": case, "target": target, "type": type(exc).__name__,
                                     "error": str(exc)[:300],
                                     "where": traceback.format_exc().splitlines()[-3:]})
            slowest = max(slowest, time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"cases": cases, "seed": seed, "accepted": outcomes["accepted"],
            "typed_errors": outcomes["typed_error"], "other": outcomes["other"],
            "multi_line_or_long_errors": outcomes["multi_line_or_long_error"],
            "error_types": dict(errors), "slowest_case_s": round(slowest, 3),
            "peak_rss_mb": round(peak_mb, 1), "failures": failures}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--memory-mb", type=int, default=1024)
    args = parser.parse_args(argv)
    json.dump(run(args.cases, args.seed, memory_mb=args.memory_mb), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
