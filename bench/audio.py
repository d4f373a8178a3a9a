"""Cost of the audio stage per locale against the whole run.

Runs the example campaign (examples/spring-launch: 3 narrated shots, zh-CN / en / ar, the bundled
music bed; animatic backend, 832x480) through the campaign flow, then times the audio stage of
each locale on its own, in the same process, from nothing cached: synthesis (every narrated
shot), mix and master (placing, ducking, two-pass loudness), and the mux under the clip.
Usage: .venv/bin/python bench/audio.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WARM_UP = """\
id: bench-warm-up
brand: {name: Warm-up}
output: {width: 256, height: 256, fps: 16, delivery_fps: 16}
locales: [en]
audio: none
script: |
  ## one
  duration: 1s
  visual: A teapot
"""


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-audio-"))
    os.environ.update({"FACTORY_DATA_DIR": str(tmp / "warm"), "FACTORY_BACKEND": "animatic",
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       "PREFECT_LOGGING_LEVEL": "ERROR"})
    from flows import runtime
    from flows.campaign import campaign
    from flows.settings import get_settings

    (tmp / "warm.yaml").write_text(WARM_UP, encoding="utf-8")
    campaign(spec_path=str(tmp / "warm.yaml"), run_id="warm-up")  # starts Prefect's server once
    os.environ["FACTORY_DATA_DIR"] = str(tmp / "data")
    get_settings.cache_clear()
    runtime._factory.cache_clear()

    spec = ROOT / "examples" / "spring-launch" / "campaign.yaml"
    t0 = time.perf_counter()
    # The example has variants: time its first (the music bed is on), as one run.
    made_run = campaign(spec_path=str(spec), run_id="bench-audio",
                        variants=["cta-shop.music-calm"])
    whole = time.perf_counter() - t0
    run_id = made_run["variants"][0]["run_id"]
    run = made_run

    from tasks.audio.mix import mux_soundtrack
    from tasks.audio.narrate import soundtrack, voice_over
    from tasks.master import stored_master
    from tasks.plan import campaign_of_run

    factory = runtime.get_factory()
    master = stored_master(factory.db, factory.cache_store, run_id, factory.work_dir)
    made = campaign_of_run(factory.db, run_id)
    clips = {c["locale"]: Path(factory.settings.data_dir).resolve() / "store" / c["key"]
             for c in run["clips"] if c.get("format") in (None, "16:9")}  # one per locale
    rows = []
    for locale in made.spec.locales:
        work = tmp / "alone" / locale
        t = time.perf_counter()
        voice = voice_over(made, locale, store=None, work_dir=work / "voice")
        synth = time.perf_counter() - t
        t = time.perf_counter()
        sound = soundtrack(master.timings, voice, made.spec.audio, locale=locale,
                           work_dir=work / "sound")
        mix = time.perf_counter() - t
        t = time.perf_counter()
        mux_soundtrack(clips[locale], sound.path, work / "muxed.mp4", locale=locale)
        mux = time.perf_counter() - t
        rows.append((locale, voice.engine, synth, mix, mux, sound.loudness))

    seconds = master.timings[-1].end
    print(f"\n## The audio stage per locale vs the whole run (examples/spring-launch: 3 shots, "
          f"{seconds:.1f} s clips, 832x480, animatic backend)\n")
    print("| locale | voice | synthesis (s) | mix + master (s) | mux (s) | audio total (s) | "
          "share of the whole run | loudness (LUFS / dBTP) |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for locale, engine, synth, mix, mux, loud in rows:
        total = synth + mix + mux
        print(f"| {locale} | {engine} | {synth:.2f} | {mix:.2f} | {mux:.2f} | {total:.2f} | "
              f"{100 * total / whole:.1f}% | {loud['integrated']:.1f} / {loud['true_peak']:.1f} |")
    all_audio = sum(r[2] + r[3] + r[4] for r in rows)
    print(f"| **all locales** | | | | | **{all_audio:.2f}** | **{100 * all_audio / whole:.1f}%** | |")
    print(f"\nwhole run: {whole:.2f} s wall; its stages (s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in run["stages"].items()))
    print("The run's 'voice' stage is the synthesis of every locale (before the plan, in "
          "parallel); its 'localize' stage holds each locale's mix, master and mux next to the "
          "subtitles and marks. With the model backend rendering takes minutes per shot on a GPU "
          "while the audio stage stays the same, so its share only falls.")


if __name__ == "__main__":
    main()
