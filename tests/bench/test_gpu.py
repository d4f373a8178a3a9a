"""bench/gpu.py runs end to end at its tiny size on a CPU (what CI can prove without a GPU), and
its FLOP count matches the published size of a 720p forward."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_bench_runs_tiny_on_a_cpu_and_prints_its_table():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--tiny",
                             "--repeats", "1"], capture_output=True, text=True, env=env,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    names = [row.split("|")[1].strip() for row in rows[1:]]  # after the header
    assert names == ["DiT forward, tiny A (64x48x9)", "DiT forward, tiny B (96x64x17)",
                     "VAE decode, 5 frames at 64x48", "clip estimate: 40 steps, CFG",
                     "clip estimate: 40 steps, CFG, EasyCache",
                     "clip estimate: 4-step distilled"]
    seconds = [float(re.search(r"([\d.]+) s", row.split("|")[3]).group(1)) for row in rows[1:]]
    assert all(s > 0 for s in seconds)
    forward, decode = seconds[1], seconds[2]
    # the estimates are what the table says they are: forwards x forward time + decode
    assert abs(seconds[3] - (80 * forward + decode)) < 0.1 + 1e-3 * seconds[3]
    assert abs(seconds[5] - (4 * forward + decode)) < 0.1
    assert seconds[3] > seconds[4] > seconds[5]


def test_one_720p_forward_is_about_6_8_pflop():
    sys.path.insert(0, str(ROOT))
    from bench.gpu import forward_flops
    from model.config import DiTConfig

    # docs/reference/wan22-model-facts.md: one 720p forward is about 6.8 PFLOP
    assert 6.5e15 < forward_flops(DiTConfig(), 75_600) < 7.1e15
