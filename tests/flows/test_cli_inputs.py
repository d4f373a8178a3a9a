"""The command line's input rules and exit codes, through the real entry point (``run_cli``):
folders where files belong, counts of 0, sizes the model cannot take, stills and silent files
given as clips, empty texts, unreadable media; one unwrapped line per error; 0/1/3/4."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from flows.cli import run_cli
from media.video import ffmpeg_exe, run_ffmpeg, write_video

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spring-launch"


def cli(capfd, *args) -> tuple[int, str, str]:
    code = run_cli([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """A real clip, a PNG renamed to .mp4, an audio-only MP4 and a clip cut off mid-file."""
    folder = tmp_path_factory.mktemp("cli-media")
    clip = folder / "clip.mp4"
    write_video(clip, [np.full((64, 96, 3), 20 * i, np.uint8) for i in range(8)], fps=8)
    png = folder / "still.mp4"
    shutil.copyfile(EXAMPLE / "logo.png", png)
    audio = folder / "audio.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=d=1", str(audio)], what="an audio-only file")
    garbage = folder / "broken.mp4"
    garbage.write_bytes(clip.read_bytes()[:200])
    return {"clip": clip, "still": png, "audio": audio, "broken": garbage}


@pytest.mark.parametrize("command", [["validate"], ["run"], ["product"],
                                     ["trigger", "product"]])
def test_a_folder_where_a_file_belongs_is_one_clear_error(capfd, tmp_path, command):
    code, _, err = cli(capfd, *command, tmp_path)
    line = one_error_line(err)
    assert code == 1 and "is a folder, not a file" in line and str(tmp_path) in line


@pytest.mark.parametrize("args, fragment", [
    (["--frames", "0"], "--frames"),
    (["--frames", "-5"], "--frames"),
    (["--steps", "0"], "--steps"),
    (["--seed", "-1"], "--seed"),
    (["--preset", "tiny", "--size", "4000x4000"], "over its budget of 8,192"),
    (["--size", "1024x1024"], "renders 1280x720, 720x1280, 832x480, 480x832"),
    (["--size", "0x0"], "positive multiples of 16"),
    (["--size", "big"], "expected WxH"),
])
def test_generate_refuses_counts_and_sizes_before_any_work(capfd, tmp_path, args, fragment):
    started = time.perf_counter()
    code, _, err = cli(capfd, "generate", "--prompt", "a cat", "--out", tmp_path / "o.mp4",
                       *args)
    assert code == 1 and fragment in one_error_line(err)
    assert time.perf_counter() - started < 10  # refused up front, nothing rendered
    assert not (tmp_path / "o.mp4").exists()


def test_generate_checks_the_photo_and_the_image_presets_budget(capfd, tmp_path):
    photo = EXAMPLE / "logo.png"
    code, _, err = cli(capfd, "generate", "--prompt", "x", "--image", tmp_path, "--preset",
                       "tiny-ti2v", "--out", tmp_path / "o.mp4")
    line = one_error_line(err)
    assert code == 1 and "is a folder, not a file" in line and "--image" in line
    code, _, err = cli(capfd, "generate", "--prompt", "x", "--image", photo, "--preset",
                       "tiny-ti2v", "--size", "4096x4096", "--out", tmp_path / "o.mp4")
    assert code == 1 and "over its budget of 8,192" in one_error_line(err)
    assert not (tmp_path / "o.mp4").exists()


def test_generate_output_must_not_be_a_folder(capfd, tmp_path):
    code, _, err = cli(capfd, "generate", "--prompt", "x", "--out", tmp_path, "--preset", "tiny")
    assert code == 1 and "is a folder; give a file name inside it" in one_error_line(err)


@pytest.mark.parametrize("kind, fragment", [
    ("still", "is a still image (png), not a video clip"),
    ("audio", "has no video stream (only audio)"),
    ("broken", "not a video file ffmpeg can read"),
])
@pytest.mark.parametrize("command", [
    lambda m, out: ["stabilize", m, out / "o.mp4"],
    lambda m, out: ["watermark", m, out / "o.mp4", "--payload", "a1b2c3d4e5f6"],
    lambda m, out: ["verify", m, "--no-records"],
    lambda m, out: ["moderate", "--video", m],
    lambda m, out: ["subtitle", m, "--cues", EXAMPLE / "script.txt", "--locale", "en",
                    "--out", out / "o.mp4"],
], ids=["stabilize", "watermark", "verify", "moderate", "subtitle"])
def test_media_is_probed_before_processing(capfd, tmp_path, media, command, kind, fragment):
    code, out, err = cli(capfd, *command(media[kind], tmp_path))
    line = one_error_line(err)
    assert code == 1 and fragment in line and str(media[kind]) in line, err
    assert not (tmp_path / "o.mp4").exists() and out == ""


def test_moderate_exit_codes_follow_the_decision(capfd, tmp_path):
    code, out, _ = cli(capfd, "moderate", "--text", "Spring tea, 20% off", "--locale", "en")
    assert code == 0 and json.loads(out)["decision"] == "allow"
    code, out, _ = cli(capfd, "moderate", "--text", "nude photos", "--locale", "en")
    assert code == 3 and json.loads(out)["decision"] == "review"
    code, out, _ = cli(capfd, "moderate", "--text", "Free cocaine", "--locale", "en")
    assert code == 4 and json.loads(out)["decision"] == "block"


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_an_empty_text_file_is_an_error_not_allow(capfd, tmp_path, content):
    empty = tmp_path / "caption.txt"
    empty.write_bytes(content)
    code, out, err = cli(capfd, "moderate", "--file", empty)
    assert code == 1 and out == "" and "is empty: there is no text to moderate" in one_error_line(err)


def test_moderate_file_errors_exit_1_like_every_other_error(capfd, tmp_path):
    binary = tmp_path / "x.txt"
    binary.write_bytes(b"\xff\xfe\x00abc")
    code, _, err = cli(capfd, "moderate", "--file", binary)
    assert code == 1 and "not UTF-8 text: byte 0" in one_error_line(err)
    code, _, err = cli(capfd, "moderate", "--file", tmp_path)
    assert code == 1 and "is a folder" in one_error_line(err)
    code, _, err = cli(capfd, "moderate", "--video", tmp_path / "x.txt", "--rate", "nan")
    assert code == 1 and "not a positive finite number" in one_error_line(err)


def test_errors_are_never_wrapped_when_stderr_is_not_a_terminal(capfd, tmp_path):
    spec = tmp_path / ("campaign-with-a-rather-long-name-" + "x" * 60 + ".yaml")
    spec.write_text("id: ok\nbrand: {name: B}\nlocales: [english]\nscript: |\n  ## a\n"
                    "  visual: x\n")
    code, _, err = cli(capfd, "validate", spec)
    line = one_error_line(err)
    assert code == 1 and len(line) > 120 and "locales" in line and "\x1b[" not in line


def test_a_run_stopped_by_moderation_exits_with_the_block_code(capfd, tmp_path, monkeypatch):
    import tasks.script
    from common.errors import RunStopped

    def blocked(path):
        raise RunStopped("run x blocked at text moderation: 'cocaine' is drugs")

    monkeypatch.setattr(tasks.script, "load_campaign", blocked)
    spec = tmp_path / "c.yaml"
    spec.write_text("id: x\n")
    code, _, err = cli(capfd, "validate", spec)
    assert code == 4 and "blocked at text moderation" in one_error_line(err)


def test_usage_errors_are_one_line_and_exit_1(capfd):
    code, _, err = cli(capfd, "validate")
    assert code == 1 and "Missing argument" in one_error_line(err)
    code, _, err = cli(capfd, "runs", "--limit", "0")
    assert code == 1 and "--limit" in one_error_line(err)
    code, out, _ = cli(capfd, "--help")
    assert code == 0 and "content-factory" in out
    assert Path(ffmpeg_exe()).exists()
